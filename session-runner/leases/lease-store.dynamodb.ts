import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, type BatchGetCommandOutput, DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { queryAll, type DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import { keys } from '../../shared/adapters/dynamodb/table.ts';
import type { Lease } from '../../shared/domain/fleet/fleet.ts';
import type { LeaseStore } from './lease-manager.ts';

/** BatchGetItem reads at most 100 keys per call. */
const batchGetLimit = 100;
/** Heartbeat items of crashed runners are cleaned up by TTL well after they stopped counting. */
const runnerItemTtlSeconds = 24 * 60 * 60;

const toLease = (item: Record<string, unknown>): Lease => ({
  shard: item.shard as number,
  owner: item.owner as string,
  epoch: item.epoch as number,
  expiresAt: item.expiresAt as number,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Shard leases and runner heartbeats in the single table (ARCHITECTURE §4, AWS-NOTES §5).
 *
 * Expiry is always compared explicitly against the caller's `now`: lease items carry no `ttl`
 * attribute, because TTL deletes late and, worse, deleting a lease item would restart its epoch
 * at 1 and let a stale owner's fenced writes pass again.
 */
/**
 * Auth-state writes put the lease item in their transactions (the fence); a plain write that
 * meets one gets `TransactionConflictException`, which the SDK does not retry. Lease writes retry
 * it briefly: a renewal must not be lost to the shard's own fenced writes.
 */
const retryConflicts = async <T>(write: () => Promise<T>): Promise<T> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if ((error as { name?: string }).name !== 'TransactionConflictException' || attempt >= 6) throw error;
      await new Promise((resolve) => setTimeout(resolve, 10 + Math.random() * 40 * attempt));
    }
  }
};

export const createLeaseStore = ({ doc, tableName }: DynamoContext): LeaseStore => {
  const isConditionFailure = (error: unknown): error is ConditionalCheckFailedException => error instanceof ConditionalCheckFailedException;

  /** Takes a lease that is absent or expired: a new ownership, so a new epoch. */
  const take = async (shard: number, owner: string, ttlMs: number, now: number): Promise<Lease | 'held by me' | null> => {
    try {
      const out = await retryConflicts(() => doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.lease(shard),
          UpdateExpression: 'SET #owner = :me, expiresAt = :expiresAt, #shard = :shard, #entity = :entity, #v = :v ADD epoch :one',
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now',
          ExpressionAttributeNames: { '#owner': 'owner', '#shard': 'shard', '#entity': 'entity', '#v': 'v' },
          ExpressionAttributeValues: { ':me': owner, ':expiresAt': now + ttlMs, ':shard': shard, ':entity': 'lease', ':v': 1, ':one': 1, ':now': now },
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      ));
      return toLease(out.Attributes ?? {});
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // The failed condition returns the live item (raw attribute values): when another runner
      // holds it, no second round trip is needed.
      const current = error.Item?.owner?.S;
      return current === undefined || current === owner ? 'held by me' : null;
    }
  };

  /** Re-acquiring a live lease we already own keeps its epoch: the ownership never changed. */
  const extendOwn = async (shard: number, owner: string, ttlMs: number, now: number): Promise<Lease | null> => {
    try {
      const out = await retryConflicts(() => doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.lease(shard),
          UpdateExpression: 'SET expiresAt = :expiresAt',
          ConditionExpression: '#owner = :me AND expiresAt >= :now',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':me': owner, ':expiresAt': now + ttlMs, ':now': now },
          ReturnValues: 'ALL_NEW',
        }),
      ));
      return toLease(out.Attributes ?? {});
    } catch (error) {
      if (isConditionFailure(error)) return null;
      throw error;
    }
  };

  return {
    async acquire(shard, owner, ttlMs, now) {
      const taken = await take(shard, owner, ttlMs, now);
      return taken === 'held by me' ? extendOwn(shard, owner, ttlMs, now) : taken;
    },

    async renew(lease, ttlMs, now) {
      try {
        const out = await retryConflicts(() => doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.lease(lease.shard),
            UpdateExpression: 'SET expiresAt = :expiresAt',
            ConditionExpression: '#owner = :me AND epoch = :epoch',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':me': lease.owner, ':epoch': lease.epoch, ':expiresAt': now + ttlMs },
            ReturnValues: 'ALL_NEW',
          }),
        ));
        return toLease(out.Attributes ?? {});
      } catch (error) {
        if (isConditionFailure(error)) return null;
        throw error;
      }
    },

    async release(lease) {
      try {
        // The item and its epoch stay: the next owner gets epoch + 1.
        await retryConflicts(() => doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.lease(lease.shard),
            UpdateExpression: 'SET expiresAt = :zero',
            ConditionExpression: '#owner = :me AND epoch = :epoch',
            ExpressionAttributeNames: { '#owner': 'owner' },
            ExpressionAttributeValues: { ':me': lease.owner, ':epoch': lease.epoch, ':zero': 0 },
          }),
        ));
      } catch (error) {
        // Someone else already owns it: there is nothing left of ours to release.
        if (!isConditionFailure(error)) throw error;
      }
    },

    async list(shards) {
      const leases: Lease[] = [];
      for (let first = 0; first < shards; first += batchGetLimit) {
        let pending: Record<string, unknown>[] | undefined = Array.from({ length: Math.min(batchGetLimit, shards - first) }, (_, i) => keys.lease(first + i));
        for (let attempt = 0; pending && pending.length > 0; attempt++) {
          if (attempt > 0) await sleep(Math.random() * Math.min(1_000, 50 * 2 ** attempt));
          const out: BatchGetCommandOutput = await doc.send(new BatchGetCommand({ RequestItems: { [tableName]: { Keys: pending, ConsistentRead: true } } }));
          leases.push(...(out.Responses?.[tableName] ?? []).map(toLease));
          pending = out.UnprocessedKeys?.[tableName]?.Keys;
        }
      }
      return leases.sort((a, b) => a.shard - b.shard);
    },

    async heartbeat(runnerId, ttlMs, now) {
      const expiresAt = now + ttlMs;
      await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...keys.runner(runnerId), entity: 'runner', v: 1, runnerId, expiresAt, ttl: Math.ceil(expiresAt / 1000) + runnerItemTtlSeconds },
        }),
      );
    },

    async liveRunners(now) {
      const runners: string[] = [];
      const items = await queryAll(doc, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        FilterExpression: 'expiresAt > :now',
        ExpressionAttributeValues: { ':pk': keys.runnersPartition, ':now': now },
        ConsistentRead: true,
      });
      runners.push(...items.map((item) => item.runnerId as string));
      return runners.sort();
    },

    async removeRunner(runnerId) {
      await doc.send(new DeleteCommand({ TableName: tableName, Key: keys.runner(runnerId) }));
    },
  };
};
