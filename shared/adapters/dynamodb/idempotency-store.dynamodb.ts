import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  defaultClaimLeaseSeconds,
  idempotencyRetentionSeconds,
  type ClaimOutcome,
  type IdempotencyScope,
  type IdempotencyStore,
  type IdempotentResponse,
} from '../../domain/messages/idempotency.ts';
import type { Clock } from '../../domain/ports/runtime.port.ts';
import type { DynamoContext } from './document-client.ts';
import { keys, tableSchema } from './table.ts';

/**
 * Idempotency keys in the single table (`keys.idempotency`: `IDEMPOTENCY#<instanceId>#<key>` /
 * `IDEMPOTENCY`), one item per (instance, key):
 * `{ state: 'in_progress' | 'completed', fingerprint, claimId, leaseUntil (ms), ttl (s), response? }`.
 *
 * A claim is one conditional put that succeeds only when the key is free: no item, an item past
 * its `ttl` (DynamoDB deletes expired items lazily, up to days later, so expiry is checked here,
 * never assumed), or an in-progress item whose lease lapsed. Concurrent claims therefore have
 * exactly one winner; the losers read the item (strongly consistent) to say why.
 * `complete` and `release` are conditional on the claim id, so a request whose lease lapsed
 * cannot overwrite or free the claim of the request that took over.
 */
export const createDynamoIdempotencyStore = (
  { doc, tableName }: DynamoContext,
  options: { clock?: Clock; retentionSeconds?: number; leaseSeconds?: number; newClaimId?: () => string } = {},
): IdempotencyStore => {
  const clock = options.clock ?? { now: () => new Date() };
  const retentionSeconds = options.retentionSeconds ?? idempotencyRetentionSeconds;
  const leaseMs = (options.leaseSeconds ?? defaultClaimLeaseSeconds) * 1000;
  const newClaimId = options.newClaimId ?? randomUUID;
  const keyOf = (scope: IdempotencyScope) => keys.idempotency(scope.instanceId, scope.key);

  const tryPut = async (scope: IdempotencyScope, fingerprint: string, claimId: string): Promise<boolean> => {
    const nowMs = clock.now().getTime();
    const nowSeconds = Math.floor(nowMs / 1000);
    try {
      await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...keyOf(scope),
            entity: 'idempotency',
            state: 'in_progress',
            fingerprint,
            claimId,
            claimedAt: new Date(nowMs).toISOString(),
            leaseUntil: nowMs + leaseMs,
            [tableSchema.ttlAttribute]: nowSeconds + retentionSeconds,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #ttl <= :nowSeconds OR (#state = :inProgress AND leaseUntil <= :nowMs)',
          ExpressionAttributeNames: { '#ttl': tableSchema.ttlAttribute, '#state': 'state' },
          ExpressionAttributeValues: { ':nowSeconds': nowSeconds, ':nowMs': nowMs, ':inProgress': 'in_progress' },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  };

  return {
    async claim(scope, fingerprint): Promise<ClaimOutcome> {
      // The holder may vanish between the failed put and the read (released, or expired): try again.
      for (let attempt = 0; attempt < 5; attempt++) {
        const claimId = newClaimId();
        if (await tryPut(scope, fingerprint, claimId)) return { kind: 'new', claimId };
        const out = await doc.send(new GetCommand({ TableName: tableName, Key: keyOf(scope), ConsistentRead: true }));
        const item = out.Item;
        const nowMs = clock.now().getTime();
        if (!item || Number(item[tableSchema.ttlAttribute]) <= Math.floor(nowMs / 1000)) continue;
        if (item.fingerprint !== fingerprint) return { kind: 'mismatch' };
        if (item.state === 'completed') return { kind: 'replay', response: JSON.parse(item.response as string) as IdempotentResponse };
        if (Number(item.leaseUntil) <= nowMs) continue;
        return { kind: 'in_progress' };
      }
      // Only reachable under pathological churn on one key; the client retries.
      return { kind: 'in_progress' };
    },

    async complete(scope, claimId, response) {
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keyOf(scope),
            // The response is stored as JSON text so it replays byte for byte (no Set/Number conversions).
            UpdateExpression: 'SET #state = :completed, #response = :response REMOVE leaseUntil',
            ConditionExpression: 'claimId = :claimId AND #state = :inProgress',
            ExpressionAttributeNames: { '#state': 'state', '#response': 'response' },
            ExpressionAttributeValues: { ':completed': 'completed', ':response': JSON.stringify(response), ':claimId': claimId, ':inProgress': 'in_progress' },
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    },

    async release(scope, claimId) {
      try {
        await doc.send(
          new DeleteCommand({
            TableName: tableName,
            Key: keyOf(scope),
            ConditionExpression: 'claimId = :claimId AND #state = :inProgress',
            ExpressionAttributeNames: { '#state': 'state' },
            ExpressionAttributeValues: { ':claimId': claimId, ':inProgress': 'in_progress' },
          }),
        );
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    },
  };
};
