import type { FastifyRequest } from 'fastify';
import { GatewayError } from '../../core/errors.ts';
import type { Services } from '../../services.ts';
import { PORTAL_COOKIE, readCookie } from '../session-cookie.ts';
import { roundUsd } from '../../store/usage-records.repository.ts';
import { presentedKey } from './auth.ts';

const r = (v: number | undefined, f: number): number | null => (v === undefined ? null : roundUsd(v * f));
/** A per-image price may be one figure or one per size. */
const scaled = (v: number | Record<string, number> | undefined, f: number): number | Record<string, number | null> | null =>
  typeof v === 'object' ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, r(x, f)])) : r(v, f);

/**
 * GET /v1/pricing: every priced model with its prices for the caller's group (a user's key or
 * portal session; the default group for anyone else), so customers can see what a call costs.
 * Public unless accounts.pricing_public is false.
 */
export function pricingHandler(services: Services) {
  return async (request: FastifyRequest) => {
    let groupName: string | undefined;
    const secret = presentedKey(request);
    if (secret) {
      const key = await services.keys.authenticate(secret);
      groupName = key.user?.groupName;
      if (!key.user) groupName = 'default';
    } else {
      const token = readCookie(request, PORTAL_COOKIE);
      const session = token ? await services.sessions.resolve('user', token) : undefined;
      const row = session ? await services.users.repo.findById(session.subject) : undefined;
      if (row) groupName = row.group_name;
    }
    if (groupName === undefined && !services.config.accounts.pricing_public) {
      throw new GatewayError('invalid_api_key', 'Prices are shown to signed-in customers: send your API key as "Authorization: Bearer sk-...".');
    }
    const group = services.groups.resolve(groupName ?? 'default');
    const f = group.price_factor;
    const data = Object.entries(services.config.models)
      .filter(([id]) => !group.models || group.models.includes(id))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([id, m]) => ({
        id,
        object: 'model_price',
        currency: 'USD',
        // Per million tokens, as the models table gives them, times the group's factor.
        input_per_million: r(m.input_price, f),
        output_per_million: r(m.output_price, f),
        cached_input_per_million: r(m.cached_input_price, f),
        image_price: scaled(m.image_price, f),
        character_price_per_million: r(m.character_price, f),
        minute_price: r(m.minute_price, f),
        request_price: r(m.price, f),
        context_window: m.context_window ?? null,
      }));
    return { object: 'list', group: group.name, price_factor: f, data };
  };
}
