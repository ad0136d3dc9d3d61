import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { QuotedMessage, SendOutcome, SendOutcomeStore } from '../../domain/messages/send.command.ts';
import type { Clock } from '../../domain/ports/runtime.port.ts';
import type { DynamoContext } from './document-client.ts';
import { keys, tableSchema } from './table.ts';

/**
 * Send outcomes (shared/domain/messages/send.command.ts) in the single table: one item per send
 * (`keys.sendOutcome`), kept one hour (the API polls it for at most 20 s; a runner that adopts a
 * send after a takeover reads it to skip sends already finished).
 */
const outcomeTtlSeconds = 60 * 60;

export const createDynamoSendOutcomeStore = ({ doc, tableName }: DynamoContext, options: { clock?: Clock } = {}): SendOutcomeStore => {
  const clock = options.clock ?? { now: () => new Date() };
  return {
    async record(instanceId, messageId, outcome) {
      await doc.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...keys.sendOutcome(instanceId, messageId), entity: 'send_outcome', outcome, [tableSchema.ttlAttribute]: Math.floor(clock.now().getTime() / 1000) + outcomeTtlSeconds },
        }),
      );
    },
    async get(instanceId, messageId) {
      const out = await doc.send(new GetCommand({ TableName: tableName, Key: keys.sendOutcome(instanceId, messageId), ConsistentRead: true }));
      return (out.Item?.outcome as SendOutcome | undefined) ?? null;
    },
  };
};

/**
 * Reads one stored message by id for `replyTo` (spec §2.3.0), through the message store's status
 * item (`ID#<messageId>`, which points at the message item: see message-store.dynamodb.ts).
 * `null` when unknown or expired.
 */
export const createDynamoQuotedMessageLookup = ({ doc, tableName }: DynamoContext, options: { clock?: Clock } = {}) => {
  const clock = options.clock ?? { now: () => new Date() };
  const alive = (item: Record<string, unknown> | undefined): item is Record<string, unknown> =>
    item !== undefined && !(typeof item.ttl === 'number' && item.ttl <= Math.floor(clock.now().getTime() / 1000));
  return async (instanceId: string, messageId: string): Promise<QuotedMessage | null> => {
    const status = await doc.send(new GetCommand({ TableName: tableName, Key: keys.messageStatus(instanceId, messageId) }));
    if (!alive(status.Item) || typeof status.Item.messageSk !== 'string') return null;
    const found = await doc.send(new GetCommand({ TableName: tableName, Key: { pk: keys.messagePartition(instanceId), sk: status.Item.messageSk } }));
    const item = found.Item;
    if (!alive(item)) return null;
    const exchange = (item.exchange ?? {}) as Record<string, unknown>;
    const content = (exchange.content ?? {}) as Record<string, unknown>;
    const outgoing = item.direction === 'outgoing';
    const chatJid = item.chatJid as string;
    return {
      messageId,
      chatJid,
      fromMe: outgoing,
      participant: !outgoing && chatJid.endsWith('@g.us') ? ((item.senderJid as string | null | undefined) ?? null) : null,
      text: typeof content.text === 'string' ? content.text : null,
    };
  };
};
