import { randomBytes, randomUUID } from 'node:crypto';
import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { keys } from '../../../shared/adapters/dynamodb/table.ts';
import { LocalKeyring } from '../../../shared/adapters/keys/keyring.local.ts';
import { createSecretVault } from '../../../shared/adapters/keys/secret-vault.ts';
import type { InstanceCipher } from '../../../shared/domain/ports/keyring.port.ts';
import type { Logger } from '../../../shared/domain/ports/runtime.port.ts';
import { createDynamoAuthState, FencedOutError, type DynamoAuthState } from '../../../session-runner/baileys/auth-state.dynamodb.ts';
import { durabilityOf } from '../../../session-runner/baileys/write-behind.ts';

const TABLE = 'auth-state-unit';
const FENCE = { shard: 3, owner: 'r1', epoch: 7 };
const logger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

type Command = { constructor: { name: string }; input: Record<string, unknown> };
type Answer = (command: Command) => Promise<unknown>;

interface TransactInput {
  TransactItems: { ConditionCheck?: unknown; Put?: { Item: Record<string, unknown> }; Delete?: unknown }[];
}

/** A document client scripted per command name; unscripted commands answer like an empty table. */
function scriptedDoc(script: Partial<Record<string, Answer>>) {
  const sent: Command[] = [];
  const doc = {
    send: async (command: Command) => {
      sent.push(command);
      const answer = script[command.constructor.name];
      return answer ? answer(command) : {};
    },
  } as unknown as DynamoDBDocumentClient;
  return { doc, sent, named: (name: string) => sent.filter((command) => command.constructor.name === name) };
}

function cancelled(...codes: string[]): TransactionCanceledException {
  return new TransactionCanceledException({
    message: 'Transaction cancelled',
    $metadata: {},
    CancellationReasons: codes.map((Code) => ({ Code })),
  });
}

async function failureOf(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => undefined,
    (error: unknown) => error,
  );
}

/** Settles `attempt` while fake timers drive the store's backoff sleeps. */
async function settle<T>(attempt: Promise<T>): Promise<T> {
  await vi.runAllTimersAsync();
  return attempt;
}

describe('DynamoDB auth state (scripted store)', () => {
  const instanceId = randomUUID();
  let cipher: InstanceCipher;

  beforeEach(async () => {
    cipher = await createSecretVault(new LocalKeyring({ masterKeys: [{ id: 'k1', key: randomBytes(32) }] })).newInstanceCipher(instanceId);
    vi.useFakeTimers();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  const open = (doc: DynamoDBDocumentClient): Promise<DynamoAuthState> =>
    createDynamoAuthState({ doc, tableName: TABLE }, { instanceId, cipher, fence: () => FENCE, logger });

  describe('transactions', () => {
    it('retries a commit that lost a TransactionConflict race, and lands it', async () => {
      // Prepare
      let conflicts = 2;
      const store = scriptedDoc({
        TransactWriteCommand: async () => {
          if (conflicts-- > 0) throw cancelled('None', 'TransactionConflict');
          return {};
        },
      });
      const auth = await open(store.doc);

      // Act
      await settle(auth.state.keys.set({ session: { peer: new Uint8Array([1]) } }));

      // Assess
      expect(store.named('TransactWriteCommand')).toHaveLength(3);
    });

    it('surfaces a conflict that never clears as the cancellation, not as a fence', async () => {
      // Prepare
      const store = scriptedDoc({
        TransactWriteCommand: async () => {
          throw cancelled('None', 'TransactionConflict');
        },
      });
      const auth = await open(store.doc);

      // Act
      const failure = await settle(failureOf(auth.state.keys.set({ session: { peer: new Uint8Array([1]) } })));

      // Assess
      expect(failure).toBeInstanceOf(TransactionCanceledException);
      expect(failure).not.toBeInstanceOf(FencedOutError);
    });

    it('maps a failed lease check to FencedOutError without retrying', async () => {
      // Prepare
      const store = scriptedDoc({
        TransactWriteCommand: async () => {
          throw cancelled('ConditionalCheckFailed', 'None');
        },
      });
      const auth = await open(store.doc);

      // Act
      const failure = await settle(failureOf(auth.saveCreds()));

      // Assess
      expect(failure).toBeInstanceOf(FencedOutError);
      expect((failure as FencedOutError).fence).toEqual(FENCE);
      expect(store.named('TransactWriteCommand')).toHaveLength(1);
    });

    it('checks the lease item with the fence owner and epoch first in every transaction', async () => {
      // Prepare
      const store = scriptedDoc({});
      const auth = await open(store.doc);

      // Act
      await settle(auth.state.keys.set({ session: { a: new Uint8Array([1]), b: null } }));

      // Assess
      const [transaction] = store.named('TransactWriteCommand');
      const items = (transaction!.input as unknown as TransactInput).TransactItems;
      expect(items[0]!.ConditionCheck).toMatchObject({
        TableName: TABLE,
        Key: keys.lease(FENCE.shard),
        ExpressionAttributeValues: { ':owner': 'r1', ':epoch': 7 },
      });
      expect(items.slice(1)).toEqual([
        { Put: { TableName: TABLE, Item: { ...keys.authKey(instanceId, 'session', 'a'), sealed: expect.any(String) } } },
        { Delete: { TableName: TABLE, Key: keys.authKey(instanceId, 'session', 'b') } },
      ]);
    });

    it('splits large values into transactions under the 4 MB limit even below 99 writes', async () => {
      // Prepare
      const store = scriptedDoc({});
      const auth = await open(store.doc);
      const states = Object.fromEntries(
        Array.from({ length: 10 }, (_, i) => [`regular_${i}`, { version: 1, hash: randomBytes(128), indexValueMap: { big: { valueMac: randomBytes(300_000) } } }]),
      );

      // Act
      await settle(auth.state.keys.set({ 'app-state-sync-version': states }));

      // Assess
      const transactions = store.named('TransactWriteCommand').map((command) => JSON.stringify(command.input));
      expect(transactions.length).toBeGreaterThan(1);
      for (const body of transactions) expect(body.length).toBeLessThan(4_000_000);
    });
  });

  describe('reads', () => {
    it('retries unprocessed keys until every requested key is answered', async () => {
      // Prepare
      const writer = scriptedDoc({});
      await settle((await open(writer.doc)).state.keys.set({ session: { a: new Uint8Array([1]), b: new Uint8Array([2]) } }));
      const stored = (writer.named('TransactWriteCommand')[0]!.input as unknown as TransactInput).TransactItems.slice(1).map((item) => item.Put!.Item);
      let calls = 0;
      const store = scriptedDoc({
        BatchGetCommand: async () =>
          ++calls === 1
            ? { Responses: { [TABLE]: [stored[0]] }, UnprocessedKeys: { [TABLE]: { Keys: [keys.authKey(instanceId, 'session', 'b')] } } }
            : { Responses: { [TABLE]: [stored[1]] } },
      });
      const auth = await open(store.doc);

      // Act
      const sessions = await settle(auth.state.keys.get('session', ['a', 'b']));

      // Assess
      expect(sessions).toEqual({ a: Buffer.from([1]), b: Buffer.from([2]) });
      expect(calls).toBe(2);
    });

    it('fails rather than answer without keys DynamoDB keeps leaving unprocessed', async () => {
      // Prepare
      const store = scriptedDoc({
        BatchGetCommand: async (command) => {
          const requested = command.input.RequestItems as Record<string, { Keys: unknown[] }>;
          return { Responses: { [TABLE]: [] }, UnprocessedKeys: { [TABLE]: { Keys: requested[TABLE]!.Keys } } };
        },
      });
      const auth = await open(store.doc);

      // Act
      const failure = await settle(failureOf(auth.state.keys.get('session', ['a'])));

      // Assess
      expect(failure).toBeInstanceOf(Error);
    });

    it('asks for at most 100 keys per call, strongly consistent, without duplicates', async () => {
      // Prepare
      const store = scriptedDoc({ BatchGetCommand: async () => ({ Responses: { [TABLE]: [] } }) });
      const auth = await open(store.doc);
      const ids = Array.from({ length: 250 }, (_, i) => String(i % 230));

      // Act
      await settle(auth.state.keys.get('pre-key', ids));

      // Assess
      const requests = store.named('BatchGetCommand').map((command) => (command.input.RequestItems as Record<string, { Keys: unknown[]; ConsistentRead: boolean }>)[TABLE]!);
      expect(requests.map((request) => request.Keys.length)).toEqual([100, 100, 30]);
      expect(requests.every((request) => request.ConsistentRead)).toBe(true);
    });
  });

  describe('saveCreds', () => {
    it('never runs two saves at once, and the last save carries the latest creds', async () => {
      // Prepare
      let active = 0;
      let maxActive = 0;
      let release: () => void = () => undefined;
      const store = scriptedDoc({
        TransactWriteCommand: async () => {
          active += 1;
          maxActive = Math.max(maxActive, active);
          await new Promise<void>((resolve) => (release = resolve));
          active -= 1;
          return {};
        },
      });
      const auth = await open(store.doc);

      // Act
      auth.state.creds.lastPropHash = 'first';
      const first = auth.saveCreds();
      await vi.advanceTimersByTimeAsync(0);
      auth.state.creds.lastPropHash = 'second';
      const second = auth.saveCreds();
      auth.state.creds.lastPropHash = 'third';
      const third = auth.saveCreds();
      release();
      await vi.advanceTimersByTimeAsync(0);
      release();
      await Promise.all([first, second, third]);

      // Assess
      const written = store
        .named('TransactWriteCommand')
        .map((command) => (command.input as unknown as TransactInput).TransactItems[1]!.Put!.Item.sealed as string)
        .map((sealed) => (JSON.parse(cipher.open('auth.creds', sealed)) as { lastPropHash: string }).lastPropHash);
      expect(maxActive).toBe(1);
      expect(written).toEqual(['first', 'third']);
    });

    it('lets a save after a failed one still run', async () => {
      // Prepare
      let failNext = true;
      const store = scriptedDoc({
        TransactWriteCommand: async () => {
          if (failNext) {
            failNext = false;
            throw new Error('store unavailable');
          }
          return {};
        },
      });
      const auth = await open(store.doc);

      // Act
      const failed = await failureOf(auth.saveCreds());
      await auth.saveCreds();

      // Assess
      expect((failed as Error).message).toBe('store unavailable');
      expect(store.named('TransactWriteCommand')).toHaveLength(2);
    });
  });

  describe('write-behind', () => {
    const openBehind = (doc: DynamoDBDocumentClient): Promise<DynamoAuthState> =>
      createDynamoAuthState({ doc, tableName: TABLE }, { instanceId, cipher, fence: () => FENCE, logger, writeBehind: true });

    it('answers keys.set before the commit is durable, and reads the pending value rather than the table', async () => {
      // Prepare
      let release: () => void = () => undefined;
      const store = scriptedDoc({
        TransactWriteCommand: () => new Promise((resolve) => (release = () => resolve({}))),
      });
      const auth = await openBehind(store.doc);
      const durability = durabilityOf(auth.state.keys);

      // Act
      await settle(auth.state.keys.set({ session: { peer: new Uint8Array([7]) } }));
      const read = await auth.state.keys.get('session', ['peer']);
      const pending = durability?.durable();
      release();
      await settle(pending ?? Promise.resolve());

      // Assess
      expect(read.peer).toEqual(new Uint8Array([7]));
      expect(store.named('BatchGetCommand')).toHaveLength(0);
      expect(store.named('TransactWriteCommand')).toHaveLength(1);
      expect(durability?.durable()).toBeNull();
    });

    it('stores the keys written before a creds save ahead of the creds', async () => {
      // Prepare
      const store = scriptedDoc({ TransactWriteCommand: async () => ({}) });
      const auth = await openBehind(store.doc);

      // Act
      await settle(auth.state.keys.set({ 'pre-key': { '1': { public: new Uint8Array([1]), private: new Uint8Array([2]) } } }));
      await settle(auth.saveCreds());

      // Assess
      const written = store.named('TransactWriteCommand').map((command) => (command.input as unknown as TransactInput).TransactItems[1]!.Put!.Item.sk);
      expect(written).toEqual([keys.authKey(instanceId, 'pre-key', '1').sk, keys.authCreds(instanceId).sk]);
    });

    it('fails the next keys.set once a background commit was fenced out', async () => {
      // Prepare
      const store = scriptedDoc({ TransactWriteCommand: async () => Promise.reject(cancelled('ConditionalCheckFailed', 'None')) });
      const auth = await openBehind(store.doc);

      // Act
      await settle(auth.state.keys.set({ session: { peer: new Uint8Array([1]) } }));
      await settle(durabilityOf(auth.state.keys)?.durable()?.catch(() => undefined) ?? Promise.resolve());
      const next = failureOf(auth.state.keys.set({ session: { other: new Uint8Array([2]) } }));
      await vi.runAllTimersAsync();

      // Assess
      expect(await next).toBeInstanceOf(FencedOutError);
    });
  });

  describe('wipe', () => {
    it('retries deletes DynamoDB left unprocessed, 25 per batch, across query pages', async () => {
      // Prepare
      const pk = keys.authPartition(instanceId);
      const page = (from: number, count: number) => Array.from({ length: count }, (_, i) => ({ pk, sk: `KEY#pre-key#${from + i}` }));
      let queries = 0;
      let batches = 0;
      const store = scriptedDoc({
        QueryCommand: async () => (++queries === 1 ? { Items: page(0, 30), LastEvaluatedKey: { pk, sk: 'KEY#pre-key#29' } } : { Items: page(30, 5) }),
        BatchWriteCommand: async (command) => {
          const requests = (command.input.RequestItems as Record<string, unknown[]>)[TABLE]!;
          return ++batches === 1 ? { UnprocessedItems: { [TABLE]: requests.slice(20) } } : {};
        },
      });
      const auth = await open(store.doc);

      // Act
      await settle(auth.wipe());

      // Assess
      const deleted = store
        .named('BatchWriteCommand')
        .map((command) => (command.input.RequestItems as Record<string, { DeleteRequest: { Key: { sk: string } } }[]>)[TABLE]!);
      expect(deleted.map((requests) => requests.length)).toEqual([25, 5, 5, 5]);
      expect(new Set(deleted.flat().map((request) => request.DeleteRequest.Key.sk)).size).toBe(35);
      expect(queries).toBe(2);
    });
  });
});
