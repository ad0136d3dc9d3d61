import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { PacingSnapshot, PacingStateStore } from '../../domain/messages/pacing.ts';
import type { Clock } from '../../domain/ports/runtime.port.ts';
import type { DynamoContext } from './document-client.ts';
import { keys, tableSchema } from './table.ts';

/**
 * Anti-ban pacing state per instance (shared/domain/messages/pacing.ts) in the single table:
 * `PACING#<instanceId>` / `PACING`, so the daily first-contact cap and WhatsApp's pauses survive a
 * runner restart and a shard move. Only the instance's current owner writes it (shard lease), so
 * a plain put is enough. The `ttl` is a day past the last thing the state still matters for.
 *
 * The list of first contacts is capped at `maxStoredContacts` (newest kept), so an operator cap
 * far above WhatsApp's tolerance cannot grow the item past DynamoDB's 400 KB.
 */
const maxStoredContacts = 5_000;
const day = 24 * 60 * 60 * 1000;

export const createDynamoPacingStateStore = ({ doc, tableName }: DynamoContext, options: { clock?: Clock } = {}): PacingStateStore => {
  const clock = options.clock ?? { now: () => new Date() };
  return {
    async load(instanceId) {
      const out = await doc.send(new GetCommand({ TableName: tableName, Key: keys.pacing(instanceId), ConsistentRead: true }));
      const item = out.Item;
      if (!item || (typeof item.ttl === 'number' && item.ttl <= Math.floor(clock.now().getTime() / 1000))) return null;
      return {
        firstContacts: (item.firstContacts as { to: string; at: number }[] | undefined) ?? [],
        pausedUntil: (item.pausedUntil as number | undefined) ?? 0,
        firstContactsPausedUntil: (item.firstContactsPausedUntil as number | undefined) ?? 0,
        consecutiveRateLimits: (item.consecutiveRateLimits as number | undefined) ?? 0,
      };
    },

    async save(instanceId, snapshot: PacingSnapshot) {
      const firstContacts = snapshot.firstContacts.slice(-maxStoredContacts);
      const lastRelevant = Math.max(clock.now().getTime(), snapshot.pausedUntil, snapshot.firstContactsPausedUntil, ...firstContacts.map((contact) => contact.at + day));
      await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            ...keys.pacing(instanceId),
            entity: 'pacing_state',
            v: 1,
            firstContacts,
            pausedUntil: snapshot.pausedUntil,
            firstContactsPausedUntil: snapshot.firstContactsPausedUntil,
            consecutiveRateLimits: snapshot.consecutiveRateLimits,
            [tableSchema.ttlAttribute]: Math.floor((lastRelevant + day) / 1000),
          },
        }),
      );
    },
  };
};
