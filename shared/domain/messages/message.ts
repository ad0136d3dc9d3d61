/**
 * Stored messages (spec §3.3): every exchanged message of an instance, incoming and outgoing,
 * history included, kept for the operator's retention period. The store serves the metrics
 * (#13) now and the store-backed chat routes (#34, #48–#50) later.
 */

/** Delivery status vocabulary of #50. `received` is the status of every incoming message. */
export const messageStatuses = ['pending', 'sent', 'delivered', 'received', 'read', 'played', 'error'] as const;
export type MessageStatus = (typeof messageStatuses)[number];

/** Receipts only move a status forward; `error` beats `pending`/`sent` but not a later receipt. */
export const statusRank: Record<MessageStatus, number> = { pending: 0, sent: 1, error: 1.5, delivered: 2, received: 2, read: 3, played: 4 };

/** Operator retention of stored messages (a DynamoDB TTL). */
export const messageRetentionSeconds = 30 * 24 * 60 * 60;

export type ChatType = 'private' | 'group' | 'newsletter' | 'status';

/** What the metrics and the status routes need of a message, without its content. */
export interface MessageSummary {
  messageId: string;
  /** RFC 3339, second precision: the WhatsApp message time. */
  timestamp: string;
  direction: 'incoming' | 'outgoing';
  /** The `message.exchange` type (`text`, `image`, `message_edit`, …). */
  type: string;
  chatJid: string;
  chatType: ChatType;
  senderJid: string | null;
  /** `media.type` of the exchange (`image`, `ptt`, `ptv`, …), `null` without media. */
  mediaType: string | null;
  isHistory: boolean;
  status: MessageStatus;
  /** Time of the last status change. */
  statusAt: string;
}

export interface StoredMessage extends MessageSummary {
  instanceId: string;
  /** The contract's `message.exchange` `data.message`, verbatim. */
  exchange: Record<string, unknown>;
  /**
   * The message as WhatsApp has it (`proto.Message`, encoded), where the runner knows it: what
   * Baileys' `getMessage` serves — a re-send when a recipient's device asks again (retry
   * receipt), and the poll a vote answers (its secret decrypts the vote). Kept once stored: a
   * later re-store without it (the API's `pending`) does not remove it.
   */
  raw?: Uint8Array;
}

const chatTypes: readonly ChatType[] = ['private', 'group', 'newsletter', 'status'];

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/**
 * A `message.exchange` message → the stored form; `null` when it cannot be addressed (no id or
 * chat). Outgoing messages start as `sent` (WhatsApp has them), incoming ones as `received`.
 */
export const storedMessageOf = (
  instanceId: string,
  exchange: Record<string, unknown>,
  options: { isHistory: boolean; now: string },
): StoredMessage | null => {
  const messageId = text(exchange.id);
  const chat = record(exchange.chat);
  const chatJid = text(chat.jid);
  if (!messageId || !chatJid) return null;
  const outgoing = exchange.fromMe === true || exchange.direction === 'outgoing';
  const chatType = chatTypes.find((candidate) => candidate === chat.type) ?? (chatJid.endsWith('@g.us') ? 'group' : 'private');
  return {
    instanceId,
    messageId,
    timestamp: text(exchange.timestamp) ?? options.now,
    direction: outgoing ? 'outgoing' : 'incoming',
    type: text(exchange.type) ?? 'unknown',
    chatJid,
    chatType,
    senderJid: text(record(exchange.sender).jid),
    mediaType: text(record(exchange.media).type),
    isHistory: options.isHistory,
    status: outgoing ? 'sent' : 'received',
    statusAt: options.now,
    exchange,
  };
};

/** A `message.status` receipt status (§3.2) → the stored status; `null` for receipts that do not change it. */
export const statusOfReceipt = (receipt: string): MessageStatus | null => {
  switch (receipt) {
    case 'delivered':
    case 'read':
    case 'played':
      return receipt;
    case 'server_error':
      return 'error';
    default:
      return null;
  }
};
