import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { TokenEntry } from '../../domain/auth/principal.ts';
import type { CountedPrincipal, TokenDirectory } from '../../domain/ports/repositories.port.ts';
import type { DynamoContext } from './document-client.ts';
import { keys } from './table.ts';

/** Window and counter attributes per bucket, stored on the token item itself. */
const bucketAttributes = {
  global: { window: 'rlGlobalWindow', count: 'rlGlobalCount' },
  create: { window: 'rlCreateWindow', count: 'rlCreateCount' },
  other: { window: 'rlWindow', count: 'rlCount' },
} as const;

const toEntry = (item: Record<string, unknown>): TokenEntry => {
  const limits = item.limits as TokenEntry['limits'];
  return item.kind === 'instance'
    ? { kind: 'instance', accountId: item.accountId as string, instanceId: item.instanceId as string, instanceName: item.instanceName as string, limits }
    : { kind: 'account', accountId: item.accountId as string, limits };
};

/**
 * Exact fixed-window counters that hold across processes. The common case (same window) is a
 * single conditional `ADD`; the first request of a window resets it with a second conditional
 * write. For tokens, the same write proves the token exists and returns its principal.
 */
export const createTokenDirectory = ({ doc, tableName }: DynamoContext): TokenDirectory => {
  const increment = async (key: Record<string, string>, attrs: { window: string; count: string }, windowStart: number, mustExist: boolean, ttl?: number) => {
    const names = { '#w': attrs.window, '#c': attrs.count };
    const exists = mustExist ? 'attribute_exists(pk) AND ' : '';
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        // `>=`: a request computed just before a minute boundary may write after another
        // request opened the next window; it is counted there rather than failing.
        const out = await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key,
            UpdateExpression: 'ADD #c :one',
            ConditionExpression: `${exists}#w >= :w`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':one': 1, ':w': windowStart },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return out.Attributes ?? null;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      try {
        const out = await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: key,
            UpdateExpression: ttl === undefined ? 'SET #w = :w, #c = :one' : 'SET #w = :w, #c = :one, #ttl = :ttl',
            ConditionExpression: `${exists}(attribute_not_exists(#w) OR #w < :w)`,
            ExpressionAttributeNames: ttl === undefined ? names : { ...names, '#ttl': 'ttl' },
            ExpressionAttributeValues: ttl === undefined ? { ':one': 1, ':w': windowStart } : { ':one': 1, ':w': windowStart, ':ttl': ttl },
            ReturnValues: 'ALL_NEW',
          }),
        );
        return out.Attributes ?? null;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      // Both conditions failed: either the token does not exist, or another request opened
      // the window between our two writes (then the first write succeeds on the next round).
      if (mustExist) {
        const current = await doc.send(new GetCommand({ TableName: tableName, Key: key, ProjectionExpression: 'pk' }));
        if (!current.Item) return null;
      }
    }
    throw new Error('rate-limit counter did not settle after 5 attempts');
  };

  return {
    async authenticate(tokenHash, bucket, windowStart): Promise<CountedPrincipal | null> {
      const attrs = bucketAttributes[bucket];
      const item = await increment(keys.token(tokenHash), attrs, windowStart, true);
      if (!item) return null;
      return { entry: toEntry(item), count: Number(item[attrs.count]) };
    },
    async count(bucketKey, windowStart) {
      const item = await increment(keys.rate(bucketKey), bucketAttributes.other, windowStart, false, windowStart + 120);
      return Number(item?.[bucketAttributes.other.count] ?? 1);
    },
  };
};

export const tokenItem = (tokenHash: string, entry: TokenEntry) => ({ ...keys.token(tokenHash), entity: 'token', v: 1, ...entry });
