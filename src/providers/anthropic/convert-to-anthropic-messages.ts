import type { ContentPart, ImagePart, Message, TextPart, ToolResultPart } from '../../core/canonical.ts';
import type { WarningSink } from '../../core/warn-uncarried.ts';
import {
  parseToolInput,
  type AnthropicContentBlockParam,
  type AnthropicImageBlockParam,
  type AnthropicMessageParam,
  type AnthropicSystemMessageParam,
  type AnthropicTextBlockParam,
  type AnthropicToolResultBlockParam,
} from '../../wire/anthropic.ts';

export interface ConvertToAnthropicMessagesOptions {
  /**
   * Keep system messages that sit inside the conversation at their place (Anthropic's
   * mid-conversation system messages) instead of folding them into `system`. Only set when
   * the request carries the `mid-conversation-system-2026-04-07` beta: models before Claude
   * Opus 4.8 reject a system turn outright, while the top-level `system` works on every model.
   */
  inPlaceSystem?: boolean;
}

type Turn = { role: 'user' | 'assistant'; content: AnthropicContentBlockParam[] } | { role: 'system'; content: AnthropicTextBlockParam[] };

/**
 * Canonical system + messages -> Anthropic `system` blocks and alternating
 * user/assistant messages:
 * - system-role messages before the first turn join `system`; later ones stay in place as
 *   mid-conversation system messages when `inPlaceSystem` is set and Anthropic's placement
 *   rules allow (right after a user turn, followed by an assistant turn or last), else they
 *   join `system` too, with a warning: the instruction then applies from the start;
 * - tool results become `tool_result` blocks in a user turn, placed before the
 *   turn's other blocks as Anthropic requires after a `tool_use` turn;
 * - consecutive turns of one role merge into one;
 * - reasoning goes back as `thinking` (with its signature) or `redacted_thinking`;
 *   reasoning without a signature cannot be verified by Anthropic and is left out.
 */
export function convertToAnthropicMessages(
  system: readonly TextPart[],
  messages: readonly Message[],
  warnings: WarningSink,
  opts: ConvertToAnthropicMessagesOptions = {},
): { system: AnthropicTextBlockParam[]; messages: Array<AnthropicMessageParam | AnthropicSystemMessageParam> } {
  const systemBlocks: AnthropicTextBlockParam[] = [];
  for (const part of system) {
    if (part.text !== '') systemBlocks.push(textBlock(part));
  }
  const turns: Turn[] = [];
  const push = (turn: Turn): void => {
    if (!mergeInto(turns[turns.length - 1], turn)) turns.push(turn);
  };

  messages.forEach((message, i) => {
    if (message.name) warnings.add('messages[].name', 'Anthropic has no participant names; the name was not sent.');
    if (message.role === 'system') {
      const blocks: AnthropicTextBlockParam[] = [];
      for (const part of message.content) {
        if (part.type === 'text' && part.text !== '') blocks.push(textBlock(part));
      }
      if (blocks.length === 0) return;
      if (turns.length === 0) systemBlocks.push(...blocks);
      else push({ role: 'system', content: blocks });
      return;
    }
    const role = message.role === 'assistant' ? 'assistant' : 'user';
    const blocks: AnthropicContentBlockParam[] = [];
    message.content.forEach((part, j) => {
      const block = role === 'assistant' ? assistantBlock(part, `messages[${i}].content[${j}]`, warnings) : userBlock(part, warnings);
      if (block) blocks.push(block);
    });
    if (blocks.length > 0) push({ role, content: blocks });
  });

  const out: Turn[] = [];
  turns.forEach((turn, k) => {
    if (turn.role === 'system') {
      const next = turns[k + 1];
      const placed = turns[k - 1]?.role === 'user' && (next === undefined || next.role === 'assistant');
      if (opts.inPlaceSystem && placed) {
        out.push(turn);
        return;
      }
      systemBlocks.push(...turn.content);
      warnings.add(
        'messages[].system',
        opts.inPlaceSystem
          ? 'Anthropic takes a system message in the conversation only right after a user turn, followed by an assistant turn or last; it was moved into the system prompt.'
          : 'A system message in the conversation was moved into the system prompt: keeping it in place needs the mid-conversation-system-2026-04-07 beta.',
      );
      return;
    }
    // A system message folded away can leave two turns of one role side by side.
    if (!mergeInto(out[out.length - 1], turn)) out.push(turn);
  });

  for (const m of out) {
    if (m.role === 'user') m.content = toolResultsFirst(m.content);
  }
  return { system: systemBlocks, messages: out };
}

/** Appends `turn` to `last` when both have one role (Anthropic wants roles to alternate). */
function mergeInto(last: Turn | undefined, turn: Turn): boolean {
  if (!last || last.role !== turn.role) return false;
  if (last.role === 'system' && turn.role === 'system') last.content.push(...turn.content);
  else if (last.role !== 'system' && turn.role !== 'system') last.content.push(...turn.content);
  return true;
}

function userBlock(part: ContentPart, warnings: WarningSink): AnthropicContentBlockParam | undefined {
  switch (part.type) {
    case 'text':
      return part.text === '' ? undefined : textBlock(part);
    case 'image':
      return imageBlock(part, warnings);
    case 'tool_result':
      return toolResultBlock(part, warnings);
    case 'reasoning':
      warnings.add('messages[].content[].reasoning', 'Reasoning is only sent back in assistant turns; reasoning in a user turn was left out.');
      return undefined;
    case 'tool_call':
      warnings.add('messages[].content[].tool_call', 'Tool calls are only sent in assistant turns; a tool call in a user turn was left out.');
      return undefined;
  }
}

function assistantBlock(part: ContentPart, param: string, warnings: WarningSink): AnthropicContentBlockParam | undefined {
  switch (part.type) {
    case 'text':
      return part.text === '' ? undefined : textBlock(part);
    case 'reasoning':
      if (part.redactedData !== undefined) return { type: 'redacted_thinking', data: part.redactedData };
      if (part.signature) return { type: 'thinking', thinking: part.text, signature: part.signature };
      if (part.text !== '') {
        warnings.add(
          'messages[].content[].reasoning',
          'Anthropic accepts earlier reasoning only with its signature; reasoning without one was left out of the history.',
        );
      }
      return undefined;
    case 'tool_call': {
      const input = parseToolInput(part.arguments);
      if (!input.ok) {
        warnings.add(`${param}.arguments`, 'Tool call arguments are not a JSON object; sent as an empty input.');
      }
      return { type: 'tool_use', id: part.id, name: part.name, input: input.value };
    }
    case 'image':
      warnings.add('messages[].content[].image', 'Anthropic does not accept images in assistant turns; the image was left out.');
      return undefined;
    case 'tool_result':
      warnings.add('messages[].content[].tool_result', 'Tool results are sent in user turns; a tool result in an assistant turn was left out.');
      return undefined;
  }
}

function textBlock(part: TextPart): AnthropicTextBlockParam {
  const block: AnthropicTextBlockParam = { type: 'text', text: part.text };
  if (part.cacheControl) block.cache_control = part.cacheControl;
  return block;
}

function imageBlock(part: ImagePart, warnings: WarningSink): AnthropicImageBlockParam {
  if (part.detail && part.detail !== 'auto') {
    warnings.add('messages[].content[].detail', `Anthropic has no image detail setting; '${part.detail}' was not applied.`);
  }
  const s = part.source;
  return {
    type: 'image',
    source: s.kind === 'base64' ? { type: 'base64', media_type: s.mediaType, data: s.data } : { type: 'url', url: s.url },
  };
}

function toolResultBlock(part: ToolResultPart, warnings: WarningSink): AnthropicToolResultBlockParam {
  const block: AnthropicToolResultBlockParam = { type: 'tool_result', tool_use_id: part.toolCallId };
  const content: Array<AnthropicTextBlockParam | AnthropicImageBlockParam> = [];
  for (const p of part.content) {
    if (p.type === 'text') {
      if (p.text !== '') content.push(textBlock(p));
    } else content.push(imageBlock(p, warnings));
  }
  if (content.length > 0) block.content = content;
  if (part.isError) block.is_error = true;
  return block;
}

/** Anthropic rejects a user turn answering tool_use unless its tool_result blocks come first. */
function toolResultsFirst(blocks: AnthropicContentBlockParam[]): AnthropicContentBlockParam[] {
  if (!blocks.some((b) => b.type === 'tool_result')) return blocks;
  return [...blocks.filter((b) => b.type === 'tool_result'), ...blocks.filter((b) => b.type !== 'tool_result')];
}
