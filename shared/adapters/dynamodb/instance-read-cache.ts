import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { InstanceAggregate } from '../../domain/instance/instance.ts';
import type { InstanceRepository } from '../../domain/ports/repositories.port.ts';
import { createPartitionReadCache } from './partition-read-cache.ts';
import { keys } from './table.ts';

/**
 * A read cache of instance aggregates for a process that makes every write to the table itself:
 * the embedded stack (see partition-read-cache.ts: a read after a write of this process always
 * sees it; `maxAgeMs` bounds staleness from writes elsewhere). It is not for Lambda.
 */
export interface InstanceReadCache {
  get(accountId: string, name: string): Promise<InstanceAggregate | null>;
}

export const createInstanceReadCache = (
  client: DynamoDBClient,
  repository: Pick<InstanceRepository, 'get'>,
  options: { maxAgeMs?: number; maxEntries?: number; now?: () => number } = {},
): InstanceReadCache => {
  const cache = createPartitionReadCache<InstanceAggregate | null>(client, options);
  return {
    get: (accountId, name) => cache.get(keys.instance(accountId, name).pk, `${accountId}\u0000${name}`, () => repository.get(accountId, name)),
  };
};
