import type { ToolChoice, ToolDefinition } from '../../core/canonical.ts';
import type { WarningSink } from '../../core/warn-uncarried.ts';
import type { AnthropicToolChoice, AnthropicToolParam } from '../../wire/anthropic.ts';

/** Canonical tools and tool choice -> Anthropic `tools` and `tool_choice`. */
export function prepareAnthropicTools(
  tools: readonly ToolDefinition[] | undefined,
  toolChoice: ToolChoice | undefined,
  parallelToolCalls: boolean | undefined,
  warnings: WarningSink,
): { tools?: AnthropicToolParam[]; toolChoice?: AnthropicToolChoice } {
  if (!tools || tools.length === 0) {
    // Anthropic rejects tool_choice without tools; 'auto' and 'none' mean the same as nothing here.
    if (toolChoice && (toolChoice.type === 'required' || toolChoice.type === 'tool')) {
      warnings.add('tool_choice', 'A tool choice was given without tools; it was not sent.');
    }
    return {};
  }

  const out: AnthropicToolParam[] = tools.map((t, i) => {
    const tool: AnthropicToolParam = { name: t.name, input_schema: t.parameters };
    if (t.description !== undefined && t.description !== '') tool.description = t.description;
    if (t.cacheControl) tool.cache_control = t.cacheControl;
    if (t.strict) warnings.add(`tools[${i}].strict`, 'Strict schema adherence is not available on this Anthropic API version; the tool was sent without it.');
    return tool;
  });

  const disableParallel = parallelToolCalls === false;
  let choice: AnthropicToolChoice | undefined;
  switch (toolChoice?.type) {
    case undefined:
      if (disableParallel) choice = { type: 'auto', disable_parallel_tool_use: true };
      break;
    case 'auto':
      choice = disableParallel ? { type: 'auto', disable_parallel_tool_use: true } : { type: 'auto' };
      break;
    case 'required':
      choice = disableParallel ? { type: 'any', disable_parallel_tool_use: true } : { type: 'any' };
      break;
    case 'tool':
      choice = disableParallel ? { type: 'tool', name: toolChoice.name, disable_parallel_tool_use: true } : { type: 'tool', name: toolChoice.name };
      break;
    case 'none':
      // disable_parallel_tool_use is meaningless (and not accepted) when no tool may be called.
      choice = { type: 'none' };
      break;
  }
  return choice ? { tools: out, toolChoice: choice } : { tools: out };
}
