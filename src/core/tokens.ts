/**
 * Token counting: reservations for tpm and quotas, and estimates when an upstream reports no
 * usage (or the client abandons a stream). gpt-tokenizer's o200k_base takes ~0.4 s and ~65 MiB
 * to load, so it is loaded only once something needs it: warmTokenizer() starts the load in the
 * background as soon as the gateway knows it will count (a stored key with limits, an upstream
 * with tpm, a key loaded that has them), so the first reservation does not wait for it; a gateway
 * whose keys and upstreams have no token limits and whose upstreams report usage never loads it.
 */
type CountFn = (text: string) => number;

let counter: Promise<CountFn> | undefined;

function loadCounter(): Promise<CountFn> {
  counter ??= import('gpt-tokenizer').then((m) => (text: string) => (text ? m.countTokens(text) : 0));
  return counter;
}

export function warmTokenizer(): void {
  loadCounter().catch(() => undefined);
}

export function tokenizerLoaded(): boolean {
  return counter !== undefined;
}

export async function countTextTokens(text: string): Promise<number> {
  const count = await loadCounter();
  return count(text);
}

/** Per-message overhead of the chat format (OpenAI's published counting recipe). */
export const TOKENS_PER_MESSAGE = 3;
export const TOKENS_PER_REPLY_PRIMER = 3;
/** A flat per-image cost; exact costs depend on size and detail, which the gateway does not decode. */
const TOKENS_PER_IMAGE = 765;

export interface CountableMessage {
  texts: string[];
  images: number;
}

/**
 * Counts of longer texts seen recently. Token limits and quotas count every
 * prompt before it is sent, and chat clients resend the same system prompt and
 * history on every turn: each of those texts is tokenized once, not per turn.
 */
const cache = new Map<string, number>();
const CACHE_MIN_LENGTH = 16;
const CACHE_MAX_ENTRIES = 20_000;

function cachedCount(count: CountFn, text: string): number {
  if (text.length < CACHE_MIN_LENGTH) return count(text);
  let n = cache.get(text);
  if (n === undefined) {
    n = count(text);
    if (cache.size >= CACHE_MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
    cache.set(text, n);
  }
  return n;
}

export async function countPromptTokens(messages: CountableMessage[]): Promise<number> {
  const count = await loadCounter();
  let total = TOKENS_PER_REPLY_PRIMER;
  for (const m of messages) {
    total += TOKENS_PER_MESSAGE + m.images * TOKENS_PER_IMAGE;
    for (const t of m.texts) total += cachedCount(count, t);
  }
  return total;
}
