import { KMSClient, NotFoundException } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsKeyring } from '../../../shared/adapters/keys/keyring.kms.ts';
import { createSecretVault } from '../../../shared/adapters/keys/secret-vault.ts';
import { SecretUnreadableError } from '../../../shared/domain/errors/secret-unreadable.error.ts';
import { startKmsFake, type KmsFake } from '../../support/kms-fake.ts';

const INSTANCE_A = '0b9a2c1e-0000-4000-8000-00000000000a';
const INSTANCE_B = '0b9a2c1e-0000-4000-8000-00000000000b';

describe('KmsKeyring against the KMS-protocol fake', () => {
  let kms: KmsFake;
  let client: KMSClient;

  beforeAll(async () => {
    kms = await startKmsFake({ keyIds: ['1234abcd-12ab-34cd-56ef-1234567890ab', '0987dcba-09fe-87dc-65ba-ab0987654321'] });
    client = new KMSClient({
      endpoint: kms.endpoint,
      region: kms.region,
      credentials: { accessKeyId: 'AKIAFAKE', secretAccessKey: 'fake-secret' },
      maxAttempts: 1,
    });
  });

  afterAll(async () => {
    client?.destroy();
    await kms?.stop();
  });

  function targetsSince(start: number): string[] {
    return kms.calls.slice(start).map((call) => call.target);
  }

  it('unwraps a generated data key with the same context', async () => {
    // Prepare
    const keyring = new KmsKeyring(client, kms.keyId);
    const start = kms.calls.length;

    // Act
    const { plaintext, wrapped } = await keyring.generateDataKey({ instanceId: INSTANCE_A, purpose: 'instance-secrets' });
    const unwrapped = await keyring.unwrapDataKey(wrapped, { purpose: 'instance-secrets', instanceId: INSTANCE_A });

    // Assess
    expect(plaintext).toHaveLength(32);
    expect(wrapped).toMatch(/^kms\.v1\.[A-Za-z0-9+/]+=*$/);
    expect(unwrapped.equals(plaintext)).toBe(true);
    expect(targetsSince(start)).toEqual(['TrentService.GenerateDataKey', 'TrentService.Decrypt']);
  });

  it('reports a wrong context, a tampered blob or another key as SecretUnreadableError', async () => {
    // Prepare
    const keyring = new KmsKeyring(client, kms.keyId);
    const context = { instanceId: INSTANCE_A, purpose: 'instance-secrets' };
    const { wrapped } = await keyring.generateDataKey(context);
    const blob = Buffer.from(wrapped.slice('kms.v1.'.length), 'base64');
    blob[blob.length - 1] = (blob[blob.length - 1] ?? 0) ^ 0x01;
    const otherKeyring = new KmsKeyring(client, kms.keyIds[1]!);

    // Act
    const failures = await Promise.all(
      [
        keyring.unwrapDataKey(wrapped, { instanceId: INSTANCE_B, purpose: 'instance-secrets' }),
        keyring.unwrapDataKey(`kms.v1.${blob.toString('base64')}`, context),
        otherKeyring.unwrapDataKey(wrapped, context),
        keyring.unwrapDataKey('local.v1.k1.a.b.c', context),
      ].map((attempt) => attempt.then(() => undefined, (error: unknown) => error)),
    );

    // Assess
    expect(failures).toHaveLength(4);
    for (const failure of failures) expect(failure).toBeInstanceOf(SecretUnreadableError);
  });

  it('lets other KMS errors through unchanged', async () => {
    // Prepare
    const context = { instanceId: INSTANCE_A, purpose: 'instance-secrets' };
    const { wrapped } = await new KmsKeyring(client, kms.keyId).generateDataKey(context);
    const misconfigured = new KmsKeyring(client, 'no-such-key');

    // Act
    const failures = await Promise.all(
      [misconfigured.generateDataKey(context), misconfigured.unwrapDataKey(wrapped, context)].map((attempt) =>
        attempt.then(() => undefined, (error: unknown) => error),
      ),
    );

    // Assess
    expect(failures).toHaveLength(2);
    for (const failure of failures) expect(failure).toBeInstanceOf(NotFoundException);
  });

  it('backs a secret vault that calls KMS once per instance per process', async () => {
    // Prepare
    const keyring = new KmsKeyring(client, kms.keyId);
    const start = kms.calls.length;
    const creatingProcess = createSecretVault(keyring);
    const created = await creatingProcess.newInstanceCipher(INSTANCE_A);
    const sealed = created.seal('chatwootApiToken', 'cw-token-123');
    const otherProcess = createSecretVault(keyring);

    // Act
    const concurrent = await Promise.all([1, 2, 3].map(() => otherProcess.instanceCipher(INSTANCE_A, created.wrappedKey)));
    const repeated = await otherProcess.instanceCipher(INSTANCE_A, created.wrappedKey);
    const fromCreator = await creatingProcess.instanceCipher(INSTANCE_A, created.wrappedKey);

    // Assess
    expect(concurrent.map((cipher) => cipher.open('chatwootApiToken', sealed))).toEqual(['cw-token-123', 'cw-token-123', 'cw-token-123']);
    expect(repeated.open('chatwootApiToken', sealed)).toBe('cw-token-123');
    expect(fromCreator).toBe(created);
    expect(() => repeated.open('proxyPassword', sealed)).toThrow(SecretUnreadableError);
    expect(targetsSince(start)).toEqual(['TrentService.GenerateDataKey', 'TrentService.Decrypt']);
  });
});
