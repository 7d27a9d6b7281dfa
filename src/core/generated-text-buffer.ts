import { type SseEvent, SseParser } from './sse.ts';

const MAX_PENDING_EVENTS = 64;
const MAX_PENDING_BYTES = 32 * 1024;

/**
 * What a passing stream generated, kept only in case the upstream never reports
 * usage and the gateway has to count tokens itself. Events are held raw and
 * folded into plain text in batches, so a long stream costs a few bytes per
 * chunk (its text), not the whole chunk: 5,000 streams of 300 chunks each would
 * otherwise hold over half a gigabyte until they end.
 */
export class GeneratedTextBuffer {
  private text = '';
  private datas: string[] = [];
  private raw: Buffer[] = [];
  private rawBytes = 0;

  constructor(
    /** The generated text of some events' `data`. */
    private readonly extract: (datas: readonly string[]) => string,
    /** Which raw events hold generated content (default: all). */
    private readonly keep: (ev: SseEvent) => boolean = () => true,
  ) {}

  /** One event's `data` (a slice of a larger string: copied out when folded). */
  addData(data: string): void {
    this.datas.push(data);
    if (this.datas.length >= MAX_PENDING_EVENTS) this.fold();
  }

  /** A chunk of whole events, forwarded unparsed. */
  addRaw(chunk: Buffer): void {
    this.raw.push(chunk);
    this.rawBytes += chunk.length;
    if (this.rawBytes >= MAX_PENDING_BYTES) this.fold();
  }

  toString(): string {
    this.fold();
    return this.text;
  }

  private fold(): void {
    if (this.raw.length > 0) {
      const events = new SseParser().push(Buffer.concat(this.raw).toString('utf8'));
      for (const ev of events) if (this.keep(ev)) this.datas.push(ev.data);
      this.raw = [];
      this.rawBytes = 0;
    }
    if (this.datas.length > 0) {
      this.text += this.extract(this.datas);
      this.datas = [];
    }
  }
}
