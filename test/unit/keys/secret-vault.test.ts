import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LocalKeyring } from '../../../shared/adapters/keys/keyring.local.ts';
import { createSecretVault } from '../../../shared/adapters/keys/secret-vault.ts';
import { SecretUnreadableError } from '../../../shared/domain/errors/secret-unreadable.error.ts';
import type { KeyContext, Keyring } from '../../../shared/domain/ports/keyring.port.ts';

const INSTANCE_A = '6f1c2d3e-0000-4000-8000-00000000000a';
const INSTANCE_B = '6f1c2d3e-0000-4000-8000-00000000000b';

function masterKey(id: string) {
  return { id, key: randomBytes(32) };
}

/** Counts keyring calls; `failNext` makes the next unwrap reject like a throttled KMS would. */
class CountingKeyring implements Keyring {
  generated = 0;
  unwrapped = 0;
  failNext = false;

  constructor(private readonly inner: Keyring) {}

  generateDataKey(context: KeyContext) {
    this.generated += 1;
    return this.inner.generateDataKey(context);
  }

  async unwrapDataKey(wrapped: string, context: KeyContext) {
    this.unwrapped += 1;
    // A tick of latency so concurrent callers really overlap.
    await new Promise((resolve) => setImmediate(resolve));
    if (this.failNext) {
      this.failNext = false;
      throw new Error('ThrottlingException');
    }
    return this.inner.unwrapDataKey(wrapped, context);
  }
}

function failureOf(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => undefined,
    (error: unknown) => error,
  );
}

function tamper(sealed: string, partIndex: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[partIndex] ?? '', 'base64url');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  parts[partIndex] = bytes.toString('base64url');
  return parts.join('.');
}

describe('LocalKeyring', () => {
  it('unwraps a data key with the same context, in any key order', async () => {
    // Prepare
    const keyring = new LocalKeyring({ masterKeys: [masterKey('k1')] });
    const { plaintext, wrapped } = await keyring.generateDataKey({ instanceId: INSTANCE_A, purpose: 'instance-secrets' });

    // Act
    const unwrapped = await keyring.unwrapDataKey(wrapped, { purpose: 'instance-secrets', instanceId: INSTANCE_A });

    // Assess
    expect(plaintext).toHaveLength(32);
    expect(unwrapped.equals(plaintext)).toBe(true);
    expect(wrapped).toMatch(/^local\.v1\.k1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(wrapped).not.toContain(plaintext.toString('base64url'));
  });

  it('refuses a wrapped key that was tampered with or names an unknown master key', async () => {
    // Prepare
    const keyring = new LocalKeyring({ masterKeys: [masterKey('k1')] });
    const context = { instanceId: INSTANCE_A, purpose: 'instance-secrets' };
    const { wrapped } = await keyring.generateDataKey(context);

    // Act
    const failures = await Promise.all([
      failureOf(keyring.unwrapDataKey(tamper(wrapped, 4), context)),
      failureOf(keyring.unwrapDataKey(wrapped.replace('.k1.', '.k9.'), context)),
      failureOf(keyring.unwrapDataKey('not-a-wrapped-key', context)),
    ]);

    // Assess
    for (const failure of failures) expect(failure).toBeInstanceOf(SecretUnreadableError);
  });
});

describe('createSecretVault with LocalKeyring', () => {
  it('opens what it sealed, also through a cipher rebuilt from the wrapped key', async () => {
    // Prepare
    const keyring = new LocalKeyring({ masterKeys: [masterKey('k1')] });
    const cipher = await createSecretVault(keyring).newInstanceCipher(INSTANCE_A);
    const sealed = cipher.seal('proxyPassword', 'pässwörd ✓');

    // Act
    const sameProcess = cipher.open('proxyPassword', sealed);
    const otherProcess = (await createSecretVault(keyring).instanceCipher(INSTANCE_A, cipher.wrappedKey)).open('proxyPassword', sealed);

    // Assess
    expect(sealed).toMatch(/^s1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(sealed).not.toContain('pässwörd');
    expect(sameProcess).toBe('pässwörd ✓');
    expect(otherProcess).toBe('pässwörd ✓');
  });

  it('round-trips an empty secret', async () => {
    // Prepare
    const cipher = await createSecretVault(new LocalKeyring({ masterKeys: [masterKey('k1')] })).newInstanceCipher(INSTANCE_A);

    // Act
    const opened = cipher.open('webhookAuthorization', cipher.seal('webhookAuthorization', ''));

    // Assess
    expect(opened).toBe('');
  });

  it('seals the same plaintext differently every time', async () => {
    // Prepare
    const cipher = await createSecretVault(new LocalKeyring({ masterKeys: [masterKey('k1')] })).newInstanceCipher(INSTANCE_A);

    // Act
    const first = cipher.seal('token', 'same-secret');
    const second = cipher.seal('token', 'same-secret');

    // Assess
    expect(first).not.toBe(second);
    expect(first.split('.')[1]).not.toBe(second.split('.')[1]);
  });

  it('refuses a ciphertext moved to another field', async () => {
    // Prepare
    const cipher = await createSecretVault(new LocalKeyring({ masterKeys: [masterKey('k1')] })).newInstanceCipher(INSTANCE_A);
    const sealed = cipher.seal('s3SecretKey', 'secret');

    // Act
    const open = () => cipher.open('s3AccessKey', sealed);

    // Assess
    expect(open).toThrow(SecretUnreadableError);
  });

  it('refuses a ciphertext moved to another instance, even one sharing the data key', async () => {
    // Prepare: B is given A's raw data key so only the AAD (instance id) tells them apart.
    const keyring = new LocalKeyring({ masterKeys: [masterKey('k1')] });
    const dataKey = randomBytes(32);
    const sameKeyring: Keyring = {
      generateDataKey: async (context) => ({ plaintext: dataKey, wrapped: (await keyring.generateDataKey(context)).wrapped }),
      unwrapDataKey: async () => dataKey,
    };
    const vault = createSecretVault(sameKeyring);
    const cipherA = await vault.newInstanceCipher(INSTANCE_A);
    const cipherB = await vault.newInstanceCipher(INSTANCE_B);
    const sealed = cipherA.seal('token', 'secret');

    // Act
    const open = () => cipherB.open('token', sealed);

    // Assess
    expect(cipherA.open('token', sealed)).toBe('secret');
    expect(open).toThrow(SecretUnreadableError);
  });

  it('refuses tampered, truncated and malformed ciphertexts with an error that reveals nothing', async () => {
    // Prepare
    const cipher = await createSecretVault(new LocalKeyring({ masterKeys: [masterKey('k1')] })).newInstanceCipher(INSTANCE_A);
    const sealed = cipher.seal('token', 'top-secret-value');
    const [prefix, iv, ciphertext, tag] = sealed.split('.');
    const candidates = [
      tamper(sealed, 1),
      tamper(sealed, 2),
      tamper(sealed, 3),
      [prefix, iv, ciphertext, Buffer.from(tag ?? '', 'base64url').subarray(0, 12).toString('base64url')].join('.'),
      [prefix, iv, ciphertext].join('.'),
      `${sealed}=`,
      '',
    ];

    // Act
    const errors = candidates.map((candidate) => {
      try {
        cipher.open('token', candidate);
        return undefined;
      } catch (error) {
        return error;
      }
    });

    // Assess
    for (const error of errors) {
      expect(error).toBeInstanceOf(SecretUnreadableError);
      expect((error as Error).message).not.toContain('top-secret-value');
      expect((error as SecretUnreadableError).code).toBe('secret.unreadable');
    }
  });

  it('refuses to unwrap an instance data key under another instance id, cached or not', async () => {
    // Prepare
    const keyring = new LocalKeyring({ masterKeys: [masterKey('k1')] });
    const vault = createSecretVault(keyring);
    const cipherA = await vault.newInstanceCipher(INSTANCE_A);

    // Act
    const viaSameVault = await failureOf(vault.instanceCipher(INSTANCE_B, cipherA.wrappedKey));
    const viaFreshVault = await failureOf(createSecretVault(keyring).instanceCipher(INSTANCE_B, cipherA.wrappedKey));

    // Assess
    expect(viaSameVault).toBeInstanceOf(SecretUnreadableError);
    expect(viaFreshVault).toBeInstanceOf(SecretUnreadableError);
  });

  it('keeps opening old secrets after a key rotation and wraps new data keys with the newest key', async () => {
    // Prepare
    const oldKey = masterKey('k1');
    const before = await createSecretVault(new LocalKeyring({ masterKeys: [oldKey] })).newInstanceCipher(INSTANCE_A);
    const sealed = before.seal('token', 'issued-before-rotation');
    const rotated = new LocalKeyring({ masterKeys: [oldKey, masterKey('k2')] });

    // Act
    const reopened = (await createSecretVault(rotated).instanceCipher(INSTANCE_A, before.wrappedKey)).open('token', sealed);
    const after = await createSecretVault(rotated).newInstanceCipher(INSTANCE_B);
    const withoutOldKey = await failureOf(
      createSecretVault(new LocalKeyring({ masterKeys: [masterKey('k2')] })).instanceCipher(INSTANCE_A, before.wrappedKey),
    );

    // Assess
    expect(before.wrappedKey.split('.')[2]).toBe('k1');
    expect(reopened).toBe('issued-before-rotation');
    expect(after.wrappedKey.split('.')[2]).toBe('k2');
    expect(after.open('token', after.seal('token', 'x'))).toBe('x');
    expect(withoutOldKey).toBeInstanceOf(SecretUnreadableError);
  });

  it('rejects an instance id that would make the AAD ambiguous', async () => {
    // Prepare
    const vault = createSecretVault(new LocalKeyring({ masterKeys: [masterKey('k1')] }));

    // Act
    const failure = await failureOf(vault.newInstanceCipher('a:b'));

    // Assess
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toMatch(/must not contain ":"/);
  });
});

describe('createSecretVault data key cache', () => {
  async function prepare(opts: Parameters<typeof createSecretVault>[1] = {}) {
    const local = new LocalKeyring({ masterKeys: [masterKey('k1')] });
    const { wrappedKey } = await createSecretVault(local).newInstanceCipher(INSTANCE_A);
    const counting = new CountingKeyring(local);
    return { counting, wrappedKey, vault: createSecretVault(counting, opts) };
  }

  it('unwraps once for repeated and concurrent lookups of the same instance', async () => {
    // Prepare
    const { counting, wrappedKey, vault } = await prepare();

    // Act
    const concurrent = await Promise.all([1, 2, 3, 4, 5].map(() => vault.instanceCipher(INSTANCE_A, wrappedKey)));
    const later = await vault.instanceCipher(INSTANCE_A, wrappedKey);

    // Assess
    expect(counting.unwrapped).toBe(1);
    expect(new Set([...concurrent, later]).size).toBe(1);
  });

  it('never unwraps the key of an instance it created itself', async () => {
    // Prepare
    const counting = new CountingKeyring(new LocalKeyring({ masterKeys: [masterKey('k1')] }));
    const vault = createSecretVault(counting);

    // Act
    const created = await vault.newInstanceCipher(INSTANCE_A);
    const lookedUp = await vault.instanceCipher(INSTANCE_A, created.wrappedKey);

    // Assess
    expect(counting.generated).toBe(1);
    expect(counting.unwrapped).toBe(0);
    expect(lookedUp).toBe(created);
  });

  it('unwraps again once the TTL has passed', async () => {
    // Prepare
    let clock = 1_000_000;
    const { counting, wrappedKey, vault } = await prepare({ cacheTtlMs: 60_000, now: () => clock });
    await vault.instanceCipher(INSTANCE_A, wrappedKey);

    // Act
    clock += 59_999;
    await vault.instanceCipher(INSTANCE_A, wrappedKey);
    const beforeExpiry = counting.unwrapped;
    clock += 1;
    await vault.instanceCipher(INSTANCE_A, wrappedKey);

    // Assess
    expect(beforeExpiry).toBe(1);
    expect(counting.unwrapped).toBe(2);
  });

  it('evicts the least recently used key when full', async () => {
    // Prepare
    const local = new LocalKeyring({ masterKeys: [masterKey('k1')] });
    const creator = createSecretVault(local);
    const [a, b, c] = await Promise.all(['i-a', 'i-b', 'i-c'].map((id) => creator.newInstanceCipher(id)));
    const counting = new CountingKeyring(local);
    const vault = createSecretVault(counting, { cacheSize: 2 });
    await vault.instanceCipher('i-a', a!.wrappedKey);
    await vault.instanceCipher('i-b', b!.wrappedKey);
    await vault.instanceCipher('i-a', a!.wrappedKey);

    // Act: c evicts b (least recently used), not a.
    await vault.instanceCipher('i-c', c!.wrappedKey);
    await vault.instanceCipher('i-a', a!.wrappedKey);
    const afterA = counting.unwrapped;
    await vault.instanceCipher('i-b', b!.wrappedKey);

    // Assess
    expect(afterA).toBe(3);
    expect(counting.unwrapped).toBe(4);
  });

  it('does not cache a failed unwrap', async () => {
    // Prepare
    const { counting, wrappedKey, vault } = await prepare();
    counting.failNext = true;

    // Act
    const failure = await failureOf(vault.instanceCipher(INSTANCE_A, wrappedKey));
    const retried = await vault.instanceCipher(INSTANCE_A, wrappedKey);

    // Assess
    expect(failure).toEqual(new Error('ThrottlingException'));
    expect(counting.unwrapped).toBe(2);
    expect(retried.open('k', retried.seal('k', 'v'))).toBe('v');
  });
});
