import { GatewayError } from '../core/errors.ts';
import { keyAllowsModel } from '../metering/admission.ts';
import type { KeyState } from '../metering/keys.ts';
import type { ModelRegistry, Target } from './model-registry.ts';

/** One model of a request's fallback chain and the upstreams serving it. */
export interface RouteStep {
  /** The client-facing model (prices, allow-lists, usage records). */
  model: string;
  /** The name echoed to the client: what it asked for, or the fallback model that answered. */
  clientModel: string;
  targets: Target[];
}

/**
 * The models a request may be served by, in order: the one asked for, then its
 * configured `fallbacks` the key may use. Throws 404 for an unknown model and
 * 403 for one outside the key's allow-list.
 */
export function planRoute(registry: ModelRegistry, fallbacks: Record<string, string[]>, key: KeyState, requested: string): RouteStep[] {
  const targets = registry.resolve(requested);
  const model = targets[0].model;
  if (!keyAllowsModel(key, requested, model)) {
    throw new GatewayError('model_not_allowed', `This API key is not allowed to use the model \`${requested}\`.`, { param: 'model' });
  }
  const steps: RouteStep[] = [{ model, clientModel: requested, targets }];
  for (const name of fallbacks[requested] ?? fallbacks[model] ?? []) {
    let more: Target[];
    try {
      more = registry.resolve(name);
    } catch {
      continue; // A fallback nobody serves (yet) is skipped, not an error for the caller.
    }
    if (!keyAllowsModel(key, name, more[0].model) || steps.some((s) => s.model === more[0].model)) continue;
    steps.push({ model: more[0].model, clientModel: name, targets: more });
  }
  return steps;
}
