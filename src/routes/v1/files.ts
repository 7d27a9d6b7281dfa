import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import type { KeyState } from '../../metering/keys.ts';
import type { Services } from '../../services.ts';
import { createFile, deleteFile, UPLOAD_PURPOSES, type UploadPurpose } from '../../store/stored-files.ts';
import type { FileRow } from '../../store/tables.ts';
import { type MultipartUpload, readMultipart, requireFile, requireFormField } from './multipart-upload.ts';

/** OpenAI's bounds for `expires_after[seconds]`: one hour to thirty days. */
const MIN_EXPIRY_SECONDS = 3600;
const MAX_EXPIRY_SECONDS = 2_592_000;
const MAX_LIST_LIMIT = 10_000;

/** The File object, as OpenAI's API answers it (times in Unix seconds). */
export function encodeFileObject(row: FileRow) {
  return {
    id: row.id,
    object: 'file' as const,
    bytes: row.bytes,
    created_at: Math.floor(row.created_at / 1000),
    expires_at: row.expires_at === null ? null : Math.floor(row.expires_at / 1000),
    filename: row.filename,
    purpose: row.purpose,
    status: row.status,
    status_details: null,
  };
}

function requireKey(request: FastifyRequest): KeyState {
  if (!request.apiKey) throw new GatewayError('invalid_api_key', 'Missing API key.');
  return request.apiKey;
}

function invalid(param: string, message: string): GatewayError {
  return new GatewayError('invalid_request_error', message, { param, publicCode: null });
}

function parsePurpose(upload: MultipartUpload): UploadPurpose {
  const purpose = requireFormField(upload, 'purpose');
  if (!(UPLOAD_PURPOSES as readonly string[]).includes(purpose)) {
    const allowed = UPLOAD_PURPOSES.map((p) => `'${p}'`).join(', ');
    throw invalid('purpose', `'${purpose}' is not one of [${allowed}] - 'purpose'`);
  }
  return purpose as UploadPurpose;
}

/** `expires_after[anchor]` and `expires_after[seconds]`, both or neither; the seconds, or undefined. */
function parseExpiresAfter(upload: MultipartUpload): number | undefined {
  const anchor = upload.field('expires_after[anchor]');
  const seconds = upload.field('expires_after[seconds]');
  if (anchor === undefined && seconds === undefined) return undefined;
  if (anchor === undefined || anchor === '') {
    throw new GatewayError('missing_field', "Missing required parameter: 'expires_after[anchor]'.", { param: 'expires_after[anchor]', publicCode: 'missing_required_parameter' });
  }
  if (anchor !== 'created_at') {
    throw invalid('expires_after[anchor]', `Invalid value for 'expires_after[anchor]': '${anchor}'. Supported values are: 'created_at'.`);
  }
  if (seconds === undefined || seconds === '') {
    throw new GatewayError('missing_field', "Missing required parameter: 'expires_after[seconds]'.", { param: 'expires_after[seconds]', publicCode: 'missing_required_parameter' });
  }
  if (!/^-?\d+$/.test(seconds.trim())) {
    throw invalid('expires_after[seconds]', `Invalid type for 'expires_after[seconds]': expected an integer, but got '${seconds}' instead.`);
  }
  const n = Number(seconds.trim());
  if (n < MIN_EXPIRY_SECONDS) {
    throw invalid('expires_after[seconds]', `Invalid 'expires_after[seconds]': integer below minimum value. Expected a value >= ${MIN_EXPIRY_SECONDS}, but got ${n} instead.`);
  }
  if (n > MAX_EXPIRY_SECONDS) {
    throw invalid('expires_after[seconds]', `Invalid 'expires_after[seconds]': integer above maximum value. Expected a value <= ${MAX_EXPIRY_SECONDS}, but got ${n} instead.`);
  }
  return n;
}

interface ListQuery {
  purpose?: string;
  after?: string;
  limit?: string;
  order?: string;
}

function parseListQuery(q: ListQuery): { purpose?: string; after?: string; limit: number; order: 'asc' | 'desc' } {
  let limit = MAX_LIST_LIMIT;
  if (q.limit !== undefined && q.limit !== '') {
    const n = Number(q.limit);
    if (!Number.isInteger(n)) throw invalid('limit', `Invalid type for 'limit': expected an integer, but got '${q.limit}' instead.`);
    if (n < 1) throw invalid('limit', `Invalid 'limit': integer below minimum value. Expected a value >= 1, but got ${n} instead.`);
    if (n > MAX_LIST_LIMIT) throw invalid('limit', `Invalid 'limit': integer above maximum value. Expected a value <= ${MAX_LIST_LIMIT}, but got ${n} instead.`);
    limit = n;
  }
  const order = q.order === undefined || q.order === '' ? 'desc' : q.order;
  if (order !== 'asc' && order !== 'desc') {
    throw invalid('order', `Invalid value for 'order': '${order}'. Supported values are: 'asc' and 'desc'.`);
  }
  return { purpose: q.purpose || undefined, after: q.after || undefined, limit, order };
}

/** Resolves once the stream has data (or has ended), rejects when it fails to open. */
/** Resolves once the stream can be read (the file exists), rejects on its first error. */
export function readable(stream: Readable): Promise<Readable> {
  return new Promise((resolve, reject) => {
    const ok = (): void => {
      stream.off('error', fail);
      resolve(stream);
    };
    const fail = (err: Error): void => {
      stream.off('readable', ok);
      stream.destroy();
      reject(err);
    };
    stream.once('readable', ok);
    stream.once('error', fail);
  });
}

/** POST, GET /v1/files and GET, DELETE /v1/files/{id}, GET /v1/files/{id}/content, scoped to the calling key. */
export function filesRoutes(services: Services) {
  /** The caller's live file: another key's, an unknown and an expired one are all not found. */
  const load = async (request: FastifyRequest): Promise<FileRow> => {
    const key = requireKey(request);
    const id = (request.params as { id: string }).id;
    const row = await services.files.find(id, key.id, services.now());
    if (!row) throw new GatewayError('not_found', `No such File object: ${id}`, { param: 'id', publicCode: null });
    return row;
  };

  return {
    create: async (request: FastifyRequest, reply: FastifyReply) => {
      const key = requireKey(request);
      const { files: cfg } = services.config;
      const upload = await readMultipart(request, cfg.max_upload_mb);
      try {
        const [file] = requireFile(upload, 'file');
        const purpose = parsePurpose(upload);
        const expiresAfter = parseExpiresAfter(upload);
        if (file.size === 0) throw invalid('file', 'The file is empty: upload a file with content.');
        const createdAt = services.now();
        const row = await createFile(services, {
          keyId: key.id,
          filename: file.filename,
          purpose,
          data: createReadStream(file.path),
          createdAt,
          expiresAt: createdAt + (expiresAfter ?? cfg.default_ttl_seconds) * 1000,
        });
        return reply.send(encodeFileObject(row));
      } finally {
        await upload.dispose();
      }
    },

    list: async (request: FastifyRequest) => {
      const key = requireKey(request);
      const q = parseListQuery(request.query as ListQuery);
      const { rows, hasMore } = await services.files.list({ keyId: key.id, ...q, now: services.now() });
      const data = rows.map(encodeFileObject);
      return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
    },

    get: async (request: FastifyRequest) => encodeFileObject(await load(request)),

    delete: async (request: FastifyRequest) => {
      const row = await load(request);
      await deleteFile(services, row.id);
      return { id: row.id, object: 'file', deleted: true };
    },

    content: async (request: FastifyRequest, reply: FastifyReply) => {
      const row = await load(request);
      // Opened before the headers go out: bytes that are missing answer an error, not a cut-off download.
      const bytes = await readable(services.fileStorage.read(row.id));
      return reply.header('content-type', 'application/octet-stream').header('content-length', String(row.bytes)).send(bytes);
    },
  };
}
