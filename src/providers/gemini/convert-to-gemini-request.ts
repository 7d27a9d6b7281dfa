import type { ChatRequest, ReasoningConfig, Warning } from '../../core/canonical.ts';
import type { GeminiGenerateContentRequestOut, GeminiGenerationConfigOut, GeminiThinkingConfigOut } from '../../wire/gemini.ts';
import { convertJsonSchemaToGemini } from './convert-json-schema-to-gemini.ts';
import { convertToGeminiContents } from './convert-to-gemini-contents.ts';
import { convertToGeminiTools } from './convert-to-gemini-tools.ts';

/** Token budgets standing in for an OpenAI-style effort on models that take a budget (Gemini 2.5). */
const EFFORT_BUDGET: Record<NonNullable<ReasoningConfig['effort']>, number> = {
  minimal: 512,
  low: 1024,
  medium: 8192,
  high: 24576,
};

const EFFORT_LEVEL: Record<NonNullable<ReasoningConfig['effort']>, NonNullable<GeminiThinkingConfigOut['thinkingLevel']>> = {
  minimal: 'MINIMAL',
  low: 'LOW',
  medium: 'MEDIUM',
  high: 'HIGH',
};

/** Major version of a "gemini-N..." model name, undefined for other names (Gemma, tuned models). */
export function geminiMajorVersion(model: string): number | undefined {
  const m = /(?:^|\/)gemini-(\d+)(?:[.-]|$)/.exec(model);
  return m ? Number(m[1]) : undefined;
}

export interface GeminiRequestConversion {
  body: GeminiGenerateContentRequestOut;
  warnings: Warning[];
}

/** Canonical request -> GenerateContentRequest body for `upstreamModel`. */
export function convertToGeminiRequest(req: ChatRequest, upstreamModel: string): GeminiRequestConversion {
  const major = geminiMajorVersion(upstreamModel);
  // Gemini 3 validates thought signatures on function calls in the history.
  const contents = convertToGeminiContents(req, { placeholderSignatures: major !== undefined && major >= 3 });
  const tools = convertToGeminiTools(req);
  const warnings: Warning[] = [...contents.warnings, ...tools.warnings];

  const body: GeminiGenerateContentRequestOut = { contents: contents.contents };
  if (contents.systemInstruction) body.systemInstruction = contents.systemInstruction;
  if (tools.tools) body.tools = tools.tools;
  if (tools.toolConfig) body.toolConfig = tools.toolConfig;

  const gc: GeminiGenerationConfigOut = {};
  if (req.maxTokens !== undefined) gc.maxOutputTokens = req.maxTokens;
  if (req.temperature !== undefined) gc.temperature = req.temperature;
  if (req.topP !== undefined) gc.topP = req.topP;
  if (req.topK !== undefined) gc.topK = req.topK;
  if (req.stop !== undefined && req.stop.length > 0) gc.stopSequences = req.stop;
  if (req.presencePenalty !== undefined) gc.presencePenalty = req.presencePenalty;
  if (req.frequencyPenalty !== undefined) gc.frequencyPenalty = req.frequencyPenalty;
  if (req.seed !== undefined) gc.seed = req.seed;
  if (req.n !== undefined && req.n > 1) {
    // The canonical result carries one candidate; asking for more would bill unseen output.
    warnings.push({ param: 'n', message: `Only one candidate can be returned through the gateway; n=${req.n} was not sent.` });
  }
  const rf = req.responseFormat;
  if (rf?.type === 'json_object') gc.responseMimeType = 'application/json';
  if (rf?.type === 'json_schema') {
    gc.responseMimeType = 'application/json';
    const { schema, dropped } = convertJsonSchemaToGemini(rf.schema, { propertyOrdering: true });
    if (schema) gc.responseSchema = schema;
    if (dropped.length > 0) {
      warnings.push({ param: 'response_format.json_schema', message: `Gemini does not support the JSON Schema keywords ${dropped.join(', ')}; they were removed.` });
    }
  }
  const thinking = convertReasoning(req.reasoning, major);
  if (thinking) gc.thinkingConfig = thinking;
  if (Object.keys(gc).length > 0) body.generationConfig = gc;

  if (req.user !== undefined) warnings.push({ param: 'user', message: 'Gemini has no end-user identifier field; it was not sent.' });
  return { body, warnings };
}

function convertReasoning(r: ReasoningConfig | undefined, major: number | undefined): GeminiThinkingConfigOut | undefined {
  if (!r) return undefined;
  const tc: GeminiThinkingConfigOut = {};
  if (r.enabled === false) tc.thinkingBudget = 0;
  else if (r.budgetTokens !== undefined) tc.thinkingBudget = r.budgetTokens;
  else if (r.effort !== undefined) {
    // Gemini 3 takes a thinking level; 2.5 only a budget.
    if (major !== undefined && major >= 3) tc.thinkingLevel = EFFORT_LEVEL[r.effort];
    else tc.thinkingBudget = EFFORT_BUDGET[r.effort];
  }
  if (r.includeThoughts !== undefined && r.enabled !== false) tc.includeThoughts = r.includeThoughts;
  return Object.keys(tc).length > 0 ? tc : undefined;
}
