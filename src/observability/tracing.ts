import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import type { MeterMetrics, RequestMeter } from '../metering/request-meter.ts';
import type { DispatchSpec } from '../routing/dispatch.ts';
import type { NewUsageRecord } from '../store/tables.ts';

export type OtelConfig = Config['otel'];

/**
 * OpenTelemetry traces of routed requests (`otel.endpoint`), as dispatch and the meter see them.
 * This file imports nothing of OpenTelemetry: `otel-tracing.ts` does, and it is loaded only by
 * `loadTracing`, when an endpoint is configured.
 */
export interface RequestTracing {
  /**
   * Runs one routed request inside its server span: `run` gets the spec to use, whose attempts
   * each make a client span. The span ends when the request's usage record is written (or, for a
   * request refused before it had one, when `run` settles).
   */
  traceDispatch(request: FastifyRequest, reply: FastifyReply, spec: DispatchSpec, run: (spec: DispatchSpec) => Promise<void>): Promise<void>;
  /** A meter wrote its usage record. */
  recorded(rec: NewUsageRecord, meter: RequestMeter): void;
  /** Exports the spans ended so far (spans are otherwise sent in batches every few seconds). */
  flush(): Promise<void>;
  /** Exports the spans still buffered, then stops (bounded in time). */
  shutdown(): Promise<void>;
}

let loaded = false;

/** Whether this process imported the OpenTelemetry SDK (only `loadTracing` does). */
export function otelModulesLoaded(): boolean {
  return loaded;
}

/** Imports the SDK and exporter and starts the tracer provider. */
export async function loadTracing(config: OtelConfig & { endpoint: string }, log: Logger): Promise<RequestTracing> {
  const { createOtelTracing } = await import('./otel-tracing.ts');
  loaded = true;
  return createOtelTracing(config, log);
}

/**
 * The meter's observers with tracing added: with tracing on, the meter tells both the metrics and
 * the tracer of each record, so the meter itself needs no check of its own for tracing.
 */
export function withTracing(metrics: MeterMetrics | undefined, tracing: RequestTracing): MeterMetrics {
  return {
    observe(rec, meter) {
      metrics?.observe(rec, meter);
      tracing.recorded(rec, meter);
    },
    streamStarted() {
      metrics?.streamStarted();
    },
    streamEnded() {
      metrics?.streamEnded();
    },
  };
}
