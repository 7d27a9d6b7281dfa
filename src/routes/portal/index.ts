import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { verifyPassword } from '../../accounts/passwords.ts';
import { normalizeCode, type UserView } from '../../accounts/users.ts';
import { GatewayError } from '../../core/errors.ts';
import { clientAddress } from '../../core/ip-allow-list.ts';
import { parseJsonBody } from '../../core/parse-json-body.ts';
import { hashSecret } from '../../metering/keys.ts';
import type { Services } from '../../services.ts';
import type { UserRow } from '../../store/tables.ts';
import { roundUsd } from '../../store/usage-records.repository.ts';
import { ledgerPage } from '../admin/accounts.ts';
import { createSchema as keyCreateSchema, updateSchema as keyUpdateSchema } from '../admin/key-input.ts';
import { sameOrigin } from '../same-origin.ts';
import { decodeCursor, encodeCursor } from '../../store/request-log.repository.ts';
import { clearSessionCookie, PORTAL_COOKIE, readCookie, setSessionCookie } from '../session-cookie.ts';
import { parseTimeParam } from '../time-param.ts';

const DAY_MS = 86_400_000;

declare module 'fastify' {
  interface FastifyRequest {
    portalUser?: UserRow;
  }
}

const badCredentials = (): GatewayError => new GatewayError('invalid_credentials', 'Incorrect email or password.', { publicCode: 'invalid_credentials' });

/**
 * The self-service portal's API: sign-up, sign-in (an HttpOnly, SameSite=Strict session cookie),
 * the user's own profile, keys, usage and ledger, and redeeming codes. Every object is looked up
 * under the signed-in user, so another user's ids answer 404.
 */
export function portalRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    const cfg = services.config.accounts;
    const users = services.users;
    const route = { config: { protocol: 'admin' as const } };
    // Every portal write made from a browser must come from this site (sign-in included: no login CSRF).
    app.addHook('onRequest', async (request) => {
      if (request.method !== 'GET' && request.method !== 'HEAD' && !sameOrigin(request, services.trustedProxies)) {
        throw new GatewayError('invalid_request_error', 'Cross-origin portal requests are not accepted.', { status: 403, publicCode: 'cross_origin' });
      }
    });
    const ipOf = (request: FastifyRequest): string => clientAddress(request.socket.remoteAddress, request.headers['x-forwarded-for'], services.trustedProxies) || 'unknown';
    const password = z.string().min(cfg.min_password_length, `must be at least ${cfg.min_password_length} characters`).max(1024);

    const me = (row: UserRow) => {
      const group = services.groups.resolve(row.group_name);
      return { ...users.view(row), price_factor: group.price_factor, models: group.models };
    };

    const startSession = async (request: FastifyRequest, reply: FastifyReply, userId: string): Promise<void> => {
      const { token, expiresAt } = await services.sessions.create('user', userId, cfg.session_ttl_hours * 3_600_000);
      setSessionCookie(request, reply, PORTAL_COOKIE, token, expiresAt, services.trustedProxies);
    };

    /** preHandler of every signed-in route: the session's user, active, or 401. */
    const signedIn = async (request: FastifyRequest): Promise<void> => {
      const token = readCookie(request, PORTAL_COOKIE);
      const session = token ? await services.sessions.resolve('user', token) : undefined;
      const row = session ? await users.repo.findById(session.subject) : undefined;
      if (!row) throw new GatewayError('not_signed_in', 'Sign in first (POST /portal/sign-in).', { publicCode: 'not_signed_in' });
      if (row.status !== 'active') throw new GatewayError('user_disabled', 'This account is disabled.', { publicCode: 'user_disabled' });
      request.portalUser = row;
    };
    const user = (request: FastifyRequest): UserRow => {
      if (!request.portalUser) throw new GatewayError('not_signed_in', 'Sign in first (POST /portal/sign-in).', { publicCode: 'not_signed_in' });
      return request.portalUser;
    };
    const authed = { ...route, preHandler: signedIn };

    app.post('/sign-up', route, async (request, reply) => {
      const body = parseJsonBody(
        z.strictObject({ email: z.email().max(320), password, display_name: z.string().trim().min(1).max(200).optional(), invite_code: z.string().max(200).optional(), invite: z.string().max(200).optional() }),
        request.body,
      );
      const inviteCode = body.invite_code ?? body.invite;
      if (cfg.signup === 'closed') throw new GatewayError('signup_closed', 'Sign-up is closed here; ask the operator for an account.', { publicCode: 'signup_closed' });
      let inviteId: string | undefined;
      if (cfg.signup === 'invite') {
        const invite = inviteCode ? await services.invites.findByHash(hashSecret(normalizeCode(inviteCode))) : undefined;
        if (!invite || invite.used_at !== null || (invite.expires_at !== null && invite.expires_at <= services.now())) {
          throw new GatewayError('invalid_request_error', inviteCode ? 'This invite code is not valid (unknown, used or expired).' : 'Sign-up here needs an invite code (invite_code).', {
            param: 'invite_code',
            publicCode: 'invalid_invite',
          });
        }
        inviteId = invite.id;
      }
      const input = { email: body.email, password: body.password, display_name: body.display_name };
      const row = await users.create({ ...input, group: cfg.default_group, balance_usd: cfg.signup_balance_usd }, { name: 'signup', note: inviteId ? `invite ${inviteId}` : 'sign-up' });
      if (inviteId && !(await services.invites.use(inviteId, row.id, services.now()))) {
        // Another sign-up took the invite first: this account is withdrawn again.
        await users.delete(row.id);
        throw new GatewayError('invalid_request_error', 'This invite code has just been used.', { param: 'invite_code', publicCode: 'invalid_invite' });
      }
      await startSession(request, reply, row.id);
      return reply.code(201).send(me(row));
    });

    app.post('/sign-in', route, async (request, reply) => {
      const body = parseJsonBody(z.strictObject({ email: z.string().max(320), password: z.string().max(1024) }), request.body);
      const ip = ipOf(request);
      const emailKey = body.email.trim().toLowerCase();
      // Counted before the password is checked: parallel guesses cannot all get in under the limit.
      await services.signInThrottle.attempt(ip, emailKey);
      const row = await users.repo.findByEmail(emailKey);
      // Checked against a dummy hash when there is no such user: the same answer, in the same time.
      const ok = await verifyPassword(body.password, row?.password_hash);
      if (!row || !ok) throw badCredentials();
      await services.signInThrottle.succeeded(ip, emailKey);
      if (row.status !== 'active') throw new GatewayError('user_disabled', 'This account is disabled.', { publicCode: 'user_disabled' });
      await users.repo.update(row.id, { last_sign_in_at: services.now() });
      await startSession(request, reply, row.id);
      return me(row);
    });

    app.post('/sign-out', route, async (request, reply) => {
      const token = readCookie(request, PORTAL_COOKIE);
      if (token) await services.sessions.revoke(token);
      clearSessionCookie(reply, PORTAL_COOKIE);
      return { object: 'session', signed_out: true };
    });

    app.get('/me', authed, async (request) => {
      await services.recorder.flush();
      const row = await users.repo.findById(user(request).id);
      if (!row) throw new GatewayError('not_signed_in', 'Sign in first.', { publicCode: 'not_signed_in' });
      return me(row);
    });

    app.patch('/me', authed, async (request) => {
      const body = parseJsonBody(z.strictObject({ display_name: z.string().trim().min(1).max(200).optional(), password: password.optional(), old_password: z.string().max(1024).optional() }), request.body);
      const current = user(request);
      if (body.password !== undefined) {
        if (body.old_password === undefined) throw new GatewayError('invalid_request_error', 'Changing the password needs the old one (old_password).', { param: 'old_password', publicCode: 'missing_required_parameter' });
        if (!(await verifyPassword(body.old_password, current.password_hash))) {
          throw new GatewayError('invalid_credentials', 'The old password is not right.', { param: 'old_password', publicCode: 'invalid_credentials' });
        }
      }
      const row = await users.update(current.id, { display_name: body.display_name, password: body.password }, { name: `user:${current.id}` });
      if (!row) throw new GatewayError('not_signed_in', 'Sign in first.', { publicCode: 'not_signed_in' });
      // A new password ends every other session of the account.
      if (body.password !== undefined) await services.sessions.revokeSubject('user', row.id, readCookie(request, PORTAL_COOKIE));
      return me(row);
    });

    // Keys: the user's own only; the secret of a new key is in this one response.
    const ownKey = async (request: FastifyRequest) => {
      const { id } = request.params as { id: string };
      const view = await services.keys.get(id);
      if (!view || view.user_id !== user(request).id) throw new GatewayError('not_found', `No API key with id '${id}'.`, { param: 'id', publicCode: 'not_found' });
      return view;
    };
    app.get('/keys', authed, async (request) => ({ object: 'list', data: await services.keys.listForUser(user(request).id) }));
    app.post('/keys', authed, async (request, reply) => {
      const input = parseJsonBody(keyCreateSchema.omit({ user_id: true, disabled: true }), request.body);
      const u = user(request);
      const existing = await services.keys.listForUser(u.id);
      if (existing.length >= cfg.max_keys_per_user) {
        throw new GatewayError('conflict', `An account can have at most ${cfg.max_keys_per_user} keys; delete one first.`, { publicCode: 'too_many_keys' });
      }
      const { view, secret } = await services.keys.create({ ...input, user_id: u.id });
      return reply.code(201).send({ ...view, key: secret });
    });
    app.get('/keys/:id', authed, ownKey);
    app.patch('/keys/:id', authed, async (request) => {
      const { id } = await ownKey(request);
      return services.keys.update(id, parseJsonBody(keyUpdateSchema, request.body));
    });
    app.delete('/keys/:id', authed, async (request) => {
      const { id } = await ownKey(request);
      await services.keys.delete(id);
      return { id, object: 'api_key', deleted: true };
    });

    // Usage: totals, per day and model, and the request log, of the user's keys only.
    app.get('/usage', authed, async (request) => {
      const q = request.query as Record<string, unknown>;
      const end = parseTimeParam(q.end, 'end') ?? services.now() + 1;
      const start = parseTimeParam(q.start, 'start') ?? end - 30 * DAY_MS;
      const limit = Math.min(500, Math.max(1, Number(q.limit ?? 50) || 50));
      const given = typeof q.cursor === 'string' && q.cursor !== '' ? q.cursor : undefined;
      const cursor = given === undefined ? undefined : decodeCursor(given);
      if (given !== undefined && !cursor) throw new GatewayError('invalid_request_error', 'Invalid cursor.', { param: 'cursor', publicCode: 'invalid_value' });
      const before = cursor && { at: cursor.createdAt, id: cursor.requestId };
      await services.recorder.flush();
      const repo = services.recorder.repository;
      const filter = { userId: user(request).id, start, end };
      const [totals, daily, rows] = await Promise.all([repo.totals(filter), repo.dailyByModel(filter), repo.page({ ...filter, limit: limit + 1, before })]);
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        object: 'usage',
        start: Math.floor(start / 1000),
        end: Math.floor(end / 1000),
        totals,
        daily: daily.map((d) => ({ date: new Date(d.day * DAY_MS).toISOString().slice(0, 10), ...d, day: undefined })),
        requests: {
          data: page.map((r) => ({
            request_id: r.request_id,
            created_at: Math.floor(Number(r.created_at) / 1000),
            key_id: r.key_id,
            endpoint: r.endpoint,
            model: r.model,
            stream: r.stream === 1,
            status: r.status,
            error_code: r.error_code,
            prompt_tokens: Number(r.prompt_tokens),
            completion_tokens: Number(r.completion_tokens),
            total_tokens: Number(r.total_tokens),
            cost_usd: roundUsd(Number(r.cost_usd)),
            charged: r.charged === 1,
            latency_ms: r.latency_ms,
          })),
          has_more: rows.length > limit,
          next_cursor: rows.length > limit && last ? encodeCursor({ createdAt: Number(last.created_at), requestId: last.request_id }) : null,
        },
      };
    });

    app.get('/ledger', authed, async (request) => {
      const q = request.query as { limit?: string; before?: string };
      await services.recorder.flush();
      return ledgerPage(services, user(request).id, Math.min(500, Math.max(1, Number(q.limit ?? 100) || 100)), q.before);
    });

    app.post('/redeem', authed, async (request) => {
      // `key` is what one-api's top-up form calls the code.
      const body = parseJsonBody(z.strictObject({ code: z.string().trim().min(1).max(200).optional(), key: z.string().trim().min(1).max(200).optional() }), request.body);
      const code = body.code ?? body.key;
      if (code === undefined) throw new GatewayError('invalid_request_error', "Invalid 'code': the redemption code is required.", { param: 'code', publicCode: 'missing_required_parameter' });
      const u = user(request);
      const { amountUsd, codeId } = await users.redeem(u.id, code);
      await services.recorder.flush();
      const row = await users.repo.findById(u.id);
      const view: UserView | undefined = row && users.view(row);
      return { object: 'redemption', code_id: codeId, amount_usd: amountUsd, balance_usd: view?.balance_usd ?? null };
    });
  };
}
