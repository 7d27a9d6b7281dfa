import type { ChatRequest, ResponseFormat, Warning } from '../../core/canonical.ts';
import { WarningSink } from '../../core/warn-uncarried.ts';
import { type AnthropicMessagesRequest, MID_CONVERSATION_SYSTEM_BETA } from '../../wire/anthropic.ts';
import { convertToAnthropicMessages } from './convert-to-anthropic-messages.ts';
import { mapAnthropicThinkingBudget, MIN_THINKING_BUDGET } from './map-anthropic-thinking-budget.ts';
import { prepareAnthropicTools } from './prepare-anthropic-tools.ts';

/** Anthropic requires max_tokens; this is what a request without one gets. */
export const DEFAULT_MAX_TOKENS = 4096;

export interface ConvertToAnthropicRequestOptions {
  /** The `anthropic-beta` flags the call goes out with (the client's and the operator's). */
  betas?: readonly string[];
}

/**
 * Canonical request -> Anthropic Messages request body. Whatever Anthropic cannot
 * honour is listed in `warnings`, never dropped silently.
 */
export function convertToAnthropicRequest(
  req: ChatRequest,
  model: string,
  opts: ConvertToAnthropicRequestOptions = {},
): { body: AnthropicMessagesRequest; warnings: Warning[] } {
  const warnings = new WarningSink();
  const inPlaceSystem = opts.betas?.includes(MID_CONVERSATION_SYSTEM_BETA) === true;
  const converted = convertToAnthropicMessages(req.system, req.messages, warnings, { inPlaceSystem });
  const system = converted.system;

  const instruction = responseFormatInstruction(req.responseFormat, warnings);
  if (instruction) system.push({ type: 'text', text: instruction });

  const { tools, toolChoice } = prepareAnthropicTools(req.tools, req.toolChoice, req.parallelToolCalls, warnings);

  let temperature = req.temperature;
  if (temperature !== undefined && temperature > 1) {
    warnings.add('temperature', `Anthropic accepts temperature from 0 to 1; ${temperature} was sent as 1.`);
    temperature = 1;
  }
  let topP = req.topP;
  let topK = req.topK;

  let budget = mapAnthropicThinkingBudget(req.reasoning);
  if (budget !== undefined && toolChoice && (toolChoice.type === 'any' || toolChoice.type === 'tool')) {
    warnings.add('reasoning', 'Anthropic does not allow extended thinking with a forced tool choice; thinking was turned off.');
    budget = undefined;
  }
  if (budget !== undefined && budget < MIN_THINKING_BUDGET) {
    warnings.add('reasoning.budgetTokens', `Anthropic's smallest thinking budget is ${MIN_THINKING_BUDGET} tokens; ${budget} was raised to it.`);
    budget = MIN_THINKING_BUDGET;
  }
  const maxTokens = req.maxTokens ?? (budget === undefined ? DEFAULT_MAX_TOKENS : budget + DEFAULT_MAX_TOKENS);
  if (budget !== undefined && budget >= maxTokens) {
    // The client's limit covers reasoning too (as OpenAI's max_completion_tokens does): shrink the budget, not the limit.
    const half = Math.floor(maxTokens / 2);
    if (half < MIN_THINKING_BUDGET) {
      warnings.add('reasoning', `max_tokens ${maxTokens} leaves no room for Anthropic's smallest thinking budget; thinking was turned off.`);
      budget = undefined;
    } else {
      warnings.add('reasoning.budgetTokens', `The thinking budget must be below max_tokens (${maxTokens}); ${budget} was lowered to ${half}.`);
      budget = half;
    }
  }
  if (budget !== undefined) {
    // Extended thinking runs at a fixed sampling setup.
    if (temperature !== undefined && temperature !== 1) {
      warnings.add('temperature', 'Anthropic does not accept a temperature with extended thinking; it was not sent.');
      temperature = undefined;
    }
    if (topK !== undefined) {
      warnings.add('top_k', 'Anthropic does not accept top_k with extended thinking; it was not sent.');
      topK = undefined;
    }
    if (topP !== undefined && topP < 0.95) {
      warnings.add('top_p', 'Anthropic accepts top_p only from 0.95 to 1 with extended thinking; it was not sent.');
      topP = undefined;
    }
  }

  if (req.presencePenalty !== undefined && req.presencePenalty !== 0) warnings.add('presence_penalty', 'Anthropic has no presence penalty; it was not sent.');
  if (req.frequencyPenalty !== undefined && req.frequencyPenalty !== 0) warnings.add('frequency_penalty', 'Anthropic has no frequency penalty; it was not sent.');
  if (req.seed !== undefined) warnings.add('seed', 'Anthropic has no sampling seed; it was not sent.');
  if (req.n !== undefined && req.n > 1) warnings.add('n', `Anthropic returns one answer per request; n=${req.n} was not honoured.`);

  const body: AnthropicMessagesRequest = { model, max_tokens: maxTokens, messages: converted.messages };
  if (system.length > 0) body.system = system;
  if (req.stop && req.stop.length > 0) body.stop_sequences = req.stop;
  if (temperature !== undefined) body.temperature = temperature;
  if (topP !== undefined) body.top_p = topP;
  if (topK !== undefined) body.top_k = topK;
  if (req.user) body.metadata = { user_id: req.user };
  if (tools) body.tools = tools;
  if (toolChoice) body.tool_choice = toolChoice;
  if (budget !== undefined) body.thinking = { type: 'enabled', budget_tokens: budget };
  if (req.stream) body.stream = true;
  return { body, warnings: warnings.list };
}

/**
 * Anthropic's 2023-06-01 API has no response format. Rather than emulating one with
 * a forced tool (which changes the answer's shape), the model is asked in the
 * system prompt, and the caller is warned that the format is not enforced.
 */
function responseFormatInstruction(rf: ResponseFormat | undefined, warnings: WarningSink): string | undefined {
  if (!rf || rf.type === 'text') return undefined;
  if (rf.type === 'json_object') {
    warnings.add('response_format', 'Anthropic has no JSON mode; the model was asked for JSON in the system prompt, but the format is not enforced.');
    return 'Respond only with a single valid JSON object, with no text before or after it.';
  }
  warnings.add('response_format', 'Anthropic has no JSON schema mode; the model was given the schema in the system prompt, but it is not enforced.');
  const about = [rf.name ? `Schema name: ${rf.name}.` : '', rf.description ? `Schema description: ${rf.description}` : ''].filter(Boolean).join(' ');
  return `Respond only with a single valid JSON value that conforms to the following JSON Schema, with no text before or after it.${about ? ` ${about}` : ''}\n${JSON.stringify(rf.schema)}`;
}
