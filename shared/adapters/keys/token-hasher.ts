import { createHmac } from 'node:crypto';
import type { TokenHasher } from '../../domain/ports/keyring.port.ts';

// Shorter peppers would make offline guessing of the stored lookup hashes cheaper.
const MIN_PEPPER_BYTES = 16;

/** Keyed lookup hashes for tokens: HMAC-SHA256(token, pepper), lower-case hex. */
export function createTokenHasher(pepper: Buffer): TokenHasher {
  if (pepper.length < MIN_PEPPER_BYTES) throw new Error(`Token pepper must be at least ${MIN_PEPPER_BYTES} bytes`);
  // Copied so a caller that later zeroes or reuses its buffer cannot change every lookup hash.
  const key = Buffer.from(pepper);
  return {
    hash: (token) => createHmac('sha256', key).update(token, 'utf8').digest('hex'),
  };
}
