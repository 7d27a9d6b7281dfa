import { z } from 'zod';
import { validateIpList } from '../../core/ip-allow-list.ts';
import { parseJsonBody } from '../../core/parse-json-body.ts';
import type { KeyInput } from '../../metering/keys.ts';

/** `expires_at` as ISO 8601 or unix seconds; stored as unix ms. */
const expiresAt = z
  .union([z.number().finite(), z.string().min(1), z.null()])
  .transform((v, ctx) => {
    if (v === null) return null;
    if (typeof v === 'number') return Math.round(v * 1000);
    if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
    const ms = Date.parse(v);
    if (Number.isNaN(ms)) {
      ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 time or unix seconds' });
      return z.NEVER;
    }
    return ms;
  });

const fields = {
  name: z.string().trim().min(1).max(200),
  quota_tokens: z.number().int().nonnegative().nullable(),
  quota_usd: z.number().nonnegative().nullable(),
  expires_at: expiresAt,
  models: z.array(z.string().min(1)).nullable(),
  rpm: z.number().int().positive().nullable(),
  tpm: z.number().int().positive().nullable(),
  max_concurrency: z.number().int().positive().nullable(),
  allowed_ips: z
    .array(z.string().min(1))
    .nullable()
    .superRefine((list, ctx) => {
      const bad = list ? validateIpList(list) : undefined;
      if (bad !== undefined) ctx.addIssue({ code: 'custom', message: `"${bad}" is not an IP address or CIDR range` });
    }),
  disabled: z.boolean(),
};

/** Exported for the OpenAPI document and the portal's own key form. */
export const keyExpiresAt = expiresAt;

export const createSchema = z.strictObject({
  ...fields,
  quota_tokens: fields.quota_tokens.optional(),
  quota_usd: fields.quota_usd.optional(),
  expires_at: fields.expires_at.optional(),
  models: fields.models.optional(),
  rpm: fields.rpm.optional(),
  tpm: fields.tpm.optional(),
  max_concurrency: fields.max_concurrency.optional(),
  allowed_ips: fields.allowed_ips.optional(),
  disabled: fields.disabled.optional(),
  /** The user who owns the key (their balance pays for it); absent: a key of no user. */
  user_id: z.string().min(1).max(64).nullable().optional(),
});

export const updateSchema = createSchema.omit({ user_id: true }).partial();

export function parseKeyCreate(body: unknown): KeyInput & { name: string } {
  return parseJsonBody(createSchema, body);
}

export function parseKeyUpdate(body: unknown): KeyInput {
  return parseJsonBody(updateSchema, body);
}
