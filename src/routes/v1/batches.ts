import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import { BATCH_ENDPOINTS } from '../../jobs/batch-validate.ts';
import type { KeyState } from '../../metering/keys.ts';
import { requireJsonObject } from '../../protocols/openai/openai-api-bodies.ts';
import type { Services } from '../../services.ts';
import type { BatchRow } from '../../store/tables.ts';

const secs = (ms: number | null): number | null => (ms === null ? null : Math.floor(Number(ms) / 1000));

/** A batch row as OpenAI's Batch object, every timestamp in unix seconds. */
export function batchObject(b: BatchRow): Record<string, unknown> {
  const input = Number(b.input_tokens);
  const output = Number(b.output_tokens);
  return {
    id: b.id,
    object: 'batch',
    endpoint: b.endpoint,
    errors: b.errors_json ? (JSON.parse(b.errors_json) as unknown) : null,
    input_file_id: b.input_file_id,
    completion_window: b.completion_window,
    status: b.status,
    output_file_id: b.output_file_id,
    error_file_id: b.error_file_id,
    created_at: secs(b.created_at),
    in_progress_at: secs(b.in_progress_at),
    expires_at: secs(b.expires_at),
    finalizing_at: secs(b.finalizing_at),
    completed_at: secs(b.completed_at),
    failed_at: secs(b.failed_at),
    expired_at: secs(b.expired_at),
    cancelling_at: secs(b.cancelling_at),
    cancelled_at: secs(b.cancelled_at),
    request_counts: { total: Number(b.request_total), completed: Number(b.request_completed), failed: Number(b.request_failed) },
    usage: {
      input_tokens: input,
      input_tokens_details: { cached_tokens: Number(b.cached_tokens) },
      output_tokens: output,
      output_tokens_details: { reasoning_tokens: Number(b.reasoning_tokens) },
      total_tokens: input + output,
    },
    metadata: b.metadata_json ? (JSON.parse(b.metadata_json) as unknown) : null,
  };
}

function requireKey(request: FastifyRequest): KeyState {
  if (!request.apiKey) throw new GatewayError('invalid_api_key', 'Missing API key.');
  return request.apiKey;
}

function batchNotFound(id: string): GatewayError {
  return new GatewayError('not_found', `No batch found with id '${id}'.`, { param: 'batch_id', publicCode: null });
}

/** `batch_` and 24 random hex digits. */
function newBatchId(): string {
  return `batch_${randomBytes(12).toString('hex')}`;
}

/** POST/GET /v1/batches, GET /v1/batches/{id}, POST /v1/batches/{id}/cancel: batches the gateway runs itself, scoped to the key. */
export function batchRoutes(services: Services) {
  return {
    create: async (request: FastifyRequest, reply: FastifyReply) => {
      const key = requireKey(request);
      const body = requireJsonObject(request.body);
      const fileId = body.input_file_id;
      if (typeof fileId !== 'string' || fileId === '') {
        throw new GatewayError('missing_field', "Missing required parameter: 'input_file_id'.", { param: 'input_file_id', publicCode: 'missing_required_parameter' });
      }
      if (typeof body.endpoint !== 'string' || !(BATCH_ENDPOINTS as readonly string[]).includes(body.endpoint)) {
        throw new GatewayError('invalid_request_error', `Invalid 'endpoint': expected one of ${BATCH_ENDPOINTS.join(', ')}.`, { param: 'endpoint', publicCode: 'invalid_value' });
      }
      if (body.completion_window !== '24h') {
        throw new GatewayError('invalid_request_error', "Invalid 'completion_window': only '24h' is supported.", { param: 'completion_window', publicCode: 'invalid_value' });
      }
      const metadata = body.metadata;
      if (metadata !== undefined && metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata) || Object.values(metadata).some((v) => typeof v !== 'string'))) {
        throw new GatewayError('invalid_request_error', "Invalid 'metadata': expected an object of string values.", { param: 'metadata', publicCode: 'invalid_type' });
      }
      const now = services.now();
      const file = await services.files.find(fileId, key.id, now);
      if (!file) throw new GatewayError('not_found', `No such File object: ${fileId}`, { param: 'input_file_id', publicCode: null });
      if (file.purpose !== 'batch') {
        throw new GatewayError('invalid_request_error', `The file ${fileId} has purpose '${file.purpose}'; a batch needs a file uploaded with purpose 'batch'.`, { param: 'input_file_id', publicCode: 'invalid_value' });
      }
      const row: BatchRow = {
        id: newBatchId(),
        key_id: key.id,
        endpoint: body.endpoint,
        input_file_id: fileId,
        completion_window: '24h',
        status: 'validating',
        output_file_id: null,
        error_file_id: null,
        errors_json: null,
        metadata_json: metadata ? JSON.stringify(metadata) : null,
        created_at: now,
        expires_at: now + services.config.batch.window_seconds * 1000,
        in_progress_at: null,
        finalizing_at: null,
        completed_at: null,
        failed_at: null,
        expired_at: null,
        cancelling_at: null,
        cancelled_at: null,
        request_total: 0,
        request_completed: 0,
        request_failed: 0,
        input_tokens: 0,
        cached_tokens: 0,
        output_tokens: 0,
        reasoning_tokens: 0,
        lease_owner: null,
        lease_until: null,
      };
      await services.batches.insert(row);
      // Start at once rather than on the runner's next tick.
      void services.batchRunner.tick();
      return reply.send(batchObject(row));
    },

    retrieve: async (request: FastifyRequest) => {
      const key = requireKey(request);
      const id = (request.params as { id: string }).id;
      const b = await services.batches.find(id, key.id);
      if (!b) throw batchNotFound(id);
      return batchObject(b);
    },

    list: async (request: FastifyRequest) => {
      const key = requireKey(request);
      const q = request.query as { after?: string; limit?: string };
      const limit = Math.min(100, Math.max(1, Number(q.limit ?? 20) || 20));
      const { rows, hasMore } = await services.batches.list({ keyId: key.id, after: q.after, limit });
      const data = rows.map(batchObject);
      return { object: 'list', data, first_id: rows[0]?.id ?? null, last_id: rows.at(-1)?.id ?? null, has_more: hasMore };
    },

    cancel: async (request: FastifyRequest) => {
      const key = requireKey(request);
      const id = (request.params as { id: string }).id;
      const b = await services.batches.find(id, key.id);
      if (!b) throw batchNotFound(id);
      if (b.status === 'cancelling' || b.status === 'cancelled') return batchObject(b);
      const moved = await services.batches.transition(id, ['validating', 'in_progress'], { status: 'cancelling', cancelling_at: services.now() });
      if (!moved) {
        throw new GatewayError('invalid_request_error', `Cannot cancel a batch with status '${b.status}'.`, { status: 409, param: 'batch_id', publicCode: 'batch_not_cancellable' });
      }
      void services.batchRunner.tick();
      return batchObject((await services.batches.find(id, key.id)) ?? b);
    },
  };
}
