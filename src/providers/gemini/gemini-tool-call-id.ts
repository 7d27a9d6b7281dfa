import { randomBytes } from 'node:crypto';

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Gemini's functionCall parts usually have no id, but OpenAI and Anthropic clients pair
 * tool results with calls by id. The id is built from the response's own responseId and
 * the call's position in it: unique across turns (Anthropic rejects repeated tool_use ids)
 * and the same for the streamed and the non-streamed reading of one response. When the
 * call comes back as a tool result, the adapter finds its name through the assistant
 * turn that holds the same id.
 */
export function geminiToolCallId(responseKey: string, ordinal: number): string {
  return `call_${responseKey}_${ordinal}`;
}

/** A responseId reduced to the characters every tool id format allows, or a random key when there is none. */
export function geminiResponseKey(responseId: string | null | undefined): string {
  const clean = (responseId ?? '').replace(/[^A-Za-z0-9_-]/g, '');
  if (clean !== '') return clean;
  const bytes = randomBytes(20);
  let out = '';
  for (const b of bytes) out += ALNUM[b % ALNUM.length];
  return out;
}
