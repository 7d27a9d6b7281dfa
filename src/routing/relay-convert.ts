import { StringDecoder } from 'node:string_decoder';
import type { ChatRequest, ChatResult, StreamEvent, Usage, Warning } from '../core/canonical.ts';
import type { IngressCodec, StreamEncoder, UpstreamAdapter } from '../core/codec.ts';
import { countableChatRequest, GeneratedText } from '../core/count-canonical.ts';
import { GatewayError } from '../core/errors.ts';
import { SseParser } from '../core/sse.ts';
import { countPromptTokens, countTextTokens } from '../core/tokens.ts';
import { ClientStream, SSE_HEADERS } from './client-stream.ts';
import type { Target } from './model-registry.ts';
import { adapterTarget } from './upstreams.ts';
import { RelayAttempt, type RelayIo, type RelayResult, withAttemptHeaders } from './relay-attempt.ts';
import { callUpstream, upstreamHttpError } from './upstream-call.ts';

export interface ConvertSpec {
  codec: IngressCodec;
  adapter: UpstreamAdapter;
  request: ChatRequest;
  /** The model name the client asked for, echoed in its answer. */
  clientModel: string;
  /** Overrides the codec's SSE encoder (Gemini's JSON-array streaming). */
  streamEncoder?: () => StreamEncoder;
  streamContentType?: string;
}

/** `x-switchyard-warnings`: what an upstream could not honour, one `param: message` per entry. */
export function encodeWarnings(warnings: readonly Warning[]): string {
  return warnings
    .map((w) => `${w.param}: ${w.message}`)
    .join('; ')
    .replace(/[^\x20-\x7e]/g, '?')
    .slice(0, 4000);
}

function hasContent(ev: StreamEvent): boolean {
  return ev.type === 'text-delta' || ev.type === 'reasoning-delta' || ev.type === 'tool-call-start' || ev.type === 'tool-call-delta';
}

function streamErrorToGateway(ev: Extract<StreamEvent, { type: 'error' }>, upstreamName: string): GatewayError {
  const status = ev.status && ev.status >= 400 ? ev.status : 502;
  return new GatewayError('upstream_error', ev.message || `Upstream ${upstreamName} sent an error.`, {
    status,
    type: ev.errorType,
    publicCode: null,
    retryable: status === 429 || status >= 500,
  });
}

/**
 * Cross-format relay: the canonical request goes up through the target's adapter,
 * and the answer comes back through the client's codec, event by event.
 */
export async function relayConvert(io: RelayIo, target: Target, spec: ConvertSpec): Promise<RelayResult> {
  const { reply, meter } = io;
  const upstream = target.upstream;
  const req = spec.request;
  const built = spec.adapter.buildRequest(req, adapterTarget(upstream, target.upstreamModel, target.credential));
  const headers: Record<string, string> = { ...io.headers };
  const warnings = [...(req.warnings ?? []), ...built.warnings];
  if (warnings.length > 0) {
    headers['x-switchyard-warnings'] = encodeWarnings(warnings);
    reply.log.warn({ upstream: upstream.name, warnings }, 'parameters the upstream cannot honour');
  }
  const attempt = new RelayAttempt(io, target);
  const generated = new GeneratedText();
  const estimate = async (text: string): Promise<Usage> => ({
    inputTokens: await countPromptTokens(countableChatRequest(req)),
    outputTokens: await countTextTokens(text),
  });
  const ctx = { model: spec.clientModel, requestId: meter.requestId };

  try {
    const res = await callUpstream(upstream, { url: built.url, headers: withAttemptHeaders(io, built.headers), body: built.body }, attempt.signal);
    if (res.statusCode >= 400) {
      return { kind: 'failed', error: await upstreamHttpError(upstream, res.statusCode, res.body, (t) => spec.adapter.parseError(t), res.headers) };
    }
    const contentType = String(res.headers['content-type'] ?? '');

    if (!req.stream) {
      attempt.gotData();
      const text = await res.body.text();
      attempt.answered();
      let result: ChatResult;
      try {
        result = spec.adapter.parseResult(JSON.parse(text));
      } catch (err) {
        return { kind: 'failed', error: new GatewayError('upstream_error', `Upstream ${upstream.name} returned an answer the gateway cannot read: ${(err as Error).message}`) };
      }
      meter.usage = result.usage;
      if (!meter.usage) {
        const out = result.content.map((p) => (p.type === 'tool_call' ? p.name + p.arguments : p.text)).join('');
        meter.estimate = () => estimate(out);
      }
      meter.markFirstToken();
      attempt.stampOverhead(headers);
      reply.code(200).headers(headers).header('content-type', 'application/json').send(JSON.stringify(spec.codec.encodeResult(result, ctx)));
      meter.finish('ok', 200);
      return { kind: 'done' };
    }

    if (!contentType.includes('text/event-stream')) {
      const text = await res.body.text();
      const info = spec.adapter.parseError(text);
      return { kind: 'failed', error: new GatewayError('upstream_error', `Upstream ${upstream.name} answered a stream request without streaming: ${info.message}`) };
    }

    const parser = new SseParser();
    // A UTF-8 character can be split between two network chunks.
    const utf8 = new StringDecoder('utf8');
    const decoder = spec.adapter.createStreamDecoder();
    const encoder = spec.streamEncoder ? spec.streamEncoder() : spec.codec.createStreamEncoder({ ...ctx, streamUsage: req.streamUsage ?? false });
    const client = new ClientStream(reply.raw);
    meter.estimate = () => estimate(generated.toString());
    let committed = false;
    let failed: GatewayError | undefined;

    const emit = async (events: StreamEvent[]): Promise<void> => {
      let out = '';
      for (const ev of events) {
        if (failed) break;
        if (ev.type === 'error') {
          failed = streamErrorToGateway(ev, upstream.name);
          out += encoder.encodeError(failed);
          break;
        }
        if (ev.type === 'finish' && ev.usage) meter.usage = ev.usage;
        generated.add(ev);
        if (hasContent(ev)) meter.markFirstToken();
        out += encoder.encode(ev);
      }
      await client.write(out);
    };

    try {
      for await (const chunk of res.body) {
        attempt.gotData();
        const sse = parser.push(typeof chunk === 'string' ? chunk : utf8.write(chunk as Buffer));
        if (sse.length === 0) continue;
        const events = sse.flatMap((e) => decoder.decode(e));
        if (events.length === 0) continue;
        if (!committed) {
          const first = events.find((e) => e.type !== 'start');
          if (first?.type === 'error') {
            res.body.destroy();
            return { kind: 'failed', error: streamErrorToGateway(first, upstream.name) };
          }
          attempt.stampOverhead(headers);
          reply.hijack();
          client.open(200, { ...SSE_HEADERS, ...(spec.streamContentType ? { 'content-type': spec.streamContentType } : {}), ...headers });
          if (!spec.streamContentType) client.keepAlive(upstream.keepaliveMs);
          committed = true;
        }
        await emit(events);
        if (failed) break;
      }
      if (!failed) {
        const trailing = utf8.end();
        const last = [...(trailing ? parser.push(trailing) : [])];
        const rest = parser.flush();
        if (rest) last.push(rest);
        const tail = [...last.flatMap((e) => decoder.decode(e)), ...decoder.end()];
        if (!committed) {
          if (tail.length === 0) {
            return { kind: 'failed', error: new GatewayError('upstream_error', `Upstream ${upstream.name} closed the stream without sending an event.`) };
          }
          attempt.stampOverhead(headers);
          reply.hijack();
          client.open(200, { ...SSE_HEADERS, ...(spec.streamContentType ? { 'content-type': spec.streamContentType } : {}), ...headers });
          if (!spec.streamContentType) client.keepAlive(upstream.keepaliveMs);
          committed = true;
        }
        await emit(tail);
      }
      if (failed) {
        res.body.destroy();
        client.end();
        meter.finish('failed', failed.status, failed.code);
        return { kind: 'done' };
      }
      client.end(encoder.end());
      meter.finish(client.isClosed && !reply.raw.writableFinished ? 'abandoned' : 'ok', 200);
      return { kind: 'done' };
    } catch (err) {
      return await attempt.failedWhileStreaming(err, committed, client, (e) => encoder.encodeError(e));
    }
  } catch (err) {
    return attempt.failedBeforeStart(err);
  } finally {
    attempt.dispose();
  }
}
