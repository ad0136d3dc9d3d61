import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { QueryCommand, UpdateCommand, GetCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { createHash } from 'node:crypto';
import {
  claimMs,
  retentionSeconds,
  type Delivery,
  type DeliveryFilter,
  type DeliveryRepository,
} from '../../domain/events/delivery.ts';
import { stripKeys, type DynamoContext } from './document-client.ts';
import { tableSchema } from './table.ts';
import { createTransactBatcher } from './transact-batcher.ts';

/**
 * Webhook delivery entries (spec §3.4, Z2):
 *
 * | entity   | pk                    | sk                  | gsi1pk (sparse, pending only) | gsi1sk                              |
 * |----------|-----------------------|---------------------|-------------------------------|-------------------------------------|
 * | delivery | DELIVERY#<instanceId> | <eventId>#<label>   | DUE#<0..7>                    | <dueAt ISO ms>#<instanceId>#<sk>    |
 *
 * `dueAt` is the next attempt time, or the end of the claim of an attempt in flight (so a crashed
 * attempt is picked up again). Event ids are ULIDs, so the sort key orders entries by event time.
 * `claimedUntil` is `''` when no attempt holds the entry (string comparison in conditions).
 */
export const deliveryKeys = {
  partition: (instanceId: string) => `DELIVERY#${instanceId}`,
  sort: (eventId: string, label: string) => `${eventId}#${label}`,
  dueShards: 8,
  duePartition: (shard: number) => `DUE#${shard}`,
} as const;

const shardOf = (instanceId: string, sk: string): number => createHash('md5').update(`${instanceId}#${sk}`).digest()[0]! % deliveryKeys.dueShards;

const dueKey = (dueAt: string, instanceId: string, sk: string) => `${dueAt}#${instanceId}#${sk}`;

const keyOf = (delivery: Pick<Delivery, 'instanceId' | 'eventId' | 'label'>) => ({
  pk: deliveryKeys.partition(delivery.instanceId),
  sk: deliveryKeys.sort(delivery.eventId, delivery.label),
});

const dueAtOf = (delivery: Delivery): string | null => {
  if (delivery.status !== 'pending') return null;
  if (delivery.claimedUntil && delivery.nextAttemptAt) return delivery.claimedUntil > delivery.nextAttemptAt ? delivery.claimedUntil : delivery.nextAttemptAt;
  return delivery.claimedUntil ?? delivery.nextAttemptAt;
};

const toItem = (delivery: Delivery) => {
  const key = keyOf(delivery);
  const dueAt = dueAtOf(delivery);
  return {
    ...key,
    entity: 'delivery',
    v: 1,
    ...delivery,
    claimedUntil: delivery.claimedUntil ?? '',
    ttl: Math.floor(Date.parse(delivery.createdAt) / 1000) + retentionSeconds,
    ...(dueAt ? { gsi1pk: deliveryKeys.duePartition(shardOf(delivery.instanceId, key.sk)), gsi1sk: dueKey(dueAt, delivery.instanceId, key.sk) } : {}),
  };
};

const toDelivery = (item: Record<string, unknown>): Delivery => {
  const { ttl: _ttl, ...rest } = stripKeys<Delivery & { ttl?: number }>(item);
  return {
    ...rest,
    claimedUntil: rest.claimedUntil ? rest.claimedUntil : null,
    record: rest.record ?? null,
    recordPointer: rest.recordPointer ?? null,
  };
};

const isConditionFailure = (error: unknown) => error instanceof ConditionalCheckFailedException;

/** Filter expression pieces for Z2/Z3 filters. */
const filterParts = (filter: DeliveryFilter) => {
  const conditions: string[] = [];
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = {};
  if (filter.status) {
    conditions.push('#status = :fStatus');
    names['#status'] = 'status';
    values[':fStatus'] = filter.status;
  }
  if (filter.finished) {
    conditions.push('#status IN (:fDelivered, :fDead)');
    names['#status'] = 'status';
    values[':fDelivered'] = 'delivered';
    values[':fDead'] = 'dead';
  }
  if (filter.label !== undefined) {
    conditions.push('#label = :fLabel');
    names['#label'] = 'label';
    values[':fLabel'] = filter.label;
  }
  if (filter.event) {
    conditions.push('#event = :fEvent');
    names['#event'] = 'event';
    values[':fEvent'] = filter.event;
  }
  if (filter.since) {
    conditions.push('eventTimestamp >= :fSince');
    values[':fSince'] = filter.since;
  }
  if (filter.until) {
    conditions.push('eventTimestamp < :fUntil');
    values[':fUntil'] = filter.until;
  }
  return { conditions, names, values };
};

export const createDeliveryRepository = ({ doc, tableName }: DynamoContext): DeliveryRepository => {
  // The fan-out creates, and first attempts complete, many entries at once: they share transactions.
  const batcher = createTransactBatcher(doc);
  /** Pages through one instance's entries, newest first, until `enough` items matched. */
  const scanPartition = async (
    instanceId: string,
    filter: DeliveryFilter,
    enough: number,
    afterSk: string | null,
    extra: { skPrefix?: string } = {},
  ): Promise<{ items: Delivery[]; more: boolean }> => {
    const { conditions, names, values } = filterParts(filter);
    const items: Delivery[] = [];
    let startKey: Record<string, unknown> | undefined = afterSk ? { pk: deliveryKeys.partition(instanceId), sk: afterSk } : undefined;
    for (;;) {
      const input: QueryCommandInput = {
        TableName: tableName,
        KeyConditionExpression: extra.skPrefix ? 'pk = :pk AND begins_with(sk, :prefix)' : 'pk = :pk',
        ExpressionAttributeValues: { ':pk': deliveryKeys.partition(instanceId), ...(extra.skPrefix ? { ':prefix': extra.skPrefix } : {}), ...values },
        ExpressionAttributeNames: Object.keys(names).length ? names : undefined,
        FilterExpression: conditions.length ? conditions.join(' AND ') : undefined,
        ScanIndexForward: false,
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      };
      const page = await doc.send(new QueryCommand(input));
      for (const item of page.Items ?? []) {
        if (items.length === enough) return { items, more: true };
        items.push(toDelivery(item));
      }
      startKey = page.LastEvaluatedKey;
      if (!startKey) return { items, more: false };
    }
  };

  return {
    async create(delivery) {
      return batcher.write([{ Put: { TableName: tableName, Item: toItem(delivery), ConditionExpression: 'attribute_not_exists(pk)' } }]);
    },

    async get(instanceId, eventId, label) {
      const out = await doc.send(new GetCommand({ TableName: tableName, Key: keyOf({ instanceId, eventId, label }), ConsistentRead: true }));
      return out.Item ? toDelivery(out.Item) : null;
    },

    async due(now, limitPerShard = 100) {
      const upper = `${now.toISOString()}~`;
      const pages = await Promise.all(
        Array.from({ length: deliveryKeys.dueShards }, (_, shard) =>
          doc.send(
            new QueryCommand({
              TableName: tableName,
              IndexName: tableSchema.gsi1.name,
              KeyConditionExpression: 'gsi1pk = :pk AND gsi1sk < :upper',
              ExpressionAttributeValues: { ':pk': deliveryKeys.duePartition(shard), ':upper': upper },
              Limit: limitPerShard,
            }),
          ),
        ),
      );
      return pages.flatMap((page) => (page.Items ?? []).filter((item) => item.entity === 'delivery').map(toDelivery));
    },

    async claim(delivery, now, holdMs = claimMs) {
      const claimedUntil = new Date(now.getTime() + holdMs).toISOString();
      const claimed: Delivery = { ...delivery, attempts: delivery.attempts + 1, claimedUntil };
      const key = keyOf(delivery);
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key,
            UpdateExpression: 'SET attempts = :next, claimedUntil = :until, gsi1sk = :due',
            ConditionExpression: '#status = :pending AND attempts = :seen AND claimedUntil <= :now AND nextAttemptAt <= :now',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':next': claimed.attempts,
              ':until': claimedUntil,
              ':due': dueKey(dueAtOf(claimed) as string, delivery.instanceId, key.sk),
              ':pending': 'pending',
              ':seen': delivery.attempts,
              ':now': now.toISOString(),
            },
          }),
        );
        return claimed;
      } catch (error) {
        if (isConditionFailure(error)) return null;
        throw error;
      }
    },

    async complete(claimed, result) {
      const names: Record<string, string> = { '#status': 'status', '#url': 'url' };
      const values: Record<string, unknown> = {
        ':status': result.status,
        ':at': result.at,
        ':url': result.url,
        ':code': result.outcome?.statusCode ?? null,
        ':error': result.status === 'dead' ? result.error : (result.outcome?.error ?? null),
        ':latency': result.outcome?.latencyMs ?? null,
        ':attempt': claimed.attempts,
        ':pending': 'pending',
        ':unclaimed': '',
        ':claim': claimed.claimedUntil ?? '',
      };
      const sets = [
        '#status = :status',
        '#url = :url',
        'lastStatusCode = :code',
        'lastError = :error',
        'lastLatencyMs = :latency',
        'claimedUntil = :unclaimed',
      ];
      // A cancellation without an attempt keeps the last attempt's time.
      if (result.outcome) sets.push('lastAttemptAt = :at');
      let remove = '';
      if (result.status === 'pending') {
        const key = keyOf(claimed);
        sets.push('nextAttemptAt = :next', 'gsi1sk = :due');
        values[':next'] = result.nextAttemptAt;
        values[':due'] = dueKey(result.nextAttemptAt, claimed.instanceId, key.sk);
      } else {
        sets.push('nextAttemptAt = :none', 'deliveredAt = :delivered');
        values[':none'] = null;
        values[':delivered'] = result.status === 'delivered' ? result.at : null;
        remove = ' REMOVE gsi1pk, gsi1sk';
      }
      return batcher.write([
        {
          Update: {
            TableName: tableName,
            Key: keyOf(claimed),
            UpdateExpression: `SET ${sets.join(', ')}${remove}`,
            // The claim is the attempt's token: a completion after someone else took over changes nothing.
            ConditionExpression: '#status = :pending AND attempts = :attempt AND claimedUntil = :claim',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          },
        },
      ]);
    },

    async list(instanceId, filter, limit, cursor) {
      const { items, more } = await scanPartition(instanceId, filter, limit, cursor);
      const last = items.at(-1);
      return { deliveries: items, nextCursor: more && last ? deliveryKeys.sort(last.eventId, last.label) : null };
    },

    async ofEvents(instanceId, eventIds) {
      const result: Delivery[] = [];
      for (const eventId of new Set(eventIds)) {
        if (eventId.includes('#')) continue;
        result.push(...(await scanPartition(instanceId, {}, Number.MAX_SAFE_INTEGER, null, { skPrefix: `${eventId}#` })).items);
      }
      return result;
    },

    async select(instanceId, filter, max) {
      return (await scanPartition(instanceId, filter, max, null)).items;
    },

    async requeue(delivery, now) {
      const at = now.toISOString();
      const key = keyOf(delivery);
      const fresh: Delivery = { ...delivery, status: 'pending', attempts: 0, nextAttemptAt: at, claimedUntil: null, deliveredAt: null };
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key,
            UpdateExpression:
              'SET #status = :pending, attempts = :zero, nextAttemptAt = :at, claimedUntil = :unclaimed, deliveredAt = :none, gsi1pk = :duePk, gsi1sk = :due',
            ConditionExpression: '#status IN (:delivered, :dead)',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':pending': 'pending',
              ':zero': 0,
              ':at': at,
              ':unclaimed': '',
              ':none': null,
              ':duePk': deliveryKeys.duePartition(shardOf(delivery.instanceId, key.sk)),
              ':due': dueKey(dueAtOf(fresh) as string, delivery.instanceId, key.sk),
              ':delivered': 'delivered',
              ':dead': 'dead',
            },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    async cancelPending(instanceId, label, reason, now) {
      const pending = (await scanPartition(instanceId, { status: 'pending', label }, Number.MAX_SAFE_INTEGER, null)).items;
      let cancelled = 0;
      for (const delivery of pending) {
        try {
          await doc.send(
            new UpdateCommand({
              TableName: tableName,
              Key: keyOf(delivery),
              UpdateExpression: 'SET #status = :dead, lastError = :reason, nextAttemptAt = :none, claimedUntil = :unclaimed, cancelledAt = :at REMOVE gsi1pk, gsi1sk',
              ConditionExpression: '#status = :pending',
              ExpressionAttributeNames: { '#status': 'status' },
              ExpressionAttributeValues: { ':dead': 'dead', ':reason': reason, ':none': null, ':unclaimed': '', ':at': now.toISOString(), ':pending': 'pending' },
            }),
          );
          cancelled += 1;
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
        }
      }
      return cancelled;
    },
  };
};

/** Webhook configuration items live beside the instance (spec #14); kept importable from here. */
export { createWebhookStore, type WebhookStore } from './webhook-store.dynamodb.ts';
