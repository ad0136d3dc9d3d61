import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createTokenHasher } from '../../../shared/adapters/keys/token-hasher.ts';

const PEPPER = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
const OTHER_PEPPER = Buffer.from('fedcba9876543210fedcba9876543210', 'hex');
const TOKEN = 'a1b2c3d4-5e6f-4a7b-8c9d-0e1f2a3b4c5d';

describe('token hasher', () => {
  it('gives the same hash for the same token, across hashers with the same pepper', () => {
    // Prepare
    const hasher = createTokenHasher(PEPPER);
    const otherProcess = createTokenHasher(Buffer.from(PEPPER));

    // Act
    const hashes = [hasher.hash(TOKEN), hasher.hash(TOKEN), otherProcess.hash(TOKEN)];

    // Assess
    expect(new Set(hashes).size).toBe(1);
  });

  it('gives a different hash under a different pepper', () => {
    // Act
    const first = createTokenHasher(PEPPER).hash(TOKEN);
    const second = createTokenHasher(OTHER_PEPPER).hash(TOKEN);

    // Assess
    expect(first).not.toBe(second);
  });

  it('gives different hashes for tokens that differ in one character or in case', () => {
    // Prepare
    const hasher = createTokenHasher(PEPPER);

    // Act
    const hashes = [TOKEN, `${TOKEN.slice(0, -1)}e`, TOKEN.toUpperCase()].map((token) => hasher.hash(token));

    // Assess
    expect(new Set(hashes).size).toBe(3);
  });

  it('is 64 lower-case hex characters and does not contain the token', () => {
    // Act
    const hash = createTokenHasher(PEPPER).hash(TOKEN);

    // Assess
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(hash).not.toContain(TOKEN.slice(0, 8));
  });

  it('is a keyed hash, not a plain SHA-256 of the token', () => {
    // Act
    const hash = createTokenHasher(PEPPER).hash(TOKEN);

    // Assess
    expect(hash).not.toBe(createHash('sha256').update(TOKEN).digest('hex'));
  });

  it('is not affected when the caller later overwrites its pepper buffer', () => {
    // Prepare
    const pepper = Buffer.from(PEPPER);
    const hasher = createTokenHasher(pepper);
    const before = hasher.hash(TOKEN);

    // Act
    pepper.fill(0);
    const after = hasher.hash(TOKEN);

    // Assess
    expect(after).toBe(before);
  });

  it('refuses a pepper shorter than 16 bytes', () => {
    // Act
    const attempt = () => createTokenHasher(Buffer.alloc(15, 1));

    // Assess
    expect(attempt).toThrow(/at least 16 bytes/);
  });
});
