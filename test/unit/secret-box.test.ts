import { execFile } from 'node:child_process';
import { createHash, randomBytes, scryptSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadSecretKey, SecretBox } from '../../src/core/secret-box.ts';

const KEY = Buffer.alloc(32, 7);
const KEY_ID = createHash('sha256').update(KEY).digest('hex').slice(0, 8);

describe('SecretBox', () => {
  it('round-trips text, including unicode and empty strings', () => {
    const box = new SecretBox(KEY);
    for (const plain of ['sk-live-abc123', '', 'ключ 🔑', 'x'.repeat(10_000)]) {
      expect(box.decrypt(box.encrypt(plain))).toBe(plain);
    }
  });

  it('seals as v1:<keyId>:<iv>:<tag>:<ciphertext> with a fresh IV each call', () => {
    const box = new SecretBox(KEY);
    expect(box.keyId).toBe(KEY_ID);
    expect(box.keyId).toMatch(/^[0-9a-f]{8}$/);
    const a = box.encrypt('sk-live-abc123');
    const b = box.encrypt('sk-live-abc123');
    expect(a).not.toBe(b);
    const parts = a.split(':');
    expect(parts).toHaveLength(5);
    expect(parts[0]).toBe('v1');
    expect(parts[1]).toBe(KEY_ID);
    expect(Buffer.from(parts[2], 'base64url')).toHaveLength(12);
    expect(Buffer.from(parts[3], 'base64url')).toHaveLength(16);
    expect(Buffer.from(parts[4], 'base64url')).toHaveLength('sk-live-abc123'.length);
    for (const part of parts.slice(2)) expect(part).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(a).not.toContain('sk-live');
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(() => new SecretBox(Buffer.alloc(16))).toThrow(new Error('SecretBox needs a 32-byte key, got 16 bytes'));
  });

  it('tells a wrong key apart from corruption, without leaking secrets', () => {
    const sealed = new SecretBox(KEY).encrypt('sk-live-abc123');
    const other = new SecretBox(Buffer.alloc(32, 9));
    let message = '';
    try {
      other.decrypt(sealed);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      `Encrypted secret was encrypted with another SWITCHYARD_SECRET_KEY (key id ${KEY_ID}, this instance has ${other.keyId})`,
    );
    expect(message).not.toContain('sk-live');
    expect(message).not.toContain(KEY.toString('hex'));
    expect(message).not.toContain(KEY.toString('base64'));
  });

  it('reports a tampered ciphertext or tag as corrupt', () => {
    const box = new SecretBox(KEY);
    const [v, id, iv, tag, ct] = box.encrypt('sk-live-abc123').split(':');
    const flipped = Buffer.from(ct, 'base64url');
    flipped[0] ^= 1;
    expect(() => box.decrypt([v, id, iv, tag, flipped.toString('base64url')].join(':'))).toThrow(
      new Error('Encrypted secret is corrupt: authentication failed'),
    );
    const badTag = Buffer.from(tag, 'base64url');
    badTag[0] ^= 1;
    expect(() => box.decrypt([v, id, iv, badTag.toString('base64url'), ct].join(':'))).toThrow(
      new Error('Encrypted secret is corrupt: authentication failed'),
    );
  });

  it('reports malformed values as corrupt', () => {
    const box = new SecretBox(KEY);
    const [v, id, iv, tag, ct] = box.encrypt('secret').split(':');
    const shape = 'Encrypted secret is corrupt: expected v1:<key id>:<iv>:<tag>:<ciphertext>';
    const parts = 'Encrypted secret is corrupt: malformed iv, tag or ciphertext';
    expect(() => box.decrypt('sk-plaintext')).toThrow(new Error(shape));
    expect(() => box.decrypt(['v2', id, iv, tag, ct].join(':'))).toThrow(new Error(shape));
    expect(() => box.decrypt([v, id, iv, tag].join(':'))).toThrow(new Error(shape));
    expect(() => box.decrypt([v, id, iv.slice(2), tag, ct].join(':'))).toThrow(new Error(parts));
    expect(() => box.decrypt([v, id, iv, tag.slice(2), ct].join(':'))).toThrow(new Error(parts));
    expect(() => box.decrypt([v, id, iv, tag, `${ct}!`].join(':'))).toThrow(new Error(parts));
  });

  it('does not echo a malformed key id', () => {
    const box = new SecretBox(KEY);
    const [v, , iv, tag, ct] = box.encrypt('secret').split(':');
    expect(() => box.decrypt([v, 'sk-live-oops', iv, tag, ct].join(':'))).toThrow(
      new Error(`Encrypted secret was encrypted with another SWITCHYARD_SECRET_KEY (key id unreadable, this instance has ${KEY_ID})`),
    );
  });

  it('is not affected by the caller mutating its key buffer', () => {
    const key = Buffer.from(KEY);
    const box = new SecretBox(key);
    const sealed = box.encrypt('secret');
    key.fill(0);
    expect(box.decrypt(sealed)).toBe('secret');
  });
});

describe('loadSecretKey', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'switchyard-secret-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('accepts 64 hex chars as the raw key', () => {
    const raw = randomBytes(32);
    expect(loadSecretKey({ env: raw.toString('hex'), dataDir: dir })).toEqual({ key: raw, source: 'env' });
    expect(loadSecretKey({ env: raw.toString('hex').toUpperCase(), dataDir: dir }).key).toEqual(raw);
  });

  it('accepts base64 and base64url of exactly 32 bytes as the raw key', () => {
    // 0xfb/0xff bytes force '+', '/', '-' and '_' into the encodings.
    const raw = Buffer.concat([Buffer.alloc(16, 0xfb), Buffer.alloc(16, 0xff)]);
    expect(raw.toString('base64')).toMatch(/[+/]/);
    expect(raw.toString('base64url')).toMatch(/[-_]/);
    expect(loadSecretKey({ env: raw.toString('base64'), dataDir: dir }).key).toEqual(raw);
    expect(loadSecretKey({ env: raw.toString('base64url'), dataDir: dir }).key).toEqual(raw);
    expect(loadSecretKey({ env: `${raw.toString('base64')}\n`, dataDir: dir }).key).toEqual(raw);
  });

  it('stretches anything else as a passphrase with scrypt', () => {
    const expected = scryptSync('correct horse battery staple', 'switchyard-secret-key', 32);
    expect(loadSecretKey({ env: 'correct horse battery staple', dataDir: dir })).toEqual({ key: expected, source: 'env' });
    // Base64 of 24 bytes (openssl rand -base64 24) and 63 hex chars are passphrases, not keys.
    const short = randomBytes(24).toString('base64');
    expect(loadSecretKey({ env: short, dataDir: dir }).key).toEqual(scryptSync(short, 'switchyard-secret-key', 32));
    const hex63 = 'a'.repeat(63);
    expect(loadSecretKey({ env: hex63, dataDir: dir }).key).toEqual(scryptSync(hex63, 'switchyard-secret-key', 32));
  });

  it('does not touch the data dir when the env key is set', () => {
    const dataDir = join(dir, 'never');
    loadSecretKey({ env: 'passphrase', dataDir });
    expect(() => statSync(dataDir)).toThrow();
  });

  it('generates a key file with mode 0600, creating the directory, then reads it back', () => {
    const dataDir = join(dir, 'nested', 'data');
    const path = join(dataDir, 'secret.key');
    const first = loadSecretKey({ env: undefined, dataDir });
    expect(first.source).toBe('generated');
    expect(first.path).toBe(path);
    expect(first.key).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(path, 'utf8').trim(), 'base64')).toEqual(first.key);

    const second = loadSecretKey({ env: undefined, dataDir });
    expect(second).toEqual({ key: first.key, source: 'file', path });
    // An empty env var means unset.
    expect(loadSecretKey({ env: '  ', dataDir })).toEqual({ key: first.key, source: 'file', path });
  });

  it('reads an existing key file written by an operator', () => {
    const raw = randomBytes(32);
    writeFileSync(join(dir, 'secret.key'), `${raw.toString('base64')}\n`);
    expect(loadSecretKey({ env: undefined, dataDir: dir })).toEqual({ key: raw, source: 'file', path: join(dir, 'secret.key') });
  });

  it('refuses a key file that does not hold a key rather than replacing it', () => {
    const path = join(dir, 'secret.key');
    writeFileSync(path, 'not a key\n');
    expect(() => loadSecretKey({ env: undefined, dataDir: dir })).toThrow(
      new Error(`${path}: does not contain a base64-encoded 32-byte key`),
    );
    expect(readFileSync(path, 'utf8')).toBe('not a key\n');
  });

  it('reports a key file that stays empty', () => {
    const path = join(dir, 'secret.key');
    writeFileSync(path, '');
    expect(() => loadSecretKey({ env: undefined, dataDir: dir })).toThrow(
      new Error(`${path}: key file exists but is empty; delete it to generate a new key`),
    );
  });

  it('when another process creates the file first (EEXIST), uses its key', async () => {
    const path = join(dir, 'secret.key');
    const winner = randomBytes(32);
    writeFileSync(path, winner.toString('base64'), { mode: 0o600 });
    // Replay the interleaving: our existence check saw no file, the winner
    // then created it and was mid-write on our first re-read.
    const reads: string[] = ['ENOENT', ''];
    vi.resetModules();
    vi.doMock('node:fs', async (importOriginal) => {
      const fs = await importOriginal<typeof import('node:fs')>();
      const readFileSync = ((file: string, options: BufferEncoding) => {
        const next = reads.shift();
        if (next === 'ENOENT') throw Object.assign(new Error('no such file'), { code: 'ENOENT' });
        if (next !== undefined) return next;
        return fs.readFileSync(file, options);
      }) as typeof fs.readFileSync;
      return { ...fs, readFileSync };
    });
    try {
      const { loadSecretKey: racingLoad } = await import('../../src/core/secret-box.ts');
      expect(racingLoad({ env: undefined, dataDir: dir })).toEqual({ key: winner, source: 'file', path });
      expect(reads).toEqual([]);
    } finally {
      vi.doUnmock('node:fs');
      vi.resetModules();
    }
    expect(readFileSync(path, 'utf8')).toBe(winner.toString('base64'));
  });

  it('processes starting together all load the one key that was written', async () => {
    const dataDir = join(dir, 'shared');
    const moduleUrl = new URL('../../src/core/secret-box.ts', import.meta.url).href;
    const startAt = Date.now() + 1500;
    // Each child spins until the same instant so their check-then-create steps overlap.
    const script = `
      const { loadSecretKey } = await import(${JSON.stringify(moduleUrl)});
      while (Date.now() < ${startAt});
      const { key, source } = loadSecretKey({ env: undefined, dataDir: ${JSON.stringify(dataDir)} });
      process.stdout.write(JSON.stringify({ key: key.toString('base64'), source }));
    `;
    const run = () =>
      new Promise<{ key: string; source: string }>((resolve, reject) => {
        execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { timeout: 20_000 }, (error, stdout) =>
          error ? reject(error) : resolve(JSON.parse(stdout) as { key: string; source: string }),
        );
      });
    const results = await Promise.all([run(), run(), run()]);
    const onDisk = readFileSync(join(dataDir, 'secret.key'), 'utf8').trim();
    expect(results.map((r) => r.key)).toEqual([onDisk, onDisk, onDisk]);
    expect(results.filter((r) => r.source === 'generated')).toHaveLength(1);
  });
});
