import type { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, GetCommand, QueryCommand, type BatchGetCommandOutput, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';
import {
  BufferJSON,
  initAuthCreds,
  proto,
  type AuthenticationCreds,
  type AuthenticationState,
  type SignalDataSet,
  type SignalKeyStore,
  type SignalDataTypeMap,
} from '@whiskeysockets/baileys';
import { cancellationCodes, transactWrite, type DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import { keys } from '../../shared/adapters/dynamodb/table.ts';
import type { TransactBatcher, TransactItem } from '../../shared/adapters/dynamodb/transact-batcher.ts';
import type { Fence } from '../../shared/domain/fleet/fleet.ts';
import type { InstanceCipher } from '../../shared/domain/ports/keyring.port.ts';
import type { Logger } from '../../shared/domain/ports/runtime.port.ts';
import { createWriteBehind, keyWritesDurability } from './write-behind.ts';

/**
 * Baileys auth state in the single table (ARCHITECTURE §3, §6; AWS-NOTES §5).
 *
 * - One item per key (`AUTH#<instanceId>` / `CREDS` | `KEY#<type>#<id>`): pre-keys (~142 KB in
 *   total) and growing session data never share an item, so no item nears the 400 KB limit.
 * - Every value is `BufferJSON`-serialised and sealed with the instance's data key; the AAD binds
 *   instance id + field (`auth.creds`, `auth.key.<type>.<id>`), so an item copied under another
 *   key id, type or instance does not open. Only `pk`, `sk` and `sealed` are stored.
 * - Every write is fenced: a `TransactWriteItems` whose first action is a `ConditionCheck` on the
 *   shard lease (`owner` and `epoch` as this runner last saw them). `BatchWriteItem` takes no
 *   conditions, so even the ~812 first pre-keys go through transactions, 99 writes at a time.
 * - Reads are strongly consistent: after a failover the new owner must see the last commit of the
 *   old one, or the Signal ratchets fork.
 * - Store failures reach the caller. A failed `keys.set` fails Baileys' commit (it retries and
 *   then fails the message); a swallowed one would desynchronise the ratchets silently.
 */

/** The shard lease no longer names this runner and epoch: the write was refused, nothing changed. */
export class FencedOutError extends Error {
  readonly code = 'fleet.fenced_out';

  constructor(
    readonly instanceId: string,
    /** The fence the write carried; `null` when the runner no longer held the shard at all. */
    readonly fence: Fence | null,
    /** The lease holder found by the failed check, when DynamoDB returned it. */
    readonly holder: { owner: string; epoch: number } | null = null,
  ) {
    super('Auth state write refused: this runner no longer holds the shard lease');
    this.name = 'FencedOutError';
  }
}

/** `wipe()` ran: the in-memory state is discarded and must not be written back. */
export class AuthStateWipedError extends Error {
  readonly code = 'auth_state.wiped';

  constructor(readonly instanceId: string) {
    super('Auth state was wiped; this store accepts no more writes');
    this.name = 'AuthStateWipedError';
  }
}

export interface DynamoAuthStateInput {
  instanceId: string;
  cipher: InstanceCipher;
  /** The current proof of ownership of the instance's shard; `null` once it is lost. */
  fence: () => Fence | null;
  logger: Logger;
  /**
   * Group commit shared by the runner's sessions: fenced writes of several instances made at the
   * same time go in one transaction (one lease check per shard). Each caller still returns only
   * once its own writes are stored, so this changes no guarantee, only the number of requests.
   */
  batcher?: TransactBatcher;
  /**
   * Key writes (`keys.set`) return at once and are committed in the background, coalesced
   * (session-runner/baileys/write-behind.ts). Only for a socket whose outgoing frames wait for
   * them (the Baileys adapter gates its frames on `state.keys[keyWritesDurability]`): otherwise a
   * receipt could leave before the keys that decrypted the message are stored.
   */
  writeBehind?: boolean;
}

/** Baileys' `SignalKeyStore`, always asynchronous. */
export interface DynamoSignalKeyStore extends SignalKeyStore {
  get<T extends keyof SignalDataTypeMap>(type: T, ids: string[]): Promise<{ [id: string]: SignalDataTypeMap[T] }>;
  set(data: SignalDataSet): Promise<void>;
}

export interface DynamoAuthState {
  /** An `AuthenticationState`: hand it to `makeWASocket({ auth })`. */
  state: { creds: AuthenticationCreds; keys: DynamoSignalKeyStore };
  /**
   * Writes `state.creds` as it is when the write starts. Saves never interleave; calls made while
   * one is waiting join it, so the last call always ends with the latest creds stored.
   * Rejects with `FencedOutError`, `AuthStateWipedError` or the store's error: the caller (the
   * `creds.update` listener) must handle it, never leave it unhandled.
   */
  saveCreds(): Promise<void>;
  /** Deletes every auth item of the instance, after letting in-flight writes settle. Not fenced. */
  wipe(): Promise<void>;
  /** Paired with a phone: `creds.me` alone is written before pairing completes (§6). */
  isLinked(): boolean;
  /** Resolves once the key writes made so far are settled, stored or failed (write-behind; at once otherwise). */
  flushed(): Promise<void>;
}

type KeyType = keyof SignalDataTypeMap;

interface Write {
  key: { pk: string; sk: string };
  /** Sealed value; `null` deletes the item. */
  sealed: string | null;
}

/** A transaction is ≤ 100 actions: the lease check plus 99 writes. */
const WRITES_PER_TRANSACTION = 99;
/** Transactions are ≤ 4 MB; leave room for keys, attribute names and the request envelope. */
const BYTES_PER_TRANSACTION = 3_500_000;
const KEYS_PER_BATCH_GET = 100;
const DELETES_PER_BATCH_WRITE = 25;
/** Conflicts mostly come from other fenced commits checking the same lease item at the same time. */
const TRANSACTION_ATTEMPTS = 10;
const UNPROCESSED_ATTEMPTS = 8;

const credsField = 'auth.creds';
// Baileys' key types contain no '.', so `auth.key.<type>.<id>` names one (type, id) pair only.
const keyField = (type: string, id: string) => `auth.key.${type}.${id}`;
const keySkPrefix = (type: string) => `KEY#${type}#`;

const serialise = (value: unknown): string => JSON.stringify(value, BufferJSON.replacer);
const parse = <T>(json: string): T => JSON.parse(json, BufferJSON.reviver) as T;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const backoff = (attempt: number) => sleep(Math.random() * Math.min(500, 20 * 2 ** attempt));

export async function createDynamoAuthState(ctx: DynamoContext, input: DynamoAuthStateInput): Promise<DynamoAuthState> {
  const { doc, tableName } = ctx;
  const { instanceId, cipher, fence, logger } = input;

  const stored = await doc.send(new GetCommand({ TableName: tableName, Key: keys.authCreds(instanceId), ConsistentRead: true }));
  // Fresh creds are not saved here: an instance that never pairs must leave nothing behind.
  const creds: AuthenticationCreds =
    stored.Item === undefined ? initAuthCreds() : parse<AuthenticationCreds>(cipher.open(credsField, sealedOf(stored.Item)));

  let wiped = false;
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    const forget = () => inFlight.delete(work);
    work.then(forget, forget);
    return work;
  };

  /** Writes in order, each chunk one fenced transaction; a lost lease stops the remaining chunks. */
  const commit = async (writes: Write[]): Promise<void> => {
    for (const chunk of chunked(writes)) {
      if (wiped) throw new AuthStateWipedError(instanceId);
      const current = fence();
      if (current === null) throw new FencedOutError(instanceId, null);
      const lease = keys.lease(current.shard);
      const request: TransactWriteCommandInput = {
        TransactItems: [
          {
            ConditionCheck: {
              TableName: tableName,
              Key: lease,
              // No expiry check: a lapsed lease is only unsafe once another runner takes it, and
              // taking it bumps the epoch. Writes that land before the bump are ordered before the
              // new owner's (strongly consistent) restore, so it sees them.
              ConditionExpression: '#owner = :owner AND #epoch = :epoch',
              ExpressionAttributeNames: { '#owner': 'owner', '#epoch': 'epoch' },
              ExpressionAttributeValues: { ':owner': current.owner, ':epoch': current.epoch },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          ...chunk.map((write) =>
            write.sealed === null
              ? { Delete: { TableName: tableName, Key: write.key } }
              : { Put: { TableName: tableName, Item: { ...write.key, sealed: write.sealed } } },
          ),
        ],
      };
      if (input.batcher) {
        if (await input.batcher.write(request.TransactItems as TransactItem[])) continue;
        logger.warn('auth state write fenced out', { instanceId, shard: current.shard, epoch: current.epoch });
        throw new FencedOutError(instanceId, current);
      }
      const cancelled = await transactWrite(doc, request, TRANSACTION_ATTEMPTS);
      if (cancelled === null) continue;
      if (cancellationCodes(cancelled)[0] === 'ConditionalCheckFailed') {
        const holder = holderOf(cancelled);
        logger.warn('auth state write fenced out', { instanceId, shard: current.shard, epoch: current.epoch, holder });
        throw new FencedOutError(instanceId, current, holder);
      }
      throw cancelled;
    }
  };

  /** Key writes not durable yet, by sort key (write-behind only): reads see them before the table. */
  interface KeyWrite {
    key: { pk: string; sk: string };
    type: string;
    id: string;
    value: unknown;
  }
  const behind = input.writeBehind
    ? createWriteBehind<KeyWrite>({
        keyOf: (write) => write.key.sk,
        // Sealed when committed: a key rewritten before its commit is sealed once.
        commit: (writes) => track(commit(writes.map((write) => ({ key: write.key, sealed: write.value === null || write.value === undefined ? null : cipher.seal(keyField(write.type, write.id), serialise(write.value)) })))),
      })
    : null;

  const get = async <T extends KeyType>(type: T, ids: string[]): Promise<{ [id: string]: SignalDataTypeMap[T] }> => {
    const result: { [id: string]: SignalDataTypeMap[T] } = {};
    let unique = [...new Set(ids)];
    const prefix = keySkPrefix(type);
    if (behind) {
      unique = unique.filter((id) => {
        const write = behind.pending(`${prefix}${id}`);
        if (write === undefined) return true;
        if (write.value !== null && write.value !== undefined) result[id] = write.value as SignalDataTypeMap[T];
        return false;
      });
    }
    for (let i = 0; i < unique.length; i += KEYS_PER_BATCH_GET) {
      const items = await batchGet(
        ctx,
        unique.slice(i, i + KEYS_PER_BATCH_GET).map((id) => keys.authKey(instanceId, type, id)),
      );
      for (const item of items) {
        const id = (item.sk as string).slice(prefix.length);
        const value = parse<unknown>(cipher.open(keyField(type, id), sealedOf(item)));
        result[id] = (
          type === 'app-state-sync-key' ? proto.Message.AppStateSyncKeyData.fromObject(value as object) : value
        ) as SignalDataTypeMap[T];
      }
    }
    return result;
  };

  const set = async (data: SignalDataSet): Promise<void> => {
    if (behind) {
      if (wiped) throw new AuthStateWipedError(instanceId);
      const pending: KeyWrite[] = [];
      for (const [type, values] of Object.entries(data)) {
        for (const [id, value] of Object.entries(values ?? {})) pending.push({ key: keys.authKey(instanceId, type, id), type, id, value: value ?? null });
      }
      // Throws the failure of an earlier commit: Baileys fails this message (the socket is ending).
      behind.add(pending);
      // One turn of the event loop per commit: decrypting a backlog never starves timers and I/O.
      await new Promise<void>((resolve) => setImmediate(resolve));
      return;
    }
    const writes: Write[] = [];
    for (const [type, values] of Object.entries(data)) {
      for (const [id, value] of Object.entries(values ?? {})) {
        writes.push({
          key: keys.authKey(instanceId, type, id),
          // `undefined` is treated like `null`, as Baileys' own file store does.
          sealed: value === null || value === undefined ? null : cipher.seal(keyField(type, id), serialise(value)),
        });
      }
    }
    if (writes.length > 0) await track(commit(writes));
  };

  // Saves run one after another. `pending` is the save not started yet: later callers join it, and
  // because it serialises `creds` only when it starts, it carries every update made before it.
  let running: Promise<void> = Promise.resolve();
  let pending: Promise<void> | null = null;
  const saveCreds = (): Promise<void> => {
    if (pending !== null) return pending;
    const next = running
      .catch(() => undefined)
      .then(async () => {
        pending = null;
        // Keys written before these creds are stored first (write-behind), as they would be without it.
        await behind?.durable();
        return commit([{ key: keys.authCreds(instanceId), sealed: cipher.seal(credsField, serialise(creds)) }]);
      });
    pending = next;
    running = next;
    return track(next);
  };

  // Kept assignable to Baileys' own type, so a Baileys upgrade that changes it fails the build.
  const state = { creds, keys: { get, set } } satisfies AuthenticationState;
  if (behind) Object.defineProperty(state.keys, keyWritesDurability, { value: behind, enumerable: false });
  return {
    state,
    saveCreds,
    async wipe() {
      // Not fenced, on purpose: logout and delete must clear the state even when no runner holds
      // the shard any more (the API cleans up after a lost or crashed owner), and discarding an
      // unfinished pairing must not depend on a lease. Writes still in flight settle first, and
      // this store refuses later ones, so nothing it wrote can reappear after the wipe.
      wiped = true;
      await behind?.settled();
      await Promise.allSettled([...inFlight]);
      await wipeAuthState(ctx, instanceId);
      logger.info('auth state wiped', { instanceId });
    },
    isLinked: () => !!(creds.me?.id && creds.account),
    flushed: () => behind?.settled() ?? Promise.resolve(),
  };
}

/**
 * Deletes every item of the instance's auth partition. Exported for the control plane, which may
 * have to clean up (instance delete) without a runner and without the instance's data key.
 */
export async function wipeAuthState(ctx: DynamoContext, instanceId: string): Promise<void> {
  const { doc, tableName } = ctx;
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.authPartition(instanceId) },
        ProjectionExpression: 'pk, sk',
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    const items = page.Items ?? [];
    for (let i = 0; i < items.length; i += DELETES_PER_BATCH_WRITE) {
      let requests: Record<string, unknown>[] | undefined = items
        .slice(i, i + DELETES_PER_BATCH_WRITE)
        .map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } }));
      for (let attempt = 1; requests !== undefined && requests.length > 0; attempt++) {
        if (attempt > 1) {
          if (attempt > UNPROCESSED_ATTEMPTS) throw new Error(`Auth state wipe left ${requests.length} items unprocessed`);
          await backoff(attempt);
        }
        const out = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
        requests = out.UnprocessedItems?.[tableName] as Record<string, unknown>[] | undefined;
      }
    }
    startKey = page.LastEvaluatedKey;
  } while (startKey !== undefined);
}

/** One `BatchGetItem` (≤ 100 keys), retrying unprocessed keys; never returns a partial answer. */
async function batchGet(ctx: DynamoContext, requested: { pk: string; sk: string }[]): Promise<Record<string, unknown>[]> {
  const { doc, tableName } = ctx;
  const found: Record<string, unknown>[] = [];
  let remaining: Record<string, unknown>[] | undefined = requested;
  for (let attempt = 1; remaining !== undefined && remaining.length > 0; attempt++) {
    if (attempt > 1) {
      // A key reported missing would read as "no session" and make Baileys start a new one.
      if (attempt > UNPROCESSED_ATTEMPTS) throw new Error(`Auth state read left ${remaining.length} keys unprocessed`);
      await backoff(attempt);
    }
    const out: BatchGetCommandOutput = await doc.send(
      new BatchGetCommand({
        RequestItems: { [tableName]: { Keys: remaining, ConsistentRead: true, ProjectionExpression: 'sk, sealed' } },
      }),
    );
    found.push(...(out.Responses?.[tableName] ?? []));
    remaining = out.UnprocessedKeys?.[tableName]?.Keys;
  }
  return found;
}

/** Splits a commit into transactions of ≤ 99 writes and ≤ ~3.5 MB, keeping the order. */
function chunked(writes: Write[]): Write[][] {
  const chunks: Write[][] = [];
  let chunk: Write[] = [];
  let bytes = 0;
  for (const write of writes) {
    const size = write.key.pk.length + write.key.sk.length + (write.sealed?.length ?? 0) + 16;
    if (chunk.length === WRITES_PER_TRANSACTION || (chunk.length > 0 && bytes + size > BYTES_PER_TRANSACTION)) {
      chunks.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(write);
    bytes += size;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

function sealedOf(item: Record<string, unknown>): string {
  const sealed = item.sealed;
  if (typeof sealed !== 'string') throw new Error('Auth state item has no sealed value');
  return sealed;
}

function holderOf(error: TransactionCanceledException): { owner: string; epoch: number } | null {
  const item = error.CancellationReasons?.[0]?.Item;
  const owner = item?.owner?.S;
  const epoch = item?.epoch?.N;
  return owner !== undefined && epoch !== undefined ? { owner, epoch: Number(epoch) } : null;
}
