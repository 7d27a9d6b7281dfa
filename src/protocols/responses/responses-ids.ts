/**
 * Ids of the Responses API: `resp_...` for a response, `msg_...`, `rs_...`,
 * `fc_...` for its items. Codecs are pure, so ids come from a generator the
 * caller passes in; the default derives them from the response id and a
 * counter, unique as long as the response id is.
 */
export type ResponsesIdPrefix = 'msg' | 'rs' | 'fc' | 'fco' | 'item';

export type ResponsesIdGenerator = (prefix: ResponsesIdPrefix) => string;

/** `resp_` + the request id's own characters: request ids may come from clients (x-request-id), so only the safe ones are kept. */
export function toResponsesId(requestId: string): string {
  const base = requestId.replace(/^req_/, '').replace(/[^A-Za-z0-9]/g, '');
  return `resp_${base || '0'}`;
}

/**
 * `msg_<base>_<n>`, `fc_<base>_<n>`, ...: one counter per response, so item order
 * shows in the ids. A `scope` keeps two generators of one response apart (its
 * stored input items and its output items): `msg_<base>_in_<n>`.
 */
export function createResponsesIdGenerator(responseId: string, scope = ''): ResponsesIdGenerator {
  const base = responseId.replace(/^resp_/, '');
  const stem = scope ? `${base}_${scope}` : base;
  let n = 0;
  return (prefix) => `${prefix}_${stem}_${(n++).toString(36)}`;
}
