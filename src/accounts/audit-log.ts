import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { AuditLogRepository } from '../store/audit-log.repository.ts';
import type { Store } from '../store/db.ts';
import type { AuditLogRow } from '../store/tables.ts';

export interface AuditEntry {
  actor: string;
  actorIp: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  status: number;
  detail?: unknown;
}

/** Field names whose values never reach the audit log (secrets, passwords, codes, credentials). */
const SECRET_FIELD = /key|secret|password|credential|token|code|authorization/i;

/** A copy of a request body with every secret-looking field replaced, for the audit log. */
export function redactDetail(value: unknown, depth = 0): unknown {
  if (depth > 6) return '[nested]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redactDetail(v, depth + 1));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value).slice(0, 100)) {
      // Listing models or ids is fine; a field named like a secret with a string or object value is not.
      out[k] = SECRET_FIELD.test(k) && !/^(models|key_id|user_id|max_tokens)$/.test(k) && v !== null && typeof v !== 'boolean' && typeof v !== 'number' ? '[redacted]' : redactDetail(v, depth + 1);
    }
    return out;
  }
  // Long strings (a padded body) are cut: the audit log records what changed, not payloads.
  if (typeof value === 'string' && value.length > 500) return `${value.slice(0, 500)}... [${value.length} chars]`;
  return value;
}

/** Most bytes of `detail` kept per entry. */
const MAX_DETAIL_BYTES = 8192;

function boundedDetail(detail: unknown): string {
  const text = JSON.stringify(redactDetail(detail)) ?? 'null';
  return text.length <= MAX_DETAIL_BYTES ? text : JSON.stringify({ truncated: true, bytes: text.length });
}

export interface AuditView {
  id: string;
  object: 'audit_entry';
  at: number;
  actor: string;
  actor_ip: string | null;
  action: string;
  target_type: string;
  target_id: string | null;
  status: number;
  detail: unknown;
}

/** Admin actions, written as they happen (admin traffic is light; the request path never writes here). */
export class AuditLog {
  readonly repo: AuditLogRepository;
  private seq = 0;

  constructor(
    store: Store,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.repo = new AuditLogRepository(store);
  }

  async record(e: AuditEntry): Promise<void> {
    const at = this.now();
    // Time-ordered ids: the time, a per-process counter and randomness (unique across instances).
    this.seq = (this.seq + 1) % 1_000_000;
    const id = `aud_${at.toString(36).padStart(9, '0')}${this.seq.toString(36).padStart(4, '0')}${randomBytes(4).toString('hex')}`;
    try {
      await this.repo.insert({
        id,
        at,
        actor: e.actor,
        actor_ip: e.actorIp,
        action: e.action,
        target_type: e.targetType,
        target_id: e.targetId,
        status: e.status,
        detail: e.detail === undefined ? null : boundedDetail(e.detail),
      });
    } catch (err) {
      // The change itself is made; losing its audit row is logged loudly, with what it would have said.
      this.log.error({ err: { message: (err as Error).message }, audit: { ...e, detail: undefined } }, 'could not write the audit log');
    }
  }

  view(r: AuditLogRow): AuditView {
    return {
      id: r.id,
      object: 'audit_entry',
      at: Math.floor(Number(r.at) / 1000),
      actor: r.actor,
      actor_ip: r.actor_ip,
      action: r.action,
      target_type: r.target_type,
      target_id: r.target_id,
      status: r.status,
      detail: r.detail ? (JSON.parse(r.detail) as unknown) : null,
    };
  }
}
