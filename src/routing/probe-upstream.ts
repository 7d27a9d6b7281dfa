import { GatewayError, redactSecrets } from '../core/errors.ts';
import { ADAPTERS } from '../providers/adapters.ts';
import { listMidjourneyTasks, mjCredential } from './mj-upstream.ts';
import { AttemptSignal, callUpstream, upstreamFailure, upstreamHttpError } from './upstream-call.ts';
import { adapterTarget, credentialOrder, type Upstream } from './upstreams.ts';

/** What one test call of an upstream found. */
export interface ProbeResult {
  object: 'upstream_test';
  upstream: string;
  ok: boolean;
  /** The model asked (null for a Midjourney upstream, which is asked for its task list). */
  model: string | null;
  credential: string;
  /** The upstream's HTTP status, or null when it could not be reached. */
  status: number | null;
  latency_ms: number;
  /** The answer's text (chat upstreams), at most 200 characters. */
  output: string | null;
  error: { code: string; message: string } | null;
}

/** At most this long for a test, whatever the upstream's own first-byte timeout. */
const PROBE_TIMEOUT_MS = 30_000;

/**
 * One small real request through the upstream, outside routing (no breaker or stats change,
 * no usage record): a one-token chat call for chat upstreams, an empty task list for
 * Midjourney ones. Errors are reported, not thrown, and never contain a credential.
 */
export async function probeUpstream(u: Upstream, model: string | undefined, now: number): Promise<ProbeResult> {
  const credential = credentialOrder(u, now)[0] ?? u.credentials[0];
  const started = performance.now();
  const base = { object: 'upstream_test' as const, upstream: u.name, credential: credential.id };
  const failed = (err: unknown, chosen: string | null): ProbeResult => {
    const e = err instanceof GatewayError ? err : new GatewayError('upstream_error', (err as Error).message);
    return {
      ...base,
      ok: false,
      model: chosen,
      status: e.upstreamStatus ?? null,
      latency_ms: Math.round(performance.now() - started),
      output: null,
      error: { code: e.publicCode ?? e.code, message: redactSecrets(e.message, u.secrets) },
    };
  };

  if (u.type === 'midjourney') {
    try {
      await listMidjourneyTasks(u, mjCredential(u, now), []);
      return { ...base, ok: true, model: null, status: 200, latency_ms: Math.round(performance.now() - started), output: null, error: null };
    } catch (err) {
      return failed(err, null);
    }
  }

  const chosen = model ?? u.config.models?.[0] ?? Object.keys(u.config.model_map)[0];
  if (!chosen) return failed(new GatewayError('invalid_request_error', 'The upstream lists no models: name one in the body (`model`).'), null);
  const adapter = ADAPTERS[u.type];
  if (!adapter) return failed(new GatewayError('upstream_error', `Upstream type ${u.type} cannot be tested.`), chosen);
  const upstreamModel = u.config.model_map[chosen] ?? chosen;
  const built = adapter.buildRequest(
    { model: upstreamModel, system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'Say OK.' }] }], stream: false, maxTokens: 5 },
    adapterTarget(u, upstreamModel, credential),
  );
  const signal = new AttemptSignal(Math.min(u.firstByteTimeoutMs, PROBE_TIMEOUT_MS));
  try {
    const res = await callUpstream(u, { url: built.url, headers: built.headers, body: built.body }, signal);
    if (res.statusCode >= 400) throw await upstreamHttpError(u, res.statusCode, res.body, (t) => adapter.parseError(t), res.headers);
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw upstreamFailure(u, err, signal);
    }
    const result = adapter.parseResult(JSON.parse(text));
    const output = result.content.map((p) => (p.type === 'text' ? p.text : '')).join('');
    return {
      ...base,
      ok: true,
      model: chosen,
      status: res.statusCode,
      latency_ms: Math.round(performance.now() - started),
      output: redactSecrets(output, u.secrets).slice(0, 200),
      error: null,
    };
  } catch (err) {
    return failed(err instanceof SyntaxError ? new GatewayError('upstream_error', `Upstream ${u.name} answered with a body that is not JSON.`) : err, chosen);
  } finally {
    signal.clear();
  }
}
