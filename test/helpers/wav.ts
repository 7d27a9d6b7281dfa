/**
 * Real RIFF/WAVE files in memory, for audio upload tests (the OpenAI simulator reads an uploaded
 * WAV's header to report its duration, as OpenAI's transcription endpoints do).
 *
 * Layout (little-endian): "RIFF" <size> "WAVE", a "fmt " chunk (16 bytes for PCM: format 1,
 * channels, sample rate, byte rate, block align, bits per sample), a "data" chunk of samples.
 * Duration = data chunk size / byte rate.
 */

export interface WavOptions {
  /** Default 1 (mono). */
  channels?: number;
  /** 8, 16, 24 or 32; default 16. */
  bitsPerSample?: number;
  /** Tone frequency in Hz; 0 gives silence. Default 440. */
  frequency?: number;
  /** Peak amplitude as a fraction of full scale; default 0.25. */
  amplitude?: number;
}

/** A PCM WAV file of `seconds` seconds (rounded to whole samples) holding a sine tone. */
export function makeWav(seconds: number, sampleRate = 16_000, opts: WavOptions = {}): Buffer {
  const channels = opts.channels ?? 1;
  const bits = opts.bitsPerSample ?? 16;
  const frequency = opts.frequency ?? 440;
  const amplitude = opts.amplitude ?? 0.25;
  if (![8, 16, 24, 32].includes(bits)) throw new Error(`makeWav: unsupported bitsPerSample ${bits}`);
  const bytesPerSample = bits / 8;
  const blockAlign = channels * bytesPerSample;
  const frames = Math.max(0, Math.round(seconds * sampleRate));
  const dataBytes = frames * blockAlign;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(channels, 22);
  buf.writeUInt32LE(sampleRate, 24);
  buf.writeUInt32LE(sampleRate * blockAlign, 28);
  buf.writeUInt16LE(blockAlign, 32);
  buf.writeUInt16LE(bits, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  const max = 2 ** (bits - 1) - 1;
  let offset = 44;
  for (let i = 0; i < frames; i++) {
    const v = Math.round(Math.sin((2 * Math.PI * frequency * i) / sampleRate) * amplitude * max);
    for (let c = 0; c < channels; c++) {
      if (bits === 8) buf.writeUInt8(v + 128, offset); // 8-bit WAV is unsigned
      else if (bits === 16) buf.writeInt16LE(v, offset);
      else if (bits === 24) buf.writeIntLE(v, offset, 3);
      else buf.writeInt32LE(v, offset);
      offset += bytesPerSample;
    }
  }
  return buf;
}

export interface WavInfo {
  /** 1 = PCM, 3 = IEEE float, 0xFFFE = extensible. */
  audioFormat: number;
  channels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
  /** Offset of the first sample byte. */
  dataOffset: number;
  /** Sample bytes present (a streaming header's 0 / 0xFFFFFFFF size counts what follows). */
  dataBytes: number;
  /** Seconds: dataBytes / byteRate. */
  duration: number;
}

/** Reads a RIFF/WAVE header; null when `buf` is not a well-formed WAV file. */
export function parseWav(buf: Buffer): WavInfo | null {
  if (buf.length < 12 || buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') return null;
  let fmt: Omit<WavInfo, 'dataOffset' | 'dataBytes' | 'duration'> | undefined;
  let pos = 12;
  while (pos + 8 <= buf.length) {
    const id = buf.toString('ascii', pos, pos + 4);
    const size = buf.readUInt32LE(pos + 4);
    const body = pos + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > buf.length) return null;
      fmt = {
        audioFormat: buf.readUInt16LE(body),
        channels: buf.readUInt16LE(body + 2),
        sampleRate: buf.readUInt32LE(body + 4),
        byteRate: buf.readUInt32LE(body + 8),
        blockAlign: buf.readUInt16LE(body + 12),
        bitsPerSample: buf.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt || fmt.byteRate === 0 || fmt.channels === 0) return null;
      const available = buf.length - body;
      const dataBytes = size === 0 || size === 0xffffffff || size > available ? available : size;
      return { ...fmt, dataOffset: body, dataBytes, duration: dataBytes / fmt.byteRate };
    }
    pos = body + size + (size % 2); // chunks are word-aligned
  }
  return null;
}
