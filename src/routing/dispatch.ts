import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChatRequest } from '../core/canonical.ts';
import type { ClientProtocol, IngressCodec, StreamEncoder } from '../core/codec.ts';
import { GatewayError } from '../core/errors.ts';
import { admitKey, limitError, rateCounters, Reservation } from '../metering/admission.ts';
import type { Lease } from '../metering/limit-backend.ts';
import type { RequestMeter } from '../metering/request-meter.ts';
import type { UpstreamType } from '../config/schema.ts';
import { requestMeters } from '../observability/access-log.ts';
import { ADAPTERS, protocolOf } from '../providers/adapters.ts';
import type { Services } from '../services.ts';
import type { Target } from './model-registry.ts';
import { relayConvert } from './relay-convert.ts';
import { type PassthroughSpec, type RelayIo, type RelayResult, relayPassthrough } from './relay-passthrough.ts';
import { planRoute, type RouteStep } from './route-plan.ts';
import { backoffMs, newTriedState, selectTarget, type TriedState } from './select-target.ts';
import { type Credential, credentialOrder, type Upstream } from './upstreams.ts';

/** What every routed call shares: the endpoint, its model and what to reserve. */
export interface DispatchSpec {
  /** Usage-record endpoint name, e.g. `chat.completions`, `messages`, `embeddings`. */
  endpoint: string;
  model: string;
  stream: boolean;
  /** Completion ceiling the request names (max_tokens and kin), for reservations; 0 for calls that generate no tokens. */
  maxTokens?: number;
  /** Prompt tokens by the gateway's tokenizer; only called when a token limit or quota needs a reservation. */
  countPrompt: () => Promise<number>;
  /** Upstream types able to serve this endpoint (default: every type); the others are skipped. */
  serves?: (type: UpstreamType) => boolean;
  /** What the endpoint is called in errors ("/v1/embeddings"). */
  path?: string;
  /** One call of one upstream. `failed` means nothing reached the client, so another upstream may be tried. */
  attempt: (io: RelayIo, target: Target, step: RouteStep) => Promise<RelayResult>;
}

/** How a chat-style endpoint (chat completions, messages, generateContent, responses) runs on a target. */
export interface ChatAttemptSpec {
  /** The client's wire protocol. */
  protocol: ClientProtocol;
  codec: IngressCodec;
  /** Decodes the client body to the canonical request; only called for cross-format targets. */
  decode: () => ChatRequest;
  /** Same-protocol forwarding for a target. */
  passthrough: (target: Target) => PassthroughSpec;
  streamEncoder?: () => StreamEncoder;
  streamContentType?: string;
  /** Whether a target speaks the client's protocol (default: its upstream type's protocol is the client's). */
  sameProtocol?: (target: Target) => boolean;
}

/** Why an attempt failed, for health and for whether another attempt can help. */
type FailureClass = 'credentials' | 'retryable' | 'final' | 'client';

function classify(err: GatewayError): FailureClass {
  if (err.status === 499) return 'client';
  if (err.upstreamStatus === 401 || err.upstreamStatus === 403) return 'credentials';
  return err.retryable ? 'retryable' : 'final';
}

function sleepUnlessClosed(ms: number, reply: FastifyReply): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      reply.raw.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    reply.raw.once('close', done);
  });
}

/**
 * Admits a chat-style call (the key's limits, reserved up front) and runs it:
 * for each model of the fallback chain, upstreams by priority tier and weight,
 * skipping open breakers and upstreams at their own limits, retrying with
 * backoff before the first byte reaches the client. Same-protocol targets pass
 * through; the others convert. With `otel.endpoint` set, the request and each
 * attempt are traced; without it, this costs one check.
 */
export function dispatchCall(services: Services, request: FastifyRequest, reply: FastifyReply, spec: DispatchSpec): Promise<void> {
  const tracing = services.tracing;
  if (tracing) return tracing.traceDispatch(request, reply, spec, (traced) => admitAndRun(services, request, reply, traced));
  return admitAndRun(services, request, reply, spec);
}

async function admitAndRun(services: Services, request: FastifyRequest, reply: FastifyReply, spec: DispatchSpec): Promise<void> {
  const key = request.apiKey;
  if (!key) throw new GatewayError('invalid_api_key', 'Missing API key.');
  const steps = servedSteps(planRoute(services.registry, services.config.fallbacks, key, spec.model), spec);
  const reservation = new Reservation(spec.countPrompt, spec.maxTokens ?? services.config.limits.default_max_tokens);
  const headers: Record<string, string> = { 'x-request-id': request.id };
  let admission;
  try {
    admission = await admitKey(services.limiter, key, reservation, services.config.models[steps[0].model], request.id, services.now(), headers);
  } catch (err) {
    reply.headers(headers);
    throw err;
  }
  reply.headers(headers);
  const meter = services.newMeter(request.id, key, request.batch ? `batch.${spec.endpoint}` : spec.endpoint, steps[0].model, spec.stream);
  if (request.batch) meter.priceFactor = request.batch.priceFactor;
  meter.addLease(admission.lease);
  if (services.config.log_requests) requestMeters.set(request, meter);
  try {
    await runSteps(services, request, reply, spec, steps, reservation, meter, headers);
  } finally {
    if (!meter.finished) meter.finish('failed', 500, 'internal_error');
  }
}

async function runSteps(
  services: Services,
  request: FastifyRequest,
  reply: FastifyReply,
  spec: DispatchSpec,
  steps: RouteStep[],
  reservation: Reservation,
  meter: RequestMeter,
  headers: Record<string, string>,
): Promise<void> {
  const io = { reply, meter, headers };
  const retry = services.config.retry;
  let lastError: GatewayError | undefined;
  let attempts = 0;

  for (const step of steps) {
    meter.model = step.model;
    if (step !== steps[0]) meter.requestedModel = steps[0].model;
    const tried: TriedState = newTriedState();
    const budget = Math.max(retry.attempts, step.targets.length);
    const maxCalls = (u: Upstream): number => u.config.retry?.attempts ?? budget;
    let stepCalls = 0;
    /** A wait the last failure asked for (a 429's retry-after), applied before calling that upstream again. */
    const waits = new Map<Upstream, number>();

    while (stepCalls < budget) {
      if (reply.raw.destroyed) {
        meter.finish('abandoned', 499, 'client_closed');
        return;
      }
      const now = services.now();
      const picked = selectTarget(step.targets, tried, now, maxCalls);
      if (!picked) break;
      const u = picked.upstream;
      const previousCalls = tried.calls.get(u) ?? 0;
      if (previousCalls > 0) {
        const wait = waits.get(u) ?? backoffMs(u.config.retry?.backoff_ms ?? retry.backoff_ms, retry.max_backoff_ms, previousCalls);
        const sleptFrom = performance.now();
        await sleepUnlessClosed(wait, reply);
        meter.upstreamWaitMs += performance.now() - sleptFrom;
        if (reply.raw.destroyed) continue;
      }
      const slot = await takeCredential(services, u, reservation, request.id, request.batch?.upstreamShare ?? 1);
      if ('refused' in slot) {
        tried.excluded.add(u);
        lastError = slot.refused;
        continue;
      }
      const target: Target = { ...picked, credential: slot.credential };
      tried.calls.set(u, previousCalls + 1);
      stepCalls++;
      attempts++;
      headers['x-switchyard-attempts'] = String(attempts);
      meter.attempts = attempts;

      const startedAt = Date.now();
      let result: RelayResult;
      try {
        result = await spec.attempt(io, target, step);
      } catch (err) {
        // Bad input found while converting: says nothing of the upstream's health, and frees a half-open probe.
        u.breaker.neutral();
        slot.credential.breaker.neutral();
        void services.limiter.release(slot.lease, new Map(), services.now());
        throw err;
      }
      if (result.kind === 'done') {
        u.breaker.success();
        slot.credential.breaker.success();
        u.stats.add(services.now(), Date.now() - startedAt, true);
        meter.addLease(slot.lease);
        return;
      }

      // Failed before the client saw anything: nothing it cost counts against the upstream's token window.
      void services.limiter.release(slot.lease, new Map(), services.now());
      lastError = result.error;
      const kind = classify(lastError);
      const level = kind === 'client' ? 'debug' : 'warn';
      request.log[level](
        { upstream: u.name, credential: slot.credential.id, attempt: attempts, code: lastError.code, status: lastError.status, error: lastError.message },
        'upstream attempt failed',
      );
      if (kind === 'client') {
        u.breaker.neutral();
        slot.credential.breaker.neutral();
        break;
      }
      u.stats.add(services.now(), Date.now() - startedAt, false);
      u.stats.lastError = { at: services.now(), code: lastError.publicCode ?? lastError.code, status: lastError.status };
      services.metrics?.upstreamError(u.name, lastError.code, lastError.status);
      if (kind === 'credentials') {
        slot.credential.breaker.disable(`upstream answered ${lastError.upstreamStatus}`);
        u.breaker.neutral();
        request.log.error({ upstream: u.name, credential: slot.credential.id, status: lastError.upstreamStatus }, 'upstream rejected its credentials: taken out until an admin enables it');
        // Another credential of the same upstream may still work: the call does not count against it.
        tried.calls.set(u, previousCalls);
        continue;
      }
      if (kind === 'final') {
        // The upstream answered and said no to the request itself: its health is fine, and no other upstream would say otherwise.
        u.breaker.success();
        slot.credential.breaker.success();
        break;
      }
      u.breaker.failure(services.now());
      slot.credential.breaker.failure(services.now());
      if (lastError.upstreamStatus === 429) {
        const ms = lastError.retryAfterSeconds === undefined ? undefined : lastError.retryAfterSeconds * 1000;
        if (ms !== undefined && ms > retry.max_retry_after_ms) tried.excluded.add(u);
        else if (ms !== undefined) waits.set(u, ms);
      } else {
        waits.delete(u);
      }
    }
    if (lastError && classify(lastError) === 'final') break;
    if (reply.raw.destroyed) break;
  }

  const error = finalError(lastError);
  meter.finish(error.status === 499 ? 'abandoned' : 'failed', error.status, error.publicCode ?? error.code);
  throw error;
}

/** The route's steps with only the upstreams that can serve the endpoint; 400 when none of the model's can. */
function servedSteps(steps: RouteStep[], spec: DispatchSpec): RouteStep[] {
  const serves = spec.serves;
  if (!serves) return steps;
  const out: RouteStep[] = [];
  for (const step of steps) {
    const targets = step.targets.filter((t) => serves(t.upstream.type));
    if (targets.length > 0) out.push(targets.length === step.targets.length ? step : { ...step, targets });
  }
  if (out.length === 0) {
    const types = [...new Set(steps[0].targets.map((t) => t.upstream.type))].join(', ');
    throw new GatewayError('invalid_request_error', `The model \`${spec.model}\` is served by ${types} upstreams, which do not offer ${spec.path ?? spec.endpoint}.`, {
      param: 'model',
      publicCode: 'model_not_supported',
    });
  }
  return out;
}

/**
 * The attempt of a chat-style endpoint: same-protocol targets pass through, the
 * others convert from the canonical request (decoded once, on the first
 * cross-format target).
 */
export function chatAttempt(spec: ChatAttemptSpec): DispatchSpec['attempt'] {
  let canonical: ChatRequest | undefined;
  const same = spec.sameProtocol ?? ((t: Target): boolean => protocolOf(t.upstream.type) === spec.protocol);
  return (io, target, step) => {
    if (same(target)) return relayPassthrough(io, target, spec.passthrough(target));
    const adapter = ADAPTERS[target.upstream.type];
    if (!adapter) {
      return Promise.resolve({
        kind: 'failed',
        error: new GatewayError('upstream_error', `Upstream type ${target.upstream.type} cannot serve ${spec.protocol} clients.`, { status: 501, retryable: true }),
      });
    }
    canonical ??= decodeOrFail(spec, io.meter);
    return relayConvert(io, target, {
      codec: spec.codec,
      adapter,
      request: { ...canonical, model: target.upstreamModel },
      clientModel: step.clientModel,
      streamEncoder: spec.streamEncoder,
      streamContentType: spec.streamContentType,
    });
  };
}

function decodeOrFail(spec: ChatAttemptSpec, meter: RequestMeter): ChatRequest {
  try {
    return spec.decode();
  } catch (err) {
    // Bad input is the client's to fix: not metered as an upstream failure.
    meter.finish('failed', err instanceof GatewayError ? err.status : 400, err instanceof GatewayError ? err.code : 'invalid_request_error');
    throw err;
  }
}

/**
 * A credential of the upstream that its breaker and limits allow, in round-robin
 * order, with the upstream's and the credential's rpm/tpm taken. Refused when the
 * upstream itself is at its limits or no credential is left.
 */
async function takeCredential(
  services: Services,
  u: Upstream,
  reservation: Reservation,
  requestId: string,
  /** Share of the upstream's limits this request may use: batch lines leave the rest to interactive traffic. */
  share: number,
): Promise<{ credential: Credential; lease: Lease } | { refused: GatewayError }> {
  const now = services.now();
  const upstreamLimited = u.config.rpm !== undefined || u.config.tpm !== undefined;
  const upstreamCounters = upstreamLimited ? scaled(await rateCounters(`up:${u.name}`, u.config, reservation), share) : [];
  let refused: GatewayError | undefined;
  for (const credential of credentialOrder(u, now)) {
    // Nothing to count for an upstream and credential without rpm or tpm: no limiter call, no lease to settle.
    if (!upstreamLimited && credential.rpm === undefined && credential.tpm === undefined) {
      if (!u.breaker.allow(now) || !credential.breaker.allow(now)) continue;
      return { credential, lease: NO_LEASE };
    }
    const counters = [...upstreamCounters, ...scaled(await rateCounters(`cred:${credential.id}`, credential, reservation), share)];
    const result = await services.limiter.acquire(counters, `${requestId}:${credential.id}`, now);
    if (!result.ok || !result.lease) {
      const which = counters[result.refused ?? 0];
      refused = limitError(which, result, `upstream ${u.name}`);
      if (which.key.startsWith('up:')) break;
      continue;
    }
    // A half-open breaker lets one probe through: take it now, at the call.
    if (!u.breaker.allow(now) || !credential.breaker.allow(now)) {
      void services.limiter.release(result.lease, new Map(), now);
      continue;
    }
    return { credential, lease: result.lease };
  }
  return { refused: refused ?? new GatewayError('upstream_unreachable', `Upstream ${u.name} has no usable credential right now.`) };
}

/** The lease of a call that took no counter (releasing it does nothing). */
const NO_LEASE: Lease = Object.freeze({ backend: 'memory', id: '', minute: 0, counters: [] });

/** Counters with their limits cut to a share (at least 1). */
function scaled<T extends { limit: number }>(counters: T[], share: number): T[] {
  if (share >= 1) return counters;
  return counters.map((c) => ({ ...c, limit: Math.max(1, Math.floor(c.limit * share)) }));
}

/** What the client hears when no attempt succeeded. */
function finalError(last: GatewayError | undefined): GatewayError {
  if (!last) return new GatewayError('upstream_unreachable', 'No upstream could serve the request: every upstream of this model is down or disabled.', { status: 503 });
  // The upstream refused the gateway's own credentials: the caller's key is fine, so not a 401/403 for it.
  if (last.upstreamStatus === 401 || last.upstreamStatus === 403) {
    return new GatewayError('upstream_error', `The upstream rejected the gateway's credentials (${last.upstreamStatus}): ${last.message}`, {
      status: 502,
      upstreamStatus: last.upstreamStatus,
    });
  }
  return last;
}
