import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretUnreadableError } from '../../domain/errors/secret-unreadable.error.ts';
import type { InstanceCipher, KeyContext, Keyring, SecretVault } from '../../domain/ports/keyring.port.ts';

export interface SecretVaultOptions {
  /** Most unwrapped data keys held at once (LRU). Default 10,000. */
  cacheSize?: number;
  /** How long an unwrapped data key may stay in memory, from the moment it was unwrapped. Default 15 min. */
  cacheTtlMs?: number;
  now?: () => number;
}

const DEFAULT_CACHE_SIZE = 10_000;
const DEFAULT_CACHE_TTL_MS = 15 * 60_000;
const DATA_KEY_BYTES = 32;
const IV_BYTES = 12;
// Fixed explicitly: without authTagLength, Node accepts truncated tags on decrypt.
const TAG_BYTES = 16;
const SEALED_PREFIX = 's1';
const PURPOSE = 'instance-secrets';

interface CacheEntry {
  readonly expiresAt: number;
  readonly cipher: Promise<InstanceCipher>;
}

/**
 * Per-instance envelope encryption on top of a `Keyring`.
 *
 * Unwrapped data keys are cached so KMS sees one Decrypt per instance per process rather than one
 * per request (its cryptographic request quota is shared Region-wide). The TTL is absolute, not
 * sliding, so a hot key still leaves memory and is re-checked against the keyring (a disabled KMS
 * key takes effect within one TTL). The cache key includes the instance id: a wrapped key only
 * ever opens under the context it was made for, cached or not.
 */
export function createSecretVault(keyring: Keyring, opts: SecretVaultOptions = {}): SecretVault {
  const cacheSize = opts.cacheSize ?? DEFAULT_CACHE_SIZE;
  const ttlMs = opts.cacheTtlMs ?? DEFAULT_CACHE_TTL_MS;
  const now = opts.now ?? Date.now;
  if (!Number.isInteger(cacheSize) || cacheSize < 1) throw new Error('cacheSize must be a positive integer');
  if (!(ttlMs > 0)) throw new Error('cacheTtlMs must be positive');

  const cache = new Map<string, CacheEntry>();

  const lookup = (cacheKey: string): Promise<InstanceCipher> | undefined => {
    const entry = cache.get(cacheKey);
    if (entry === undefined) return undefined;
    cache.delete(cacheKey);
    if (entry.expiresAt <= now()) return undefined;
    cache.set(cacheKey, entry);
    return entry.cipher;
  };

  const remember = (cacheKey: string, cipher: Promise<InstanceCipher>): void => {
    const entry: CacheEntry = { expiresAt: now() + ttlMs, cipher };
    cache.delete(cacheKey);
    cache.set(cacheKey, entry);
    while (cache.size > cacheSize) {
      const oldest = cache.keys().next();
      if (oldest.done === true) break;
      cache.delete(oldest.value);
    }
    // A failed unwrap (throttling, network) must not stick: the next caller tries again. The
    // rejection itself still reaches every caller through `cipher`.
    cipher.catch(() => {
      if (cache.get(cacheKey) === entry) cache.delete(cacheKey);
    });
  };

  return {
    async newInstanceCipher(instanceId) {
      const context = keyContext(instanceId);
      const { plaintext, wrapped } = await keyring.generateDataKey(context);
      const cipher = new AesGcmInstanceCipher(instanceId, wrapped, plaintext);
      remember(cacheKeyOf(instanceId, wrapped), Promise.resolve(cipher));
      return cipher;
    },

    async instanceCipher(instanceId, wrappedKey) {
      const context = keyContext(instanceId);
      const cacheKey = cacheKeyOf(instanceId, wrappedKey);
      const cached = lookup(cacheKey);
      if (cached !== undefined) return cached;
      // Stored before the keyring answers, so concurrent callers share this one unwrap.
      const cipher = Promise.resolve()
        .then(() => keyring.unwrapDataKey(wrappedKey, context))
        .then((key) => new AesGcmInstanceCipher(instanceId, wrappedKey, key));
      remember(cacheKey, cipher);
      return cipher;
    },
  };
}

function keyContext(instanceId: string): KeyContext {
  // The AAD is `zapfleet:v1:<instanceId>:<field>`; a colon in the id would make it ambiguous.
  if (instanceId.length === 0 || instanceId.includes(':')) {
    throw new Error('instanceId must be non-empty and must not contain ":"');
  }
  return { instanceId, purpose: PURPOSE };
}

function cacheKeyOf(instanceId: string, wrappedKey: string): string {
  return JSON.stringify([instanceId, wrappedKey]);
}

/** Sealed form: `s1.<iv>.<ciphertext>.<tag>`, base64url; AAD binds instance id and field. */
class AesGcmInstanceCipher implements InstanceCipher {
  readonly #key: Buffer;

  constructor(
    private readonly instanceId: string,
    readonly wrappedKey: string,
    key: Buffer,
  ) {
    if (key.length !== DATA_KEY_BYTES) throw new Error(`Data keys must be ${DATA_KEY_BYTES} bytes`);
    this.#key = key;
  }

  seal(field: string, plaintext: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(this.aad(field));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [SEALED_PREFIX, ...[iv, ciphertext, cipher.getAuthTag()].map((part) => part.toString('base64url'))].join('.');
  }

  open(field: string, sealed: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 4 || parts[0] !== SEALED_PREFIX) throw new SecretUnreadableError();
    const [, ivText = '', ciphertextText = '', tagText = ''] = parts;
    const iv = decodeBase64Url(ivText);
    const ciphertext = decodeBase64Url(ciphertextText);
    const tag = decodeBase64Url(tagText);
    if (iv?.length !== IV_BYTES || ciphertext === undefined || tag?.length !== TAG_BYTES) {
      throw new SecretUnreadableError();
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(this.aad(field));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
    } catch (error) {
      throw new SecretUnreadableError({ cause: error });
    }
  }

  private aad(field: string): Buffer {
    return Buffer.from(`zapfleet:v1:${this.instanceId}:${field}`, 'utf8');
  }
}

/** Strict base64url: `Buffer.from` skips invalid characters, so only a lossless round trip counts. */
function decodeBase64Url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
