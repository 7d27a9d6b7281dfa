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
 * decodes, else the body's JSON (blocks the canonical model cannot carry, such as
 * Anthropic server tools, still cost tokens and must not stop the estimate).
 */
export function countableOrRaw(decode: () => ChatRequest, body: unknown): CountableMessage[] {
  try {
    return countableChatRequest(decode());
  } catch {
    return [{ texts: [JSON.stringify(body)], images: 0 }];
  }
}
