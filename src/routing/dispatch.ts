import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ChatRequest } from '../core/canonical.ts';
import type { IngressCodec, StreamEncoder } from '../core/codec.ts';
import { GatewayError } from '../core/errors.ts';
import { ADAPTERS, protocolOf, type WireProtocol } from '../providers/adapters.ts';
import { admit } from '../routes/v1/admission.ts';
import type { Services } from '../services.ts';
import { orderTargets, type Target } from './model-registry.ts';
import { relayConvert } from './relay-convert.ts';
import { type PassthroughSpec, relayPassthrough } from './relay-passthrough.ts';

export interface DispatchSpec {
  /** The client's wire protocol. */
  protocol: WireProtocol;
  codec: IngressCodec;
  /** Usage-record endpoint name, e.g. `chat.completions`, `messages`. */
  endpoint: string;
  model: string;
  stream: boolean;
  /** Decodes the client body to the canonical request; only called for cross-format targets. */
  decode: () => ChatRequest;
  /** Same-protocol forwarding for a target. */
  passthrough: (target: Target) => PassthroughSpec;
  streamEncoder?: () => StreamEncoder;
  streamContentType?: string;
}

/**
 * Admits a chat-style call and runs it against the model's upstreams in weighted
 * order: same-protocol targets pass through, others convert. A failure before the
 * client saw anything moves on to the next upstream when it is retryable.
 */
export async function dispatchChat(services: Services, request: FastifyRequest, reply: FastifyReply, spec: DispatchSpec): Promise<void> {
  const key = request.apiKey;
  if (!key) throw new GatewayError('invalid_api_key', 'Missing API key.');
  const targets = orderTargets(admit(services, key, spec.model));
  const meter = services.newMeter(request.id, key, spec.endpoint, targets[0].model, spec.stream);
  const io = { reply, meter, headers: { 'x-request-id': request.id } };
  let canonical: ChatRequest | undefined;
  let lastError: GatewayError | undefined;

  for (const target of targets) {
    if (reply.raw.destroyed) {
      meter.finish('abandoned', 499, 'client_closed');
      return;
    }
    meter.model = target.model;
    let result;
    if (protocolOf(target.upstream.type) === spec.protocol) {
      result = await relayPassthrough(io, target, spec.passthrough(target));
    } else {
      const adapter = ADAPTERS[target.upstream.type];
      if (!adapter) {
        lastError = new GatewayError('upstream_error', `Upstream type ${target.upstream.type} cannot serve ${spec.protocol} clients.`, { status: 501, retryable: true });
        continue;
      }
      try {
        canonical ??= spec.decode();
      } catch (err) {
        // Bad input is the client's to fix: not metered as an upstream failure.
        meter.finish('failed', err instanceof GatewayError ? err.status : 400, err instanceof GatewayError ? err.code : 'invalid_request_error');
        throw err;
      }
      result = await relayConvert(io, target, {
        codec: spec.codec,
        adapter,
        request: { ...canonical, model: target.upstreamModel },
        clientModel: spec.model,
        streamEncoder: spec.streamEncoder,
        streamContentType: spec.streamContentType,
      });
    }
    if (result.kind === 'done') return;
    lastError = result.error;
    // A client that went away is not the upstream's failure: keep it out of the warnings.
    const level = lastError.status === 499 ? 'debug' : 'warn';
    request.log[level]({ upstream: target.upstream.name, code: lastError.code, status: lastError.status, msg: lastError.message }, 'upstream attempt failed');
    if (!lastError.retryable) break;
  }
  const error = lastError ?? new GatewayError('upstream_unreachable', 'No upstream could serve the request.');
  meter.finish(error.status === 499 ? 'abandoned' : 'failed', error.status, error.publicCode ?? error.code);
  throw error;
}
