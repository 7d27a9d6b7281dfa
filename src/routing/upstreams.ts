import { Agent } from 'undici';
import type { BreakerConfig, UpstreamConfig, UpstreamType } from '../config/schema.ts';
import type { AdapterTarget } from '../core/codec.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import { UpstreamStats } from './upstream-stats.ts';

/** One account at an upstream: used in turn with the others, each with its own health and limits. */
export interface Credential {
  /** `name#1`, `name#2`, ...: what logs, limits and the admin API call it (never the key itself). */
  id: string;
  apiKey: string | undefined;
  rpm: number | undefined;
  tpm: number | undefined;
  breaker: CircuitBreaker;
}

/** A configured upstream with its connection pool, health and credentials. */
export interface Upstream {
  name: string;
  type: UpstreamType;
  config: UpstreamConfig;
  /** `config`: from the YAML file; `api`: added through /admin/upstreams and stored in the database. */
  source: 'config' | 'api';
  /** base_url without a trailing slash. */
  baseUrl: string;
  dispatcher: Agent;
  /** Values that must never reach a client or a log (the upstream's credentials). */
  secrets: string[];
  firstByteTimeoutMs: number;
  idleTimeoutMs: number;
  /** 0: no keep-alive comments. */
  keepaliveMs: number;
  breaker: CircuitBreaker;
  credentials: Credential[];
  /** Turned off by config or an admin. */
  disabled: boolean;
  stats: UpstreamStats;
  /** Round-robin position over the credentials. */
  nextCredential: number;
}

export function createUpstream(config: UpstreamConfig, breakerDefaults: BreakerConfig, source: 'config' | 'api' = 'config'): Upstream {
  const failures = config.breaker?.failures ?? breakerDefaults.failures;
  const cooldown = config.breaker?.cooldown_ms ?? breakerDefaults.cooldown_ms;
  const given = [...(config.api_key ? [config.api_key] : []), ...(config.api_keys ?? [])];
  const list = given.length > 0 ? given : [undefined];
  const credentials: Credential[] = list.map((c, i) => ({
    id: `${config.name}#${i + 1}`,
    apiKey: typeof c === 'string' ? c : c?.key,
    rpm: typeof c === 'object' ? c.rpm : undefined,
    tpm: typeof c === 'object' ? c.tpm : undefined,
    breaker: new CircuitBreaker(failures, cooldown),
  }));
  return {
    name: config.name,
    type: config.type,
    config,
    source,
    baseUrl: config.base_url.replace(/\/+$/, ''),
    dispatcher: new Agent({
      connections: config.max_connections,
      keepAliveTimeout: 30_000,
      connect: { timeout: config.connect_timeout * 1000 },
      // The gateway enforces first-byte and idle timeouts itself (504 or an error event); undici's own timers stay out of the way.
      headersTimeout: 0,
      bodyTimeout: 0,
    }),
    secrets: credentials.map((c) => c.apiKey).filter((k): k is string => !!k),
    firstByteTimeoutMs: (config.first_byte_timeout ?? config.timeout ?? 600) * 1000,
    idleTimeoutMs: config.idle_timeout * 1000,
    keepaliveMs: (config.stream_keepalive ?? 0) * 1000,
    breaker: new CircuitBreaker(failures, cooldown),
    credentials,
    disabled: !config.enabled,
    stats: new UpstreamStats(),
    nextCredential: 0,
  };
}

/** Whether the upstream may be routed to now: enabled, its breaker allows, and a credential is usable. */
export function upstreamAvailable(u: Upstream, now: number): boolean {
  return !u.disabled && u.breaker.available(now) && u.credentials.some((c) => c.breaker.available(now));
}

/** Credentials in the order to try them for one call: round-robin start, healthy ones only. */
export function credentialOrder(u: Upstream, now: number): Credential[] {
  const n = u.credentials.length;
  const start = u.nextCredential % n;
  u.nextCredential = (start + 1) % n;
  const out: Credential[] = [];
  for (let i = 0; i < n; i++) {
    const c = u.credentials[(start + i) % n];
    if (c.breaker.available(now)) out.push(c);
  }
  return out;
}

/** The pure view of an upstream that adapters and endpoint builders take. */
export function adapterTarget(upstream: Upstream, upstreamModel: string, credential?: Credential): AdapterTarget {
  return {
    baseUrl: upstream.baseUrl,
    apiKey: (credential ?? upstream.credentials[0]).apiKey,
    upstreamModel,
    headers: upstream.config.headers,
    apiVersion: upstream.config.api_version,
  };
}
