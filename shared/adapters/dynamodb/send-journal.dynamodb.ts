import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { SendJournal, SendJournalEntry } from '../../domain/messages/send-journal.ts';
import { queryAll, stripKeys, type DynamoContext } from './document-client.ts';
import { keys, tableSchema } from './table.ts';

/**
 * The send journal (shared/domain/messages/send-journal.ts) in the single table: one item per
 * in-flight send, `SENDJOURNAL#<shard>` / `<instanceId>#<messageId>`, so the runner that acquires
 * a shard reads the shard's entries with one strongly consistent query. Entries are deleted when
 * their send ends; the `ttl` (7 days) only sweeps entries of a shard nobody acquired since.
 * Every change is conditional on the runner (and, for a claim, the phase) the caller saw.
 */
const entryTtlSeconds = 7 * 24 * 60 * 60;

export const createDynamoSendJournal = ({ doc, tableName }: DynamoContext, options: { clock?: { now(): Date } } = {}): SendJournal => {
  const clock = options.clock ?? { now: () => new Date() };
  const conditional = async (write: () => Promise<unknown>): Promise<boolean> => {
    try {
      await write();
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  };

  return {
    open: (entry) =>
      conditional(() =>
        doc.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              ...keys.sendJournal(entry.shard, entry.instanceId, entry.messageId),
              entity: 'send_journal',
              v: 1,
              ...entry,
              [tableSchema.ttlAttribute]: Math.floor(clock.now().getTime() / 1000) + entryTtlSeconds,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      ),

    markSending: (key) =>
      conditional(() =>
        doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.sendJournal(key.shard, key.instanceId, key.messageId),
            UpdateExpression: 'SET phase = :sending',
            ConditionExpression: 'runnerId = :me',
            ExpressionAttributeValues: { ':sending': 'sending', ':me': key.runnerId },
          }),
        ),
      ),

    close: (key) =>
      conditional(() =>
        doc.send(
          new DeleteCommand({
            TableName: tableName,
            Key: keys.sendJournal(key.shard, key.instanceId, key.messageId),
            ConditionExpression: 'runnerId = :me',
            ExpressionAttributeValues: { ':me': key.runnerId },
          }),
        ),
      ),

    async list(shard) {
      const items = await queryAll(doc, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.sendJournalPartition(shard) },
        ConsistentRead: true,
      });
      return items.map((item) => {
        const { ttl: _ttl, ...entry } = stripKeys<SendJournalEntry & { ttl?: number }>(item);
        return entry;
      });
    },

    claim: (entry) =>
      conditional(() =>
        doc.send(
          new DeleteCommand({
            TableName: tableName,
            Key: keys.sendJournal(entry.shard, entry.instanceId, entry.messageId),
            ConditionExpression: 'runnerId = :runner AND phase = :phase',
            ExpressionAttributeValues: { ':runner': entry.runnerId, ':phase': entry.phase },
          }),
        ),
      ),
  };
};
