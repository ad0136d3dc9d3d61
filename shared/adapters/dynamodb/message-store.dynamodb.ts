import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  messageRetentionSeconds,
  statusRank,
  type ChatType,
  type MessageStatus,
  type MessageSummary,
  type StoredMessage,
} from '../../domain/messages/message.ts';
import type { MessageStore } from '../../domain/ports/message-store.port.ts';
import type { Clock } from '../../domain/ports/runtime.port.ts';
import { queryAll, type DynamoContext } from './document-client.ts';
import { keys } from './table.ts';
import { createTransactBatcher } from './transact-batcher.ts';

/**
 * The message store (spec §3.3) in the single table. Per message two items in the instance's
 * `MSG#<instanceId>` partition: the message (`<timestamp>#<messageId>`, time-ordered, content
 * included) and its status (`ID#<messageId>`: current status, and a pointer to the message item
 * so receipts and look-ups by id need no timestamp). Both expire after the retention period.
 */
const statusPrefix = 'ID#';

const secondsOf = (date: Date) => Math.floor(date.getTime() / 1000);

export const createDynamoMessageStore = ({ doc, tableName }: DynamoContext, options: { clock?: Clock; retentionSeconds?: number } = {}): MessageStore => {
  const clock = options.clock ?? { now: () => new Date() };
  const retention = options.retentionSeconds ?? messageRetentionSeconds;
  // Messages arrive in bursts (32 per instance at once): concurrent saves share transactions.
  const batcher = createTransactBatcher(doc);

  return {
    async save(message: StoredMessage) {
      const ttl = secondsOf(clock.now()) + retention;
      const key = keys.message(message.instanceId, message.timestamp, message.messageId);
      const { instanceId: _instanceId, status, statusAt, raw, ...fields } = message;
      // The WhatsApp form goes on the status item, which is only ever updated: a later re-store
      // without it (the API's `pending`, racing the runner's) cannot drop it.
      // One caller's two items are written together (one transaction, possibly with other messages).
      await batcher.write([
        { Put: { TableName: tableName, Item: { ...key, entity: 'message', v: 1, ...fields, ttl } } },
        // A re-store (redelivery, history overlap) keeps the status receipts already set.
        {
          Update: {
            TableName: tableName,
            Key: keys.messageStatus(message.instanceId, message.messageId),
            UpdateExpression:
              'SET entity = :entity, v = :v, messageSk = :sk, direction = :direction, chatJid = :chat, #ttl = :ttl, ' +
              '#status = if_not_exists(#status, :status), statusRank = if_not_exists(statusRank, :rank), statusAt = if_not_exists(statusAt, :at)' +
              (raw ? ', #raw = :raw' : ''),
            ExpressionAttributeNames: { '#ttl': 'ttl', '#status': 'status', ...(raw ? { '#raw': 'raw' } : {}) },
            ExpressionAttributeValues: {
              ':entity': 'message_status',
              ':v': 1,
              ':sk': key.sk,
              ':direction': message.direction,
              ':chat': message.chatJid,
              ':ttl': ttl,
              ':status': status,
              ':rank': statusRank[status],
              ':at': statusAt,
              ...(raw ? { ':raw': raw } : {}),
            },
          },
        },
      ]);
    },

    async updateStatus(instanceId: string, messageId: string, status: MessageStatus, at: string) {
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.messageStatus(instanceId, messageId),
            UpdateExpression: 'SET #status = :status, statusRank = :rank, statusAt = :at',
            ConditionExpression: 'attribute_exists(messageSk) AND statusRank < :rank',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: { ':status': status, ':rank': statusRank[status], ':at': at },
          }),
        );
        return true;
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return false;
        throw error;
      }
    },

    async rawMessage(instanceId: string, messageId: string) {
      const out = await doc.send(
        new GetCommand({ TableName: tableName, Key: keys.messageStatus(instanceId, messageId), ProjectionExpression: '#raw, #ttl', ExpressionAttributeNames: { '#raw': 'raw', '#ttl': 'ttl' } }),
      );
      const item = out.Item;
      if (!item || (typeof item.ttl === 'number' && item.ttl <= secondsOf(clock.now()))) return null;
      return item.raw instanceof Uint8Array ? item.raw : null;
    },

    async summaries(instanceId: string) {
      const now = secondsOf(clock.now());
      const messages: Record<string, unknown>[] = [];
      const statuses = new Map<string, { status: MessageStatus; statusAt: string }>();
      const items = await queryAll(doc, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.messagePartition(instanceId) },
        ExpressionAttributeNames: { '#ts': 'timestamp', '#type': 'type', '#status': 'status', '#ttl': 'ttl' },
        ProjectionExpression: 'sk, messageId, #ts, direction, #type, chatJid, chatType, senderJid, mediaType, isHistory, #status, statusAt, #ttl',
      });
      for (const item of items) {
        // DynamoDB deletes expired items lazily (up to days later): they are already gone for readers.
        if (typeof item.ttl === 'number' && item.ttl <= now) continue;
        const sk = item.sk as string;
        if (sk.startsWith(statusPrefix)) statuses.set(sk.slice(statusPrefix.length), { status: item.status as MessageStatus, statusAt: item.statusAt as string });
        else messages.push(item);
      }
      return messages.map((item): MessageSummary => {
        const direction = item.direction === 'outgoing' ? 'outgoing' : 'incoming';
        const status = statuses.get(item.messageId as string);
        return {
          messageId: item.messageId as string,
          timestamp: item.timestamp as string,
          direction,
          type: item.type as string,
          chatJid: item.chatJid as string,
          chatType: item.chatType as ChatType,
          senderJid: (item.senderJid as string | null | undefined) ?? null,
          mediaType: (item.mediaType as string | null | undefined) ?? null,
          isHistory: item.isHistory === true,
          status: status?.status ?? (direction === 'outgoing' ? 'sent' : 'received'),
          statusAt: status?.statusAt ?? (item.timestamp as string),
        };
      });
    },
  };
};
