import type { ResponsesFunctionToolOut } from '../../wire/openai-responses.ts';
import { responsesFunctionToolSchema, responsesRequestSchema } from '../../wire/openai-responses.ts';

/**
 * The request settings a Response object repeats back (`instructions`, `tools`,
 * `temperature`, ...). The SDK types mark them required, so every response
 * carries them, with OpenAI's defaults where the request left them out.
 */
export interface ResponsesEcho {
  instructions: string | null;
  tools: ResponsesFunctionToolOut[];
  tool_choice: unknown;
  parallel_tool_calls: boolean;
  temperature: number | null;
  top_p: number | null;
  top_logprobs: number;
  max_output_tokens: number | null;
  max_tool_calls: number | null;
  previous_response_id: string | null;
  prompt_cache_key: string | null;
  safety_identifier: string | null;
  reasoning: { effort: string | null; summary: string | null };
  text: { format: Record<string, unknown>; verbosity: string };
  truncation: 'auto' | 'disabled';
  metadata: Record<string, string>;
  store: boolean;
  background: boolean;
  user: string | null;
}

/** The echo of a request that sent nothing but a model and input. */
export const DEFAULT_RESPONSES_ECHO: ResponsesEcho = {
  instructions: null,
  tools: [],
  tool_choice: 'auto',
  parallel_tool_calls: true,
  temperature: 1,
  top_p: 1,
  top_logprobs: 0,
  max_output_tokens: null,
  max_tool_calls: null,
  previous_response_id: null,
  prompt_cache_key: null,
  safety_identifier: null,
  reasoning: { effort: null, summary: null },
  text: { format: { type: 'text' }, verbosity: 'medium' },
  truncation: 'disabled',
  metadata: {},
  store: true,
  background: false,
  user: null,
};

/**
 * A request body -> what its responses echo. Only function tools are echoed:
 * hosted tools were dropped, and echoing them would claim they were offered.
 */
export function extractResponsesEcho(body: unknown): ResponsesEcho {
  const parsed = responsesRequestSchema.partial().safeParse(body);
  if (!parsed.success) return DEFAULT_RESPONSES_ECHO;
  const b = parsed.data;
  const d = DEFAULT_RESPONSES_ECHO;
  const tools: ResponsesFunctionToolOut[] = [];
  for (const raw of b.tools ?? []) {
    const t = responsesFunctionToolSchema.safeParse(raw);
    if (!t.success) continue;
    tools.push({ type: 'function', name: t.data.name, description: t.data.description ?? null, parameters: t.data.parameters ?? null, strict: t.data.strict ?? null });
  }
  return {
    instructions: b.instructions ?? d.instructions,
    tools,
    tool_choice: b.tool_choice ?? d.tool_choice,
    parallel_tool_calls: b.parallel_tool_calls ?? d.parallel_tool_calls,
    temperature: b.temperature ?? d.temperature,
    top_p: b.top_p ?? d.top_p,
    top_logprobs: b.top_logprobs ?? d.top_logprobs,
    max_output_tokens: b.max_output_tokens ?? d.max_output_tokens,
    max_tool_calls: b.max_tool_calls ?? d.max_tool_calls,
    previous_response_id: b.previous_response_id ?? d.previous_response_id,
    prompt_cache_key: b.prompt_cache_key ?? d.prompt_cache_key,
    safety_identifier: b.safety_identifier ?? d.safety_identifier,
    reasoning: { effort: b.reasoning?.effort ?? null, summary: b.reasoning?.summary ?? b.reasoning?.generate_summary ?? null },
    text: { format: b.text?.format ?? d.text.format, verbosity: b.text?.verbosity ?? d.text.verbosity },
    truncation: b.truncation ?? d.truncation,
    metadata: b.metadata ?? d.metadata,
    store: b.store ?? d.store,
    background: b.background ?? d.background,
    user: b.user ?? d.user,
  };
}
