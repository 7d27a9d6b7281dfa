import type { ChatRequest, Warning } from '../../core/canonical.ts';
import type { GeminiFunctionDeclarationOut, GeminiGenerateContentRequestOut } from '../../wire/gemini.ts';
import { convertJsonSchemaToGemini } from './convert-json-schema-to-gemini.ts';

export interface GeminiToolsConversion {
  tools?: GeminiGenerateContentRequestOut['tools'];
  toolConfig?: GeminiGenerateContentRequestOut['toolConfig'];
  warnings: Warning[];
}

/**
 * Canonical tools and tool choice -> `tools: [{functionDeclarations}]` and
 * `toolConfig.functionCallingConfig` (AUTO / ANY / NONE, with allowedFunctionNames
 * for a forced tool). Parameters go through the Schema-subset conversion.
 */
export function convertToGeminiTools(req: Pick<ChatRequest, 'tools' | 'toolChoice' | 'parallelToolCalls'>): GeminiToolsConversion {
  const warnings: Warning[] = [];
  const out: GeminiToolsConversion = { warnings };
  const tools = req.tools ?? [];
  if (tools.length > 0) {
    const declarations = tools.map((t, i): GeminiFunctionDeclarationOut => {
      const d: GeminiFunctionDeclarationOut = { name: t.name };
      if (t.description) d.description = t.description;
      const { schema, dropped } = convertJsonSchemaToGemini(t.parameters);
      if (schema) d.parameters = schema;
      if (dropped.length > 0) {
        warnings.push({ param: `tools[${i}].parameters`, message: `Gemini does not support the JSON Schema keywords ${dropped.join(', ')}; they were removed.` });
      }
      return d;
    });
    out.tools = [{ functionDeclarations: declarations }];
    if (tools.some((t) => t.strict === true)) {
      warnings.push({ param: 'tools[].strict', message: 'Gemini has no strict mode for function arguments; arguments are not validated against the schema.' });
    }
    if (tools.some((t) => t.cacheControl)) {
      warnings.push({ param: 'cache_control', message: 'Gemini has no prompt-cache markers; its implicit caching applies instead.' });
    }
  }
  if (req.parallelToolCalls === false) {
    warnings.push({ param: 'parallel_tool_calls', message: 'Gemini cannot be told to avoid parallel function calls.' });
  }

  const choice = req.toolChoice;
  if (choice) {
    switch (choice.type) {
      case 'auto':
        if (tools.length > 0) out.toolConfig = { functionCallingConfig: { mode: 'AUTO' } };
        break;
      case 'none':
        if (tools.length > 0) out.toolConfig = { functionCallingConfig: { mode: 'NONE' } };
        break;
      case 'required':
        out.toolConfig = { functionCallingConfig: { mode: 'ANY' } };
        break;
      case 'tool':
        out.toolConfig = { functionCallingConfig: { mode: 'ANY', allowedFunctionNames: [choice.name] } };
        break;
    }
  }
  return out;
}
