import { describe, expect, it } from 'vitest';
import type { ChatRequest } from '../../../src/core/canonical.ts';
import { GatewayError } from '../../../src/core/errors.ts';
import { decodeResponsesRequest } from '../../../src/protocols/responses/decode-responses-request.ts';
import { extractResponsesState } from '../../../src/protocols/responses/extract-responses-state.ts';
import { createResponsesIdGenerator } from '../../../src/protocols/responses/responses-ids.ts';
import { responsesInputToItems } from '../../../src/protocols/responses/responses-input-to-items.ts';

const decode = (body: Record<string, unknown>, ctx?: Parameters<typeof decodeResponsesRequest>[1]): ChatRequest =>
  decodeResponsesRequest({ model: 'gpt-4.1', ...body }, ctx);

function errorOf(fn: () => unknown): GatewayError {
  try {
    fn();
  } catch (err) {
    if (err instanceof GatewayError) return err;
    throw err;
  }
  throw new Error('expected a GatewayError');
}

const weatherTool = { type: 'function', name: 'get_weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] }, strict: true };

describe('decodeResponsesRequest: input', () => {
  it('decodes a string input and instructions into a user message and system', () => {
    expect(decode({ instructions: 'Be brief.', input: 'Hello' })).toEqual({
      model: 'gpt-4.1',
      system: [{ type: 'text', text: 'Be brief.' }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Hello' }] }],
      stream: false,
    });
  });

  it('decodes messages with and without type, every role, and every content part', () => {
    const req = decode({
      input: [
        { role: 'developer', content: 'Answer in French.' },
        { type: 'message', role: 'system', content: [{ type: 'input_text', text: 'No emojis.' }] },
        {
          type: 'message',
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is this?' },
            { type: 'input_image', image_url: 'https://example.com/cat.png', detail: 'high' },
            { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'auto' },
          ],
        },
        { role: 'assistant', content: 'Un chat.' },
        {
          type: 'message',
          id: 'msg_1',
          status: 'completed',
          role: 'assistant',
          content: [
            { type: 'output_text', text: 'Il dort.', annotations: [] },
            { type: 'refusal', refusal: 'Je ne peux pas.' },
          ],
        },
        { role: 'user', content: 'Merci' },
      ],
    });
    expect(req.system).toEqual([
      { type: 'text', text: 'Answer in French.' },
      { type: 'text', text: 'No emojis.' },
    ]);
    expect(req.messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is this?' },
          { type: 'image', source: { kind: 'url', url: 'https://example.com/cat.png' }, detail: 'high' },
          { type: 'image', source: { kind: 'base64', mediaType: 'image/png', data: 'iVBORw0KGgo=' }, detail: 'auto' },
        ],
      },
      // Consecutive assistant items are one turn.
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Un chat.' },
          { type: 'text', text: 'Il dort.' },
          { type: 'text', text: 'Je ne peux pas.' },
        ],
      },
      { role: 'user', content: [{ type: 'text', text: 'Merci' }] },
    ]);
    expect(req.warnings).toBeUndefined();
  });

  it('joins reasoning, text and consecutive function calls into one assistant turn, and outputs into one tool turn', () => {
    const req = decode({
      input: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        { type: 'reasoning', id: 'rs_1', summary: [{ type: 'summary_text', text: 'Two cities.' }, { type: 'summary_text', text: 'Two calls.' }], encrypted_content: 'sig-abc' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Checking.' }] },
        { type: 'function_call', id: 'fc_1', call_id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}', status: 'completed' },
        { type: 'function_call', call_id: 'call_b', name: 'get_weather', arguments: '{"city":"Rome"}' },
        { type: 'function_call_output', call_id: 'call_a', output: '18C' },
        {
          type: 'function_call_output',
          call_id: 'call_b',
          output: [
            { type: 'input_text', text: '21C' },
            { type: 'input_image', image_url: 'https://example.com/rome.png' },
          ],
        },
      ],
    });
    expect(req.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'reasoning', text: 'Two cities.\n\nTwo calls.', signature: 'sig-abc' },
          { type: 'text', text: 'Checking.' },
          { type: 'tool_call', id: 'call_a', name: 'get_weather', arguments: '{"city":"Paris"}' },
          { type: 'tool_call', id: 'call_b', name: 'get_weather', arguments: '{"city":"Rome"}' },
        ],
      },
      {
        role: 'tool',
        content: [
          { type: 'tool_result', toolCallId: 'call_a', name: 'get_weather', content: [{ type: 'text', text: '18C' }] },
          {
            type: 'tool_result',
            toolCallId: 'call_b',
            name: 'get_weather',
            content: [
              { type: 'text', text: '21C' },
              { type: 'image', source: { kind: 'url', url: 'https://example.com/rome.png' } },
            ],
          },
        ],
      },
    ]);
  });

  it('keeps a reasoning item with only encrypted content (a signature), and skips an empty one', () => {
    const req = decode({
      input: [
        { role: 'user', content: 'Hi' },
        { type: 'reasoning', id: 'rs_1', summary: [], encrypted_content: 'gAAAA' },
        { type: 'reasoning', id: 'rs_2', summary: [] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] },
      ],
    });
    expect(req.messages[1]).toEqual({
      role: 'assistant',
      content: [
        { type: 'reasoning', text: '', signature: 'gAAAA' },
        { type: 'text', text: 'Hello' },
      ],
    });
  });

  it('warns about item_reference and unknown item types instead of failing', () => {
    const req = decode({
      input: [
        { type: 'item_reference', id: 'msg_old' },
        { id: 'msg_older' },
        { type: 'web_search_call', id: 'ws_1', status: 'completed' },
        { role: 'user', content: 'Go on' },
      ],
    });
    expect(req.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Go on' }] }]);
    expect(req.warnings).toEqual([
      { param: 'input[0]', message: "item_reference 'msg_old' is not resolved by this gateway; the item was ignored" },
      { param: 'input[1]', message: "item_reference 'msg_older' is not resolved by this gateway; the item was ignored" },
      { param: 'input[2]', message: "input items of type 'web_search_call' are not supported by this gateway; the item was ignored" },
    ]);
  });

  it('prepends prior items (previous_response_id) before the new input; earlier instructions do not carry over', () => {
    const prior = [
      { id: 'msg_in_0', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'My name is Ana.' }], status: 'completed' },
      { id: 'msg_out_0', type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'Hi Ana!', annotations: [], logprobs: [] }] },
      { id: 'fc_out_1', type: 'function_call', status: 'completed', call_id: 'call_1', name: 'remember', arguments: '{}' },
    ];
    const req = decode(
      {
        previous_response_id: 'resp_prev',
        instructions: 'Only this turn.',
        input: [{ type: 'function_call_output', call_id: 'call_1', output: 'ok' }, { role: 'user', content: 'What is my name?' }],
      },
      { priorItems: prior },
    );
    expect(req.system).toEqual([{ type: 'text', text: 'Only this turn.' }]);
    expect(req.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'My name is Ana.' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Hi Ana!' },
          { type: 'tool_call', id: 'call_1', name: 'remember', arguments: '{}' },
        ],
      },
      { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'call_1', name: 'remember', content: [{ type: 'text', text: 'ok' }] }] },
      { role: 'user', content: [{ type: 'text', text: 'What is my name?' }] },
    ]);
  });

  it('accepts a request without input when prior items carry the conversation', () => {
    const req = decode({ previous_response_id: 'resp_prev' }, { priorItems: [{ role: 'user', content: 'Hi' }] });
    expect(req.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
  });
});

describe('decodeResponsesRequest: tools and options', () => {
  it('converts function tools, tool_choice and parallel_tool_calls', () => {
    const req = decode({
      input: 'Weather?',
      tools: [weatherTool, { type: 'function', name: 'now' }],
      tool_choice: { type: 'function', name: 'get_weather' },
      parallel_tool_calls: false,
    });
    expect(req.tools).toEqual([
      { name: 'get_weather', description: 'Weather now', parameters: weatherTool.parameters, strict: true },
      { name: 'now', parameters: { type: 'object', properties: {} } },
    ]);
    expect(req.toolChoice).toEqual({ type: 'tool', name: 'get_weather' });
    expect(req.parallelToolCalls).toBe(false);
    for (const choice of ['auto', 'none', 'required'] as const) {
      expect(decode({ input: 'x', tools: [weatherTool], tool_choice: choice }).toolChoice).toEqual({ type: choice });
    }
  });

  it('drops hosted tools with a warning each, never an error', () => {
    const hosted = [
      { type: 'web_search' },
      { type: 'web_search_preview', search_context_size: 'low' },
      { type: 'file_search', vector_store_ids: ['vs_1'] },
      { type: 'code_interpreter', container: { type: 'auto' } },
      { type: 'computer_use_preview', display_width: 1024, display_height: 768, environment: 'browser' },
      { type: 'image_generation' },
      { type: 'mcp', server_label: 'deepwiki', server_url: 'https://mcp.deepwiki.com/mcp' },
      { type: 'local_shell' },
      { type: 'custom', name: 'grammar_tool' },
      { type: 'namespace', name: 'ns', tools: [] },
      { type: 'apply_patch' },
    ];
    const req = decode({ input: 'x', tools: [...hosted, weatherTool] });
    expect(req.tools).toEqual([{ name: 'get_weather', description: 'Weather now', parameters: weatherTool.parameters, strict: true }]);
    expect(req.warnings).toEqual(hosted.map((t, i) => ({ param: `tools[${i}]`, message: `'${t.type}' tools are not supported by this gateway; the tool was dropped` })));
  });

  it('drops tool_choice and parallel_tool_calls when no function tool is left', () => {
    const req = decode({ input: 'x', tools: [{ type: 'web_search' }], tool_choice: 'required', parallel_tool_calls: true });
    expect(req.tools).toBeUndefined();
    expect(req.toolChoice).toBeUndefined();
    expect(req.parallelToolCalls).toBeUndefined();
    expect(req.warnings).toEqual([
      { param: 'tools[0]', message: "'web_search' tools are not supported by this gateway; the tool was dropped" },
      { param: 'tool_choice', message: 'no function tools are left to call; ignored' },
    ]);
  });

  it('honours allowed_tools by offering only those functions; warns about hosted tool choices', () => {
    const now = { type: 'function', name: 'now', parameters: { type: 'object', properties: {} } };
    const req = decode({
      input: 'x',
      tools: [weatherTool, now],
      tool_choice: { type: 'allowed_tools', mode: 'required', tools: [{ type: 'function', name: 'now' }, { type: 'web_search' }] },
    });
    expect(req.tools?.map((t) => t.name)).toEqual(['now']);
    expect(req.toolChoice).toEqual({ type: 'required' });
    const hosted = decode({ input: 'x', tools: [weatherTool], tool_choice: { type: 'web_search_preview' } });
    expect(hosted.toolChoice).toBeUndefined();
    expect(hosted.warnings).toEqual([{ param: 'tool_choice', message: "'web_search_preview' is not supported by this gateway; the model chooses its tools" }]);
  });

  it('converts text.format, sampling, limits, reasoning, stream and user', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    expect(
      decode({
        input: 'x',
        text: { format: { type: 'json_schema', name: 'out', schema, strict: true, description: 'The answer' } },
        max_output_tokens: 256,
        temperature: 0.2,
        top_p: 0.9,
        reasoning: { effort: 'low', summary: 'auto' },
        stream: true,
        stream_options: { include_obfuscation: false },
        user: 'u-1',
        store: false,
        metadata: { k: 'v' },
      }),
    ).toEqual({
      model: 'gpt-4.1',
      system: [],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
      stream: true,
      streamUsage: true,
      maxTokens: 256,
      temperature: 0.2,
      topP: 0.9,
      user: 'u-1',
      responseFormat: { type: 'json_schema', name: 'out', schema, strict: true, description: 'The answer' },
      reasoning: { effort: 'low', includeThoughts: true },
    });
    expect(decode({ input: 'x', text: { format: { type: 'json_object' } } }).responseFormat).toEqual({ type: 'json_object' });
    expect(decode({ input: 'x', text: { format: { type: 'text' } } }).responseFormat).toEqual({ type: 'text' });
    expect(decode({ input: 'x', safety_identifier: 'hash-1', user: 'old' }).user).toBe('hash-1');
    expect(decode({ input: 'x', reasoning: { effort: 'none' } }).reasoning).toEqual({ enabled: false });
    const xhigh = decode({ input: 'x', reasoning: { effort: 'xhigh' } });
    expect(xhigh.reasoning).toEqual({ effort: 'high' });
    expect(xhigh.warnings).toEqual([{ param: 'reasoning.effort', message: "'xhigh' is sent as the upstream's highest effort" }]);
  });

  it('warns about Responses-only settings that another upstream cannot honour', () => {
    const req = decode({
      input: 'x',
      background: true,
      truncation: 'auto',
      top_logprobs: 3,
      service_tier: 'flex',
      include: ['reasoning.encrypted_content', 'message.output_text.logprobs'],
      text: { verbosity: 'low' },
    });
    expect(req.warnings).toEqual([
      { param: 'background', message: 'not supported on this route; the response is generated in the foreground' },
      { param: 'service_tier', message: 'not supported by this upstream; ignored' },
      { param: 'truncation', message: 'not supported by this upstream; an input over the context window fails instead of being truncated' },
      { param: 'top_logprobs', message: 'not supported by this upstream; ignored' },
      { param: 'text.verbosity', message: 'not supported by this upstream; ignored' },
      { param: 'include', message: 'message.output_text.logprobs: not supported by this upstream; ignored' },
    ]);
    // Defaults are not worth a warning.
    expect(decode({ input: 'x', truncation: 'disabled', background: false, top_logprobs: 0, include: ['reasoning.encrypted_content'] }).warnings).toBeUndefined();
  });
});

describe('decodeResponsesRequest: errors', () => {
  const cases: Array<[string, unknown, { code: string; param: string | null; publicCode: string | null; message: string }]> = [
    ['an empty body', undefined, { code: 'missing_field', param: null, publicCode: null, message: 'We could not parse the JSON body of your request. The request body is empty.' }],
    ['a non-object body', [1], { code: 'invalid_request_error', param: null, publicCode: null, message: 'The request body must be a JSON object.' }],
    ['a missing model', { input: 'x' }, { code: 'missing_field', param: 'model', publicCode: 'missing_required_parameter', message: "Missing required parameter: 'model'." }],
    ['a numeric model', { model: 4, input: 'x' }, { code: 'invalid_request_error', param: 'model', publicCode: 'invalid_type', message: "Invalid type for 'model': expected a string, but got an integer instead." }],
    ['a missing input', { model: 'm' }, { code: 'missing_field', param: 'input', publicCode: 'missing_required_parameter', message: "Missing required parameter: 'input'." }],
    [
      'a numeric input',
      { model: 'm', input: 5 },
      { code: 'invalid_request_error', param: 'input', publicCode: 'invalid_type', message: "Invalid type for 'input': expected one of a string or an array, but got an integer instead." },
    ],
    [
      'a string item',
      { model: 'm', input: ['hi'] },
      { code: 'invalid_request_error', param: 'input[0]', publicCode: 'invalid_type', message: "Invalid type for 'input[0]': expected an object, but got a string instead." },
    ],
    [
      'an item without type or role',
      { model: 'm', input: [{ content: 'x' }] },
      { code: 'missing_field', param: 'input[0].type', publicCode: 'missing_required_parameter', message: "Missing required parameter: 'input[0].type'." },
    ],
    [
      'a numeric item type',
      { model: 'm', input: [{ type: 3, role: 'user', content: 'x' }] },
      { code: 'invalid_request_error', param: 'input[0].type', publicCode: 'invalid_type', message: "Invalid type for 'input[0].type': expected a string, but got an integer instead." },
    ],
    [
      'an unknown role',
      { model: 'm', input: [{ role: 'robot', content: 'x' }] },
      { code: 'invalid_request_error', param: 'input[0].role', publicCode: 'invalid_value', message: "Invalid value: 'robot'. Supported values are: 'user', 'assistant', 'system', 'developer'." },
    ],
    [
      'an unknown content part',
      { model: 'm', input: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] },
      {
        code: 'invalid_request_error',
        param: 'input[0].content[0].type',
        publicCode: 'invalid_value',
        message: "Invalid value: 'input_audio'. Supported values are: 'input_text', 'input_image', 'input_file', 'output_text', 'refusal'.",
      },
    ],
    [
      'a text part without text',
      { model: 'm', input: [{ role: 'user', content: [{ type: 'input_text' }] }] },
      { code: 'missing_field', param: 'input[0].content[0].text', publicCode: 'missing_required_parameter', message: "Missing required parameter: 'input[0].content[0].text'." },
    ],
    [
      'a function_call without call_id',
      { model: 'm', input: [{ type: 'function_call', name: 'f', arguments: '{}' }] },
      { code: 'missing_field', param: 'input[0].call_id', publicCode: 'missing_required_parameter', message: "Missing required parameter: 'input[0].call_id'." },
    ],
    [
      'an input_file part',
      { model: 'm', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] },
      { code: 'invalid_request_error', param: 'input[0].content[0].type', publicCode: 'unsupported_value', message: "Content part type 'input_file' is not supported for this model." },
    ],
    [
      'an image by file_id',
      { model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-1', detail: 'auto' }] }] },
      {
        code: 'invalid_request_error',
        param: 'input[0].content[0].file_id',
        publicCode: 'unsupported_value',
        message: "Images given by 'file_id' are not supported for this model; send the image as 'image_url' (an http(s) or data: URL).",
      },
    ],
    [
      'a function tool without name',
      { model: 'm', input: 'x', tools: [{ type: 'web_search' }, { type: 'function', parameters: {} }] },
      { code: 'missing_field', param: 'tools[1].name', publicCode: 'missing_required_parameter', message: "Missing required parameter: 'tools[1].name'." },
    ],
    [
      'a wrong temperature',
      { model: 'm', input: 'x', temperature: 'hot' },
      { code: 'invalid_request_error', param: 'temperature', publicCode: 'invalid_type', message: "Invalid type for 'temperature': expected a number, but got a string instead." },
    ],
    [
      'an unknown text format',
      { model: 'm', input: 'x', text: { format: { type: 'yaml' } } },
      { code: 'invalid_request_error', param: 'text.format.type', publicCode: 'invalid_value', message: "Invalid value: 'yaml'. Supported values are: 'text', 'json_object', 'json_schema'." },
    ],
    [
      'a function tool_choice without name',
      { model: 'm', input: 'x', tools: [weatherTool], tool_choice: { type: 'function' } },
      { code: 'missing_field', param: 'tool_choice.name', publicCode: 'missing_required_parameter', message: "Missing required parameter: 'tool_choice.name'." },
    ],
    [
      'a bad data URL',
      { model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'data:image/png;base64' }] }] },
      { code: 'invalid_request_error', param: 'input[0].content[0].image_url', publicCode: 'invalid_image_url', message: "Invalid image URL: expected an http(s) URL or a 'data:' URL." },
    ],
  ];
  it.each(cases)('rejects %s', (_name, body, expected) => {
    const err = errorOf(() => decodeResponsesRequest(body));
    expect({ code: err.code, param: err.param, publicCode: err.publicCode, message: err.message }).toEqual(expected);
    expect(err.status).toBe(400);
  });
});

describe('responsesInputToItems', () => {
  it('turns a string input into one stored user message', () => {
    expect(responsesInputToItems({ model: 'm', input: 'Hi' }, createResponsesIdGenerator('resp_1', 'in'))).toEqual([
      { id: 'msg_1_in_0', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }], status: 'completed' },
    ]);
  });

  it('gives every item an id and a type, keeping the ids and fields clients sent', () => {
    const items = responsesInputToItems(
      {
        input: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello', phase: 'final_answer' },
          { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' },
          { type: 'function_call_output', id: 'fco_mine', call_id: 'c1', output: 'ok' },
          { type: 'reasoning', summary: [] },
          { id: 'msg_old' },
        ],
      },
      createResponsesIdGenerator('resp_1', 'in'),
    );
    expect(items).toEqual([
      { id: 'msg_1_in_0', type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }], status: 'completed' },
      { id: 'msg_1_in_1', type: 'message', role: 'assistant', phase: 'final_answer', content: [{ type: 'output_text', text: 'Hello', annotations: [], logprobs: [] }], status: 'completed' },
      { id: 'fc_1_in_2', type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}', status: 'completed' },
      { id: 'fco_mine', type: 'function_call_output', call_id: 'c1', output: 'ok', status: 'completed' },
      { id: 'rs_1_in_3', type: 'reasoning', summary: [] },
      { id: 'msg_old', type: 'item_reference' },
    ]);
    // Stored items decode back to the same conversation.
    expect(decode({ input: items }).messages).toEqual(decode({ input: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }, { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' }, { type: 'function_call_output', call_id: 'c1', output: 'ok' }] }).messages);
  });
});

describe('extractResponsesState', () => {
  it('defaults store to true, as OpenAI does', () => {
    expect(extractResponsesState({ model: 'm', input: 'x' })).toEqual({ store: true, previousResponseId: undefined, metadata: {}, background: false });
    expect(extractResponsesState({ model: 'm', input: 'x', store: false, previous_response_id: 'resp_1', metadata: { a: 'b' }, background: true })).toEqual({
      store: false,
      previousResponseId: 'resp_1',
      metadata: { a: 'b' },
      background: true,
    });
  });
});
