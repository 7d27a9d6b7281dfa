/**
 * Anthropic's mid-conversation system messages (`{"role": "system"}` inside `messages`), which
 * Claude Code 2.1.197 sends on every call with the `mid-conversation-system-2026-04-07` beta:
 * decoded into canonical system messages at their place, and written back for Anthropic
 * upstreams in place only where the call carries the beta and the placement is one Anthropic takes.
 */
import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/canonical.ts';
import type { AdapterTarget } from '../../../src/core/codec.ts';
import { anthropicCodec } from '../../../src/protocols/anthropic/anthropic-codec.ts';
import { anthropicAdapter } from '../../../src/providers/anthropic/anthropic-adapter.ts';

const BETA = 'mid-conversation-system-2026-04-07';
const AGENT_TYPES = 'Available agent types for the Agent tool:\n- Explore: Read-only search agent';

/** The shape of Claude Code 2.1.197's first call (texts shortened). */
const claudeCodeFirstCall = {
  model: 'gpt-5.5',
  max_tokens: 32000,
  stream: true,
  system: [
    { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.f61; cc_entrypoint=sdk-cli;' },
    { type: 'text', text: "You are a Claude agent, built on Anthropic's Claude Agent SDK.", cache_control: { type: 'ephemeral' } },
  ],
  messages: [
    {
      role: 'user',
      content: [
        { type: 'text', text: '<system-reminder>\nAs you answer the user\'s questions, you can use the following context:\n</system-reminder>' },
        { type: 'text', text: 'What is the passphrase in notes.txt?', cache_control: { type: 'ephemeral' } },
      ],
    },
    { role: 'system', content: AGENT_TYPES },
  ],
  thinking: { type: 'adaptive' },
  output_config: { effort: 'high' },
};

describe('decoding mid-conversation system messages', () => {
  it("keeps Claude Code's system message as a canonical system message at its place", () => {
    const req = anthropicCodec.decodeRequest(claudeCodeFirstCall);
    expect(req).toEqual({
      model: 'gpt-5.5',
      system: [
        { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.197.f61; cc_entrypoint=sdk-cli;' },
        { type: 'text', text: "You are a Claude agent, built on Anthropic's Claude Agent SDK.", cacheControl: { type: 'ephemeral' } },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: '<system-reminder>\nAs you answer the user\'s questions, you can use the following context:\n</system-reminder>' },
            { type: 'text', text: 'What is the passphrase in notes.txt?', cacheControl: { type: 'ephemeral' } },
          ],
        },
        { role: 'system', content: [{ type: 'text', text: AGENT_TYPES }] },
      ],
      stream: true,
      streamUsage: true,
      maxTokens: 32000,
      reasoning: { enabled: true, effort: 'high' },
    });
  });

  it('takes text blocks (with cache_control) and leaves tool changes and other blocks out with a warning', () => {
    const req = anthropicCodec.decodeRequest({
      model: 'm',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'Start.' },
        { role: 'assistant', content: 'Started.' },
        { role: 'user', content: 'Go on.' },
        {
          role: 'system',
          content: [
            { type: 'text', text: 'From now on, answer in French.' },
            { type: 'tool_addition', tool_name: 'Grep' },
            { type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } },
          ],
        },
        { role: 'system', content: '' },
      ],
    });
    expect(req.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Start.' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Started.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Go on.' }] },
      {
        role: 'system',
        content: [
          { type: 'text', text: 'From now on, answer in French.' },
          { type: 'text', text: 'Be brief.', cacheControl: { type: 'ephemeral' } },
        ],
      },
    ]);
    expect(req.warnings).toEqual([
      { param: 'messages[].content[].tool_addition', message: "content block type 'tool_addition' (first at messages.3.content.1) is not supported by this upstream; left out" },
    ]);
  });

  it("warns about a system message's own fields (clear_at) that cannot cross", () => {
    const req = anthropicCodec.decodeRequest({
      model: 'm',
      max_tokens: 10,
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'system', content: 'Temporary rule.', clear_at: { type: 'turns', value: 2 } },
      ],
    });
    expect(req.messages[1]).toEqual({ role: 'system', content: [{ type: 'text', text: 'Temporary rule.' }] });
    expect(req.warnings).toEqual([{ param: 'messages[].clear_at', message: "message field 'clear_at' (first at messages.1) is not supported by this upstream; ignored" }]);
  });
});

describe('Anthropic upstreams: a system message in the conversation (cross-format canonical)', () => {
  const target: AdapterTarget = { baseUrl: 'https://api.anthropic.com', apiKey: 'sk-ant-test', upstreamModel: 'claude-opus-4-8', headers: {} };
  const conversation: ChatRequest['messages'] = [
    { role: 'system', content: [{ type: 'text', text: 'Leading instruction.' }] },
    { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
    { role: 'system', content: [{ type: 'text', text: 'Answer in French.' }] },
    { role: 'system', content: [{ type: 'text', text: 'Be brief.', cacheControl: { type: 'ephemeral' } }] },
    { role: 'assistant', content: [{ type: 'text', text: 'Bonjour.' }] },
    { role: 'user', content: [{ type: 'text', text: 'More?' }] },
  ];
  const build = (req: Partial<ChatRequest>, t: Partial<AdapterTarget> = {}) => {
    const built = anthropicAdapter.buildRequest({ model: 'alias', system: [{ type: 'text', text: 'Top.' }], messages: conversation, stream: false, ...req }, { ...target, ...t });
    return { headers: built.headers, json: JSON.parse(built.body) as Record<string, unknown>, warnings: built.warnings };
  };

  it('with the beta (the client asked for it, or the operator configured it): kept in place, consecutive ones merged', () => {
    const expected = {
      system: [
        { type: 'text', text: 'Top.' },
        { type: 'text', text: 'Leading instruction.' },
      ],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        {
          role: 'system',
          content: [
            { type: 'text', text: 'Answer in French.' },
            { type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'Bonjour.' }] },
        { role: 'user', content: [{ type: 'text', text: 'More?' }] },
      ],
    };
    const fromClient = build({ passHeaders: { 'anthropic-beta': `claude-code-20250219,${BETA}` } });
    expect(fromClient.json).toMatchObject(expected);
    expect(fromClient.warnings).toEqual([]);
    expect(fromClient.headers['anthropic-beta']).toBe(`claude-code-20250219,${BETA}`);
    const fromOperator = build({}, { headers: { 'anthropic-beta': BETA } });
    expect(fromOperator.json).toMatchObject(expected);
    expect(fromOperator.warnings).toEqual([]);
  });

  it('without the beta: folded into the system prompt with a warning, since models before Opus 4.8 refuse a system turn', () => {
    const { json, warnings } = build({});
    expect(json.system).toEqual([
      { type: 'text', text: 'Top.' },
      { type: 'text', text: 'Leading instruction.' },
      { type: 'text', text: 'Answer in French.' },
      { type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } },
    ]);
    expect(json.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'Bonjour.' }] },
      { role: 'user', content: [{ type: 'text', text: 'More?' }] },
    ]);
    expect(warnings).toEqual([
      {
        param: 'messages[].system',
        message: 'A system message in the conversation was moved into the system prompt: keeping it in place needs the mid-conversation-system-2026-04-07 beta.',
      },
    ]);
  });

  it('with the beta but where Anthropic refuses one (after an assistant turn, before a user turn): folded, and the turns around it merged', () => {
    const { json, warnings } = build({
      passHeaders: { 'anthropic-beta': BETA },
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Hello.' }] },
        { role: 'system', content: [{ type: 'text', text: 'After the assistant.' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'More.' }] },
        { role: 'user', content: [{ type: 'text', text: 'Next.' }] },
        { role: 'system', content: [{ type: 'text', text: 'Last, after a user turn.' }] },
      ],
    });
    expect(json.system).toEqual([
      { type: 'text', text: 'Top.' },
      { type: 'text', text: 'After the assistant.' },
    ]);
    expect(json.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Hello.' },
          { type: 'text', text: 'More.' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'Next.' }] },
      { role: 'system', content: [{ type: 'text', text: 'Last, after a user turn.' }] },
    ]);
    expect(warnings.map((w) => w.param)).toEqual(['messages[].system']);
  });
});
