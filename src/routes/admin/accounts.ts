import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { generateCode, normalizeCode, type UserView } from '../../accounts/users.ts';
import { GatewayError } from '../../core/errors.ts';
import { generateId, hashSecret } from '../../metering/keys.ts';
import type { Services } from '../../services.ts';
import type { InviteRow, RedemptionCodeRow } from '../../store/tables.ts';
import { roundUsd } from '../../store/usage-records.repository.ts';
import { adminRoute, cursorRow, idParam, limitParam, pageOf, timeParam } from './admin-route.ts';
import { keyExpiresAt } from './key-input.ts';

function notFound(what: string, id: string): GatewayError {
  return new GatewayError('not_found', `No ${what} with id '${id}'.`, { param: 'id', publicCode: 'not_found' });
}

const idParams = z.strictObject({ id: idParam });
const nameParams = z.strictObject({ name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, _ . - only, at most 64') });
const email = z.email().max(320);
const status = z.enum(['active', 'disabled']);
const usd = z.number().finite();

function passwordSchema(min: number) {
  return z.string().min(min, `must be at least ${min} characters`).max(1024);
}

/** Other spellings callers use for the same fields (one-api style `balance`, `disabled`, `name`). */
const aliases = {
  disabled: z.boolean().optional(),
  name: z.string().trim().min(1).max(200).optional(),
};

function normalized(b: { email?: string; display_name?: string; name?: string; password?: string; group?: string; status?: 'active' | 'disabled'; disabled?: boolean; balance_usd?: number; balance?: number }) {
  return {
    email: b.email,
    display_name: b.display_name ?? b.name,
    password: b.password,
    group: b.group,
    status: b.status ?? (b.disabled === undefined ? undefined : b.disabled ? ('disabled' as const) : ('active' as const)),
    balance_usd: b.balance_usd ?? b.balance,
  };
}

const sec = (ms: number | null): number | null => (ms === null ? null : Math.floor(Number(ms) / 1000));

function codeView(r: RedemptionCodeRow) {
  return {
    id: r.id,
    object: 'redemption_code' as const,
    name: r.name,
    code_prefix: r.code_prefix,
    amount_usd: Number(r.amount_usd),
    status: r.redeemed_at !== null ? 'redeemed' : r.disabled === 1 ? 'disabled' : r.expires_at !== null && r.expires_at <= Date.now() ? 'expired' : 'unused',
    created_at: sec(r.created_at),
    expires_at: sec(r.expires_at),
    redeemed_at: sec(r.redeemed_at),
    redeemed_by: r.redeemed_by,
  };
}

function inviteView(r: InviteRow) {
  return {
    id: r.id,
    object: 'invite' as const,
    code_prefix: r.code_prefix,
    note: r.note,
    status: r.used_at !== null ? 'used' : r.expires_at !== null && r.expires_at <= Date.now() ? 'expired' : 'unused',
    created_at: sec(r.created_at),
    expires_at: sec(r.expires_at),
    used_at: sec(r.used_at),
    used_by: r.used_by,
  };
}


/** Users, groups, balances, redemption codes, invites and the audit log (the accounts issue). */
export function accountRoutes(services: Services) {
  return async function register(app: FastifyInstance): Promise<void> {
    const cfg = services.config.accounts;
    const users = services.users;
    const actor = { name: 'admin' };
    const userOr404 = async (id: string): Promise<UserView> => {
      const row = await users.repo.findById(id);
      if (!row) throw notFound('user', id);
      return users.view(row);
    };

    adminRoute(app, {
      method: 'POST',
      url: '/users',
      tag: 'Users',
      summary: 'Create a user',
      status: 201,
      body: z.strictObject({
        email,
        display_name: z.string().trim().min(1).max(200).optional(),
        password: passwordSchema(cfg.min_password_length).optional(),
        group: z.string().min(1).max(64).optional(),
        status: status.optional(),
        balance_usd: usd.nonnegative().optional(),
        ...aliases,
        balance: usd.nonnegative().optional(),
      }),
      handler: async ({ body }) => users.view(await users.create({ ...normalized(body), email: body.email }, actor)),
    });

    adminRoute(app, {
      method: 'GET',
      url: '/users',
      tag: 'Users',
      summary: 'List users, newest first',
      query: z.strictObject({ search: z.string().max(200).optional(), group: z.string().optional(), status: status.optional(), limit: limitParam(500, 100), after: idParam.optional() }),
      handler: async ({ query }) => {
        const row = query.after ? await cursorRow(users.repo.findByIds([query.after]).then((r) => r[0]), query.after, 'after') : undefined;
        const after = row && { createdAt: row.created_at, id: row.id };
        const rows = await users.repo.list({ limit: query.limit + 1, after, search: query.search, group: query.group, status: query.status });
        return pageOf(rows.map((r) => users.view(r)), query.limit);
      },
    });

    adminRoute(app, { method: 'GET', url: '/users/:id', tag: 'Users', summary: 'One user', params: idParams, handler: ({ params }) => userOr404(params.id) });

    adminRoute(app, {
      method: 'PATCH',
      url: '/users/:id',
      tag: 'Users',
      summary: 'Change a user (disabling one refuses all their keys and ends their sessions; balance_usd sets the balance through a ledger adjustment)',
      params: idParams,
      body: z.strictObject({
        email: email.optional(),
        display_name: z.string().trim().min(1).max(200).optional(),
        password: passwordSchema(cfg.min_password_length).optional(),
        group: z.string().min(1).max(64).optional(),
        status: status.optional(),
        balance_usd: usd.optional(),
        note: z.string().max(500).optional(),
        ...aliases,
        balance: usd.optional(),
      }),
      handler: async ({ params, body }) => {
        const note = body.note;
        const input = normalized(body);
        await services.recorder.flush();
        const row = await users.update(params.id, input, { ...actor, note });
        if (!row) throw notFound('user', params.id);
        if (input.status === 'disabled' || input.password !== undefined) await services.sessions.revokeSubject('user', row.id);
        return users.view(row);
      },
    });

    adminRoute(app, {
      method: 'DELETE',
      url: '/users/:id',
      tag: 'Users',
      summary: 'Delete a user: their keys are revoked, their sessions end; the ledger and usage log stay',
      params: idParams,
      handler: async ({ params }) => {
        if (!(await users.repo.findById(params.id))) throw notFound('user', params.id);
        const keys = await services.keys.deleteForUser(params.id);
        await users.delete(params.id);
        await services.sessions.revokeSubject('user', params.id);
        return { id: params.id, object: 'user', deleted: true, keys_revoked: keys };
      },
    });

    adminRoute(app, {
      method: 'POST',
      url: '/users/:id/balance',
      tag: 'Users',
      summary: 'Add to (or with a negative amount take from) a user balance',
      params: idParams,
      body: z.strictObject({ amount_usd: usd.refine((v) => v !== 0, 'must not be 0'), note: z.string().max(500).optional() }),
      handler: async ({ params, body }) => {
        const row = await users.adjustBalance(params.id, body.amount_usd, { ...actor, note: body.note ?? null });
        if (!row) throw notFound('user', params.id);
        return users.view(row);
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/users/:id/ledger',
      tag: 'Users',
      summary: "A user's balance changes, newest first (charges are one row per hour); the amounts sum to the balance",
      params: idParams,
      query: z.strictObject({ limit: limitParam(500, 100), before: z.string().max(300).optional() }),
      handler: async ({ params, query }) => {
        await userOr404(params.id);
        await services.recorder.flush();
        return ledgerPage(services, params.id, query.limit, query.before);
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/users/:id/keys',
      tag: 'Users',
      summary: "A user's API keys",
      params: idParams,
      handler: async ({ params }) => {
        await userOr404(params.id);
        return { object: 'list', data: await services.keys.listForUser(params.id) };
      },
    });

    // Groups.
    adminRoute(app, { method: 'GET', url: '/groups', tag: 'Groups', summary: 'List groups (the config file’s and those made here)', handler: () => ({ object: 'list', data: services.groups.list() }) });
    adminRoute(app, {
      method: 'GET',
      url: '/groups/:name',
      tag: 'Groups',
      summary: 'One group',
      params: nameParams,
      handler: ({ params }) => services.groups.get(params.name) ?? Promise.reject(notFound('group', params.name)),
    });
    adminRoute(app, {
      method: 'PUT',
      url: '/groups/:name',
      tag: 'Groups',
      summary: 'Create or replace a group',
      params: nameParams,
      body: z.strictObject({ price_factor: z.number().finite().nonnegative(), models: z.array(z.string().min(1)).nullable().optional(), description: z.string().max(500).nullable().optional() }),
      handler: async ({ params, body }) => {
        const g = await services.groups.upsert(params.name, body);
        await users.refreshAll();
        return g;
      },
    });
    const groupBody = { price_factor: z.number().finite().nonnegative(), models: z.array(z.string().min(1)).nullable().optional(), description: z.string().max(500).nullable().optional() };
    adminRoute(app, {
      method: 'POST',
      url: '/groups',
      tag: 'Groups',
      summary: 'Create a group (409 if one of that name exists)',
      status: 201,
      body: z.strictObject({ name: nameParams.shape.name, ...groupBody, price_factor: groupBody.price_factor.default(1) }),
      handler: async ({ body }) => {
        const { name, ...input } = body;
        if (services.groups.get(name) && services.groups.get(name)?.source !== 'builtin') throw new GatewayError('conflict', `Group '${name}' exists already.`, { param: 'name', publicCode: 'conflict' });
        const g = await services.groups.upsert(name, input);
        await users.refreshAll();
        return g;
      },
    });
    adminRoute(app, {
      method: 'PATCH',
      url: '/groups/:name',
      tag: 'Groups',
      summary: 'Change a group made here',
      params: nameParams,
      body: z.strictObject({ price_factor: groupBody.price_factor.optional(), models: groupBody.models, description: groupBody.description }),
      handler: async ({ params, body }) => {
        const current = services.groups.get(params.name);
        if (!current || current.source === 'builtin') throw notFound('group', params.name);
        const g = await services.groups.upsert(params.name, {
          price_factor: body.price_factor ?? current.price_factor,
          models: body.models === undefined ? current.models : body.models,
          description: body.description === undefined ? current.description : body.description,
        });
        await users.refreshAll();
        return g;
      },
    });
    adminRoute(app, {
      method: 'DELETE',
      url: '/groups/:name',
      tag: 'Groups',
      summary: 'Delete a group made here (refused while users are in it)',
      params: nameParams,
      handler: async ({ params }) => {
        const members = await users.repo.list({ limit: 1, group: params.name });
        if (!(await services.groups.delete(params.name, members.length))) throw notFound('group', params.name);
        return { name: params.name, object: 'group', deleted: true };
      },
    });

    // Redemption codes: the codes themselves are shown once, at creation.
    adminRoute(app, {
      method: 'POST',
      url: '/redemption-codes',
      tag: 'Redemption codes',
      summary: 'Make N codes worth an amount each (shown once)',
      status: 201,
      body: z.strictObject({
        amount_usd: usd.positive().optional(),
        /** The same as amount_usd. */
        amount: usd.positive().optional(),
        count: z.number().int().min(1).max(1000).default(1),
        name: z.string().trim().min(1).max(200).optional(),
        expires_at: keyExpiresAt.optional(),
      }),
      handler: async ({ body }) => {
        const amountUsd = body.amount_usd ?? body.amount;
        if (amountUsd === undefined) throw new GatewayError('invalid_request_error', "Invalid 'amount_usd': the amount each code is worth, in USD, is required.", { param: 'amount_usd', publicCode: 'missing_required_parameter' });
        const at = services.now();
        const made = Array.from({ length: body.count }, () => ({ id: generateId('rc'), code: generateCode('SY') }));
        const rows = made.map((m) => ({
          id: m.id,
          code_hash: hashSecret(normalizeCode(m.code)),
          code_prefix: `${m.code.slice(0, 8)}...`,
          name: body.name ?? `$${amountUsd} codes`,
          amount_usd: amountUsd,
          created_at: at,
          expires_at: body.expires_at ?? null,
          redeemed_at: null,
          redeemed_by: null,
        }));
        await services.redemptionCodes.insertMany(rows);
        const data = rows.map((r, i) => ({ ...codeView({ ...r, disabled: 0 }), code: made[i].code }));
        return { object: 'list', data };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/redemption-codes',
      tag: 'Redemption codes',
      summary: 'List codes (without the codes), newest first',
      query: z.strictObject({ status: z.enum(['unused', 'redeemed']).optional(), name: z.string().optional(), limit: limitParam(500, 100), after: idParam.optional() }),
      handler: async ({ query }) => {
        const row = query.after ? await cursorRow(services.redemptionCodes.findById(query.after), query.after, 'after') : undefined;
        const after = row && { createdAt: row.created_at, id: row.id };
        const rows = await services.redemptionCodes.list({ limit: query.limit + 1, after, status: query.status, name: query.name });
        return pageOf(rows.map(codeView), query.limit);
      },
    });

    adminRoute(app, {
      method: 'DELETE',
      url: '/redemption-codes/:id',
      tag: 'Redemption codes',
      summary: 'Disable an unused code',
      params: idParams,
      handler: async ({ params }) => {
        const row = await services.redemptionCodes.findById(params.id);
        if (!row) throw notFound('redemption code', params.id);
        if (row.redeemed_at !== null) throw new GatewayError('conflict', 'This code has been redeemed already.', { publicCode: 'conflict' });
        await services.redemptionCodes.disable(params.id);
        return codeView({ ...row, disabled: 1 });
      },
    });

    // Sign-up invites (accounts.signup: invite).
    adminRoute(app, {
      method: 'POST',
      url: '/invites',
      tag: 'Users',
      summary: 'Make N single-use sign-up invite codes (shown once)',
      status: 201,
      body: z.strictObject({ count: z.number().int().min(1).max(1000).default(1), note: z.string().max(500).optional(), expires_at: keyExpiresAt.optional() }),
      handler: async ({ body }) => {
        const at = services.now();
        const made = Array.from({ length: body.count }, () => ({ id: generateId('inv'), code: generateCode('INV') }));
        const rows = made.map((m) => ({
          id: m.id,
          code_hash: hashSecret(normalizeCode(m.code)),
          code_prefix: `${m.code.slice(0, 9)}...`,
          note: body.note ?? null,
          created_at: at,
          expires_at: body.expires_at ?? null,
          used_at: null,
          used_by: null,
        }));
        await services.invites.insertMany(rows);
        return { object: 'list', data: rows.map((r, i) => ({ ...inviteView(r), code: made[i].code })) };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/invites',
      tag: 'Users',
      summary: 'List invites (without the codes), newest first',
      query: z.strictObject({ limit: limitParam(500, 100), after: idParam.optional() }),
      handler: async ({ query }) => {
        const cursor = query.after;
        const row = cursor ? await cursorRow(services.store.db.selectFrom('invites').select(['created_at', 'id']).where('id', '=', cursor).executeTakeFirst(), cursor, 'after') : undefined;
        const after = row && { createdAt: Number(row.created_at), id: row.id };
        return pageOf((await services.invites.list(query.limit + 1, after)).map(inviteView), query.limit);
      },
    });

    adminRoute(app, {
      method: 'DELETE',
      url: '/invites/:id',
      tag: 'Users',
      summary: 'Withdraw an unused invite',
      params: idParams,
      handler: async ({ params }) => {
        if (!(await services.invites.delete(params.id))) throw notFound('unused invite', params.id);
        return { id: params.id, object: 'invite', deleted: true };
      },
    });

    adminRoute(app, {
      method: 'GET',
      url: '/audit',
      tag: 'Audit',
      summary: 'Admin actions, newest first: who changed which user, key, group, balance or upstream, and when',
      query: z.strictObject({
        target_type: z.string().max(32).optional(),
        target_id: z.string().max(200).optional(),
        start: timeParam.optional(),
        end: timeParam.optional(),
        limit: limitParam(500, 100),
        before: idParam.optional(),
      }),
      handler: async ({ query }) => {
        const cursor = query.before;
        const row = cursor ? await cursorRow(services.store.db.selectFrom('audit_log').select(['at', 'id']).where('id', '=', cursor).executeTakeFirst(), cursor, 'before') : undefined;
        const before = row && { at: Number(row.at), id: row.id };
        const rows = await services.audit.repo.list({ limit: query.limit + 1, before, targetType: query.target_type, targetId: query.target_id, start: query.start, end: query.end });
        return pageOf(rows.map((r) => services.audit.view(r)), query.limit);
      },
    });
  };
}

/** One page of a user's ledger; `before` is the last entry's `id` of the previous page. */
export async function ledgerPage(services: Services, userId: string, limit: number, before: string | undefined) {
  const row = before
    ? await cursorRow(services.store.db.selectFrom('ledger_entries').select(['created_at', 'entry_key']).where('entry_key', '=', before).where('user_id', '=', userId).executeTakeFirst(), before, 'before')
    : undefined;
  const cursor = row && { at: Number(row.created_at), key: row.entry_key };
  const rows = await services.users.ledgerEntries(userId, limit + 1, cursor);
  const data = rows.map((r) => ({
    id: r.entry_key,
    object: 'ledger_entry' as const,
    kind: r.kind,
    amount_usd: roundUsd(Number(r.amount_usd)),
    requests: Number(r.requests),
    ref: r.ref,
    note: r.note,
    actor: r.actor,
    created_at: Math.floor(Number(r.created_at) / 1000),
    updated_at: Math.floor(Number(r.updated_at) / 1000),
  }));
  return pageOf(data, limit);
}
