import { randomBytes } from 'node:crypto';
import { hashSecret } from '../metering/keys.ts';
import type { Store } from '../store/db.ts';

export type SessionKind = 'admin' | 'user';

/**
 * Browser sessions, kept in the database so every instance honours them: the cookie carries a
 * random token, the table only its SHA-256. A session ends at its expiry or when revoked (sign-out,
 * a disabled or deleted user, a password change).
 */
export class SessionService {
  constructor(
    private readonly store: Store,
    private readonly now: () => number = Date.now,
  ) {}

  async create(kind: SessionKind, subject: string, ttlMs: number): Promise<{ token: string; expiresAt: number }> {
    const token = `sys_${randomBytes(32).toString('base64url')}`;
    const now = this.now();
    const expiresAt = now + ttlMs;
    await this.store.db.insertInto('sessions').values({ token_hash: hashSecret(token), kind, subject, created_at: now, expires_at: expiresAt }).execute();
    return { token, expiresAt };
  }

  async resolve(kind: SessionKind, token: string): Promise<{ subject: string; expiresAt: number } | undefined> {
    const row = await this.store.db
      .selectFrom('sessions')
      .select(['subject', 'expires_at'])
      .where('token_hash', '=', hashSecret(token))
      .where('kind', '=', kind)
      .where('expires_at', '>', this.now())
      .executeTakeFirst();
    return row && { subject: row.subject, expiresAt: Number(row.expires_at) };
  }

  async revoke(token: string): Promise<void> {
    await this.store.db.deleteFrom('sessions').where('token_hash', '=', hashSecret(token)).execute();
  }

  /** Every session of one subject (a user disabled, deleted or given a new password), optionally but one. */
  async revokeSubject(kind: SessionKind, subject: string, exceptToken?: string): Promise<void> {
    let q = this.store.db.deleteFrom('sessions').where('kind', '=', kind).where('subject', '=', subject);
    if (exceptToken) q = q.where('token_hash', '!=', hashSecret(exceptToken));
    await q.execute();
  }

  /** Removes expired rows (run by the sweeper). */
  async sweep(): Promise<number> {
    const res = await this.store.db.deleteFrom('sessions').where('expires_at', '<=', this.now()).executeTakeFirst();
    return Number(res.numDeletedRows);
  }
}
