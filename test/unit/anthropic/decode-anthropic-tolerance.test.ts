/**
 * Anthropic adds block types, tool types and fields often, and clients send them as soon as
 * they exist. Cross-format, what canonical cannot carry is left out with one warning per kind
 * (naming where the first one was) and the rest of the request decodes; nothing is refused
 * for being new. (Same format, the body passes through untouched: see format-matrix.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { countableOrRaw } from '../../../src/core/count-canonical.ts';
import { anthropicCodec } from '../../../src/protocols/anthropic/anthropic-codec.ts';

const base = { model: 'm', max_tokens: 100 };

describe('decoding blocks and fields the gateway does not know', () => {
  it('leaves out server tool blocks, documents, search results, uploads and MCP blocks, one warning per type', () => {
    const req = anthropicCodec.decodeRequest({
      ...base,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'The contract.' }, title: 'contract.txt' },
            { type: 'container_upload', file_id: 'file_011CNha8iCJcU1wXNR6q4V8w' },
            { type: 'text', text: 'Summarise the contract, then search the web.' },
            { type: 'document', source: { type: 'file', file_id: 'file_2' } },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'Searching.' },
            { type: 'server_tool_use', id: 'srvtoolu_01', name: 'web_search', input: { query: 'contract law' } },
            {
              type: 'web_search_tool_result',
              tool_use_id: 'srvtoolu_01',
              content: [{ type: 'web_search_result', url: 'https://example.com', title: 'Example', encrypted_content: 'EqgfCioIARgBIiQ3YTAw', page_age: null }],
            },
            { type: 'mcp_tool_use', id: 'mcptoolu_01', name: 'echo', server_name: 'srv', input: {} },
            { type: 'tool_use', id: 'toolu_01', name: 'lookup', input: { q: 'x' } },
          ],
        },
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 'toolu_01',
              content: [
                { type: 'search_result', source: 'https://kb.example/1', title: 'KB', content: [{ type: 'text', text: 'Found.' }] },
                { type: 'text', text: 'Done.' },
              ],
            },
          ],
        },
        // Every block left out: so is the turn.
        { role: 'assistant', content: [{ type: 'mcp_tool_result', tool_use_id: 'mcptoolu_01', content: [] }] },
      ],
    });
    expect(req.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Summarise the contract, then search the web.' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Searching.' },
          { type: 'tool_call', id: 'toolu_01', name: 'lookup', arguments: '{"q":"x"}' },
        ],
      },
      { role: 'tool', content: [{ type: 'tool_result', toolCallId: 'toolu_01', name: 'lookup', content: [{ type: 'text', text: 'Done.' }] }] },
    ]);
    expect(req.warnings).toEqual([
      { param: 'messages[].content[].document', message: "content block type 'document' (first at messages.0.content.0) is not supported by this upstream; left out" },
      { param: 'messages[].content[].container_upload', message: "content block type 'container_upload' (first at messages.0.content.1) is not supported by this upstream; left out" },
      { param: 'messages[].content[].server_tool_use', message: "content block type 'server_tool_use' (first at messages.1.content.1) is not supported by this upstream; left out" },
      {
        param: 'messages[].content[].web_search_tool_result',
        message: "content block type 'web_search_tool_result' (first at messages.1.content.2) is not supported by this upstream; left out",
      },
      { param: 'messages[].content[].mcp_tool_use', message: "content block type 'mcp_tool_use' (first at messages.1.content.3) is not supported by this upstream; left out" },
      {
        param: 'messages[].content[].content[].search_result',
        message: "content block type 'search_result' (first at messages.2.content.0.content.0) is not supported by this upstream; left out",
      },
      { param: 'messages[].content[].mcp_tool_result', message: "content block type 'mcp_tool_result' (first at messages.3.content.0) is not supported by this upstream; left out" },
    ]);
  });

  it('leaves out server tools and a tool choice naming one; keeps client tools', () => {
    const req = anthropicCodec.decodeRequest({
      ...base,
      messages: [{ role: 'user', content: 'Weather in Paris?' }],
      tools: [
        { type: 'web_search_20250305', name: 'web_search', max_uses: 5 },
        { name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } },
        { type: 'mcp_toolset', mcp_server_name: 'srv' },
        { type: 'custom', name: 'noop' },
      ],
      tool_choice: { type: 'tool', name: 'web_search' },
    });
    expect(req.tools).toEqual([
      { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
      { name: 'noop', parameters: { type: 'object' } },
    ]);
    expect(req.toolChoice).toBeUndefined();
    expect(req.warnings).toEqual([
      { param: 'tools.0', message: "server tool 'web_search_20250305' runs only on Anthropic models; it was not sent to this upstream" },
      { param: 'tools.2', message: "server tool 'mcp_toolset' runs only on Anthropic models; it was not sent to this upstream" },
      { param: 'tool_choice', message: "it names the server tool 'web_search', which was not sent to this upstream; ignored" },
    ]);
  });

  it('ignores, with a warning, tool choice, thinking, effort, output format and image source types it does not know', () => {
    const req = anthropicCodec.decodeRequest({
      ...base,
      system: [
        { type: 'text', text: 'Be kind.' },
        { type: 'system_directive', directive: 'x' },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'image', source: { type: 'file', file_id: 'file_1' } },
            { type: 'text', text: 'Hi' },
          ],
        },
      ],
      tool_choice: { type: 'auto_v2' },
      thinking: { type: 'interleaved_2027', budget: 'some' },
      output_config: { effort: 'ultra', format: { type: 'xml_schema', schema: '<x/>' } },
    });
    expect(req.system).toEqual([{ type: 'text', text: 'Be kind.' }]);
    expect(req.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
    expect(req.toolChoice).toBeUndefined();
    expect(req.reasoning).toBeUndefined();
    expect(req.responseFormat).toBeUndefined();
    expect(req.warnings).toEqual([
      { param: 'system[].system_directive', message: "content block type 'system_directive' (first at system.1) is not supported by this upstream; left out" },
      { param: 'messages[].content[].image.source', message: "image source type 'file' (first at messages.0.content.0.source) is not supported by this upstream; left out" },
      { param: 'tool_choice', message: "tool choice type 'auto_v2' is not supported by this upstream; ignored" },
      { param: 'thinking', message: "thinking type 'interleaved_2027' is not supported by this upstream; ignored" },
      { param: 'output_config.effort', message: "effort 'ultra' is not supported by this upstream; ignored" },
      { param: 'output_config.format', message: "output format type 'xml_schema' is not supported by this upstream; ignored" },
    ]);
  });

  it("warns about Anthropic-only top-level features and passes over fields it has never heard of (Claude Code's context_management)", () => {
    const req = anthropicCodec.decodeRequest({
      ...base,
      messages: [{ role: 'user', content: 'Hi' }],
      context_management: { edits: [{ type: 'clear_thinking_20251015', keep: 'all' }] },
      container: 'container_011CNha8',
      mcp_servers: [{ type: 'url', url: 'https://mcp.example/sse', name: 'srv' }],
      some_field_from_2027: { anything: true },
    });
    expect(req.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }]);
    expect(req.warnings).toEqual([
      { param: 'container', message: 'Anthropic code execution containers are not supported by this upstream; ignored' },
      { param: 'context_management', message: 'Anthropic context editing is not supported by this upstream; ignored' },
      { param: 'mcp_servers', message: 'the Anthropic MCP connector is not supported by this upstream; ignored' },
    ]);
  });

  it('a body that decodes in full has no warnings', () => {
    expect(anthropicCodec.decodeRequest({ ...base, messages: [{ role: 'user', content: 'Hi' }] }).warnings).toBeUndefined();
  });
});

describe('token estimates of bodies with blocks canonical leaves out', () => {
  it('counts the whole body: the left-out blocks still cost tokens where the body passes through', () => {
    const encrypted = 'EqgfCioIARgBIiQ3YTAwMjY1Mi1mZjM5LTQ1NGUtODgxNC1kNjNjNTk1ZWI3Y2MSDBuXGfxfNq'.repeat(20);
    const body = {
      ...base,
      messages: [
        { role: 'user', content: 'Search.' },
        {
          role: 'assistant',
          content: [
            { type: 'server_tool_use', id: 'srvtoolu_01', name: 'web_search', input: { query: 'q' } },
            { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_01', content: [{ type: 'web_search_result', url: 'https://e.x', title: 'E', encrypted_content: encrypted }] },
          ],
        },
        { role: 'user', content: 'Thanks.' },
      ],
    };
    expect(countableOrRaw(() => anthropicCodec.decodeRequest(body), body)).toEqual([{ texts: [JSON.stringify(body)], images: 0 }]);
    const plain = { ...base, messages: [{ role: 'user', content: 'Hi' }] };
    expect(countableOrRaw(() => anthropicCodec.decodeRequest(plain), plain)).toEqual([{ texts: ['Hi'], images: 0 }]);
  });
});
