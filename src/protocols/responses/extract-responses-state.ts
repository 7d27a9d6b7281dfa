import { responsesRequestSchema } from '../../wire/openai-responses.ts';

/** What the route keeps about a Responses request besides the conversation itself. */
export interface ResponsesState {
  /** Whether to store the response for later retrieval and `previous_response_id`; OpenAI's default is true. */
  store: boolean;
  previousResponseId: string | undefined;
  metadata: Record<string, string>;
  background: boolean;
}

/** Reads the route's fields of a request body; a body the decoder accepted always parses. */
export function extractResponsesState(body: unknown): ResponsesState {
  const parsed = responsesRequestSchema.partial().safeParse(body);
  const b = parsed.success ? parsed.data : {};
  return {
    store: b.store ?? true,
    previousResponseId: b.previous_response_id ?? undefined,
    metadata: b.metadata ?? {},
    background: b.background ?? false,
  };
}
