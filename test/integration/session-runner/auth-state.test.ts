import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { proto, type SignalDataSet } from '@whiskeysockets/baileys';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { documentClient, type DynamoContext } from '../../../shared/adapters/dynamodb/document-client.ts';
import { ensureTable, keys } from '../../../shared/adapters/dynamodb/table.ts';
import { createTransactBatcher, type TransactBatcher } from '../../../shared/adapters/dynamodb/transact-batcher.ts';
import { LocalKeyring } from '../../../shared/adapters/keys/keyring.local.ts';
import { createSecretVault } from '../../../shared/adapters/keys/secret-vault.ts';
import { SecretUnreadableError } from '../../../shared/domain/errors/secret-unreadable.error.ts';
import type { Fence } from '../../../shared/domain/fleet/fleet.ts';
import type { InstanceCipher, SecretVault } from '../../../shared/domain/ports/keyring.port.ts';
import type { Logger } from '../../../shared/domain/ports/runtime.port.ts';
import {
  AuthStateWipedError,
  createDynamoAuthState,
  FencedOutError,
  type DynamoAuthState,
} from '../../../session-runner/baileys/auth-state.dynamodb.ts';

const logger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

async function failureOf(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => undefined,
    (error: unknown) => error,
  );
}

const keyPair = () => ({ public: randomBytes(33), private: randomBytes(32) });

describe('DynamoDB auth state', () => {
  let client: DynamoDBClient;
  let doc: DynamoDBDocumentClient;
  let tableName: string;
  let ctx: DynamoContext;
  let vault: SecretVault;
  let nextShard = 0;

  beforeAll(async () => {
    client = new DynamoDBClient({
      endpoint: inject('dynamodbEndpoint'),
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    tableName = `auth-state-${randomUUID()}`;
    await ensureTable(client, tableName);
    doc = documentClient(client);
    ctx = { doc, tableName };
    vault = createSecretVault(new LocalKeyring({ masterKeys: [{ id: 'k1', key: randomBytes(32) }] }));
  });

  afterAll(() => {
    client?.destroy();
  });

  /** A shard of its own, leased to r1 at epoch 1, so tests never see each other's lease changes. */
  async function leasedShard(): Promise<Fence> {
    const fence = { shard: nextShard++, owner: 'r1', epoch: 1 };
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...keys.lease(fence.shard), owner: fence.owner, epoch: fence.epoch, expiresAt: Date.now() + 30_000 },
      }),
    );
    return fence;
  }

  async function takeOver(shard: number, owner: string, epoch: number): Promise<void> {
    await doc.send(
      new UpdateCommand({
        TableName: tableName,
        Key: keys.lease(shard),
        UpdateExpression: 'SET #owner = :owner, #epoch = :epoch',
        ExpressionAttributeNames: { '#owner': 'owner', '#epoch': 'epoch' },
        ExpressionAttributeValues: { ':owner': owner, ':epoch': epoch },
      }),
    );
  }

  interface Instance {
    id: string;
    cipher: InstanceCipher;
    fence: Fence;
  }

  async function newInstance(): Promise<Instance> {
    const id = randomUUID();
    return { id, cipher: await vault.newInstanceCipher(id), fence: await leasedShard() };
  }

  function open(
    instance: Instance,
    options: { fence?: () => Fence | null; context?: DynamoContext; batcher?: TransactBatcher } = {},
  ): Promise<DynamoAuthState> {
    return createDynamoAuthState(options.context ?? ctx, {
      instanceId: instance.id,
      cipher: instance.cipher,
      fence: options.fence ?? (() => instance.fence),
      logger,
      ...(options.batcher ? { batcher: options.batcher } : {}),
    });
  }

  async function partition(instanceId: string): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': keys.authPartition(instanceId) },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      items.push(...(page.Items ?? []));
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return items;
  }

  /** A document client that records every command it sends, and can be told to fail some. */
  function recordingContext(
    fail?: (commandName: string) => Error | null,
    delayMs?: (commandName: string) => number,
  ): { context: DynamoContext; sent: { name: string; input: unknown }[] } {
    const sent: { name: string; input: unknown }[] = [];
    const proxy = new Proxy(doc, {
      get(target, property, receiver) {
        if (property !== 'send') return Reflect.get(target, property, receiver) as unknown;
        return async (command: { constructor: { name: string }; input: unknown }) => {
          const name = command.constructor.name;
          sent.push({ name, input: command.input });
          const failure = fail?.(name);
          if (failure) throw failure;
          const delay = delayMs?.(name) ?? 0;
          if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
          return (target.send as (c: unknown) => Promise<unknown>)(command);
        };
      },
    });
    return { context: { doc: proxy, tableName }, sent };
  }

  const preKeys = (count: number, from = 1) =>
    Object.fromEntries(Array.from({ length: count }, (_, i) => [String(from + i), keyPair()]));

  describe('creds', () => {
    it('starts with fresh, unlinked creds and stores nothing until saveCreds', async () => {
      // Prepare
      const instance = await newInstance();

      // Act
      const auth = await open(instance);

      // Assess
      expect(auth.state.creds.noiseKey.private).toHaveLength(32);
      expect(auth.state.creds.registered).toBe(false);
      expect(auth.isLinked()).toBe(false);
      expect(await partition(instance.id)).toEqual([]);
    });

    it('round-trips the creds, Buffers included, and reports a paired instance as linked', async () => {
      // Prepare
      const instance = await newInstance();
      const first = await open(instance);
      const creds = first.state.creds;
      creds.me = { id: '5511999999999:12@s.whatsapp.net', name: 'Orion', lid: '123456789:12@lid' };
      creds.account = {
        details: new Uint8Array([1, 2, 3]),
        accountSignatureKey: randomBytes(32),
        accountSignature: randomBytes(64),
        deviceSignature: randomBytes(64),
      };
      creds.routingInfo = randomBytes(12);
      creds.registered = true;
      creds.nextPreKeyId = 813;

      // Act
      await first.saveCreds();
      const reopened = await open(instance);

      // Assess
      const loaded = reopened.state.creds;
      expect(reopened.isLinked()).toBe(true);
      expect(loaded.me).toEqual(creds.me);
      expect(Buffer.isBuffer(loaded.noiseKey.private)).toBe(true);
      expect(loaded.noiseKey).toEqual(creds.noiseKey);
      expect(loaded.signedIdentityKey).toEqual(creds.signedIdentityKey);
      expect(loaded.signedPreKey).toEqual(creds.signedPreKey);
      expect(loaded.pairingEphemeralKeyPair).toEqual(creds.pairingEphemeralKeyPair);
      expect(loaded.advSecretKey).toBe(creds.advSecretKey);
      expect(loaded.registrationId).toBe(creds.registrationId);
      expect(loaded.nextPreKeyId).toBe(813);
      expect(loaded.registered).toBe(true);
      expect(Buffer.from(loaded.account!.details!)).toEqual(Buffer.from([1, 2, 3]));
      expect(Buffer.from(loaded.account!.deviceSignature!)).toEqual(Buffer.from(creds.account.deviceSignature!));
      expect(loaded.routingInfo).toEqual(creds.routingInfo);
    });

    it('does not count provisional creds (me without account, as a pairing code writes them) as linked', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance);
      auth.state.creds.me = { id: '5511999999999@s.whatsapp.net', name: '~' };
      auth.state.creds.pairingCode = 'ABCD1234';

      // Act
      await auth.saveCreds();
      const reopened = await open(instance);

      // Assess
      expect(auth.isLinked()).toBe(false);
      expect(reopened.isLinked()).toBe(false);
      expect(reopened.state.creds.pairingCode).toBe('ABCD1234');
    });

    it('ends with the last value when saves overlap', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance);
      const saves: Promise<void>[] = [];

      // Act
      for (let i = 1; i <= 10; i++) {
        auth.state.creds.lastPropHash = `hash-${i}`;
        saves.push(auth.saveCreds());
        if (i % 3 === 0) await saves[saves.length - 1];
      }
      await Promise.all(saves);
      const reopened = await open(instance);

      // Assess
      expect(reopened.state.creds.lastPropHash).toBe('hash-10');
    });
  });

  describe('keys', () => {
    it('round-trips every key type, turning Uint8Arrays into Buffers and app-state keys into protos', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance);
      const preKey = keyPair();
      const session = new Uint8Array(randomBytes(300));
      const senderKey = new Uint8Array(randomBytes(120));
      const identity = new Uint8Array(randomBytes(33));
      const appStateKeyData = new Uint8Array(randomBytes(32));
      const ltHash = randomBytes(128);
      const valueMac = randomBytes(32);
      const tcToken = randomBytes(24);
      const data: SignalDataSet = {
        'pre-key': { '7': preKey },
        session: { '5511988887777.0': session },
        'sender-key': { '120363000000000000@g.us::5511988887777::0': senderKey },
        'sender-key-memory': { '120363000000000000@g.us': { '5511988887777:0@s.whatsapp.net': true } },
        'app-state-sync-key': {
          AAAAAHbP: { keyData: appStateKeyData, fingerprint: { rawId: 7, currentIndex: 2, deviceIndexes: [0, 4] }, timestamp: 1_777_372_200 },
        },
        'app-state-sync-version': { regular_high: { version: 12, hash: ltHash, indexValueMap: { 'aW5kZXg=': { valueMac } } } },
        'lid-mapping': { '5511988887777': '98765432101234', '98765432101234_reverse': '5511988887777' },
        'device-list': { '5511988887777': ['0', '3'] },
        tctoken: { '5511988887777@s.whatsapp.net': { token: tcToken, timestamp: '1777372200' } },
        'identity-key': { '5511988887777.0': identity },
      };

      // Act
      await auth.state.keys.set(data);
      const reader = await open(instance);
      const get = reader.state.keys.get.bind(reader.state.keys);
      const [preKeys, sessions, senderKeys, memories, syncKeys, versions, lids, devices, tokens, identities] = await Promise.all([
        get('pre-key', ['7']),
        get('session', ['5511988887777.0']),
        get('sender-key', ['120363000000000000@g.us::5511988887777::0']),
        get('sender-key-memory', ['120363000000000000@g.us']),
        get('app-state-sync-key', ['AAAAAHbP']),
        get('app-state-sync-version', ['regular_high']),
        get('lid-mapping', ['5511988887777', '98765432101234_reverse']),
        get('device-list', ['5511988887777']),
        get('tctoken', ['5511988887777@s.whatsapp.net']),
        get('identity-key', ['5511988887777.0']),
      ]);

      // Assess
      expect(preKeys).toEqual({ '7': { public: preKey.public, private: preKey.private } });
      expect(sessions).toEqual({ '5511988887777.0': Buffer.from(session) });
      expect(senderKeys).toEqual({ '120363000000000000@g.us::5511988887777::0': Buffer.from(senderKey) });
      expect(memories).toEqual({ '120363000000000000@g.us': { '5511988887777:0@s.whatsapp.net': true } });
      const syncKey = syncKeys.AAAAAHbP;
      expect(syncKey).toBeInstanceOf(proto.Message.AppStateSyncKeyData);
      expect(Buffer.from(syncKey!.keyData!)).toEqual(Buffer.from(appStateKeyData));
      expect(syncKey!.fingerprint?.rawId).toBe(7);
      expect(syncKey!.fingerprint?.deviceIndexes).toEqual([0, 4]);
      expect(Number(syncKey!.timestamp)).toBe(1_777_372_200);
      expect(versions).toEqual({ regular_high: { version: 12, hash: ltHash, indexValueMap: { 'aW5kZXg=': { valueMac } } } });
      expect(lids).toEqual({ '5511988887777': '98765432101234', '98765432101234_reverse': '5511988887777' });
      expect(devices).toEqual({ '5511988887777': ['0', '3'] });
      expect(tokens).toEqual({ '5511988887777@s.whatsapp.net': { token: tcToken, timestamp: '1777372200' } });
      expect(identities).toEqual({ '5511988887777.0': Buffer.from(identity) });
    });

    it('leaves unknown ids out of the answer and deletes keys set to null', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance);
      await auth.state.keys.set({ session: { a: new Uint8Array([1]), b: new Uint8Array([2]) } });

      // Act
      await auth.state.keys.set({ session: { a: null } });
      const sessions = await auth.state.keys.get('session', ['a', 'b', 'never-stored', 'b']);

      // Assess
      expect(sessions).toEqual({ b: Buffer.from([2]) });
      expect((await partition(instance.id)).map((item) => item.sk)).toEqual(['KEY#session#b']);
    });

    it('writes 812 pre-keys set in one call as fenced transactions of at most 100 actions, and reads them all back', async () => {
      // Prepare
      const instance = await newInstance();
      const { context, sent } = recordingContext();
      const auth = await open(instance, { context });
      const uploaded = preKeys(812);

      // Act
      await auth.state.keys.set({ 'pre-key': uploaded });
      const read = await auth.state.keys.get('pre-key', Object.keys(uploaded));

      // Assess
      expect(Object.keys(read)).toHaveLength(812);
      expect(read['812']).toEqual(uploaded['812']);
      expect(read['1']).toEqual(uploaded['1']);
      expect(await partition(instance.id)).toHaveLength(812);
      const transactions = sent.filter((call) => call.name === 'TransactWriteCommand').map((call) => call.input as { TransactItems: Record<string, unknown>[] });
      expect(transactions).toHaveLength(Math.ceil(812 / 99));
      for (const { TransactItems } of transactions) {
        expect(TransactItems.length).toBeLessThanOrEqual(100);
        expect(TransactItems[0]).toHaveProperty('ConditionCheck');
      }
      expect(sent.some((call) => call.name === 'BatchWriteCommand')).toBe(false);
    });
  });

  describe('fencing', () => {
    it('refuses a write with a stale epoch with FencedOutError and writes nothing', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance);
      await takeOver(instance.fence.shard, 'r2', 2);

      // Act
      const keyFailure = await failureOf(auth.state.keys.set({ 'pre-key': preKeys(150) }));
      const credsFailure = await failureOf(auth.saveCreds());

      // Assess
      expect(keyFailure).toBeInstanceOf(FencedOutError);
      expect((keyFailure as FencedOutError).holder).toEqual({ owner: 'r2', epoch: 2 });
      expect(credsFailure).toBeInstanceOf(FencedOutError);
      expect(await partition(instance.id)).toEqual([]);
    });

    it('refuses a write from the right epoch but another owner', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance, { fence: () => ({ ...instance.fence, owner: 'r9' }) });

      // Act
      const failure = await failureOf(auth.state.keys.set({ session: { peer: new Uint8Array([1]) } }));

      // Assess
      expect(failure).toBeInstanceOf(FencedOutError);
      expect(await partition(instance.id)).toEqual([]);
    });

    it('refuses every write with FencedOutError once fence() says the shard is not held', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance, { fence: () => null });

      // Act
      const keyFailure = await failureOf(auth.state.keys.set({ session: { peer: new Uint8Array([1]) } }));
      const credsFailure = await failureOf(auth.saveCreds());

      // Assess
      expect(keyFailure).toBeInstanceOf(FencedOutError);
      expect(credsFailure).toBeInstanceOf(FencedOutError);
      expect(await partition(instance.id)).toEqual([]);
    });

    it('stops a chunked commit at the first chunk after the lease is lost', async () => {
      // Prepare
      const instance = await newInstance();
      let checks = 0;
      const auth = await open(instance, { fence: () => (++checks === 1 ? instance.fence : null) });

      // Act
      const failure = await failureOf(auth.state.keys.set({ 'pre-key': preKeys(300) }));

      // Assess
      expect(failure).toBeInstanceOf(FencedOutError);
      expect(await partition(instance.id)).toHaveLength(99);
    });
  });

  describe('confidentiality', () => {
    it('stores only keys and a sealed value: no key material in a raw scan', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance);
      const preKey = keyPair();
      const session = randomBytes(64);
      auth.state.creds.me = { id: '5511999999999:1@s.whatsapp.net', name: 'Orion' };

      // Act
      await auth.state.keys.set({ 'pre-key': { '1': preKey }, session: { '5511988887777.0': session } });
      await auth.saveCreds();
      const scan = await doc.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));

      // Assess
      const items = (scan.Items ?? []).filter((item) => item.pk === keys.authPartition(instance.id));
      expect(items).toHaveLength(3);
      for (const item of items) expect(Object.keys(item).sort()).toEqual(['pk', 'sealed', 'sk']);
      const raw = JSON.stringify(scan.Items);
      const secrets = [preKey.private, preKey.public, session, auth.state.creds.noiseKey.private, auth.state.creds.signedIdentityKey.private];
      for (const secret of secrets) {
        expect(raw).not.toContain(secret.toString('base64'));
        expect(raw).not.toContain(secret.toString('base64url'));
        expect(raw).not.toContain(secret.toString('hex'));
      }
      expect(raw).not.toContain(auth.state.creds.advSecretKey);
      expect(raw).not.toContain('5511999999999');
    });

    it('does not open a sealed value copied under another key id, key type or instance', async () => {
      // Prepare
      const instance = await newInstance();
      const other = await newInstance();
      const auth = await open(instance);
      await auth.state.keys.set({ 'pre-key': { '1': keyPair() } });
      const original = await doc.send(new GetCommand({ TableName: tableName, Key: keys.authKey(instance.id, 'pre-key', '1') }));
      const sealed = original.Item!.sealed as string;
      await doc.send(new PutCommand({ TableName: tableName, Item: { ...keys.authKey(instance.id, 'pre-key', '2'), sealed } }));
      await doc.send(new PutCommand({ TableName: tableName, Item: { ...keys.authKey(instance.id, 'identity-key', '1'), sealed } }));
      await doc.send(new PutCommand({ TableName: tableName, Item: { ...keys.authCreds(instance.id), sealed } }));

      // Act
      const otherId = await failureOf(auth.state.keys.get('pre-key', ['2']));
      const otherType = await failureOf(auth.state.keys.get('identity-key', ['1']));
      const asCreds = await failureOf(open(instance));
      // The other instance's own cipher, and its own partition.
      await doc.send(new PutCommand({ TableName: tableName, Item: { ...keys.authKey(other.id, 'pre-key', '1'), sealed } }));
      const otherInstance = await failureOf((await open(other)).state.keys.get('pre-key', ['1']));

      // Assess
      expect(otherId).toBeInstanceOf(SecretUnreadableError);
      expect(otherType).toBeInstanceOf(SecretUnreadableError);
      expect(asCreds).toBeInstanceOf(SecretUnreadableError);
      expect(otherInstance).toBeInstanceOf(SecretUnreadableError);
      expect(await auth.state.keys.get('pre-key', ['1'])).toHaveProperty('1');
    });
  });

  describe('wipe', () => {
    it('removes every item of the instance, even without the lease, and leaves other instances alone', async () => {
      // Prepare
      const instance = await newInstance();
      const neighbour = await newInstance();
      const auth = await open(instance);
      auth.state.creds.me = { id: '5511999999999:1@s.whatsapp.net' };
      auth.state.creds.account = { details: new Uint8Array([1]) };
      await auth.saveCreds();
      await auth.state.keys.set({ 'pre-key': preKeys(120), session: { peer: new Uint8Array([1]) } });
      const neighbourAuth = await open(neighbour);
      await neighbourAuth.state.keys.set({ session: { peer: new Uint8Array([2]) } });
      const unleased = await open(instance, { fence: () => null });

      // Act
      await unleased.wipe();
      const reopened = await open(instance);

      // Assess
      expect(await partition(instance.id)).toEqual([]);
      expect(reopened.isLinked()).toBe(false);
      expect(reopened.state.creds.noiseKey).not.toEqual(auth.state.creds.noiseKey);
      expect(await neighbourAuth.state.keys.get('session', ['peer'])).toEqual({ peer: Buffer.from([2]) });
    });

    it('discards an unfinished pairing: writes in flight settle first and later writes from that store are refused', async () => {
      // Prepare
      const instance = await newInstance();
      // A slow store, so the writes are still on their way when wipe() starts.
      const { context } = recordingContext(undefined, (name) => (name === 'TransactWriteCommand' ? 300 : 0));
      const auth = await open(instance, { context });
      auth.state.creds.me = { id: '5511999999999@s.whatsapp.net', name: '~' };
      await auth.saveCreds();
      const inFlight = [auth.saveCreds(), auth.state.keys.set({ 'pre-key': preKeys(30) })];

      // Act
      await auth.wipe();
      const late = await failureOf(auth.saveCreds());
      await Promise.allSettled(inFlight);

      // Assess
      expect(late).toBeInstanceOf(AuthStateWipedError);
      expect(await partition(instance.id)).toEqual([]);
    });
  });

  describe('store failures', () => {
    it('surfaces a failing table to the caller of load, get, set and saveCreds', async () => {
      // Prepare
      const instance = await newInstance();
      const missingTable = { doc, tableName: `missing-${randomUUID()}` };
      const auth = await open(instance);
      const failing = recordingContext((name) => (name === 'GetCommand' ? null : new Error('store unavailable')));
      const broken = await open(instance, { context: failing.context });

      // Act
      const loadFailure = await failureOf(open(instance, { context: missingTable }));
      const setFailure = await failureOf(broken.state.keys.set({ session: { peer: new Uint8Array([1]) } }));
      const credsFailure = await failureOf(broken.saveCreds());
      const getFailure = await failureOf(broken.state.keys.get('session', ['peer']));

      // Assess
      expect((loadFailure as Error).name).toBe('ResourceNotFoundException');
      expect((setFailure as Error).message).toBe('store unavailable');
      expect((credsFailure as Error).message).toBe('store unavailable');
      expect((getFailure as Error).message).toBe('store unavailable');
      expect(await auth.state.keys.get('session', ['peer'])).toEqual({});
    });

    it('surfaces DynamoDB refusing an item over 400 KB and keeps the rest of that commit out', async () => {
      // Prepare
      const instance = await newInstance();
      const auth = await open(instance);

      // Act
      const failure = await failureOf(
        auth.state.keys.set({ session: { small: new Uint8Array([1]), huge: new Uint8Array(randomBytes(420_000)) } }),
      );

      // Assess
      expect(failure).toBeInstanceOf(Error);
      expect(failure).not.toBeInstanceOf(FencedOutError);
      expect(await partition(instance.id)).toEqual([]);
    });
  });

  describe('group commit shared by sessions', () => {
    it('lands concurrent commits of several instances together, and fences out only the stale one', async () => {
      // Prepare: three instances, one of whose shard was taken over by another runner.
      const { context, sent } = recordingContext();
      const batcher = createTransactBatcher(context.doc, { concurrency: 1 });
      const [a, b, stale] = await Promise.all([newInstance(), newInstance(), newInstance()]);
      const authA = await open(a, { context, batcher });
      const authB = await open(b, { context, batcher });
      const authStale = await open(stale, { context, batcher });
      await takeOver(stale.fence.shard, 'r2', 2);
      sent.length = 0;

      // Act
      const outcome = await Promise.allSettled([
        authA.state.keys.set({ session: { peer: new Uint8Array([1]) } }),
        authB.state.keys.set({ session: { peer: new Uint8Array([2]) } }),
        authStale.state.keys.set({ session: { peer: new Uint8Array([3]) } }),
      ]);

      // Assess
      expect(outcome.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
      expect((outcome[2] as PromiseRejectedResult).reason).toBeInstanceOf(FencedOutError);
      expect(sent.filter((call) => call.name === 'TransactWriteCommand').length).toBeLessThan(3);
      expect((await (await open(a)).state.keys.get('session', ['peer'])).peer).toEqual(Buffer.from([1]));
      expect((await (await open(b)).state.keys.get('session', ['peer'])).peer).toEqual(Buffer.from([2]));
      expect(await partition(stale.id)).toEqual([]);
    });
  });
});
