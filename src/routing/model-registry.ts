import { GatewayError } from '../core/errors.ts';
import type { Credential, Upstream } from './upstreams.ts';

/** One way to serve a model: which upstream and the name the upstream knows it by. */
export interface Target {
  upstream: Upstream;
  /** The client-facing name (used for prices, allow-lists and usage records). */
  model: string;
  upstreamModel: string;
  /** The account one attempt uses; chosen per attempt. */
  credential?: Credential;
}

export interface ModelEntry {
  id: string;
  /** Upstreams serving it, for /v1/models `owned_by`. */
  upstreams: string[];
}

/**
 * Resolves client model names to targets. An exact name wins; otherwise
 * `upstream:model` (upstream name or type before the first colon) pins the
 * upstream, so colon names such as Ollama's `llama3:8b` keep working.
 */
export class ModelRegistry {
  private readonly byName = new Map<string, Target[]>();
  private readonly upstreams: readonly Upstream[];

  constructor(all: readonly Upstream[]) {
    // Midjourney upstreams serve the /mj task API only: no model name, pinned or not, routes to them.
    const upstreams = all.filter((u) => u.type !== 'midjourney');
    this.upstreams = upstreams;
    for (const u of upstreams) {
      for (const name of servedNames(u)) {
        const list = this.byName.get(name) ?? [];
        list.push({ upstream: u, model: name, upstreamModel: u.config.model_map[name] ?? name });
        this.byName.set(name, list);
      }
    }
  }

  /** Candidate targets in configured order; throws 404 model_not_found. */
  resolve(name: string): Target[] {
    const exact = this.byName.get(name);
    if (exact) return exact;
    const colon = name.indexOf(':');
    if (colon > 0) {
      const prefix = name.slice(0, colon);
      const rest = name.slice(colon + 1);
      const byName = this.upstreams.filter((u) => u.name === prefix);
      const pinned = byName.length > 0 ? byName : this.upstreams.filter((u) => u.type === prefix);
      const targets: Target[] = pinned
        .filter((u) => servedNames(u).has(rest))
        .map((u) => ({ upstream: u, model: rest, upstreamModel: u.config.model_map[rest] ?? rest }));
      if (targets.length > 0) return targets;
      // An upstream with no model list serves whatever it is pinned to.
      const open = pinned.filter((u) => u.config.models === undefined && rest);
      if (open.length > 0) return open.map((u) => ({ upstream: u, model: rest, upstreamModel: rest }));
    }
    throw new GatewayError('model_not_found', `The model \`${name}\` does not exist or you do not have access to it.`, { param: 'model' });
  }

  /** Every client-facing model name, sorted. */
  list(): ModelEntry[] {
    return [...this.byName.entries()]
      .map(([id, targets]) => ({ id, upstreams: [...new Set(targets.map((t) => t.upstream.name))] }))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }
}

function servedNames(u: Upstream): Set<string> {
  return new Set([...(u.config.models ?? []), ...Object.keys(u.config.model_map)]);
}
