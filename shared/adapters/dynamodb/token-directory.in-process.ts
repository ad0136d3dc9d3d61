import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import type { TokenEntry } from '../../domain/auth/principal.ts';
import type { TokenDirectory } from '../../domain/ports/repositories.port.ts';
import type { DynamoContext } from './document-client.ts';
import { createPartitionReadCache } from './partition-read-cache.ts';
import { keys } from './table.ts';
import { toEntry } from './token-directory.dynamodb.ts';

/**
 * The token directory of a process that serves every request and makes every write itself: the
 * embedded stack. Not for Lambda, where many processes count the same token (they use
 * `createTokenDirectory`, which counts in DynamoDB).
 *
 * - A token's principal is read through a partition read cache (partition-read-cache.ts): a
 *   rotation, a deletion or new limits written by this process are seen by the next request;
 *   writes from elsewhere within `maxAgeMs` (1 s).
 * - Rate-limit windows are counted in this process's memory, with the same fixed windows and
 *   ranks as the DynamoDB counters, so the limits are as exact; what changes is that a request
 *   no longer waits for a conditional write before it is served (with DynamoDB Local that write
 *   goes to disk, and it was the slowest step of accepting a send). Windows are not kept across
 *   a restart: a restarted stack counts from zero until the next minute.
 */
export const createInProcessTokenDirectory = (
  { doc, tableName }: DynamoContext,
  client: DynamoDBClient,
  options: { maxAgeMs?: number; maxEntries?: number; now?: () => number } = {},
): TokenDirectory => {
  const principals = createPartitionReadCache<TokenEntry | null>(client, options);
  const windows = new Map<string, { start: number; count: number }>();
  let newestStart = 0;

  /** This request's rank in its window; one asked for just before a minute boundary that arrives after it counts in the newer window. */
  const countIn = (id: string, windowStart: number): number => {
    if (windowStart > newestStart) {
      newestStart = windowStart;
      for (const [key, window] of windows) if (window.start < windowStart) windows.delete(key);
    }
    const window = windows.get(id);
    if (!window || window.start < windowStart) {
      windows.set(id, { start: windowStart, count: 1 });
      return 1;
    }
    window.count += 1;
    return window.count;
  };

  const principalOf = (tokenHash: string): Promise<TokenEntry | null> => {
    const key = keys.token(tokenHash);
    return principals.get(key.pk, tokenHash, async () => {
      const out = await doc.send(new GetCommand({ TableName: tableName, Key: key, ConsistentRead: true }));
      return out.Item ? toEntry(out.Item) : null;
    });
  };

  return {
    async authenticate(tokenHash, bucket, windowStart) {
      const entry = await principalOf(tokenHash);
      if (!entry) return null;
      return { entry, count: countIn(`token\u0000${tokenHash}\u0000${bucket}`, windowStart) };
    },
    async count(bucketKey, windowStart) {
      return countIn(`rate\u0000${bucketKey}`, windowStart);
    },
  };
};
