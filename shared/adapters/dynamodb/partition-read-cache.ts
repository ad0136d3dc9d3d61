import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * Read caches for a process that makes every write to the table itself: the embedded stack, where
 * the API, the runner and the event delivery share one DynamoDB client. Not for Lambda, where
 * other processes write.
 *
 * Every write command sent through the client (Put, Update, Delete, TransactWrite, BatchWrite,
 * through any document client built on it) bumps a generation of each partition it touches,
 * before it is sent and again when it has finished. A cached value is served only while its
 * partition's generation is the one it was read under, so a read after a write always sees that
 * write; `maxAgeMs` bounds what a write from elsewhere (a test's own client, a second process on
 * the same DynamoDB Local) could leave stale.
 */
export interface PartitionReadCache<Value> {
  /** The value under `id` in partition `pk`: cached, or read by `read` (one read for concurrent callers). */
  get(pk: string, id: string, read: () => Promise<Value>): Promise<Value>;
}

const writeCommands = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand', 'TransactWriteItemsCommand', 'BatchWriteItemCommand']);

/** A key attribute as the document client (`"x"`) or the low-level client (`{S: "x"}`) has it. */
const stringOf = (value: unknown): string | null => {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { S?: unknown }).S === 'string') return (value as { S: string }).S;
  return null;
};

type Input = Record<string, unknown>;

/** The partition keys a write command touches. */
export const writtenPartitions = (commandName: string, input: Input): string[] => {
  const pkOf = (item: unknown) => stringOf((item as Input | undefined)?.pk);
  const found: (string | null)[] = [];
  if (commandName === 'PutItemCommand') found.push(pkOf(input.Item));
  else if (commandName === 'UpdateItemCommand' || commandName === 'DeleteItemCommand') found.push(pkOf(input.Key));
  else if (commandName === 'TransactWriteItemsCommand') {
    for (const entry of (input.TransactItems as Input[] | undefined) ?? []) {
      found.push(pkOf((entry.Put as Input | undefined)?.Item), pkOf((entry.Update as Input | undefined)?.Key), pkOf((entry.Delete as Input | undefined)?.Key));
    }
  } else if (commandName === 'BatchWriteItemCommand') {
    for (const requests of Object.values((input.RequestItems as Record<string, Input[]> | undefined) ?? {})) {
      for (const request of requests) found.push(pkOf((request.PutRequest as Input | undefined)?.Item), pkOf((request.DeleteRequest as Input | undefined)?.Key));
    }
  }
  return found.filter((pk): pk is string => pk !== null);
};

/** Write generations by partition, one watch per client however many caches use it. */
const watches = new WeakMap<DynamoDBClient, (pk: string) => number>();

/**
 * Generations live in a fixed table of counters indexed by a hash of the partition key, not one
 * entry per partition ever written (sends write a partition each): two partitions sharing a
 * counter only cost a cached value an early re-read.
 */
const generationSlots = 1 << 14;
const slotOf = (pk: string): number => {
  let hash = 0x811c9dc5;
  for (let index = 0; index < pk.length; index++) hash = Math.imul(hash ^ pk.charCodeAt(index), 0x01000193);
  return (hash >>> 0) & (generationSlots - 1);
};

const generationsOf = (client: DynamoDBClient): ((pk: string) => number) => {
  const existing = watches.get(client);
  if (existing) return existing;
  const generations = new Uint32Array(generationSlots);
  const bump = (partitions: readonly string[]) => {
    for (const pk of partitions) generations[slotOf(pk)] = ((generations[slotOf(pk)] as number) + 1) >>> 0;
  };
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (!writeCommands.has(context.commandName ?? '')) return next(args);
      const partitions = writtenPartitions(context.commandName as string, args.input as Input);
      bump(partitions);
      try {
        return await next(args);
      } finally {
        bump(partitions);
      }
    },
    { step: 'initialize', name: 'zapfleetPartitionWriteWatch' },
  );
  const generationOf = (pk: string) => generations[slotOf(pk)] as number;
  watches.set(client, generationOf);
  return generationOf;
};

interface Entry<Value> {
  generation: number;
  readAt: number;
  value: Promise<Value>;
}

export const createPartitionReadCache = <Value>(
  client: DynamoDBClient,
  options: { maxAgeMs?: number; maxEntries?: number; now?: () => number } = {},
): PartitionReadCache<Value> => {
  const maxAgeMs = options.maxAgeMs ?? 1_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const generationOf = generationsOf(client);
  const entries = new Map<string, Entry<Value>>();

  return {
    get(pk, id, read) {
      const generation = generationOf(pk);
      const cached = entries.get(id);
      if (cached && cached.generation === generation && now() - cached.readAt < maxAgeMs) return cached.value;
      const value = read();
      const entry: Entry<Value> = { generation, readAt: now(), value };
      entries.delete(id);
      entries.set(id, entry);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
      // A failed read is not kept; a read overtaken by a write is not served to later callers.
      value.then(
        () => {
          if (generationOf(pk) !== generation && entries.get(id) === entry) entries.delete(id);
        },
        () => {
          if (entries.get(id) === entry) entries.delete(id);
        },
      );
      return value;
    },
  };
};
