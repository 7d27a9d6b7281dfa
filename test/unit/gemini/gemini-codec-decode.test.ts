import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { geminiCodec } from '../../../src/protocols/gemini/gemini-codec.ts';

function fixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(`../../fixtures/gemini/${name}`, import.meta.url), 'utf8'));
}

function decodeError(body: unknown): GatewayError {
  try {
    geminiCodec.decodeRequest(body, { model: 'gemini-2.5-flash', stream: false });
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

describe('gemini codec: decodeRequest', () => {
  it("decodes Google's function-calling example, pairing responses with calls by name and order", () => {
    const req = geminiCodec.decodeRequest(fixture('request-function-calling.json'), { model: 'gemini-2.5-flash', stream: true });
    const expected: ChatRequest = {
      model: 'gemini-2.5-flash',
      system: [{ type: 'text', text: 'You are a weather assistant.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'What is the weather like in Boston and San Francisco?' }] },
        {
          role: 'assistant',
          content: [
            { type: 'tool_call', id: 'call_1_0', name: 'get_current_weather', arguments: '{"location":"Boston, MA"}' },
            { type: 'tool_call', id: 'call_1_1', name: 'get_current_weather', arguments: '{"location":"San Francisco, CA"}' },
          ],
        },
        {
          role: 'tool',
          content: [
            { type: 'tool_result', toolCallId: 'call_1_0', name: 'get_current_weather', content: [{ type: 'text', text: '{"temperature":22,"unit":"celsius"}' }] },
            { type: 'tool_result', toolCallId: 'call_1_1', name: 'get_current_weather', content: [{ type: 'text', text: '18 degrees and foggy' }] },
          ],
        },
      ],
      stream: true,
      streamUsage: true,
      tools: [
        {
          name: 'get_current_weather',
          description: 'Get the current weather in a given location',
          parameters: {
            type: 'object',
            properties: {
              location: { type: 'string', description: 'The city and state, e.g. San Francisco, CA' },
              unit: { type: ['string', 'null'], enum: ['celsius', 'fahrenheit', null] },
            },
            required: ['location'],
          },
        },
      ],
      toolChoice: { type: 'auto' },
      temperature: 0.2,
      maxTokens: 1024,
      reasoning: { enabled: true, budgetTokens: 1024, includeThoughts: true },
    };
    expect(req).toEqual(expected);
  });

  it('gives the same ids on the next turn, and pairs by name when the order differs', () => {
    const body = {
      contents: [
        { role: 'user', parts: [{ text: 'Time and weather?' }] },
        { role: 'model', parts: [{ functionCall: { name: 'get_time', args: {} } }, { functionCall: { name: 'get_weather', args: { city: 'Oslo' } } }] },
        {
          role: 'user',
          parts: [
            { functionResponse: { name: 'get_weather', response: { error: 'station offline' } } },
            { functionResponse: { name: 'get_time', response: { output: { hour: 12 } } } },
          ],
        },
        { role: 'model', parts: [{ text: 'It is noon; no weather.' }] },
        { role: 'user', parts: [{ text: 'Try again' }] },
        { role: 'model', parts: [{ functionCall: { id: 'g3-id', name: 'get_weather', args: { city: 'Oslo' } }, thoughtSignature: 'sig' }] },
        { role: 'user', parts: [{ functionResponse: { name: 'get_weather', response: { temp: -3 } } }, { text: 'Thanks!' }] },
      ],
    };
    const req = geminiCodec.decodeRequest(body, { model: 'gemini-2.5-flash', stream: false });
    expect(req.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Time and weather?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_call', id: 'call_1_0', name: 'get_time', arguments: '{}' },
          { type: 'tool_call', id: 'call_1_1', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        ],
      },
      {
        role: 'tool',
        content: [
          { type: 'tool_result', toolCallId: 'call_1_1', name: 'get_weather', content: [{ type: 'text', text: 'station offline' }], isError: true },
          { type: 'tool_result', toolCallId: 'call_1_0', name: 'get_time', content: [{ type: 'text', text: '{"hour":12}' }] },
        ],
      },
      { role: 'assistant', content: [{ type: 'text', text: 'It is noon; no weather.' }] },
      { role: 'user', content: [{ type: 'text', text: 'Try again' }] },
      {
        role: 'assistant',
        content: [
          { type: 'reasoning', text: '', signature: 'sig' },
          { type: 'tool_call', id: 'g3-id', name: 'get_weather', arguments: '{"city":"Oslo"}' },
        ],
      },
      { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'g3-id', name: 'get_weather', content: [{ type: 'text', text: '{"temp":-3}' }] }] },
      { role: 'user', content: [{ type: 'text', text: 'Thanks!' }] },
    ]);
    // An id the history does not know falls back to pairing by name.
    const foreign = geminiCodec.decodeRequest({
      contents: [
        { role: 'model', parts: [{ functionCall: { name: 'f', args: {} } }] },
        { role: 'user', parts: [{ functionResponse: { id: 'client-made', name: 'f', response: { output: 'ok' } } }] },
      ],
    });
    expect(foreign.messages[1]).toEqual({ role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_0_0', name: 'f', content: [{ type: 'text', text: 'ok' }] }] });
    // The client resends the same history next turn: the ids do not move.
    const again = geminiCodec.decodeRequest({ contents: [...body.contents, { role: 'model', parts: [{ text: 'Done.' }] }, { role: 'user', parts: [{ text: 'Bye' }] }] });
    expect(again.messages.slice(0, 8)).toEqual(req.messages);
  });

  it('decodes thoughts, images, a string systemInstruction and the generation config', () => {
    const req = geminiCodec.decodeRequest(
      {
        systemInstruction: 'Be terse.',
        contents: [
          { parts: [{ text: 'What is this?' }, { inlineData: { mimeType: 'image/png', data: 'iVBORw0KGgo=' } }, { fileData: { mimeType: 'image/jpeg', fileUri: 'https://example.com/a.jpg' } }] },
          { role: 'model', parts: [{ text: 'Let me look.', thought: true, thoughtSignature: 's1' }, { text: 'A cat.' }] },
          { role: 'user', parts: [{ text: 'JSON please' }] },
        ],
        generationConfig: {
          stopSequences: ['\n\n'],
          candidateCount: 1,
          topP: 0.8,
          topK: 20,
          seed: 3,
          presencePenalty: 0.1,
          frequencyPenalty: 0.2,
          responseMimeType: 'application/json',
          responseSchema: { type: 'OBJECT', properties: { animal: { type: 'STRING' } }, propertyOrdering: ['animal'] },
          thinkingConfig: { thinkingLevel: 'low' },
        },
        toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['describe'] } },
        safetySettings: [{ category: 'HARM_CATEGORY_HARASSMENT', threshold: 'BLOCK_NONE' }],
      },
      { model: 'models/gemini-2.5-flash' },
    );
    expect(req).toEqual({
      model: 'gemini-2.5-flash',
      system: [{ type: 'text', text: 'Be terse.' }],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { kind: 'url', url: 'https://example.com/a.jpg' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'reasoning', text: 'Let me look.', signature: 's1' },
            { type: 'text', text: 'A cat.' },
          ],
        },
        { role: 'user', content: [{ type: 'text', text: 'JSON please' }] },
      ],
      stream: false,
      toolChoice: { type: 'tool', name: 'describe' },
      stop: ['\n\n'],
      n: 1,
      topP: 0.8,
      topK: 20,
      seed: 3,
      presencePenalty: 0.1,
      frequencyPenalty: 0.2,
      responseFormat: { type: 'json_schema', schema: { type: 'object', properties: { animal: { type: 'string' } } } },
      reasoning: { effort: 'low' },
      // safetySettings cannot cross to another format: flagged, not silently dropped.
      warnings: [{ param: 'safetySettings', message: 'Gemini safety settings do not apply to this upstream; ignored' }],
    });
  });

  it('maps function calling modes and thinking budgets', () => {
    const tools = [{ functionDeclarations: [{ name: 'a' }, { name: 'b', parametersJsonSchema: { type: 'object', properties: { x: { type: 'integer' } }, additionalProperties: false } }, { name: 'c' }] }];
    const decode = (extra: Record<string, unknown>) => geminiCodec.decodeRequest({ contents: [{ parts: [{ text: 'hi' }] }], tools, ...extra });
    expect(decode({}).tools).toEqual([
      { name: 'a', parameters: { type: 'object', properties: {} } },
      { name: 'b', parameters: { type: 'object', properties: { x: { type: 'integer' } }, additionalProperties: false } },
      { name: 'c', parameters: { type: 'object', properties: {} } },
    ]);
    expect(decode({ toolConfig: { functionCallingConfig: { mode: 'NONE' } } }).toolChoice).toEqual({ type: 'none' });
    const any = decode({ toolConfig: { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: ['a', 'c'] } } });
    expect(any.toolChoice).toEqual({ type: 'required' });
    expect(any.tools?.map((t) => t.name)).toEqual(['a', 'c']);
    expect(decode({ generationConfig: { thinkingConfig: { thinkingBudget: 0 } } }).reasoning).toEqual({ enabled: false });
    expect(decode({ generationConfig: { thinkingConfig: { thinkingBudget: -1, includeThoughts: true } } }).reasoning).toEqual({ enabled: true, includeThoughts: true });
    expect(decode({ generationConfig: { responseMimeType: 'application/json' } }).responseFormat).toEqual({ type: 'json_object' });
  });

  it('rejects bad input with Google-style messages and the offending param', () => {
    const cases: Array<[unknown, string, string]> = [
      [{}, 'contents', '* GenerateContentRequest.contents: contents is not specified'],
      [{ contents: [] }, 'contents', '* GenerateContentRequest.contents: contents is not specified'],
      [{ contents: [{ role: 'user', parts: [] }] }, 'contents[0].parts', '* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.'],
      [{ contents: [{ role: 'assistant', parts: [{ text: 'x' }] }] }, 'contents[0].role', 'Please use a valid role: user, model.'],
      [{ contents: [{ parts: [{ text: 5 }] }] }, 'contents[0].parts[0].text', "Invalid value at 'contents[0].parts[0].text': Invalid input: expected string, received number"],
      [{ contents: [{ parts: [{}] }] }, 'contents[0].parts[0]', "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' must have one initialized field"],
      [{ contents: [{ parts: [{ inlineData: { mimeType: 'audio/mp3', data: 'AAAA' } }] }] }, 'contents[0].parts[0].inlineData.mimeType', "Only images can be sent to this model as inlineData; 'audio/mp3' is not supported."],
      [{ contents: [{ parts: [{ text: 'x' }] }], tools: [{ googleSearch: {} }] }, 'tools[0].googleSearch', 'The googleSearch tool is not supported for this model; only functionDeclarations are.'],
      [{ contents: [{ parts: [{ text: 'x' }] }], cachedContent: 'cachedContents/abc' }, 'cachedContent', 'cachedContent is not supported for this model: its upstream cannot read Gemini context caches.'],
      [
        { contents: [{ parts: [{ text: 'x' }] }], generationConfig: { responseModalities: ['TEXT', 'IMAGE'] } },
        'generationConfig.responseModalities',
        'Response modality IMAGE is not supported for this model.',
      ],
    ];
    for (const [body, param, message] of cases) {
      const err = decodeError(body);
      expect({ param: err.param, message: err.message, status: err.status }).toEqual({ param, message, status: 400 });
    }
    expect(decodeError([]).message).toBe('Invalid JSON payload received. The request body must be a JSON object.');
  });
});
