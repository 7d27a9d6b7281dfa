/**
 * Encryption at rest for upstream credentials (AES-256-GCM), and loading of
 * the key from SWITCHYARD_SECRET_KEY or `<dataDir>/secret.key`.
 *
 * Sealed values are self-describing text, `v1:<keyId>:<iv>:<tag>:<ciphertext>`
 * (base64url parts), so they fit a TEXT column and a future key rotation can
 * tell which key sealed a value. Error messages never carry plaintext or key
 * material, because they end up in logs.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes, scryptSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
// 96-bit IVs are GCM's native size; random per call is safe far beyond the
// number of credentials a gateway will ever seal under one key.
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_FILE = 'secret.key';
const SCRYPT_SALT = 'switchyard-secret-key';

export class SecretBox {
  /** First 8 hex chars of sha256(key): tells a wrong key apart from corruption without revealing the key. */
  readonly keyId: string;
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== KEY_BYTES) {
      throw new Error(`SecretBox needs a ${KEY_BYTES}-byte key, got ${key.length} bytes`);
    }
    // Copy so a caller zeroing or reusing its buffer cannot change ours.
    this.#key = Buffer.from(key);
    this.keyId = createHash('sha256').update(key).digest('hex').slice(0, 8);
  }

  encrypt(plain: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.#key, iv);
    const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    const tag = cipher.getAuthTag();
    return [VERSION, this.keyId, iv.toString('base64url'), tag.toString('base64url'), ciphertext.toString('base64url')].join(':');
  }

  decrypt(sealed: string): string {
    const parts = sealed.split(':');
    if (parts.length !== 5 || parts[0] !== VERSION) {
      throw new Error(`Encrypted secret is corrupt: expected ${VERSION}:<key id>:<iv>:<tag>:<ciphertext>`);
    }
    const [, keyId, ivText, tagText, ciphertextText] = parts;
    if (keyId !== this.keyId) {
      throw new Error(
        `Encrypted secret was encrypted with another SWITCHYARD_SECRET_KEY (key id ${safeKeyId(keyId)}, this instance has ${this.keyId})`,
      );
    }
    const iv = decodeBase64url(ivText);
    const tag = decodeBase64url(tagText);
    const ciphertext = decodeBase64url(ciphertextText);
    if (iv?.length !== IV_BYTES || tag?.length !== TAG_BYTES || ciphertext === undefined) {
      throw new Error('Encrypted secret is corrupt: malformed iv, tag or ciphertext');
    }
    const decipher = createDecipheriv(ALGORITHM, this.#key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch {
      // Key ids match, so this is damage (or tampering), not a wrong key.
      throw new Error('Encrypted secret is corrupt: authentication failed');
    }
  }
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

// Buffer.from(x, 'base64url') skips invalid characters instead of failing.
function decodeBase64url(text: string): Buffer | undefined {
  return BASE64URL.test(text) ? Buffer.from(text, 'base64url') : undefined;
}

// The key id comes from stored data; only echo it if it looks like one.
function safeKeyId(keyId: string): string {
  return /^[0-9a-f]{8}$/.test(keyId) ? keyId : 'unreadable';
}

export interface LoadedSecretKey {
  key: Buffer;
  source: 'env' | 'file' | 'generated';
  /** The key file, when the key came from or went to one, for the caller to log once. */
  path?: string;
}

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
const BASE64_KEY = /^[A-Za-z0-9+/_-]{43}={0,1}$/;

/** A raw 32-byte key as hex, base64 or base64url, or undefined if `text` is none of these. */
function decodeRawKey(text: string): Buffer | undefined {
  if (HEX_KEY.test(text)) return Buffer.from(text, 'hex');
  if (BASE64_KEY.test(text)) {
    // Node's base64 decoder accepts both alphabets.
    const key = Buffer.from(text, 'base64');
    if (key.length === KEY_BYTES) return key;
  }
  return undefined;
}

/**
 * The key from SWITCHYARD_SECRET_KEY (`env`), else from `<dataDir>/secret.key`,
 * else a new random key written there (mode 0600) so a single instance works
 * without setup. Throws if the key file exists but does not hold a 32-byte key:
 * silently replacing it would strand every secret sealed under it.
 */
export function loadSecretKey(opts: { env: string | undefined; dataDir: string }): LoadedSecretKey {
  // An empty value is how compose files and shells spell "unset"; surrounding
  // whitespace is usually a stray newline from `$(cat file)`.
  const fromEnv = opts.env?.trim();
  if (fromEnv) {
    // Operators paste whatever they have (a password-manager phrase, `openssl
    // rand -base64 24`, ...). Rather than reject those, stretch anything that
    // is not a raw 32-byte key into one; scrypt makes a weak phrase costly to
    // brute-force from a leaked ciphertext.
    const key = decodeRawKey(fromEnv) ?? scryptSync(fromEnv, SCRYPT_SALT, KEY_BYTES);
    return { key, source: 'env' };
  }

  const path = join(opts.dataDir, KEY_FILE);
  const existing = readKeyFile(path);
  if (existing) return { key: existing, source: 'file', path };

  mkdirSync(opts.dataDir, { recursive: true });
  const key = randomBytes(KEY_BYTES);
  try {
    // 'wx' fails if the file exists, so two instances starting together cannot
    // both write and end up with different keys.
    writeFileSync(path, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if (!isErrnoException(error) || error.code !== 'EEXIST') throw error;
    return { key: readRacedKeyFile(path), source: 'file', path };
  }
  return { key, source: 'generated', path };
}

/**
 * Another process created the key file first. Its open and write are separate
 * steps, so give it a moment to finish writing before calling the file broken.
 */
function readRacedKeyFile(path: string): Buffer {
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (let attempt = 0; attempt < 20; attempt++) {
    const key = readKeyFile(path);
    if (key) return key;
    Atomics.wait(pause, 0, 0, 10);
  }
  throw new Error(`${path}: key file exists but is empty; delete it to generate a new key`);
}

/** The key in `path`, or undefined if there is no file. */
function readKeyFile(path: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (isErrnoException(error) && error.code === 'ENOENT') return undefined;
    throw error;
  }
  const trimmed = text.trim();
  // Another process may have created the file but not yet written it.
  if (trimmed === '') return undefined;
  const key = decodeRawKey(trimmed);
  if (!key) {
    throw new Error(`${path}: does not contain a base64-encoded ${KEY_BYTES}-byte key`);
  }
  return key;
}

function isErrnoException(error: unknown): error is NodeJS.ErrnoException {
  return error instanceof Error && 'code' in error;
}
