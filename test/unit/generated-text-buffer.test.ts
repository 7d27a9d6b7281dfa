import { describe, expect, it } from 'vitest';
import { GeneratedTextBuffer } from '../../src/core/generated-text-buffer.ts';
import { collectOpenAIStreamText } from '../../src/providers/openai/openai-stream-tap.ts';

const chunk = (content: string) => JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content } }] });
const sse = (datas: string[]) => Buffer.from(datas.map((d) => `data: ${d}\n\n`).join(''));

describe('GeneratedTextBuffer', () => {
  it('gives the same text from parsed events and raw chunks, across folds', () => {
    const b = new GeneratedTextBuffer(collectOpenAIStreamText);
    let expected = '';
    for (let i = 0; i < 500; i++) {
      const word = ` w${i}`;
      expected += word;
      if (i % 3 === 0) b.addData(chunk(word));
      else b.addRaw(sse([chunk(word)]));
    }
    // Order between the two kinds is not kept (estimates only count tokens), so compare as multisets of words.
    expect(b.toString().split(' ').sort()).toEqual(expected.split(' ').sort());
  });

  it('keeps only the raw events the filter names', () => {
    const b = new GeneratedTextBuffer((ds) => ds.join('|'), (ev) => ev.event === 'delta');
    b.addRaw(Buffer.from('event: start\ndata: S\n\nevent: delta\ndata: A\n\nevent: delta\ndata: B\n\n'));
    expect(b.toString()).toBe('A|B');
  });

  it('holds text, not chunks: a long stream folds its raw bytes away as it goes', () => {
    const b = new GeneratedTextBuffer(collectOpenAIStreamText);
    const big = sse(Array.from({ length: 200 }, (_, i) => chunk(`x${i}`)));
    for (let i = 0; i < 50; i++) b.addRaw(big);
    const held = (b as unknown as { raw: Buffer[] }).raw.reduce((n, c) => n + c.length, 0);
    expect(held).toBeLessThan(32 * 1024);
    expect(b.toString().length).toBe(50 * Array.from({ length: 200 }, (_, i) => `x${i}`).join('').length);
  });
});
