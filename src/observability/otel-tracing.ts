/**
 * OpenTelemetry traces over OTLP/HTTP (JSON), loaded only when `otel.endpoint` is set (see
 * tracing.ts). One SERVER span per routed request, one CLIENT span per upstream attempt (retries
 * and failover included); an incoming W3C `traceparent` is the parent, and each attempt's
 * `traceparent` goes to its upstream. Nothing is registered
 * globally: the provider, tracer and propagator belong to this instance.
 */
import type { ServerResponse } from 'node:http';
import { type Attributes, type Context, defaultTextMapGetter, defaultTextMapSetter, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, ParentBasedSampler, type ReadableSpan, type SpanExporter, TracerProvider, TraceIdRatioBasedSampler } from '@opentelemetry/sdk-trace';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { UpstreamType } from '../config/schema.ts';
import { isGatewayError } from '../core/errors.ts';
import type { RequestMeter } from '../metering/request-meter.ts';
import type { DispatchSpec } from '../routing/dispatch.ts';
import type { Upstream } from '../routing/upstreams.ts';
import type { NewUsageRecord } from '../store/tables.ts';
import type { OtelConfig, RequestTracing } from './tracing.ts';

/*
 * GenAI attribute names. They are still incubating (the package's `incubating` entry point, which
 * its authors ask not to depend on), so they are spelled here, as the conventions name them.
 */
const GEN_AI_OPERATION_NAME = 'gen_ai.operation.name';
const GEN_AI_PROVIDER_NAME = 'gen_ai.provider.name';
/** Older name of gen_ai.provider.name, still what many backends read. */
const GEN_AI_SYSTEM = 'gen_ai.system';
const GEN_AI_REQUEST_MODEL = 'gen_ai.request.model';
const GEN_AI_REQUEST_MAX_TOKENS = 'gen_ai.request.max_tokens';
const GEN_AI_REQUEST_STREAM = 'gen_ai.request.stream';
const GEN_AI_RESPONSE_MODEL = 'gen_ai.response.model';
const GEN_AI_USAGE_INPUT_TOKENS = 'gen_ai.usage.input_tokens';
const GEN_AI_USAGE_OUTPUT_TOKENS = 'gen_ai.usage.output_tokens';
const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS = 'gen_ai.usage.cache_read.input_tokens';
const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS = 'gen_ai.usage.reasoning.output_tokens';
const GEN_AI_PROMPT = 'gen_ai.prompt';
const GEN_AI_COMPLETION = 'gen_ai.completion';

/** Most characters of prompt or completion text put in a span (`otel.capture_content`). */
export const MAX_CONTENT_CHARS = 8192;
/** Longest attribute value the SDK keeps, whatever sets it. */
const MAX_ATTRIBUTE_CHARS = 16_384;
/** closeServices waits at most this long for the last export. */
const SHUTDOWN_TIMEOUT_MS = 5000;

/**
 * Epoch milliseconds on the monotonic clock. Every span time is given from it: the SDK's own
 * times mix Date.now() (whole milliseconds) and the monotonic clock, which lets a child span end
 * after its parent.
 */
function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

const PROVIDER_NAMES: Record<UpstreamType, string> = {
  openai: 'openai',
  azure: 'azure.ai.openai',
  anthropic: 'anthropic',
  gemini: 'gcp.gemini',
  midjourney: 'midjourney',
};

/** gen_ai.operation.name of a usage-record endpoint (batch lines are `batch.<endpoint>`). */
function operationOf(endpoint: string): string {
  switch (endpoint) {
    case 'chat.completions':
    case 'chat.conversation':
    case 'messages':
    case 'responses':
      return 'chat';
    case 'completions':
      return 'text_completion';
    case 'embeddings':
      return 'embeddings';
    case 'gemini.generateContent':
    case 'gemini.streamGenerateContent':
      return 'generate_content';
    default:
      return endpoint;
  }
}

/** What one request's trace keeps until its span ends. */
interface RequestTrace {
  span: Span;
  /** The context whose active span is `span`: the parent of the attempts. */
  ctx: Context;
  operation: string;
  attempts: number;
  /** The type of the upstream last called: the request's provider. */
  lastType: UpstreamType | undefined;
  record: NewUsageRecord | undefined;
  /** `run` has settled; with `thrown` when it threw. */
  settled: boolean;
  thrown: unknown;
  /** The meter, once an attempt showed it: its record ends the span. */
  meter: RequestMeter | undefined;
  ended: boolean;
  /** The answer's first bytes (capture_content only). */
  output: OutputTap | undefined;
}

/**
 * Collects the first bytes written to a response, whatever writes them (Fastify's send, a hijacked
 * stream, a batch line's injected response). Used only with `otel.capture_content`.
 */
class OutputTap {
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private total = 0;

  constructor(res: ServerResponse) {
    const write = res.write;
    const end = res.end;
    res.write = ((chunk: unknown, ...rest: unknown[]) => {
      this.keep(chunk, rest[0]);
      return (write as (...args: unknown[]) => boolean).apply(res, [chunk, ...rest]);
    }) as typeof res.write;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'function') this.keep(chunk, rest[0]);
      return (end as (...args: unknown[]) => ServerResponse).apply(res, [chunk, ...rest]);
    }) as typeof res.end;
  }

  private keep(chunk: unknown, encoding: unknown): void {
    if (chunk === undefined || chunk === null || typeof chunk === 'function') return;
    let bytes: Buffer;
    if (typeof chunk === 'string') bytes = Buffer.from(chunk, typeof encoding === 'string' && Buffer.isEncoding(encoding) ? encoding : 'utf8');
    else if (chunk instanceof Uint8Array) bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    else return;
    this.total += bytes.length;
    if (this.size >= MAX_CONTENT_CHARS * 4) return;
    this.chunks.push(Buffer.from(bytes.subarray(0, MAX_CONTENT_CHARS * 4 - this.size)));
    this.size += Math.min(bytes.length, MAX_CONTENT_CHARS * 4 - this.size);
  }

  get bytes(): number {
    return this.total;
  }

  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

/** Text cut to MAX_CONTENT_CHARS, with whether it was cut. */
function clip(text: string): { text: string; truncated: boolean } {
  return text.length > MAX_CONTENT_CHARS ? { text: text.slice(0, MAX_CONTENT_CHARS), truncated: true } : { text, truncated: false };
}

/** server.address and server.port of an upstream's base URL: the host only, never a path, query or credentials. */
const hosts = new WeakMap<Upstream, Attributes>();
function hostOf(u: Upstream): Attributes {
  let attrs = hosts.get(u);
  if (!attrs) {
    try {
      const url = new URL(u.baseUrl);
      const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
      attrs = { [ATTR_SERVER_ADDRESS]: url.hostname, [ATTR_SERVER_PORT]: port };
    } catch {
      attrs = {};
    }
    hosts.set(u, attrs);
  }
  return attrs;
}

function errorCodeOf(err: unknown): { code: string; status: number } {
  return isGatewayError(err) ? { code: err.publicCode ?? err.code, status: err.status } : { code: 'internal_error', status: 500 };
}

/**
 * The OTLP exporter, telling the log when exports fail: once when they start failing (and once
 * when they work again), with the collector's address and the error's message, never the headers.
 * A failed export drops its spans; it never touches a request.
 */
class LoggedExporter implements SpanExporter {
  private failing = false;
  private readonly where: string;

  constructor(
    private readonly inner: SpanExporter,
    endpoint: string,
    private readonly log: Logger,
  ) {
    const url = new URL(endpoint);
    this.where = `${url.protocol}//${url.host}${url.pathname}`;
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.inner.export(spans, (result) => {
      if (result.code !== ExportResultCode.SUCCESS) {
        if (!this.failing) {
          this.failing = true;
          const err = result.error as (Error & { code?: number }) | undefined;
          this.log.warn(
            { endpoint: this.where, err: { message: (err?.message ?? 'export failed').slice(0, 300), ...(typeof err?.code === 'number' ? { status: err.code } : {}) } },
            'could not export traces: spans are dropped until the collector answers again',
          );
        }
      } else if (this.failing) {
        this.failing = false;
        this.log.info({ endpoint: this.where }, 'exporting traces again');
      }
      done(result);
    });
  }

  shutdown(): Promise<void> {
    return this.inner.shutdown();
  }

  forceFlush(): Promise<void> {
    return this.inner.forceFlush?.() ?? Promise.resolve();
  }
}

export function createOtelTracing(config: OtelConfig & { endpoint: string }, log: Logger): RequestTracing {
  const exporter = new LoggedExporter(new OTLPTraceExporter({ url: config.endpoint, headers: { ...config.headers } }), config.endpoint, log);
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: config.service_name })),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.sample_ratio) }),
    spanLimits: { attributeValueLengthLimit: MAX_ATTRIBUTE_CHARS },
    spanProcessors: [new BatchSpanProcessor({ exporter })],
  });
  return new OtelTracing(provider, provider.getTracer('switchyard'), config.capture_content, config.propagate_upstream);
}

class OtelTracing implements RequestTracing {
  private readonly propagator = new W3CTraceContextPropagator();
  /** Requests whose span waits for their meter's usage record. */
  private readonly byMeter = new WeakMap<RequestMeter, RequestTrace>();

  constructor(
    private readonly provider: TracerProvider,
    private readonly tracer: Tracer,
    private readonly captureContent: boolean,
    private readonly propagateUpstream: boolean,
  ) {}

  /** The headers that carry `ctx`'s span on to an upstream (none when propagation is off). */
  private upstreamHeaders(ctx: Context): Record<string, string> | undefined {
    if (!this.propagateUpstream) return undefined;
    const headers: Record<string, string> = {};
    this.propagator.inject(ctx, headers, defaultTextMapSetter);
    return headers;
  }

  async traceDispatch(request: FastifyRequest, reply: FastifyReply, spec: DispatchSpec, run: (spec: DispatchSpec) => Promise<void>): Promise<void> {
    const parent = this.propagator.extract(ROOT_CONTEXT, request.headers, defaultTextMapGetter);
    const route = request.routeOptions.url;
    const endpoint = request.batch ? `batch.${spec.endpoint}` : spec.endpoint;
    const operation = operationOf(spec.endpoint);
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: request.method,
      [ATTR_URL_PATH]: request.url.split('?')[0],
      [GEN_AI_OPERATION_NAME]: operation,
      [GEN_AI_REQUEST_MODEL]: spec.model,
      [GEN_AI_REQUEST_STREAM]: spec.stream,
      'switchyard.request_id': request.id,
      'switchyard.endpoint': endpoint,
      'switchyard.stream': spec.stream,
    };
    if (route) attributes[ATTR_HTTP_ROUTE] = route;
    if (spec.maxTokens) attributes[GEN_AI_REQUEST_MAX_TOKENS] = spec.maxTokens;
    const key = request.apiKey;
    if (key) attributes['switchyard.key_id'] = key.id;
    if (key?.user) attributes['switchyard.user_id'] = key.user.id;
    if (request.batch) attributes['switchyard.batch_id'] = request.batch.id;
    // The request began at its first byte (Fastify's clock), before the body was read and the key checked.
    const span = this.tracer.startSpan(
      `${request.method} ${route ?? spec.path ?? endpoint}`,
      { kind: SpanKind.SERVER, attributes, startTime: nowMs() - reply.elapsedTime },
      parent,
    );
    // Not sampled: nothing to record, so the request runs as without tracing; its upstreams still
    // get the trace context, so that they do not sample it either.
    if (!span.isRecording()) {
      const upstreamHeaders = this.upstreamHeaders(trace.setSpan(parent, span));
      return run(upstreamHeaders ? { ...spec, attempt: (io, target, step) => spec.attempt({ ...io, upstreamHeaders }, target, step) } : spec);
    }

    const state: RequestTrace = {
      span,
      ctx: trace.setSpan(parent, span),
      operation,
      attempts: 0,
      lastType: undefined,
      record: undefined,
      settled: false,
      thrown: undefined,
      meter: undefined,
      ended: false,
      output: undefined,
    };
    if (this.captureContent) {
      const body = request.rawBody;
      if (body && body.length > 0) {
        const prompt = clip(body.toString('utf8', 0, Math.min(body.length, MAX_CONTENT_CHARS * 4)));
        span.addEvent('gen_ai.content.prompt', { [GEN_AI_PROMPT]: prompt.text, 'switchyard.content.truncated': prompt.truncated || body.length > MAX_CONTENT_CHARS * 4 }, nowMs());
      }
      state.output = new OutputTap(reply.raw);
    }
    const attempt = spec.attempt;
    const traced: DispatchSpec = {
      ...spec,
      attempt: async (io, target, step) => {
        if (!state.meter) {
          state.meter = io.meter;
          this.byMeter.set(io.meter, state);
        }
        const u = target.upstream;
        state.attempts++;
        state.lastType = u.type;
        const child = this.tracer.startSpan(
          `${state.operation} ${target.upstreamModel}`,
          {
            kind: SpanKind.CLIENT,
            startTime: nowMs(),
            attributes: {
              ...hostOf(u),
              [GEN_AI_OPERATION_NAME]: state.operation,
              [GEN_AI_PROVIDER_NAME]: PROVIDER_NAMES[u.type],
              [GEN_AI_SYSTEM]: PROVIDER_NAMES[u.type],
              [GEN_AI_REQUEST_MODEL]: target.upstreamModel,
              'switchyard.upstream': u.name,
              'switchyard.upstream_type': u.type,
              'switchyard.model': step.model,
              'switchyard.attempt': state.attempts,
              ...(target.credential ? { 'switchyard.credential': target.credential.id } : {}),
            },
          },
          state.ctx,
        );
        // The upstream continues the trace under this attempt's span (W3C traceparent, and tracestate if any).
        const upstreamHeaders = this.upstreamHeaders(trace.setSpan(state.ctx, child));
        try {
          const result = await attempt(upstreamHeaders ? { ...io, upstreamHeaders } : io, target, step);
          if (result.kind === 'failed') {
            const err = result.error;
            child.setAttributes({ [ATTR_ERROR_TYPE]: err.code, 'switchyard.retryable': err.retryable });
            if (err.upstreamStatus !== undefined) child.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, err.upstreamStatus);
            if (this.captureContent) child.setAttribute('switchyard.error.message', clip(err.message).text);
            child.setStatus({ code: SpanStatusCode.ERROR, message: err.code });
          } else {
            child.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, io.reply.raw.statusCode);
          }
          return result;
        } catch (err) {
          const { code } = errorCodeOf(err);
          child.setAttribute(ATTR_ERROR_TYPE, code);
          child.setStatus({ code: SpanStatusCode.ERROR, message: code });
          throw err;
        } finally {
          child.end(nowMs());
        }
      },
    };
    try {
      await run(traced);
    } catch (err) {
      state.thrown = err;
      throw err;
    } finally {
      state.settled = true;
      this.maybeEnd(state, reply);
    }
  }

  recorded(rec: NewUsageRecord, meter: RequestMeter): void {
    const state = this.byMeter.get(meter);
    if (!state) return;
    this.byMeter.delete(meter);
    state.record = rec;
    if (state.settled) this.maybeEnd(state, undefined);
  }

  /** Ends the span once `run` settled and, when a meter took part, its record is in. */
  private maybeEnd(state: RequestTrace, reply: FastifyReply | undefined): void {
    if (state.ended || !state.settled || (state.meter && !state.record)) return;
    state.ended = true;
    const { span, record: rec } = state;
    if (state.lastType) {
      span.setAttribute(GEN_AI_PROVIDER_NAME, PROVIDER_NAMES[state.lastType]);
      span.setAttribute(GEN_AI_SYSTEM, PROVIDER_NAMES[state.lastType]);
    }
    span.setAttribute('switchyard.attempts', state.attempts);
    let errorCode: string | null;
    if (rec) {
      errorCode = rec.error_code ?? null;
      const attrs: Attributes = {
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: rec.status,
        'switchyard.status': rec.status,
        'switchyard.model': rec.model,
        'switchyard.cost_usd': rec.cost_usd ?? 0,
        'switchyard.charged': rec.charged === 1,
        [GEN_AI_USAGE_INPUT_TOKENS]: rec.prompt_tokens ?? 0,
        [GEN_AI_USAGE_OUTPUT_TOKENS]: rec.completion_tokens ?? 0,
      };
      if (rec.upstream) attrs['switchyard.upstream'] = rec.upstream;
      if (rec.upstream_model) attrs[GEN_AI_RESPONSE_MODEL] = rec.upstream_model;
      if (rec.requested_model) attrs['switchyard.requested_model'] = rec.requested_model;
      if (rec.cached_tokens) attrs[GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = rec.cached_tokens;
      if (rec.reasoning_tokens) attrs[GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = rec.reasoning_tokens;
      if (rec.estimated === 1) attrs['switchyard.usage.estimated'] = true;
      if (rec.ttft_ms !== null && rec.ttft_ms !== undefined) attrs['switchyard.ttft_ms'] = rec.ttft_ms;
      if (rec.unit && rec.unit !== 'tokens') {
        attrs['switchyard.unit'] = rec.unit;
        attrs['switchyard.quantity'] = Number(rec.quantity ?? 0);
      }
      span.setAttributes(attrs);
    } else {
      // No usage record: refused at admission or routing, or the client left before any attempt.
      const closed = state.thrown === undefined && reply !== undefined && reply.raw.destroyed && !reply.raw.writableEnded;
      const failure = state.thrown === undefined ? undefined : errorCodeOf(state.thrown);
      const status = failure?.status ?? (closed ? 499 : (reply?.raw.statusCode ?? 200));
      errorCode = failure?.code ?? (closed ? 'client_closed' : null);
      span.setAttributes({ [ATTR_HTTP_RESPONSE_STATUS_CODE]: status, 'switchyard.status': status });
    }
    if (errorCode) {
      span.setAttribute(ATTR_ERROR_TYPE, errorCode);
      span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode });
    }
    if (state.output && state.output.bytes > 0) {
      const completion = clip(state.output.text());
      span.addEvent('gen_ai.content.completion', { [GEN_AI_COMPLETION]: completion.text, 'switchyard.content.truncated': completion.truncated || state.output.bytes > MAX_CONTENT_CHARS * 4 }, nowMs());
    }
    span.end(nowMs());
  }

  async flush(): Promise<void> {
    // A failed export is the exporter's to log; it never reaches the caller.
    await this.provider.forceFlush().catch(() => undefined);
  }

  async shutdown(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, SHUTDOWN_TIMEOUT_MS);
      timer.unref();
    });
    try {
      await Promise.race([this.provider.shutdown().catch(() => undefined), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}
