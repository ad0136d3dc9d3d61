import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { InstanceAggregate } from '../../domain/instance/instance.ts';
import type { InstanceRepository } from '../../domain/ports/repositories.port.ts';
import { keys } from './table.ts';

/**
 * A read cache of instance aggregates for a process that makes every write to the table itself:
 * the embedded stack, where the API, the runner and the event delivery share one DynamoDB client.
 * It is not for Lambda, where other processes write.
 *
 * Every write command sent through the client (Put, Update, Delete, TransactWrite, BatchWrite,
 * through any document client built on it) bumps a generation of each account partition it
 * touches, before it is sent and again when it has finished. A cached aggregate is served only
 * while its partition's generation is the one it was read under, so a read after a write always
 * sees that write; `maxAgeMs` bounds what a write from elsewhere (a test's own client, a second
 * process on the same DynamoDB Local) could leave stale.
 */
export interface InstanceReadCache {
  get(accountId: string, name: string): Promise<InstanceAggregate | null>;
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

interface Entry {
  generation: number;
  readAt: number;
  value: Promise<InstanceAggregate | null>;
}

export const createInstanceReadCache = (
  client: DynamoDBClient,
  repository: Pick<InstanceRepository, 'get'>,
  options: { maxAgeMs?: number; maxEntries?: number; now?: () => number } = {},
): InstanceReadCache => {
  const maxAgeMs = options.maxAgeMs ?? 1_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const generations = new Map<string, number>();
  const bump = (partitions: readonly string[]) => {
    for (const pk of partitions) generations.set(pk, (generations.get(pk) ?? 0) + 1);
  };
  const generationOf = (pk: string) => generations.get(pk) ?? 0;

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
    { step: 'initialize', name: 'zapfleetInstanceReadCacheWatch' },
  );

  const entries = new Map<string, Entry>();

  return {
    get(accountId, name) {
      const pk = keys.instance(accountId, name).pk;
      const id = `${accountId}\u0000${name}`;
      const generation = generationOf(pk);
      const cached = entries.get(id);
      if (cached && cached.generation === generation && now() - cached.readAt < maxAgeMs) return cached.value;
      const value = repository.get(accountId, name);
      const entry: Entry = { generation, readAt: now(), value };
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
