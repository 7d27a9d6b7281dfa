import type { Usage } from '../../core/canonical.ts';
import type { GatewayError } from '../../core/errors.ts';
import type { ResponsesObjectOut, ResponsesOutputItemOut, ResponsesUsageOut } from '../../wire/openai-responses.ts';
import { DEFAULT_RESPONSES_ECHO, type ResponsesEcho } from './responses-echo.ts';
import { createResponsesIdGenerator, toResponsesId, type ResponsesIdGenerator } from './responses-ids.ts';

/** What encoding a response needs beyond the canonical result; all but model and requestId have defaults. */
export interface ResponsesEncodeContext {
  /** The model name the client asked for. */
  model: string;
  requestId: string;
  /** `resp_...`; by default derived from the request id. The route stores the response under it. */
  responseId?: string;
  /** The request's settings to repeat back (extractResponsesEcho(body)); OpenAI's defaults otherwise. */
  echo?: ResponsesEcho;
  /** Item ids (`msg_`, `rs_`, `fc_`); by default derived from the response id. */
  ids?: ResponsesIdGenerator;
  /** Unix seconds; by default the upstream's `created`. */
  createdAt?: number;
  /** Clock for `completed_at`, in unix seconds; by default the creation time. */
  now?: () => number;
}

export interface ResolvedResponsesContext {
  model: string;
  responseId: string;
  echo: ResponsesEcho;
  ids: ResponsesIdGenerator;
  now: (() => number) | undefined;
}

export function resolveResponsesContext(ctx: ResponsesEncodeContext): ResolvedResponsesContext {
  const responseId = ctx.responseId ?? toResponsesId(ctx.requestId);
  return {
    model: ctx.model,
    responseId,
    echo: ctx.echo ?? DEFAULT_RESPONSES_ECHO,
    ids: ctx.ids ?? createResponsesIdGenerator(responseId),
    now: ctx.now,
  };
}

export interface ResponsesObjectFields {
  createdAt: number;
  status: ResponsesObjectOut['status'];
  output: ResponsesOutputItemOut[];
  usage?: Usage;
  incompleteDetails?: ResponsesObjectOut['incomplete_details'];
  error?: ResponsesObjectOut['error'];
}

/** One Response object, in the order OpenAI writes its fields. `completed_at` is there only once it has finished. */
export function encodeResponsesObject(ctx: ResolvedResponsesContext, f: ResponsesObjectFields): ResponsesObjectOut {
  const e = ctx.echo;
  const finished = f.status === 'completed' || f.status === 'incomplete';
  return {
    id: ctx.responseId,
    object: 'response',
    created_at: f.createdAt,
    status: f.status,
    background: e.background,
    ...(finished ? { completed_at: ctx.now?.() ?? f.createdAt } : {}),
    error: f.error ?? null,
    incomplete_details: f.incompleteDetails ?? null,
    instructions: e.instructions,
    max_output_tokens: e.max_output_tokens,
    max_tool_calls: e.max_tool_calls,
    model: ctx.model,
    output: f.output,
    parallel_tool_calls: e.parallel_tool_calls,
    previous_response_id: e.previous_response_id,
    prompt_cache_key: e.prompt_cache_key,
    reasoning: e.reasoning,
    safety_identifier: e.safety_identifier,
    // The gateway does not buy OpenAI's tiers; every request runs on the default one.
    service_tier: 'default',
    store: e.store,
    temperature: e.temperature,
    text: e.text,
    tool_choice: e.tool_choice,
    tools: e.tools,
    top_logprobs: e.top_logprobs,
    top_p: e.top_p,
    truncation: e.truncation,
    usage: f.usage ? encodeResponsesUsage(f.usage) : null,
    user: e.user,
    metadata: e.metadata,
  };
}

/** Canonical usage -> Responses usage (input_tokens include the cached ones, as in canonical). */
export function encodeResponsesUsage(u: Usage): ResponsesUsageOut {
  return {
    input_tokens: u.inputTokens,
    input_tokens_details: { cached_tokens: u.cachedInputTokens ?? 0, cache_write_tokens: u.cacheWriteTokens ?? 0 },
    output_tokens: u.outputTokens,
    output_tokens_details: { reasoning_tokens: u.reasoningTokens ?? 0 },
    total_tokens: u.inputTokens + u.outputTokens,
  };
}

/** A failed response's `error`: OpenAI's codes for it are few; a limit is `rate_limit_exceeded`, anything else `server_error`. */
export function encodeResponsesFailure(err: GatewayError): NonNullable<ResponsesObjectOut['error']> {
  return { code: err.status === 429 ? 'rate_limit_exceeded' : 'server_error', message: err.message };
}
