import { randomInt } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ModelInfo } from '../config/schema.ts';
import { GatewayError } from '../core/errors.ts';
import { admitKey, keyAllowsModel, Reservation } from '../metering/admission.ts';
import type { KeyState } from '../metering/keys.ts';
import type { RequestMeter } from '../metering/request-meter.ts';
import type { Services } from '../services.ts';
import type { MjTaskRow } from '../store/tables.ts';
import {
  isAcceptedCode,
  keepSubmitProperties,
  MJ_CODE,
  MJ_STRIPPED_FIELDS,
  type MjMode,
  type MjSubmit,
  type MjSubmitResult,
  type MjTaskFields,
  mjSubmitResultSchema,
  parseCustomId,
} from '../wire/midjourney.ts';
import type { Target } from './model-registry.ts';
import { callMidjourney, mjCredential } from './mj-upstream.ts';
import { newTriedState, selectTarget } from './select-target.ts';
import type { Upstream } from './upstreams.ts';

/** What a submit answers: the Midjourney-proxy shape, `result` the gateway's task id. */
export interface MjSubmitAnswer {
  code: number;
  description: string;
  properties: Record<string, unknown>;
  result: string | null;
}

export interface MjSubmitReply {
  status: number;
  body: MjSubmitAnswer;
}

/** A task's quota reservation is its price, known before it runs (no tokens). */
class TaskReservation extends Reservation {
  constructor(private readonly fixedUsd: number) {
    super(() => Promise.resolve(0), 0);
  }

  override async usd(_price: ModelInfo | undefined): Promise<number> {
    return this.fixedUsd;
  }
}

/** Digits like the upstream's own ids (milliseconds and a random tail), so clients that expect them keep working. */
export function newMjTaskId(now: number): string {
  return `${now}${String(randomInt(0, 1_000_000)).padStart(6, '0')}`;
}

export function mjInvalid(message: string, param: string | null = null): GatewayError {
  return new GatewayError('invalid_request_error', message, { param, publicCode: 'invalid_value' });
}

export function mjTaskNotFound(id: string): GatewayError {
  return new GatewayError('not_found', `No task found with id '${id.slice(0, 64)}'.`, { param: 'taskId', publicCode: 'task_not_found' });
}

const nonEmpty = (v: unknown): v is string => typeof v === 'string' && v.trim().length > 0;

/** The tasks a follow-up submit (action, modal) names: it goes to the upstream that made that task. */
interface Parent {
  task: MjTaskRow;
  upstream: Upstream;
}

/** Checks a submit's body as the Midjourney-proxy would, before anything is charged or sent. */
async function checkSubmit(services: Services, kind: MjSubmit, body: Record<string, unknown>, key: KeyState): Promise<{ parent?: Parent; action: string; free: boolean }> {
  switch (kind) {
    case 'imagine':
      if (!nonEmpty(body.prompt)) throw mjInvalid('prompt is required.', 'prompt');
      if (body.base64Array !== undefined && body.base64Array !== null && !(Array.isArray(body.base64Array) && body.base64Array.every((b) => typeof b === 'string'))) {
        throw mjInvalid('base64Array must be an array of data URLs.', 'base64Array');
      }
      return { action: 'IMAGINE', free: false };
    case 'shorten':
      if (!nonEmpty(body.prompt)) throw mjInvalid('prompt is required.', 'prompt');
      return { action: 'SHORTEN', free: false };
    case 'blend':
      if (!Array.isArray(body.base64Array) || body.base64Array.length < 2 || body.base64Array.length > 5 || !body.base64Array.every((b) => typeof b === 'string')) {
        throw mjInvalid('base64Array must hold 2 to 5 images.', 'base64Array');
      }
      return { action: 'BLEND', free: false };
    case 'describe':
      if (!nonEmpty(body.base64) && !nonEmpty(body.link)) throw mjInvalid('base64 or link is required.', 'base64');
      return { action: 'DESCRIBE', free: false };
    case 'action': {
      if (!nonEmpty(body.taskId)) throw mjInvalid('taskId is required.', 'taskId');
      if (!nonEmpty(body.customId)) throw mjInvalid('customId is required.', 'customId');
      const parsed = parseCustomId(body.customId);
      if (!parsed) throw mjInvalid(`customId '${body.customId.slice(0, 80)}' is not a Midjourney button id (MJ::...).`, 'customId');
      const parent = await findParent(services, body.taskId, key);
      const buttons = taskFields(parent.task)?.buttons ?? [];
      if (buttons.length > 0 && !buttons.some((b) => b.customId === body.customId)) {
        throw mjInvalid(`customId '${body.customId.slice(0, 80)}' is not one of the buttons of task ${parent.task.id}.`, 'customId');
      }
      // A button that opens a modal is paid for by the modal submit that completes it (as new-api does).
      return { parent, action: parsed.action, free: parsed.modal };
    }
    case 'modal': {
      if (!nonEmpty(body.taskId)) throw mjInvalid('taskId is required.', 'taskId');
      const parent = await findParent(services, body.taskId, key);
      return { parent, action: parent.task.action, free: false };
    }
  }
}

async function findParent(services: Services, taskId: string, key: KeyState): Promise<Parent> {
  const task = await services.mjTasks.findOwned(taskId, key.id);
  if (!task) throw mjTaskNotFound(taskId);
  const upstream = services.upstreamSet.get(task.upstream);
  if (!upstream || upstream.type !== 'midjourney' || upstream.disabled) {
    throw new GatewayError('upstream_unreachable', `The upstream that made task ${task.id} (${task.upstream}) is not available.`, { status: 503, publicCode: null });
  }
  return { task, upstream };
}

export function taskFields(row: MjTaskRow): MjTaskFields | undefined {
  if (!row.task_json) return undefined;
  try {
    return JSON.parse(row.task_json) as MjTaskFields;
  } catch {
    return undefined;
  }
}

/** The body the upstream gets: the client's, its task id mapped to the upstream's, hooks and account filters removed. */
function upstreamBody(kind: MjSubmit, body: Record<string, unknown>, parent: Parent | undefined, mode: MjMode | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  for (const f of MJ_STRIPPED_FIELDS) delete out[f];
  if (parent) out.taskId = parent.task.upstream_task_id;
  // The mode path picks Midjourney's speed the way Midjourney itself takes it: a prompt parameter.
  if (mode && kind === 'imagine' && typeof out.prompt === 'string' && !/(^|\s)--(fast|relax|turbo)\b/.test(out.prompt)) {
    out.prompt = `${out.prompt.trimEnd()} --${mode.slice('mj-'.length)}`;
  }
  return out;
}

/** Upstreams that can take a new task, in the order to try them (priority tiers, weights, breakers). */
function* newTaskUpstreams(services: Services): Generator<Upstream> {
  const targets: Target[] = services.upstreams.filter((u) => u.type === 'midjourney').map((u) => ({ upstream: u, model: '', upstreamModel: '' }));
  const tried = newTriedState();
  for (;;) {
    const t = selectTarget(targets, tried, services.now(), () => 1);
    if (!t) return;
    tried.calls.set(t.upstream, 1);
    yield t.upstream;
  }
}

type AttemptOutcome = { kind: 'answer'; status: number; result: MjSubmitResult } | { kind: 'failed'; error: GatewayError };

/** One submit to one upstream; the upstream's health follows what it answered. */
async function attemptSubmit(services: Services, u: Upstream, kind: MjSubmit, body: Record<string, unknown>): Promise<AttemptOutcome> {
  const started = Date.now();
  const credential = mjCredential(u, services.now());
  const note = (ok: boolean, error?: GatewayError): void => {
    u.stats.add(services.now(), Date.now() - started, ok);
    if (error) u.stats.lastError = { at: services.now(), code: error.publicCode ?? error.code, status: error.status };
  };
  let answer;
  try {
    answer = await callMidjourney(u, credential, `/submit/${kind}`, body);
  } catch (err) {
    const error = err instanceof GatewayError ? err : new GatewayError('upstream_unreachable', `Upstream ${u.name} is unreachable.`, { cause: err });
    u.breaker.failure(services.now());
    credential.breaker.failure(services.now());
    note(false, error);
    return { kind: 'failed', error };
  }
  if (answer.status === 401 || answer.status === 403) {
    credential.breaker.disable(`upstream answered ${answer.status}`);
    const error = new GatewayError('upstream_error', `The upstream rejected the gateway's mj-api-secret (${answer.status}).`, { status: 502, upstreamStatus: answer.status });
    note(false, error);
    return { kind: 'failed', error };
  }
  const parsed = mjSubmitResultSchema.safeParse(answer.json);
  const unhealthy = answer.status >= 500 || answer.status === 429;
  if (unhealthy || !parsed.success) {
    if (unhealthy) {
      u.breaker.failure(services.now());
      credential.breaker.failure(services.now());
    } else {
      // It answered, just not in the Midjourney shape: says nothing of its health.
      u.breaker.neutral();
      credential.breaker.neutral();
    }
    const error = new GatewayError('upstream_error', `Upstream ${u.name} answered ${answer.status}${parsed.success ? '' : ' without a Midjourney submit result'}: ${answer.text.slice(0, 200)}`, {
      status: 502,
      upstreamStatus: answer.status,
    });
    note(false, error);
    return { kind: 'failed', error };
  }
  u.breaker.success();
  credential.breaker.success();
  note(true);
  return { kind: 'answer', status: answer.status, result: parsed.data };
}

/**
 * A submit (imagine, action, blend, describe, modal, shorten): checked, admitted under the
 * key's limits (its quota reserving the task's price), sent to an upstream — a new task to
 * the first healthy `midjourney` upstream that takes it (one at its queue limit hands over to
 * the next), a follow-up to the upstream that made its task — and, when the upstream took
 * it, recorded under a new gateway id and charged at the endpoint's price.
 */
export async function submitMidjourney(services: Services, request: FastifyRequest, reply: FastifyReply, kind: MjSubmit, mode: MjMode | undefined): Promise<MjSubmitReply> {
  const key = request.apiKey;
  if (!key) throw new GatewayError('invalid_api_key', 'Missing API key.');
  const body = request.body;
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw mjInvalid('The request body must be a JSON object.');
  const model = `mj_${kind}`;
  if (!keyAllowsModel(key, model, model)) {
    throw new GatewayError('model_not_allowed', `This API key is not allowed to use Midjourney ${kind} (\`${model}\`).`, { param: 'model' });
  }
  const input = body as Record<string, unknown>;
  const checked = await checkSubmit(services, kind, input, key);
  const candidates = checked.parent ? [checked.parent.upstream] : [...newTaskUpstreams(services)];
  if (candidates.length === 0) {
    throw new GatewayError('upstream_unreachable', 'No midjourney upstream is available right now.', { status: 503, publicCode: null });
  }
  const price = services.config.models[model];
  const headers: Record<string, string> = { 'x-request-id': request.id };
  let admission;
  try {
    admission = await admitKey(services.limiter, key, new TaskReservation(checked.free ? 0 : (price?.price ?? 0)), price, request.id, services.now(), headers);
  } finally {
    reply.headers(headers);
  }
  const meter = services.newMeter(request.id, key, `mj.${kind}`, model, false);
  meter.units = { unit: 'tasks', quantity: 0 };
  meter.addLease(admission.lease);
  try {
    const sent = upstreamBody(kind, input, checked.parent, mode);
    // The answer to give: the first that settles it, else the last refusal (a full queue), else the last failure.
    let answered: { upstream: Upstream; status: number; result: MjSubmitResult } | undefined;
    let failure: { upstream: Upstream; error: GatewayError } | undefined;
    for (const u of candidates) {
      meter.attempts++;
      reply.header('x-switchyard-attempts', String(meter.attempts));
      const outcome = await attemptSubmit(services, u, kind, sent);
      if (outcome.kind === 'failed') {
        failure = { upstream: u, error: outcome.error };
        continue;
      }
      answered = { upstream: u, status: outcome.status, result: outcome.result };
      // Refused for a full queue: another upstream may take a new task.
      if (outcome.result.code !== MJ_CODE.QUEUE_REJECTED) break;
    }
    if (!answered) {
      const error = failure?.error ?? new GatewayError('upstream_unreachable', 'No midjourney upstream is available right now.', { status: 503, publicCode: null });
      meter.upstream = failure?.upstream.name ?? null;
      meter.finish('failed', error.status, error.publicCode ?? error.code);
      throw error;
    }
    meter.upstream = answered.upstream.name;
    return await settle(services, request, meter, { kind, mode, key, input, checked, upstream: answered.upstream, status: answered.status, result: answered.result });
  } finally {
    if (!meter.finished) meter.finish('failed', 500, 'internal_error');
  }
}

interface Settlement {
  kind: MjSubmit;
  mode: MjMode | undefined;
  key: KeyState;
  input: Record<string, unknown>;
  checked: { parent?: Parent; action: string; free: boolean };
  upstream: Upstream;
  status: number;
  result: MjSubmitResult;
}

/** The upstream answered: a task it took is recorded and charged; a refusal is relayed, uncharged. */
async function settle(services: Services, request: FastifyRequest, meter: RequestMeter, s: Settlement): Promise<MjSubmitReply> {
  const { result } = s;
  const answer = (id: string | null): MjSubmitReply => ({
    status: s.status,
    body: { code: result.code, description: result.description ?? '', properties: keepSubmitProperties(result.properties), result: id },
  });
  if (!isAcceptedCode(result.code) || !result.result) {
    meter.finish('failed', s.status >= 400 ? s.status : 200, `mj_code_${result.code}`);
    return answer(null);
  }
  const upstreamId = result.result;
  const now = services.now();
  const interval = services.config.midjourney.poll_interval_ms;
  const status = result.code === MJ_CODE.IN_QUEUE ? 'NOT_START' : typeof result.properties?.status === 'string' ? result.properties.status : 'SUBMITTED';
  let id: string;
  try {
    const existing = await services.mjTasks.findByUpstreamId(s.key.id, s.upstream.name, upstreamId);
    if (existing) {
      // The upstream continued a task the key already has (a modal, or "task exists"): one id for it, one more charge on it.
      id = existing.id;
      await services.mjTasks.addCharge(existing.id, request.id, { status, updated_at: now, submitted_at: now, next_poll_at: now + interval });
    } else {
      id = await insertTask(services, s, upstreamId, status, request.id, now);
    }
  } catch (err) {
    meter.finish('failed', 503, 'store_unavailable');
    throw new GatewayError('store_unavailable', 'The task was submitted but could not be recorded; it is not charged. Try again shortly.', { cause: err });
  }
  meter.units = { unit: 'tasks', quantity: s.checked.free ? 0 : 1 };
  meter.finish('ok', s.status);
  return answer(id);
}

async function insertTask(services: Services, s: Settlement, upstreamId: string, status: string, requestId: string, now: number): Promise<string> {
  const parentFields = s.checked.parent ? taskFields(s.checked.parent.task) : undefined;
  const fields: MjTaskFields = {
    action: s.checked.action,
    status,
    progress: '0%',
    prompt: typeof s.input.prompt === 'string' ? s.input.prompt : (parentFields?.prompt ?? ''),
    promptEn: '',
    description: s.result.description ?? '',
    state: typeof s.input.state === 'string' ? s.input.state : null,
    submitTime: now,
    startTime: null,
    finishTime: null,
    imageUrl: null,
    failReason: null,
    buttons: [],
    properties: {},
  };
  for (let tries = 0; ; tries++) {
    const id = newMjTaskId(now);
    try {
      await services.mjTasks.insert({
        id,
        key_id: s.key.id,
        upstream: s.upstream.name,
        upstream_task_id: upstreamId,
        submit: s.kind,
        mode: s.mode ?? null,
        action: s.checked.action,
        status,
        task_json: JSON.stringify(fields),
        image_url: null,
        charges_json: JSON.stringify([requestId]),
        active: 1,
        refund_due: 0,
        created_at: now,
        updated_at: now,
        submitted_at: now,
        next_poll_at: now + services.config.midjourney.poll_interval_ms,
        lease_owner: null,
        lease_until: null,
      });
      return id;
    } catch (err) {
      // Another instance drew the same id in the same millisecond: draw again.
      if (tries >= 2) throw err;
    }
  }
}
