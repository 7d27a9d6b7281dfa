import type { ChatRequest, ContentPart, StreamEvent } from './canonical.ts';
import type { CountableMessage } from './tokens.ts';

function addPart(part: ContentPart, m: CountableMessage): void {
  switch (part.type) {
    case 'text':
    case 'reasoning':
      m.texts.push(part.text);
      break;
    case 'image':
      m.images += 1;
      break;
    case 'tool_call':
      m.texts.push(part.name, part.arguments);
      break;
    case 'tool_result':
      for (const p of part.content) addPart(p, m);
      break;
  }
}

/** The prompt of a canonical request, for counting tokens when the upstream does not. */
export function countableChatRequest(req: ChatRequest): CountableMessage[] {
  const out: CountableMessage[] = [];
  if (req.system.length > 0) out.push({ texts: req.system.map((s) => s.text), images: 0 });
  for (const msg of req.messages) {
    const m: CountableMessage = { texts: [], images: 0 };
    for (const part of msg.content) addPart(part, m);
    out.push(m);
  }
  if (req.tools && req.tools.length > 0) out.push({ texts: [JSON.stringify(req.tools)], images: 0 });
  return out;
}

/** Collects generated text from canonical stream events, for estimates. */
export class GeneratedText {
  private text = '';

  add(ev: StreamEvent): void {
    if (ev.type === 'text-delta' || ev.type === 'reasoning-delta') this.text += ev.delta;
    else if (ev.type === 'tool-call-delta') this.text += ev.argumentsDelta;
    else if (ev.type === 'tool-call-start') this.text += ev.name;
  }

  toString(): string {
    return this.text;
  }
}

/**
 * Prompt texts for an estimate: the decoded canonical request when the body
 * decodes in full, else the body's JSON. A body that does not decode, or that the
 * codec decoded with warnings (blocks and features canonical cannot carry, such as
 * Anthropic server tools and their results, left out), still costs its tokens where
 * it passes through unchanged, and must not stop or shrink the estimate.
 */
export function countableOrRaw(decode: () => ChatRequest, body: unknown): CountableMessage[] {
  const raw = (): CountableMessage[] => [{ texts: [JSON.stringify(body)], images: 0 }];
  let req: ChatRequest;
  try {
    req = decode();
  } catch {
    return raw();
  }
  return req.warnings && req.warnings.length > 0 ? raw() : countableChatRequest(req);
}
