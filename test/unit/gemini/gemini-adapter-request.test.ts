import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/canonical.ts';
import type { AdapterTarget } from '../../../src/core/codec.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { convertJsonSchemaToGemini } from '../../../src/providers/gemini/convert-json-schema-to-gemini.ts';
import { geminiAdapter } from '../../../src/providers/gemini/gemini-adapter.ts';
import { geminiEndpoint } from '../../../src/providers/gemini/gemini-endpoint.ts';

const target: AdapterTarget = { baseUrl: 'https://generativelanguage.googleapis.com', apiKey: 'AIza-test', upstreamModel: 'gemini-2.5-flash', headers: {} };

function req(over: Partial<ChatRequest>): ChatRequest {
  return { model: 'my-alias', system: [], messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }], stream: false, ...over };
}

function build(r: ChatRequest, t: AdapterTarget = target) {
  const out = geminiAdapter.buildRequest(r, t);
  return { ...out, json: JSON.parse(out.body) as unknown };
}

describe('gemini adapter: endpoint', () => {
  it('POSTs generateContent, or streamGenerateContent?alt=sse, under v1beta whatever the base_url ends with', () => {
    for (const baseUrl of ['https://generativelanguage.googleapis.com', 'https://generativelanguage.googleapis.com/', 'https://generativelanguage.googleapis.com/v1beta', 'https://generativelanguage.googleapis.com/v1']) {
      expect(geminiEndpoint({ ...target, baseUrl }, false).url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent');
      expect(geminiEndpoint({ ...target, baseUrl }, true).url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse');
    }
    expect(geminiEndpoint({ ...target, upstreamModel: 'models/gemini-2.0-flash' }, false).url).toBe('https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash:generateContent');
    expect(geminiEndpoint({ ...target, upstreamModel: 'tunedModels/my-tune' }, false).url).toBe('https://generativelanguage.googleapis.com/v1beta/tunedModels/my-tune:generateContent');
  });

  it('sends the key in x-goog-api-key, plus the configured headers', () => {
    const { headers } = build(req({}), { ...target, headers: { 'x-extra': '1' } });
    expect(headers).toEqual({ 'content-type': 'application/json', 'x-goog-api-key': 'AIza-test', 'x-extra': '1' });
    expect(build(req({}), { ...target, apiKey: undefined }).headers).toEqual({ 'content-type': 'application/json' });
  });
});

describe('gemini adapter: request body', () => {
  it('maps system, roles and sampling parameters', () => {
    const { json, warnings } = build(
      req({
        system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Answer in French.' }],
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
          { role: 'assistant', content: [{ type: 'text', text: 'Salut' }] },
          { role: 'user', content: [{ type: 'text', text: 'Ça va ?' }] },
        ],
        maxTokens: 100,
        temperature: 0.3,
        topP: 0.9,
        topK: 40,
        stop: ['END'],
        presencePenalty: 0.5,
        frequencyPenalty: 0.25,
        seed: 7,
        n: 1,
      }),
    );
    expect(json).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'Hi' }] },
        { role: 'model', parts: [{ text: 'Salut' }] },
        { role: 'user', parts: [{ text: 'Ça va ?' }] },
      ],
      systemInstruction: { parts: [{ text: 'Be brief.' }, { text: 'Answer in French.' }] },
      generationConfig: { maxOutputTokens: 100, temperature: 0.3, topP: 0.9, topK: 40, stopSequences: ['END'], presencePenalty: 0.5, frequencyPenalty: 0.25, seed: 7 },
    });
    expect(warnings).toEqual([]);
  });

  it('turns tool calls into functionCall parts and tool results into user functionResponse parts, finding names by call id', () => {
    const { json } = build(
      req({
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
          {
            role: 'assistant',
            content: [
              { type: 'tool_call', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
              { type: 'tool_call', id: 'call_b', name: 'get_time', arguments: '' },
            ],
          },
          { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_a', content: [{ type: 'text', text: 'Sunny, 21C' }] }] },
          { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_b', content: [{ type: 'text', text: '{"time":"12:00"}' }] }] },
          { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'x', name: 'explicit_name', isError: true, content: [{ type: 'text', text: 'boom' }] }] },
          { role: 'user', content: [{ type: 'text', text: 'Thanks' }] },
        ],
      }),
    );
    expect(json).toEqual({
      contents: [
        { role: 'user', parts: [{ text: 'Weather in Paris and Rome?' }] },
        {
          role: 'model',
          parts: [{ functionCall: { name: 'get_weather', args: { city: 'Paris' } } }, { functionCall: { name: 'get_time', args: {} } }],
        },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { output: 'Sunny, 21C' } } },
            { functionResponse: { name: 'get_time', response: { time: '12:00' } } },
            { functionResponse: { name: 'explicit_name', response: { error: 'boom' } } },
            { text: 'Thanks' },
          ],
        },
      ],
    });
  });

  it('rejects a tool result whose call is nowhere in the history (Gemini needs the name)', () => {
    const r = req({ messages: [{ role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_zzz', content: [{ type: 'text', text: 'x' }] }] }] });
    expect(() => geminiAdapter.buildRequest(r, target)).toThrow(GatewayError);
    try {
      geminiAdapter.buildRequest(r, target);
    } catch (err) {
      expect((err as GatewayError).param).toBe('messages[0].content[0]');
    }
  });

  it('sends base64 images as inlineData and URLs as fileData with a guessed mimeType', () => {
    const { json, warnings } = build(
      req({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Compare' },
              { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
              { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.JPG?size=large' } },
              { type: 'image', source: { kind: 'url', url: 'data:image/webp;base64,UklGRg==' } },
              { type: 'image', source: { kind: 'url', url: 'https://example.com/render' }, detail: 'high' },
            ],
          },
        ],
      }),
    );
    expect(json).toEqual({
      contents: [
        {
          role: 'user',
          parts: [
            { text: 'Compare' },
            { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } },
            { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/cat.JPG?size=large' } },
            { inlineData: { mimeType: 'image/webp', data: 'UklGRg==' } },
            { fileData: { fileUri: 'https://example.com/render' } },
          ],
        },
      ],
    });
    expect(warnings).toEqual([
      { param: 'image.detail', message: 'Gemini has no per-image detail setting; it was ignored.' },
      { param: 'image.url', message: 'Could not tell the media type of an image URL from its extension; Gemini may reject it without one.' },
    ]);
  });

  it('maps tools and every tool choice', () => {
    const tools: ChatRequest['tools'] = [
      {
        name: 'get_weather',
        description: 'Weather for a city',
        parameters: { $schema: 'http://json-schema.org/draft-07/schema#', type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
      },
      { name: 'now', parameters: { type: 'object', properties: {} } },
    ];
    const decls = [
      { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } },
      { name: 'now' },
    ];
    expect(build(req({ tools })).json).toEqual({ contents: [{ role: 'user', parts: [{ text: 'Hi' }] }], tools: [{ functionDeclarations: decls }] });
    const configOf = (toolChoice: ChatRequest['toolChoice']) => (build(req({ tools, toolChoice })).json as { toolConfig?: unknown }).toolConfig;
    expect(configOf({ type: 'auto' })).toEqual({ functionCallingConfig: { mode: 'AUTO' } });
    expect(configOf({ type: 'none' })).toEqual({ functionCallingConfig: { mode: 'NONE' } });
    expect(configOf({ type: 'required' })).toEqual({ functionCallingConfig: { mode: 'ANY' } });
    expect(configOf({ type: 'tool', name: 'now' })).toEqual({ functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['now'] } });
  });

  it('asks for JSON with a converted responseSchema for json_schema, and plain JSON for json_object', () => {
    const schema = {
      type: 'object',
      properties: { name: { type: 'string' }, age: { type: ['integer', 'null'] }, tags: { type: 'array', items: { type: 'string' } } },
      required: ['name', 'age', 'tags'],
      additionalProperties: false,
    };
    const { json, warnings } = build(req({ responseFormat: { type: 'json_schema', name: 'person', schema, strict: true } }));
    expect((json as { generationConfig: unknown }).generationConfig).toEqual({
      responseMimeType: 'application/json',
      responseSchema: {
        type: 'object',
        properties: { name: { type: 'string' }, age: { type: 'integer', nullable: true }, tags: { type: 'array', items: { type: 'string' } } },
        propertyOrdering: ['name', 'age', 'tags'],
        required: ['name', 'age', 'tags'],
      },
    });
    expect(warnings).toEqual([]);
    expect((build(req({ responseFormat: { type: 'json_object' } })).json as { generationConfig: unknown }).generationConfig).toEqual({ responseMimeType: 'application/json' });
  });

  it('maps reasoning to thinkingConfig: budget, off, effort as budget (2.5) or level (3)', () => {
    const tc = (r: ChatRequest['reasoning'], model = 'gemini-2.5-flash') =>
      (build(req({ reasoning: r }), { ...target, upstreamModel: model }).json as { generationConfig?: { thinkingConfig?: unknown } }).generationConfig?.thinkingConfig;
    expect(tc({ budgetTokens: 2048, includeThoughts: true })).toEqual({ thinkingBudget: 2048, includeThoughts: true });
    expect(tc({ enabled: false })).toEqual({ thinkingBudget: 0 });
    expect(tc({ effort: 'low' })).toEqual({ thinkingBudget: 1024 });
    expect(tc({ effort: 'high' }, 'gemini-3-pro-preview')).toEqual({ thinkingLevel: 'HIGH' });
    expect(tc({})).toBeUndefined();
  });

  it('warns about what Gemini cannot honour instead of dropping it silently', () => {
    const { json, warnings } = build(
      req({
        n: 3,
        user: 'user-42',
        parallelToolCalls: false,
        tools: [{ name: 'f', strict: true, parameters: { type: 'object', properties: { x: { type: 'number', multipleOf: 2, format: 'percent' } }, patternProperties: { '^a': {} } } }],
        messages: [{ role: 'user', name: 'bob', content: [{ type: 'text', text: 'Hi', cacheControl: { type: 'ephemeral' } }] }],
      }),
    );
    expect(json).toEqual({
      contents: [{ role: 'user', parts: [{ text: 'Hi' }] }],
      tools: [{ functionDeclarations: [{ name: 'f', parameters: { type: 'object', properties: { x: { type: 'number' } } } }] }],
    });
    expect(warnings).toEqual([
      { param: 'messages[].name', message: 'Gemini has no participant names on messages; the name was not sent.' },
      { param: 'cache_control', message: 'Gemini has no prompt-cache markers; its implicit caching applies instead.' },
      { param: 'tools[0].parameters', message: 'Gemini does not support the JSON Schema keywords format, multipleOf, patternProperties; they were removed.' },
      { param: 'tools[].strict', message: 'Gemini has no strict mode for function arguments; arguments are not validated against the schema.' },
      { param: 'parallel_tool_calls', message: 'Gemini cannot be told to avoid parallel function calls.' },
      { param: 'n', message: 'Only one candidate can be returned through the gateway; n=3 was not sent.' },
      { param: 'user', message: 'Gemini has no end-user identifier field; it was not sent.' },
    ]);
  });
});

describe('gemini adapter: thought signatures in the history', () => {
  const history: ChatRequest['messages'] = [
    { role: 'user', content: [{ type: 'text', text: 'Weather?' }] },
    {
      role: 'assistant',
      content: [
        { type: 'reasoning', text: 'I should call the tool.', signature: 'sig-thought' },
        { type: 'reasoning', text: '', signature: 'sig-call' },
        { type: 'tool_call', id: 'call_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        { type: 'tool_call', id: 'call_2', name: 'get_weather', arguments: '{"city":"Bergen"}' },
      ],
    },
    { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_1', content: [{ type: 'text', text: 'cold' }] }, { type: 'tool_result', toolCallId: 'call_2', content: [{ type: 'text', text: 'wet' }] }] },
    { role: 'assistant', content: [{ type: 'text', text: 'Cold and wet.' }, { type: 'reasoning', text: '', signature: 'sig-end' }] },
    { role: 'user', content: [{ type: 'text', text: 'And tomorrow?' }] },
    { role: 'assistant', content: [{ type: 'tool_call', id: 'call_3', name: 'get_forecast', arguments: '{}' }] },
    { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_3', content: [{ type: 'text', text: 'snow' }] }] },
  ];

  it('puts a lone signature back on the part that follows it, or on a closing empty text part', () => {
    const { json } = build(req({ messages: history }));
    expect((json as { contents: unknown[] }).contents).toEqual([
      { role: 'user', parts: [{ text: 'Weather?' }] },
      {
        role: 'model',
        parts: [
          { text: 'I should call the tool.', thought: true, thoughtSignature: 'sig-thought' },
          { functionCall: { name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'sig-call' },
          { functionCall: { name: 'get_weather', args: { city: 'Bergen' } } },
        ],
      },
      {
        role: 'user',
        parts: [{ functionResponse: { name: 'get_weather', response: { output: 'cold' } } }, { functionResponse: { name: 'get_weather', response: { output: 'wet' } } }],
      },
      { role: 'model', parts: [{ text: 'Cold and wet.' }, { text: '', thoughtSignature: 'sig-end' }] },
      { role: 'user', parts: [{ text: 'And tomorrow?' }] },
      { role: 'model', parts: [{ functionCall: { name: 'get_forecast', args: {} } }] },
      { role: 'user', parts: [{ functionResponse: { name: 'get_forecast', response: { output: 'snow' } } }] },
    ]);
  });

  it('gives Gemini 3 the documented placeholder for unsigned function calls', () => {
    const { json } = build(req({ messages: history }), { ...target, upstreamModel: 'gemini-3-pro-preview' });
    const contents = (json as { contents: Array<{ parts: unknown[] }> }).contents;
    expect(contents[1].parts[1]).toEqual({ functionCall: { name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'sig-call' });
    expect(contents[1].parts[2]).toEqual({ functionCall: { name: 'get_weather', args: { city: 'Bergen' } } });
    expect(contents[5].parts[0]).toEqual({ functionCall: { name: 'get_forecast', args: {} }, thoughtSignature: 'skip_thought_signature_validator' });
  });
});

describe('JSON Schema -> Gemini Schema', () => {
  it('inlines $refs, folds nullable unions and const, keeps supported keywords', () => {
    const { schema, dropped } = convertJsonSchemaToGemini({
      type: 'object',
      $defs: { Address: { type: 'object', properties: { city: { type: 'string', minLength: 1 } }, required: ['city'] } },
      properties: {
        home: { $ref: '#/$defs/Address', description: 'Where they live' },
        kind: { const: 'person' },
        nick: { anyOf: [{ type: 'string' }, { type: 'null' }] },
        score: { oneOf: [{ type: 'integer' }, { type: 'string', format: 'date-time' }] },
        level: { type: 'string', enum: ['a', 'b'], default: 'a' },
      },
    });
    expect(schema).toEqual({
      type: 'object',
      properties: {
        home: { type: 'object', properties: { city: { type: 'string', minLength: 1 } }, required: ['city'], description: 'Where they live' },
        kind: { enum: ['person'], type: 'string' },
        nick: { type: 'string', nullable: true },
        score: { anyOf: [{ type: 'integer' }, { type: 'string', format: 'date-time' }] },
        level: { type: 'string', enum: ['a', 'b'], default: 'a' },
      },
    });
    expect(dropped).toEqual([]);
  });

  it('says nothing for an object without properties', () => {
    expect(convertJsonSchemaToGemini({ type: 'object', properties: {}, additionalProperties: false })).toEqual({ schema: undefined, dropped: [] });
  });
});
