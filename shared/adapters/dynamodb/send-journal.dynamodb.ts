import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { JournaledSendCommand, SendJournal, SendJournalEntry } from '../../domain/messages/send-journal.ts';
import { queryAll, stripKeys, type DynamoContext } from './document-client.ts';
import { keys, tableSchema } from './table.ts';

/**
 * The send journal (shared/domain/messages/send-journal.ts) in the single table: one item per
 * in-flight send, `SENDJOURNAL#<shard>` / `<instanceId>#<messageId>`, so the runner that acquires
 * a shard reads the shard's entries with one strongly consistent query. Entries are deleted when
 * their send ends; the `ttl` (7 days) only sweeps entries of a shard nobody acquired since.
 * Every change is conditional on the runner (and, for a claim or an adoption, the phase) the caller saw.
 *
 * The command is kept as JSON in the item (`commandJson`) up to `inlineJournalCommandLimitBytes`; a larger
 * one (a send with large base64 media, which reached the runner through the command bus's S3
 * pointer) goes to the overflow bucket under `commands/journal/<instanceId>/<messageId>.json` (the
 * command bus's prefix, so its lifecycle rule sweeps left-overs), the item holding the pointer
 * (`commandPointer`), as the command bus does. The object is deleted with the entry (close, claim), and only then: an inline entry costs no S3 call. Without an overflow bucket such an entry keeps no command (`command: null`),
 * and the next owner can only report its send failed.
 */
const entryTtlSeconds = 7 * 24 * 60 * 60;
/**
 * Commands up to this size stay in the item (a text or a media URL: a few KB). Larger ones (base64
 * media) go to the bucket: an item is billed per KB written (a 200 KB command would cost 200 write
 * units on every accept) and holds at most 400 KB.
 */
export const inlineJournalCommandLimitBytes = 32 * 1024;

interface CommandPointer {
  bucket: string;
  key: string;
}

export interface SendJournalOptions {
  clock?: { now(): Date };
  /** Where commands too large for the item go (the platform bucket). */
  overflow?: { s3: S3Client; bucket: string };
}

export const createDynamoSendJournal = ({ doc, tableName }: DynamoContext, options: SendJournalOptions = {}): SendJournal => {
  const clock = options.clock ?? { now: () => new Date() };
  const overflow = options.overflow;
  const conditional = async (write: () => Promise<unknown>): Promise<boolean> => {
    try {
      await write();
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  };
  /** A conditional delete: `null` when the condition failed, else the item removed (`ReturnValues: ALL_OLD`). */
  const conditionalDelete = async (command: DeleteCommand): Promise<Record<string, unknown> | null> => {
    try {
      const out = await doc.send(command);
      return out.Attributes ?? {};
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return null;
      throw error;
    }
  };
  const objectKeyOf = (entry: Pick<SendJournalEntry, 'instanceId' | 'messageId'>) => `commands/journal/${entry.instanceId}/${entry.messageId}.json`;
  /**
   * Removes the bucket object of a deleted entry, only when the entry pointed at one (a command kept
   * inline has none: no S3 call per send). Best effort: a left-over object only costs storage (the
   * bucket's lifecycle rules sweep it).
   */
  const removeObjectOf = async (removed: Record<string, unknown>) => {
    const pointer = removed.commandPointer as CommandPointer | undefined;
    if (!overflow || !pointer || typeof pointer.key !== 'string') return;
    await overflow.s3.send(new DeleteObjectCommand({ Bucket: pointer.bucket, Key: pointer.key })).catch(() => undefined);
  };

  /** The item attributes that keep the command: inline, an S3 pointer, or nothing. */
  const commandAttributes = async (entry: SendJournalEntry): Promise<Record<string, unknown>> => {
    if (entry.command === null) return {};
    const json = JSON.stringify(entry.command);
    if (Buffer.byteLength(json) <= inlineJournalCommandLimitBytes) return { commandJson: json };
    if (!overflow) return {};
    const pointer: CommandPointer = { bucket: overflow.bucket, key: objectKeyOf(entry) };
    await overflow.s3.send(new PutObjectCommand({ Bucket: pointer.bucket, Key: pointer.key, Body: json, ContentType: 'application/json' }));
    return { commandPointer: pointer };
  };

  const commandOf = async (item: { commandJson?: string; commandPointer?: CommandPointer }): Promise<JournaledSendCommand | null> => {
    if (typeof item.commandJson === 'string') return JSON.parse(item.commandJson) as JournaledSendCommand;
    if (!item.commandPointer || !overflow) return null;
    try {
      const object = await overflow.s3.send(new GetObjectCommand({ Bucket: item.commandPointer.bucket, Key: item.commandPointer.key }));
      return JSON.parse(await (object.Body as { transformToString(): Promise<string> }).transformToString()) as JournaledSendCommand;
    } catch {
      return null;
    }
  };

  return {
    async open(entry) {
      const { command: _command, ...fields } = entry;
      const opened = await conditional(async () =>
        doc.send(
          new PutCommand({
            TableName: tableName,
            Item: {
              ...keys.sendJournal(entry.shard, entry.instanceId, entry.messageId),
              entity: 'send_journal',
              v: 1,
              ...fields,
              ...(await commandAttributes(entry)),
              [tableSchema.ttlAttribute]: Math.floor(clock.now().getTime() / 1000) + entryTtlSeconds,
            },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        ),
      );
      // Not opened (a redelivered command): an object written just now is the entry's own (same key, same command).
      return opened;
    },

    markTyping: (key, at) =>
      conditional(() =>
        doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.sendJournal(key.shard, key.instanceId, key.messageId),
            UpdateExpression: 'SET typingFrom = if_not_exists(typingFrom, :at)',
            ConditionExpression: 'runnerId = :me AND phase = :accepted',
            ExpressionAttributeValues: { ':at': at, ':me': key.runnerId, ':accepted': 'accepted' },
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

    async close(key) {
      const removed = await conditionalDelete(
        new DeleteCommand({
          TableName: tableName,
          Key: keys.sendJournal(key.shard, key.instanceId, key.messageId),
          ConditionExpression: 'runnerId = :me',
          ExpressionAttributeValues: { ':me': key.runnerId },
          ReturnValues: 'ALL_OLD',
        }),
      );
      if (removed) await removeObjectOf(removed);
      return removed !== null;
    },

    async list(shard) {
      const items = await queryAll(doc, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.sendJournalPartition(shard) },
        ConsistentRead: true,
      });
      return Promise.all(
        items.map(async (item) => {
          const { ttl: _ttl, commandJson, commandPointer, ...entry } = stripKeys<Omit<SendJournalEntry, 'command'> & { ttl?: number; commandJson?: string; commandPointer?: CommandPointer }>(item);
          const command = await commandOf({ ...(commandJson === undefined ? {} : { commandJson }), ...(commandPointer === undefined ? {} : { commandPointer }) });
          // Entries written before `seq` existed sort first.
          return { ...entry, seq: entry.seq ?? 0, command };
        }),
      );
    },

    async claim(entry) {
      const removed = await conditionalDelete(
        new DeleteCommand({
          TableName: tableName,
          Key: keys.sendJournal(entry.shard, entry.instanceId, entry.messageId),
          ConditionExpression: 'runnerId = :runner AND phase = :phase',
          ExpressionAttributeValues: { ':runner': entry.runnerId, ':phase': entry.phase },
          ReturnValues: 'ALL_OLD',
        }),
      );
      if (removed) await removeObjectOf(removed);
      return removed !== null;
    },

    adopt: (entry, runnerId) =>
      conditional(() =>
        doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.sendJournal(entry.shard, entry.instanceId, entry.messageId),
            UpdateExpression: 'SET runnerId = :me',
            ConditionExpression: 'runnerId = :runner AND phase = :accepted',
            ExpressionAttributeValues: { ':me': runnerId, ':runner': entry.runnerId, ':accepted': 'accepted' },
          }),
        ),
      ),
  };
};
