import type { MessageStatus, MessageSummary, StoredMessage } from '../messages/message.ts';

/** The per-instance message store (spec §3.3), written by the session runner. */
export interface MessageStore {
  /** Stores (or re-stores) a message; a re-store keeps the status that receipts already set. */
  save(message: StoredMessage): Promise<void>;
  /** Moves the status forward; `false` when the message is unknown or the status would go back. */
  updateStatus(instanceId: string, messageId: string, status: MessageStatus, at: string): Promise<boolean>;
  /** Every unexpired message of the instance, oldest first, with its current status. */
  summaries(instanceId: string): Promise<MessageSummary[]>;
  /**
   * The stored WhatsApp form of a message (`StoredMessage.raw`), for Baileys' `getMessage`;
   * `null` when unknown, expired or stored without it. Optional so that test doubles need not serve it.
   */
  rawMessage?(instanceId: string, messageId: string): Promise<Uint8Array | null>;
}
