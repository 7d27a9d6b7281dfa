/**
 * A Midjourney-proxy upstream over real HTTP on 127.0.0.1, speaking the task API as
 * novicezk/midjourney-proxy (docs/api.md, SubmitController, TaskController, Task) and its
 * "plus" successors (/submit/action, /submit/modal, /submit/shorten, buttons) do:
 * - every call needs the `mj-api-secret` header when a secret is set, else 401 with an empty body
 *   (ApiAuthorizeInterceptor);
 * - submits answer `{code, description, properties, result}` with HTTP 200: 1 success (result is
 *   the task id), 21 for a button that opens a modal ("Waiting for window confirm"), 23 queue full,
 *   24 banned prompt (`properties: {promptEn, bannedWord}`), 4 validation errors; an action on an
 *   unknown task is HTTP 404 with code 3;
 * - a task is `{id, action, status, progress, prompt, promptEn, description, state, submitTime,
 *   startTime, finishTime, imageUrl, failReason, buttons[{customId, emoji, label, type, style}],
 *   properties}`; ids are milliseconds plus three random digits;
 * - tasks move with time (`stepMs` per step): NOT_START, SUBMITTED, IN_PROGRESS at 25/50/75%
 *   (with a preview imageUrl), then SUCCESS at 100% with the image and its buttons; a prompt with
 *   the fail word ends in FAILURE (progress "", failReason); one with the stuck word never finishes;
 * - GET /mj/task/{id}/fetch answers the task (an empty body for an unknown id, as Spring renders
 *   null), POST /mj/task/list-by-condition `{ids}` the known ones;
 * - images are real PNGs served by the simulator under /attachments/{taskId}/.
 * `properties` carries a discordInstanceId, as the proxy's do, so tests can see it is not passed on.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { makePng } from './png.ts';
import { type BasicScenario, type Exchange, playBasicScenario, type RecordedRequest, type SimulatorServer, sleep, startSimulatorServer } from './simulator-server.ts';

export type { RecordedRequest };

export type MidjourneyScenario =
  /** The submit is taken (the default). */
  | { type: 'accept' }
  /** code 23: the account's queue is full. */
  | { type: 'queue_full' }
  | BasicScenario;

export interface SimButton {
  customId: string;
  emoji: string;
  label: string;
  type: number;
  style: number;
}

export interface SimTask {
  id: string;
  action: string;
  status: string;
  progress: string;
  prompt: string;
  promptEn: string;
  description: string;
  state: string | null;
  submitTime: number;
  startTime: number | null;
  finishTime: number | null;
  imageUrl: string | null;
  failReason: string | null;
  buttons: SimButton[];
  properties: Record<string, unknown>;
  /** When the current run began (a modal restarts it). */
  runStartedAt: number;
  fails: boolean;
  stuck: boolean;
  /** The body the submit came with, as received. */
  submitted: Record<string, unknown>;
}

export interface MidjourneySimulatorOptions {
  /** Required `mj-api-secret`; undefined accepts any call. */
  secret?: string;
  /** Milliseconds per state step (default 30). */
  stepMs?: number;
  /** A prompt containing it ends in FAILURE (default "explode"). */
  failWord?: string;
  /** A prompt containing it never finishes (default "stuck"). */
  stuckWord?: string;
  /** A prompt containing it is refused with code 24 (default "forbidden"). */
  bannedWord?: string;
  /** Delay before answering list-by-condition. */
  listDelayMs?: number;
}

export interface MidjourneySimulator extends SimulatorServer<MidjourneyScenario> {
  /** Every task made, by id. */
  tasks: Map<string, SimTask>;
  stepMs: number;
  /** The PNG served for a task's image. */
  imageFor(taskId: string): Buffer;
  /** The task as the API shows it now. */
  view(taskId: string): Record<string, unknown> | undefined;
}

const DISCORD_INSTANCE = '1118138338562560102';

// ------------------------------------------------------------------ PNG

/** A valid 16x16 PNG of one colour derived from `seed`. */
export function taskPng(seed: string): Buffer {
  let h = 0;
  for (const ch of seed) h = (h * 31 + ch.charCodeAt(0)) >>> 0;
  return makePng(16, 16, [h & 0xff, (h >>> 8) & 0xff, (h >>> 16) & 0xff, 255]);
}

// ------------------------------------------------------------------ buttons

/** The buttons under a four-image grid (imagine, blend, variation, reroll). */
function gridButtons(hash: string): SimButton[] {
  const out: SimButton[] = [];
  for (let i = 1; i <= 4; i++) out.push({ customId: `MJ::JOB::upsample::${i}::${hash}`, emoji: '', label: `U${i}`, type: 2, style: 2 });
  out.push({ customId: `MJ::JOB::reroll::0::${hash}::SOLO`, emoji: '🔄', label: '', type: 2, style: 2 });
  for (let i = 1; i <= 4; i++) out.push({ customId: `MJ::JOB::variation::${i}::${hash}`, emoji: '', label: `V${i}`, type: 2, style: 2 });
  return out;
}

/** The buttons under one upscaled image. */
function upscaleButtons(hash: string): SimButton[] {
  return [
    { customId: `MJ::JOB::variation::1::${hash}::SOLO`, emoji: '🪄', label: 'Vary (Strong)', type: 2, style: 2 },
    { customId: `MJ::JOB::low_variation::1::${hash}::SOLO`, emoji: '🪄', label: 'Vary (Subtle)', type: 2, style: 2 },
    { customId: `MJ::Inpaint::1::${hash}::SOLO`, emoji: '🖌️', label: 'Vary (Region)', type: 2, style: 2 },
    { customId: `MJ::Outpaint::50::1::${hash}::SOLO`, emoji: '🔍', label: 'Zoom Out 2x', type: 2, style: 2 },
    { customId: `MJ::CustomZoom::${hash}`, emoji: '🔍', label: 'Custom Zoom', type: 2, style: 2 },
    { customId: `MJ::JOB::pan_left::1::${hash}::SOLO`, emoji: '⬅️', label: '', type: 2, style: 2 },
  ];
}

function actionOf(customId: string): { action: string; modal: boolean } {
  if (customId.startsWith('MJ::JOB::upsample::')) return { action: 'UPSCALE', modal: false };
  if (customId.startsWith('MJ::JOB::variation::') || customId.startsWith('MJ::JOB::low_variation::') || customId.startsWith('MJ::JOB::high_variation::')) return { action: 'VARIATION', modal: false };
  if (customId.startsWith('MJ::JOB::reroll::')) return { action: 'REROLL', modal: false };
  if (customId.startsWith('MJ::JOB::pan_')) return { action: 'PAN', modal: false };
  if (customId.startsWith('MJ::Outpaint::')) return { action: 'ZOOM', modal: false };
  if (customId.startsWith('MJ::CustomZoom::')) return { action: 'ZOOM', modal: true };
  if (customId.startsWith('MJ::Inpaint::')) return { action: 'INPAINT', modal: true };
  return { action: 'ACTION', modal: false };
}

// ------------------------------------------------------------------ server

export async function startMidjourneySimulator(opts: MidjourneySimulatorOptions = {}): Promise<MidjourneySimulator> {
  const tasks = new Map<string, SimTask>();
  const failWord = opts.failWord ?? 'explode';
  const stuckWord = opts.stuckWord ?? 'stuck';
  const bannedWord = opts.bannedWord ?? 'forbidden';
  let lastId = 0;
  let root = '';

  const newId = (): string => {
    // The proxy's ids: System.currentTimeMillis() + 3 random digits; kept increasing here so two never clash.
    let id = Number(`${Date.now()}${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}`);
    if (id <= lastId) id = lastId + 1;
    lastId = id;
    return String(id);
  };

  const imageUrl = (id: string, name: string): string => `${root}/attachments/${id}/${name}`;

  /** Brings a task to where its clock says it is. */
  const advance = (t: SimTask): void => {
    if (t.status === 'MODAL' || t.status === 'SUCCESS' || t.status === 'FAILURE') return;
    const step = Math.floor((Date.now() - t.runStartedAt) / sim.stepMs);
    const at = (n: number): number => t.runStartedAt + n * sim.stepMs;
    if (step >= 1 && t.startTime === null) t.startTime = at(1);
    if (step < 1) {
      t.status = 'NOT_START';
      t.progress = '0%';
    } else if (step < 2) {
      t.status = 'SUBMITTED';
      t.progress = '0%';
    } else if (t.fails && step >= 3) {
      t.status = 'FAILURE';
      t.progress = '';
      t.failReason = '[Invalid parameter] Midjourney refused the job';
      t.finishTime = at(3);
      t.imageUrl = null;
    } else if (step < 5 || t.stuck) {
      t.status = 'IN_PROGRESS';
      t.progress = `${Math.min(75, (step - 1) * 25)}%`;
      if (t.action !== 'DESCRIBE' && t.action !== 'SHORTEN') t.imageUrl = imageUrl(t.id, 'preview.webp');
    } else {
      t.status = 'SUCCESS';
      t.progress = '100%';
      t.finishTime = at(5);
      const hash = randomUUID();
      if (t.action === 'DESCRIBE') {
        t.imageUrl = imageUrl(t.id, 'described.png');
        t.properties.finalPrompt = '1️⃣ a small red square --ar 1:1\n\n2️⃣ a flat red tile --ar 1:1\n\n3️⃣ red pixel art --ar 1:1\n\n4️⃣ crimson square icon --ar 1:1';
      } else if (t.action === 'SHORTEN') {
        t.properties.finalPrompt = `1️⃣ ${t.prompt.split(/\s+/).slice(0, 3).join(' ')}\n\n2️⃣ ${t.prompt.split(/\s+/).slice(0, 2).join(' ')}`;
      } else {
        t.imageUrl = imageUrl(t.id, `${t.action.toLowerCase()}.png`);
        t.buttons = t.action === 'UPSCALE' ? upscaleButtons(hash) : gridButtons(hash);
      }
      t.properties.finalPrompt ??= t.promptEn;
    }
  };

  const view = (t: SimTask): Record<string, unknown> => {
    advance(t);
    const { runStartedAt: _r, fails: _f, stuck: _s, submitted: _b, ...shown } = t;
    return { ...shown, buttons: [...t.buttons], properties: { ...t.properties } };
  };

  const json = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };
  const submitResult = (res: ServerResponse, code: number, description: string, result: string | null, properties: Record<string, unknown> = {}, status = 200): void =>
    json(res, status, { code, description, result, properties });

  const makeTask = (action: string, prompt: string, description: string, submitted: Record<string, unknown>): SimTask => {
    const id = newId();
    const now = Date.now();
    const t: SimTask = {
      id,
      action,
      status: 'NOT_START',
      progress: '0%',
      prompt,
      promptEn: prompt,
      description,
      state: typeof submitted.state === 'string' ? submitted.state : null,
      submitTime: now,
      startTime: null,
      finishTime: null,
      imageUrl: null,
      failReason: null,
      buttons: [],
      properties: { discordInstanceId: DISCORD_INSTANCE, ...(typeof submitted.notifyHook === 'string' ? { notifyHook: submitted.notifyHook } : {}) },
      runStartedAt: now,
      fails: prompt.includes(failWord),
      stuck: prompt.includes(stuckWord),
      submitted,
    };
    tasks.set(id, t);
    return t;
  };

  async function submit(ex: Exchange<MidjourneyScenario>, kind: string, body: Record<string, unknown>): Promise<void> {
    const { res } = ex;
    const scenario = ex.nextScenario();
    if (playBasicScenario(ex, scenario)) return;
    if (scenario.type === 'queue_full') {
      submitResult(res, 23, '队列已满，请稍后尝试', newId(), { discordInstanceId: DISCORD_INSTANCE });
      return;
    }
    const prompt = typeof body.prompt === 'string' ? body.prompt.trim() : '';
    switch (kind) {
      case 'imagine': {
        if (!prompt) return submitResult(res, 4, 'prompt不能为空', null);
        if (prompt.includes(bannedWord)) return submitResult(res, 24, '可能包含敏感词', null, { promptEn: prompt, bannedWord });
        const t = makeTask('IMAGINE', prompt, `/imagine ${prompt}`, body);
        return submitResult(res, 1, '提交成功', t.id, { discordInstanceId: DISCORD_INSTANCE });
      }
      case 'shorten': {
        if (!prompt) return submitResult(res, 4, 'prompt不能为空', null);
        const t = makeTask('SHORTEN', prompt, `/shorten ${prompt}`, body);
        return submitResult(res, 1, '提交成功', t.id);
      }
      case 'blend': {
        const list = body.base64Array;
        if (!Array.isArray(list) || list.length < 2 || list.length > 5) return submitResult(res, 4, 'base64List参数错误', null);
        const t = makeTask('BLEND', '', '', body);
        t.description = `/blend ${t.id} ${list.length}`;
        return submitResult(res, 1, '提交成功', t.id);
      }
      case 'describe': {
        if (typeof body.base64 !== 'string' && typeof body.link !== 'string') return submitResult(res, 4, 'base64或link不能为空', null);
        const t = makeTask('DESCRIBE', '', '', body);
        t.description = `/describe ${t.id}.png`;
        return submitResult(res, 1, '提交成功', t.id);
      }
      case 'action': {
        const taskId = body.taskId;
        const customId = body.customId;
        if (typeof taskId !== 'string' || typeof customId !== 'string' || !taskId || !customId) return submitResult(res, 4, '参数错误', null);
        const target = tasks.get(taskId);
        if (!target) return submitResult(res, 3, '关联任务不存在或已失效', null, {}, 404);
        advance(target);
        if (target.status !== 'SUCCESS') return submitResult(res, 4, '关联任务状态错误', null);
        if (!target.buttons.some((b) => b.customId === customId)) return submitResult(res, 4, '未知的 Action 类型', null);
        const { action, modal } = actionOf(customId);
        const index = /::(\d+)::/.exec(customId)?.[1] ?? '';
        const t = makeTask(action, target.prompt, `/up ${taskId} ${action[0]}${index}`, body);
        t.fails = t.fails || target.fails;
        if (modal) {
          t.status = 'MODAL';
          return submitResult(res, 21, 'Waiting for window confirm', t.id);
        }
        return submitResult(res, 1, '提交成功', t.id);
      }
      case 'modal': {
        const taskId = body.taskId;
        if (typeof taskId !== 'string' || !taskId) return submitResult(res, 4, '参数错误', null);
        const t = tasks.get(taskId);
        if (!t) return submitResult(res, 3, '关联任务不存在或已失效', null, {}, 404);
        if (t.status !== 'MODAL') return submitResult(res, 4, '任务状态错误', null);
        if (prompt) t.prompt = t.promptEn = prompt;
        t.fails = t.prompt.includes(failWord);
        t.status = 'NOT_START';
        t.runStartedAt = Date.now();
        return submitResult(res, 1, '提交成功', t.id);
      }
      default:
        res.writeHead(404).end();
    }
  }

  async function handle(ex: Exchange<MidjourneyScenario>): Promise<void> {
    const { req, res, rec, parseFailed } = ex;
    const path = new URL(rec.path, 'http://localhost').pathname.replace(/\/+$/, '');
    const image = /^\/attachments\/([^/]+)\/[^/]+$/.exec(path);
    if (image && rec.method === 'GET') {
      const t = tasks.get(image[1]);
      if (!t) {
        res.writeHead(404).end();
        return;
      }
      const png = taskPng(t.id);
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': png.length });
      res.end(png);
      return;
    }
    if (opts.secret !== undefined && req.headers['mj-api-secret'] !== opts.secret) {
      res.writeHead(401).end();
      return;
    }
    const submitMatch = /^\/mj\/submit\/([a-z-]+)$/.exec(path);
    if (submitMatch && rec.method === 'POST') {
      if (parseFailed || !rec.body || typeof rec.body !== 'object' || Array.isArray(rec.body)) return submitResult(res, 4, '请求体格式错误', null, {}, 400);
      return submit(ex, submitMatch[1], rec.body as Record<string, unknown>);
    }
    const fetchMatch = /^\/mj\/task\/([^/]+)\/fetch$/.exec(path);
    if (fetchMatch && rec.method === 'GET') {
      const t = tasks.get(fetchMatch[1]);
      if (!t) {
        res.writeHead(200, { 'content-length': 0 }).end();
        return;
      }
      return json(res, 200, view(t));
    }
    if (path === '/mj/task/list-by-condition' && rec.method === 'POST') {
      if (opts.listDelayMs) await sleep(opts.listDelayMs);
      const ids = (rec.body as { ids?: unknown } | undefined)?.ids;
      const list = Array.isArray(ids) ? ids.flatMap((id) => (typeof id === 'string' && tasks.has(id) ? [view(tasks.get(id) as SimTask)] : [])) : [];
      return json(res, 200, list);
    }
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"status":404,"error":"Not Found"}');
  }

  const server = await startSimulatorServer<MidjourneyScenario>({
    handle,
    internalError: (res) => json(res, 500, { code: 9, description: '系统异常', result: null, properties: {} }),
    handler: () => ({ type: 'accept' }),
  });
  root = server.url;
  const sim: MidjourneySimulator = Object.assign(server, {
    tasks,
    stepMs: opts.stepMs ?? 30,
    imageFor: (taskId: string) => taskPng(taskId),
    view: (taskId: string) => {
      const t = tasks.get(taskId);
      return t ? view(t) : undefined;
    },
  });
  return sim;
}
