import { createWriteStream } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { openAsBlob } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import busboy from 'busboy';
import type { FastifyRequest } from 'fastify';
import { FormData } from 'undici';
import { GatewayError } from '../../core/errors.ts';

const MIB = 1024 * 1024;

export interface UploadedFile {
  field: string;
  filename: string;
  contentType: string;
  /** Spooled to disk: an upload is never held in memory whole. */
  path: string;
  size: number;
}

type Part = { kind: 'field'; name: string; value: string } | { kind: 'file'; file: UploadedFile };

/**
 * A multipart upload received in full (fields in memory, files spooled to a private
 * temporary directory) before any upstream is called, so size limits answer 413
 * first and each attempt can send the same form again.
 */
export class MultipartUpload {
  constructor(
    private readonly parts: Part[],
    private readonly dir: string,
  ) {}

  field(name: string): string | undefined {
    for (const p of this.parts) if (p.kind === 'field' && p.name === name) return p.value;
    return undefined;
  }

  files(...names: string[]): UploadedFile[] {
    return this.parts.flatMap((p) => (p.kind === 'file' && names.includes(p.file.field) ? [p.file] : []));
  }

  /**
   * The form again, in the order received, with `overrides` replacing fields or added
   * when absent (the upstream's model name); file bytes are streamed from disk.
   */
  async form(overrides: Record<string, string> = {}): Promise<FormData> {
    const form = new FormData();
    const left = new Map(Object.entries(overrides));
    for (const p of this.parts) {
      if (p.kind === 'file') {
        form.append(p.file.field, await openAsBlob(p.file.path, { type: p.file.contentType }), p.file.filename);
        continue;
      }
      const replaced = left.get(p.name);
      form.append(p.name, replaced ?? p.value);
      left.delete(p.name);
    }
    for (const [name, value] of left) form.append(name, value);
    return form;
  }

  async dispose(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/**
 * Reads a multipart/form-data request: 415 for any other content type, 413 once an
 * upload passes `maxMb` (by Content-Length before reading, or while reading).
 */
export async function readMultipart(request: FastifyRequest, maxMb: number): Promise<MultipartUpload> {
  const type = request.headers['content-type'] ?? '';
  if (!/^multipart\/form-data\b/i.test(type)) {
    throw new GatewayError('unsupported_media_type', `Invalid Content-Type header (${type || 'none'}): this endpoint takes multipart/form-data.`, {
      publicCode: 'unsupported_media_type',
    });
  }
  const maxBytes = Math.floor(maxMb * MIB);
  const tooLarge = (): GatewayError =>
    new GatewayError('body_too_large', `The upload is larger than the limit of ${maxMb} MB.`, { publicCode: 'file_too_large' });
  const declared = Number(request.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes + MIB) throw tooLarge();

  const dir = await mkdtemp(join(tmpdir(), 'switchyard-upload-'));
  const parts: Part[] = [];
  const writes: Array<Promise<void>> = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const fail = (err: Error): void => {
        if (failed) return;
        failed = true;
        request.raw.unpipe(bb);
        request.raw.resume();
        reject(err);
      };
      let bb: busboy.Busboy;
      try {
        // Clients (fetch's FormData, httpx, curl) send file names as raw UTF-8, not busboy's default latin1.
        bb = busboy({ headers: request.headers, defParamCharset: 'utf8', limits: { fileSize: maxBytes, files: 32, fields: 128, fieldSize: MIB } });
      } catch (err) {
        reject(new GatewayError('invalid_request_error', `The multipart body cannot be read: ${(err as Error).message}.`, { publicCode: null }));
        return;
      }
      let received = 0;
      request.raw.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received > maxBytes + MIB) fail(tooLarge());
      });
      bb.on('field', (name, value) => parts.push({ kind: 'field', name, value }));
      bb.on('file', (name, stream, info) => {
        const file: UploadedFile = {
          field: name,
          filename: info.filename || 'file',
          contentType: info.mimeType || 'application/octet-stream',
          path: join(dir, String(parts.length)),
          size: 0,
        };
        parts.push({ kind: 'file', file });
        stream.on('data', (c: Buffer) => {
          file.size += c.length;
        });
        stream.once('limit', () => fail(tooLarge()));
        writes.push(pipeline(stream, createWriteStream(file.path)).catch((err: Error) => fail(err)));
      });
      bb.once('error', (err: Error) => fail(new GatewayError('invalid_request_error', `The multipart body cannot be read: ${err.message}.`, { publicCode: null })));
      bb.once('close', () => {
        if (!failed) resolve();
      });
      request.raw.once('aborted', () => fail(new GatewayError('upstream_error', 'Client closed the request.', { status: 499, retryable: false })));
      request.raw.pipe(bb);
    });
    await Promise.all(writes);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return new MultipartUpload(parts, dir);
}

/** A file field the endpoint requires: 400 naming it when absent. */
export function requireFile(upload: MultipartUpload, ...names: string[]): UploadedFile[] {
  const files = upload.files(...names);
  if (files.length === 0) {
    throw new GatewayError('missing_field', `Missing required parameter: '${names[0]}'. Send it as a file part of the multipart form.`, {
      param: names[0],
      publicCode: 'missing_required_parameter',
    });
  }
  return files;
}

/** A text field the endpoint requires. */
export function requireFormField(upload: MultipartUpload, name: string): string {
  const v = upload.field(name);
  if (v === undefined || v === '') {
    throw new GatewayError('missing_field', `Missing required parameter: '${name}'.`, { param: name, publicCode: 'missing_required_parameter' });
  }
  return v;
}

/**
 * Seconds of audio in a PCM WAV file, from its header (byte rate and data size); undefined
 * for anything else. Reads the first 64 KiB only.
 */
export async function wavDurationSeconds(path: string): Promise<number | undefined> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const b = buf.subarray(0, bytesRead);
    if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') return undefined;
    let byteRate = 0;
    for (let off = 12; off + 8 <= b.length; ) {
      const id = b.toString('latin1', off, off + 4);
      const size = b.readUInt32LE(off + 4);
      if (id === 'fmt ' && off + 16 <= b.length) byteRate = b.readUInt32LE(off + 8 + 8);
      if (id === 'data') {
        if (!byteRate) return undefined;
        const { size: total } = await fh.stat();
        // A streamed WAV may carry 0 or 0xFFFFFFFF as its size: take what the file holds.
        const dataBytes = size === 0 || size === 0xffffffff ? total - (off + 8) : Math.min(size, total - (off + 8));
        return dataBytes / byteRate;
      }
      off += 8 + size + (size % 2);
    }
    return undefined;
  } finally {
    await fh.close();
  }
}
