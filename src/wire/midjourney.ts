/**
 * The Midjourney-proxy task API (novicezk/midjourney-proxy and its "plus" successors), which
 * clients speak to the gateway and the gateway speaks to `midjourney` upstreams: submits answer
 * `{code, description, properties, result}`, tasks are `{id, action, status, progress, ...}`.
 * Lenient on what upstreams send: unknown fields pass, optional fields nullish.
 */
import { z } from 'zod';

/** Submit answer codes (ReturnCode.java). */
export const MJ_CODE = {
  SUCCESS: 1,
  NOT_FOUND: 3,
  VALIDATION_ERROR: 4,
  FAILURE: 9,
  /** The task exists already (or, on plus servers, waits for a modal). Treated as success. */
  EXISTED: 21,
  /** Accepted into the queue. Treated as success. */
  IN_QUEUE: 22,
  QUEUE_REJECTED: 23,
  BANNED_PROMPT: 24,
} as const;

/** Codes that mean the upstream took the task: charged, and the task is tracked. */
export function isAcceptedCode(code: number): boolean {
  return code === MJ_CODE.SUCCESS || code === MJ_CODE.EXISTED || code === MJ_CODE.IN_QUEUE;
}

/** The six submit endpoints the gateway relays, each priced as `mj_<kind>` in the models table. */
export const MJ_SUBMITS = ['imagine', 'action', 'blend', 'describe', 'modal', 'shorten'] as const;
export type MjSubmit = (typeof MJ_SUBMITS)[number];

/** `/{mode}/mj/...` prefixes. */
export const MJ_MODES = ['mj-fast', 'mj-relax', 'mj-turbo'] as const;
export type MjMode = (typeof MJ_MODES)[number];

const idSchema = z.union([z.string(), z.number()]).transform((v) => String(v));
const propertiesSchema = z.record(z.string(), z.unknown());

export const mjSubmitResultSchema = z.looseObject({
  code: z.number(),
  description: z.string().nullish(),
  properties: propertiesSchema.nullish(),
  /** The task id (a list of ids for a few plus endpoints, which the gateway does not relay). */
  result: idSchema.nullish(),
});
export type MjSubmitResult = z.infer<typeof mjSubmitResultSchema>;

export const mjButtonSchema = z.looseObject({
  customId: z.string(),
  emoji: z.string().nullish(),
  label: z.string().nullish(),
  type: z.union([z.number(), z.string()]).nullish(),
  style: z.union([z.number(), z.string()]).nullish(),
});

export const mjTaskSchema = z.looseObject({
  id: idSchema,
  action: z.string().nullish(),
  status: z.string().nullish(),
  progress: z.string().nullish(),
  prompt: z.string().nullish(),
  promptEn: z.string().nullish(),
  description: z.string().nullish(),
  state: z.string().nullish(),
  submitTime: z.number().nullish(),
  startTime: z.number().nullish(),
  finishTime: z.number().nullish(),
  imageUrl: z.string().nullish(),
  failReason: z.string().nullish(),
  buttons: z.array(mjButtonSchema).nullish(),
  properties: propertiesSchema.nullish(),
});
export type MjUpstreamTask = z.infer<typeof mjTaskSchema>;

export interface MjButton {
  customId: string;
  emoji: string;
  label: string;
  type: number | string;
  style: number | string;
}

/** A task as clients see it: the documented fields only, under the gateway's id. */
export interface MjTask {
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
  buttons: MjButton[];
  properties: Record<string, unknown>;
}

/** The fields of an upstream task worth keeping (and showing): nothing that names the upstream's own accounts or ids. */
export type MjTaskFields = Omit<MjTask, 'id'>;

/** Task properties clients use (describe and shorten results); the rest are the upstream's internals (Discord instance, nonce, hooks). */
const KEPT_TASK_PROPERTIES = ['finalPrompt', 'finalZhPrompt'] as const;
/** Submit answer properties that name the upstream's internals. */
const DROPPED_SUBMIT_PROPERTIES = new Set(['discordInstanceId', 'discordChannelId', 'instanceId', 'notifyHook', 'nonce', 'messageId', 'messageHash']);

export function keepTaskFields(t: MjUpstreamTask): MjTaskFields {
  const props: Record<string, unknown> = {};
  for (const k of KEPT_TASK_PROPERTIES) if (t.properties?.[k] !== undefined && t.properties[k] !== null) props[k] = t.properties[k];
  return {
    action: t.action ?? '',
    status: t.status ?? 'NOT_START',
    progress: t.progress ?? '0%',
    prompt: t.prompt ?? '',
    promptEn: t.promptEn ?? '',
    description: t.description ?? '',
    state: t.state ?? null,
    submitTime: t.submitTime ?? 0,
    startTime: t.startTime ?? null,
    finishTime: t.finishTime ?? null,
    imageUrl: t.imageUrl ?? null,
    failReason: t.failReason ?? null,
    buttons: (t.buttons ?? []).map((b) => ({ customId: b.customId, emoji: b.emoji ?? '', label: b.label ?? '', type: b.type ?? 2, style: b.style ?? 2 })),
    properties: props,
  };
}

export function keepSubmitProperties(p: Record<string, unknown> | null | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(p ?? {})) if (!DROPPED_SUBMIT_PROPERTIES.has(k)) out[k] = v;
  return out;
}

/** Body fields a client may not pass on: callbacks would bypass the gateway with the upstream's ids, account filters pick the upstream's accounts. */
export const MJ_STRIPPED_FIELDS = ['notifyHook', 'accountFilter'] as const;

/**
 * What a button's customId asks for, as midjourney-proxy-plus reads it
 * (`MJ::JOB::upsample::1::<hash>`, `MJ::Outpaint::50::1::<hash>::SOLO`, `MJ::CustomZoom::<hash>`):
 * the task action it creates, and whether it opens a modal (a second submit, /mj/submit/modal).
 * Undefined when it is not a Midjourney button id at all.
 */
export function parseCustomId(customId: string): { action: string; modal: boolean } | undefined {
  if (customId.length > 256 || !/^MJ::[A-Za-z]+::[A-Za-z0-9_:\-]+$/.test(customId)) return undefined;
  const parts = customId.split('::');
  const kind = parts[1] === 'JOB' ? (parts[2] ?? '') : parts[1];
  if (!kind) return undefined;
  if (kind === 'upsample') return { action: 'UPSCALE', modal: false };
  if (kind.startsWith('upsample_')) return { action: 'UPSCALE_HD', modal: false };
  if (kind === 'variation' || kind === 'low_variation' || kind === 'high_variation') return { action: 'VARIATION', modal: false };
  if (kind === 'reroll') return { action: 'REROLL', modal: false };
  if (kind.startsWith('pan_')) return { action: 'PAN', modal: false };
  if (kind === 'Outpaint') return { action: 'ZOOM', modal: false };
  if (kind === 'CustomZoom') return { action: 'ZOOM', modal: true };
  if (kind === 'Inpaint') return { action: 'INPAINT', modal: true };
  return { action: 'ACTION', modal: false };
}
