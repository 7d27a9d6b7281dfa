import type { KeyState } from './metering/keys.ts';

/** Which wire format a route speaks, so errors are rendered for its callers. */
export type ClientProtocol = 'openai' | 'anthropic' | 'gemini' | 'admin';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's API key, set by the auth hook on /v1 routes. */
    apiKey: KeyState | null;
    /** The JSON body as received, for same-protocol pass-through. */
    rawBody: Buffer | undefined;
    /** Set when the gateway itself runs this request as a line of a batch. */
    batch: { id: string; priceFactor: number; upstreamShare: number } | null;
  }
  interface FastifyContextConfig {
    protocol?: ClientProtocol;
    /** Route needs no API key. */
    public?: boolean;
  }
}
