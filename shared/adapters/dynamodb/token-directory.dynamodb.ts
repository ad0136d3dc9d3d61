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

/** The principal a token item names. */
export const toEntry = (item: Record<string, unknown>): TokenEntry => {
  const limits = item.limits as TokenEntry['limits'];
  return item.kind === 'instance'
    ? { kind: 'instance', accountId: item.accountId as string, instanceId: item.instanceId as string, instanceName: item.instanceName as string, limits }
    : { kind: 'account', accountId: item.accountId as string, limits };
};

/** A counter to add to: the item, its window/count attributes, and how to write it. */
interface Counter {
  key: Record<string, string>;
  attrs: { window: string; count: string };
  windowStart: number;
  mustExist: boolean;
  ttl?: number;
}

/** What a counted request learns: the item after the write and its own rank in the window. */
interface Counted {
  item: Record<string, unknown> | null;
  count: number;
}

interface Lane {
  waiting: { resolve: (counted: Counted) => void; reject: (error: unknown) => void }[];
}

/**
 * Exact fixed-window counters that hold across processes. The common case (same window) is a
 * single conditional `ADD`; the first request of a window resets it with a second conditional
 * write. For tokens, the same write proves the token exists and returns its principal.
 *
 * Within one process, requests for the same counter that arrive while a write for it is in
 * flight wait for it and are then counted together by one `ADD n`: the item's counter still
 * moves by exactly one per request, and each request gets its own rank (`total − n + 1 … total`),
 * so the limit is as exact as with one write per request, at a fraction of the writes under load.
 */
export const createTokenDirectory = ({ doc, tableName }: DynamoContext): TokenDirectory => {
  const increment = async ({ key, attrs, windowStart, mustExist, ttl }: Counter, by: number) => {
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
            UpdateExpression: 'ADD #c :n',
            ConditionExpression: `${exists}#w >= :w`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ':n': by, ':w': windowStart },
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
            UpdateExpression: ttl === undefined ? 'SET #w = :w, #c = :n' : 'SET #w = :w, #c = :n, #ttl = :ttl',
            ConditionExpression: `${exists}(attribute_not_exists(#w) OR #w < :w)`,
            ExpressionAttributeNames: ttl === undefined ? names : { ...names, '#ttl': 'ttl' },
            ExpressionAttributeValues: ttl === undefined ? { ':n': by, ':w': windowStart } : { ':n': by, ':w': windowStart, ':ttl': ttl },
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

  /** Counters with a write in flight, by counter; requests arriving meanwhile wait in its lane. */
  const lanes = new Map<string, Lane>();

  const drain = async (id: string, counter: Counter, lane: Lane) => {
    while (lane.waiting.length > 0) {
      const batch = lane.waiting.splice(0);
      try {
        const item = await increment(counter, batch.length);
        const total = item ? Number(item[counter.attrs.count]) : 0;
        batch.forEach((request, index) => request.resolve({ item, count: total - batch.length + 1 + index }));
      } catch (error) {
        for (const request of batch) request.reject(error);
      }
    }
    lanes.delete(id);
  };

  const countIn = (counter: Counter): Promise<Counted> =>
    new Promise((resolve, reject) => {
      const id = `${counter.key.pk}\u0000${counter.key.sk}\u0000${counter.attrs.count}\u0000${counter.windowStart}`;
      const lane = lanes.get(id);
      if (lane) return void lane.waiting.push({ resolve, reject });
      const opened: Lane = { waiting: [{ resolve, reject }] };
      lanes.set(id, opened);
      void drain(id, counter, opened);
    });

  return {
    async authenticate(tokenHash, bucket, windowStart): Promise<CountedPrincipal | null> {
      const { item, count } = await countIn({ key: keys.token(tokenHash), attrs: bucketAttributes[bucket], windowStart, mustExist: true });
      if (!item) return null;
      return { entry: toEntry(item), count };
    },
    async count(bucketKey, windowStart) {
      const { item, count } = await countIn({ key: keys.rate(bucketKey), attrs: bucketAttributes.other, windowStart, mustExist: false, ttl: windowStart + 120 });
      return item ? count : 1;
    },
  };
};

export const tokenItem = (tokenHash: string, entry: TokenEntry) => ({ ...keys.token(tokenHash), entity: 'token', v: 1, ...entry });
