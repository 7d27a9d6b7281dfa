import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import type { KeyState } from '../../metering/keys.ts';
import type { Services } from '../../services.ts';
import { roundUsd } from '../../store/usage-records.repository.ts';
import { parseTimeParam } from '../time-param.ts';

/** What OpenAI's legacy subscription endpoint says for "no limit" (the figure relay clients expect). */
const UNLIMITED_USD = 100_000_000;
const DAY_MS = 86_400_000;

function requireKey(request: FastifyRequest): KeyState {
  if (!request.apiKey) throw new GatewayError('invalid_api_key', 'Missing API key.');
  return request.apiKey;
}

export function usageRoutes(services: Services) {
  /** Records still buffered are written first, so a request that just finished is counted. */
  const flushed = async (): Promise<void> => {
    await services.recorder.flush();
  };

  return {
    /** GET /v1/usage?start=&end= : totals and per-model figures for the calling key. */
    usage: async (request: FastifyRequest) => {
      const key = requireKey(request);
      const q = request.query as Record<string, unknown>;
      const start = parseTimeParam(q.start, 'start');
      const end = parseTimeParam(q.end, 'end');
      await flushed();
      const filter = { keyId: key.id, start, end };
      const repo = services.recorder.repository;
      const [totals, byModel, byEndpoint] = await Promise.all([repo.totals(filter), repo.byModel(filter), repo.byEndpoint(filter)]);
      return {
        object: 'usage',
        start: start === undefined ? null : Math.floor(start / 1000),
        end: end === undefined ? null : Math.floor(end / 1000),
        totals,
        by_model: byModel,
        by_endpoint: byEndpoint,
      };
    },

    /** GET /v1/dashboard/billing/subscription : the legacy OpenAI shape relay clients read for the key's limit. */
    subscription: async (request: FastifyRequest) => {
      const key = requireKey(request);
      // A user's key: the user's credit is the hard limit (relay clients show hard_limit_usd - total_usage as what is left).
      const limit = key.user ? key.user.creditedUsd : (key.quotaUsd ?? UNLIMITED_USD);
      return {
        object: 'billing_subscription',
        has_payment_method: true,
        canceled: false,
        canceled_at: null,
        delinquent: null,
        access_until: key.expiresAt === null ? 0 : Math.floor(key.expiresAt / 1000),
        soft_limit: Math.round(limit * 100),
        hard_limit: Math.round(limit * 100),
        system_hard_limit: Math.round(limit * 100),
        soft_limit_usd: limit,
        hard_limit_usd: limit,
        system_hard_limit_usd: limit,
        plan: { title: key.name, id: key.id },
        account_name: key.name,
        po_number: null,
        billing_email: null,
        tax_ids: null,
        billing_address: null,
        business_address: null,
        // Token quotas have no dollar equivalent in this shape; they are shown here as well.
        quota_tokens: key.quotaTokens,
        used_tokens: key.usedTokens,
        ...(key.user && {
          balance_usd: roundUsd(key.user.creditedUsd - key.user.spentUsd),
          spent_usd: roundUsd(key.user.spentUsd),
          group: key.user.groupName,
        }),
      };
    },

    /** GET /v1/dashboard/billing/usage?start_date=&end_date= : spend in US cents, per day and model. */
    billingUsage: async (request: FastifyRequest) => {
      const key = requireKey(request);
      const q = request.query as Record<string, unknown>;
      const start = parseTimeParam(q.start_date, 'start_date');
      const end = parseTimeParam(q.end_date, 'end_date');
      // A bare end date (YYYY-MM-DD) is exclusive in OpenAI's API; times are taken as given.
      if (end !== undefined && start !== undefined && end <= start) {
        throw new GatewayError('invalid_request_error', 'end_date must be after start_date.', { param: 'end_date', publicCode: 'invalid_value' });
      }
      await flushed();
      // A user's key reports the user's spend on all their keys (the balance they share).
      const filter = key.user ? { userId: key.user.id, start, end } : { keyId: key.id, start, end };
      const rows = await services.recorder.repository.dailyCosts(filter);
      const days = new Map<number, Array<{ name: string; cost: number }>>();
      let totalCents = 0;
      for (const r of rows) {
        const cents = r.cost_usd * 100;
        totalCents += cents;
        const items = days.get(r.day) ?? [];
        items.push({ name: r.model, cost: roundUsd(cents) });
        days.set(r.day, items);
      }
      return {
        object: 'list',
        daily_costs: [...days.entries()].map(([day, line_items]) => ({ timestamp: (day * DAY_MS) / 1000, line_items })),
        // For a user's key, all they ever spent (as one-api reports it): hard_limit_usd minus this is the balance.
        total_usage: key.user ? roundUsd(key.user.spentUsd * 100) : roundUsd(totalCents),
      };
    },
  };
}
