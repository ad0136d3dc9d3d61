/**
 * Wraps and unwraps per-instance data keys (envelope encryption).
 * AWS: KMS (`keyring.kms.ts`); embedded stack: a local master key file (`keyring.local.ts`).
 * `context` is bound to the wrapped key (KMS encryption context / AES-GCM AAD): it must be
 * identifiers only, never secrets or names.
 */
export interface Keyring {
  /** A fresh 32-byte data key, in plaintext (keep in memory only) and wrapped (store this). */
  generateDataKey(context: KeyContext): Promise<{ plaintext: Buffer; wrapped: string }>;
  /** The plaintext of a key produced by `generateDataKey` with the same context. */
  unwrapDataKey(wrapped: string, context: KeyContext): Promise<Buffer>;
}

export type KeyContext = Readonly<Record<string, string>>;

/** Seals the secret fields of one instance with its data key. AAD binds instance id + field. */
export interface InstanceCipher {
  /** The wrapped data key, stored on the instance item. */
  readonly wrappedKey: string;
  seal(field: string, plaintext: string): string;
  /** Throws `SecretUnreadableError` when the ciphertext was tampered with, swapped, or the key is wrong. */
  open(field: string, sealed: string): string;
}

export interface SecretVault {
  /** A new data key for a new instance. */
  newInstanceCipher(instanceId: string): Promise<InstanceCipher>;
  /** The cipher of an existing instance; unwrapped keys are cached in memory for a bounded time. */
  instanceCipher(instanceId: string, wrappedKey: string): Promise<InstanceCipher>;
}

/** Keyed lookups for tokens: HMAC-SHA256(token, server pepper), hex. */
export interface TokenHasher {
  hash(token: string): string;
}
