/**
 * A system message inside the conversation (an Anthropic client's mid-conversation system
 * message) on a Gemini upstream. Gemini has no system turns; this gateway sends it as user text
 * at its place, with a warning, rather than moving it into systemInstruction: there it would
 * apply from the start, and every later request would change at its very front (the prefix
 * Gemini's implicit caching keys on). System messages before the first turn still join
 * systemInstruction.
 */
import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/canonical.ts';
import type { AdapterTarget } from '../../../src/core/codec.ts';
import { anthropicCodec } from '../../../src/protocols/anthropic/anthropic-codec.ts';
import { geminiAdapter } from '../../../src/providers/gemini/gemini-adapter.ts';

const target: AdapterTarget = { baseUrl: 'https://generativelanguage.googleapis.com', apiKey: 'AIza-test', upstreamModel: 'gemini-2.5-flash', headers: {} };

const build = (req: ChatRequest) => {
  const out = geminiAdapter.buildRequest(req, target);
  return { body: JSON.parse(out.body) as { contents: unknown[]; systemInstruction?: unknown }, warnings: out.warnings };
};

describe('geminiAdapter: system messages inside the conversation', () => {
  it('sends one as user text where it was; leading ones join systemInstruction', () => {
    const { body, warnings } = build({
      model: 'alias',
      system: [{ type: 'text', text: 'You are a coding agent.' }],
      messages: [
        { role: 'system', content: [{ type: 'text', text: 'Before any turn.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Hello.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Read notes.txt.' }] },
        { role: 'system', content: [{ type: 'text', text: 'From now on, answer in French.' }] },
        { role: 'assistant', content: [{ type: 'text', text: "D'accord." }] },
      ],
      stream: false,
    });
    expect(body.systemInstruction).toEqual({ parts: [{ text: 'You are a coding agent.' }, { text: 'Before any turn.' }] });
    expect(body.contents).toEqual([
      { role: 'user', parts: [{ text: 'Hi' }] },
      { role: 'model', parts: [{ text: 'Hello.' }] },
      { role: 'user', parts: [{ text: 'Read notes.txt.' }, { text: 'From now on, answer in French.' }] },
      { role: 'model', parts: [{ text: "D'accord." }] },
    ]);
    expect(warnings).toEqual([{ param: 'messages[].system', message: 'Gemini has no system turns; the system message at messages[4] was sent as user text at its place.' }]);
  });

  it("carries Claude Code's first call end to end: the agent-types message stays after the prompt", () => {
    const req = anthropicCodec.decodeRequest({
      model: 'gemini-2.5-flash',
      max_tokens: 32000,
      system: [{ type: 'text', text: 'You are Claude Code.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'What is the passphrase in notes.txt?', cache_control: { type: 'ephemeral' } }] },
        { role: 'system', content: 'Available agent types for the Agent tool: Explore.' },
      ],
    });
    const { body, warnings } = build(req);
    expect(body.systemInstruction).toEqual({ parts: [{ text: 'You are Claude Code.' }] });
    expect(body.contents).toEqual([{ role: 'user', parts: [{ text: 'What is the passphrase in notes.txt?' }, { text: 'Available agent types for the Agent tool: Explore.' }] }]);
    expect(warnings.map((w) => w.param)).toEqual(['cache_control', 'messages[].system']);
  });
});
