import { Agent } from 'undici';
import type { UpstreamConfig, UpstreamType } from '../config/schema.ts';
import type { AdapterTarget } from '../core/codec.ts';

/** A configured upstream with its connection pool. */
export interface Upstream {
  name: string;
  type: UpstreamType;
  config: UpstreamConfig;
  /** base_url without a trailing slash. */
  baseUrl: string;
  dispatcher: Agent;
  /** Values that must never reach a client or a log (the upstream's credentials). */
  secrets: string[];
  timeoutMs: number;
}

export function createUpstream(config: UpstreamConfig): Upstream {
  return {
    name: config.name,
    type: config.type,
    config,
    baseUrl: config.base_url.replace(/\/+$/, ''),
    dispatcher: new Agent({
      connections: config.max_connections,
      keepAliveTimeout: 30_000,
      // The gateway enforces the upstream's `timeout` itself (504); undici's own timers stay out of the way.
      headersTimeout: 0,
      bodyTimeout: 0,
    }),
    secrets: config.api_key ? [config.api_key] : [],
    timeoutMs: config.timeout * 1000,
  };
}

/** The pure view of an upstream that adapters and endpoint builders take. */
export function adapterTarget(upstream: Upstream, upstreamModel: string): AdapterTarget {
  return {
    baseUrl: upstream.baseUrl,
    apiKey: upstream.config.api_key,
    upstreamModel,
    headers: upstream.config.headers,
    apiVersion: upstream.config.api_version,
  };
}
