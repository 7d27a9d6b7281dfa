import { request, type Dispatcher } from 'undici';
import { GatewayError, redactSecrets } from '../core/errors.ts';
import { midjourneyImageHeaders, midjourneyRequest } from '../providers/midjourney/midjourney-endpoint.ts';
import { type MjUpstreamTask, mjTaskSchema } from '../wire/midjourney.ts';
import { AttemptSignal, callUpstream, upstreamFailure } from './upstream-call.ts';
import { adapterTarget, type Credential, credentialOrder, type Upstream } from './upstreams.ts';

/** Submits and polls are short calls: a Midjourney-proxy answers at once and does the work later. */
const CALL_TIMEOUT_MS = 60_000;

export interface MjHttpAnswer {
  status: number;
  /** The body, credentials removed. */
  text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: unknown;
}

/** A credential to call the upstream with: round-robin over the healthy ones, else the first. */
export function mjCredential(u: Upstream, now: number): Credential {
  return credentialOrder(u, now)[0] ?? u.credentials[0];
}

/** One call of the upstream's /mj API; transport failures and timeouts throw (502 / 504). */
export async function callMidjourney(u: Upstream, credential: Credential, path: string, body?: unknown): Promise<MjHttpAnswer> {
  const req = midjourneyRequest(adapterTarget(u, '', credential), path, body);
  const attempt = new AttemptSignal(Math.min(u.firstByteTimeoutMs, CALL_TIMEOUT_MS));
  try {
    const res = await callUpstream(u, req, attempt);
    let text: string;
    try {
      text = redactSecrets(await res.body.text(), u.secrets);
    } catch (err) {
      throw upstreamFailure(u, err, attempt);
    }
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.statusCode, text, json };
  } finally {
    attempt.clear();
  }
}

/** The upstream's view of tasks (POST /mj/task/list-by-condition); entries it cannot read are skipped. */
export async function listMidjourneyTasks(u: Upstream, credential: Credential, ids: readonly string[]): Promise<MjUpstreamTask[]> {
  const answer = await callMidjourney(u, credential, '/task/list-by-condition', { ids });
  if (answer.status < 200 || answer.status >= 300 || !Array.isArray(answer.json)) {
    throw new GatewayError('upstream_error', `Upstream ${u.name} answered list-by-condition with ${answer.status}: ${answer.text.slice(0, 200)}`, {
      status: 502,
      upstreamStatus: answer.status,
    });
  }
  const out: MjUpstreamTask[] = [];
  for (const item of answer.json) {
    const parsed = mjTaskSchema.safeParse(item);
    if (parsed.success) out.push(parsed.data);
  }
  return out;
}

/** GETs a task's image for the client, streaming; the credential goes along only to the upstream's own host. */
export async function fetchMidjourneyImage(u: Upstream, imageUrl: string, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
  if (!/^https?:\/\//i.test(imageUrl)) throw new GatewayError('upstream_error', 'The task has no fetchable image URL.', { status: 502 });
  try {
    return await request(imageUrl, {
      method: 'GET',
      headers: midjourneyImageHeaders(adapterTarget(u, '', u.credentials[0]), imageUrl),
      dispatcher: u.dispatcher,
      signal,
      headersTimeout: CALL_TIMEOUT_MS,
      bodyTimeout: CALL_TIMEOUT_MS,
    });
  } catch (err) {
    const e = err as { code?: string; message?: string; cause?: { code?: string; message?: string } };
    throw new GatewayError('upstream_unreachable', `The task's image could not be fetched (${e.cause?.code ?? e.code ?? 'ERROR'}).`, { cause: err });
  }
}
