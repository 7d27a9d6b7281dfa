/**
 * A system message inside the conversation (an Anthropic client's mid-conversation system
 * message, as Claude Code 2.1.197 sends on every call) reaches an OpenAI upstream as a system
 * message at the same place; instructions before the first turn stay one leading system message.
 */
import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/canonical.ts';
import type { AdapterTarget } from '../../../src/core/codec.ts';
import { anthropicCodec } from '../../../src/protocols/anthropic/anthropic-codec.ts';
import { openAIAdapter } from '../../../src/providers/openai/openai-adapter.ts';

const target: AdapterTarget = { baseUrl: 'https://api.openai.com/v1', apiKey: 'sk-test', upstreamModel: 'gpt-5.5', headers: {} };

const build = (req: ChatRequest) => {
  const out = openAIAdapter.buildRequest(req, target);
  return { body: JSON.parse(out.body) as { messages: unknown[] }, warnings: out.warnings };
};

describe('openAIAdapter: system messages inside the conversation', () => {
  it('sends each where it was, after the one leading system message', () => {
    const { body, warnings } = build({
      model: 'alias',
      system: [{ type: 'text', text: 'You are a coding agent.' }],
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Before any turn.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Read notes.txt.' }] },
        {
          role: 'system',
          content: [
            { type: 'text', text: 'Available agent types: Explore.' },
            { type: 'text', text: 'Use them sparingly.', cacheControl: { type: 'ephemeral' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_call', id: 'toolu_1', name: 'Read', arguments: '{"file_path":"notes.txt"}' }] },
        { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'toolu_1', content: [{ type: 'text', text: 'The passphrase is X.' }] }] },
        { role: 'system', content: [{ type: 'text', text: '' }] },
        { role: 'system', content: [{ type: 'text', text: 'Answer in one line.' }] },
      ],
      stream: false,
    });
    expect(body.messages).toEqual([
      { role: 'system', content: 'You are a coding agent.\n\nBefore any turn.' },
      { role: 'user', content: 'Read notes.txt.' },
      { role: 'system', content: 'Available agent types: Explore.\n\nUse them sparingly.' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'Read', arguments: '{"file_path":"notes.txt"}' } }] },
      { role: 'tool', tool_call_id: 'toolu_1', content: 'The passphrase is X.' },
      { role: 'system', content: 'Answer in one line.' },
    ]);
    expect(warnings).toEqual([]);
  });

  it("carries Claude Code's first call end to end: Anthropic body -> canonical -> chat messages", () => {
    const req = anthropicCodec.decodeRequest({
      model: 'gpt-5.5',
      max_tokens: 32000,
      system: [{ type: 'text', text: 'You are Claude Code.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'What is the passphrase in notes.txt?' }] },
        { role: 'system', content: 'Available agent types for the Agent tool: Explore.' },
      ],
    });
    expect(build(req).body.messages).toEqual([
      { role: 'system', content: 'You are Claude Code.' },
      { role: 'user', content: 'What is the passphrase in notes.txt?' },
      { role: 'system', content: 'Available agent types for the Agent tool: Explore.' },
    ]);
  });

  it('a conversation of system messages only is one system message', () => {
    const { body } = build({ model: 'alias', system: [{ type: 'text', text: 'A.' }], messages: [{ role: 'system', content: [{ type: 'text', text: 'B.' }] }], stream: false });
    expect(body.messages).toEqual([{ role: 'system', content: 'A.\n\nB.' }]);
  });
});
