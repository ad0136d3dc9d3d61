import type { SendKind, SendRequest } from './send.schemas.ts';

/**
 * What travels from the API to the session runner for one send (the `send` command of
 * shared/domain/fleet/commands.ts), and what the runner reports back (spec §2.3.1).
 *
 * The API assigns the WhatsApp message id and the message time, stores the message as `pending`
 * and enqueues the command; the runner checks the recipient, paces, types, sends and records a
 * `SendOutcome` that the API polls while it waits (see shared/domain/use-cases/send-message.use-cases.ts).
 */

/** The quoted message (`replyTo`), as the store has it: enough for WhatsApp's quote context. */
export interface QuotedMessage {
  messageId: string;
  chatJid: string;
  fromMe: boolean;
  /** The author in groups (`participant` of the key); `null` in private chats or when unknown. */
  participant: string | null;
  /** The quoted text, if it had one. */
  text: string | null;
}

export interface OutboundSend {
  messageId: string;
  /** RFC 3339 (second precision): the message time, also part of the stored message's key. */
  timestamp: string;
  /** The chat the message goes to (after `replyPrivate`); a user JID may still change by the ninth-digit check. */
  chatJid: string;
  request: SendRequest;
  quoted: QuotedMessage | null;
  /** The contract's `message.exchange` `data.message` (shared/domain/messages/outgoing.ts), stored as `pending`. */
  exchange: Record<string, unknown>;
}

/**
 * The runner's progress on one send, polled by the API:
 * `checked` (recipient registered, `chatJid` resolved; typing and sending follow) →
 * `sent` (WhatsApp acknowledged) | `failed` (`code` says why; `reason` is free text).
 */
export type SendOutcome =
  | { state: 'checked'; chatJid: string; at: string }
  /** `mentions`: the mentions as sent, when the runner resolved them (`mentionAll` in a group); `groupName`: the group's subject. */
  | { state: 'sent'; chatJid: string; at: string; media?: SentMedia; mentions?: string[]; groupName?: string }
  | { state: 'failed'; code: SendFailure; reason: string; chatJid: string; at: string };

/** `invalid_media`: the media could not be downloaded or decoded (a 400 with `reason` as the message). */
export type SendFailure =
  | 'not_registered'
  | 'not_connected'
  | 'rate_limited'
  | 'invalid_media'
  /** Group recipients: unknown or not a member (404); announcement-only and not an admin (403). */
  | 'group_not_found'
  | 'group_admins_only'
  /** Channel recipients: not its owner or admin (403). */
  | 'channel_forbidden'
  | 'failed';

/** A media send's file as sent (spec §2.3.1 `mediaUrl`, `mediaMimeType`, `mediaSize`); `url` when the adapter reports it. */
export interface SentMedia {
  mimeType: string;
  size: number;
  url?: string;
  /** Duration (`mediaDuration`): given in the request, or computed (voice notes). */
  seconds?: number;
}

/** Port: the runner writes outcomes, the API reads them (short-lived; DynamoDB adapter with a TTL). */
export interface SendOutcomeStore {
  record(instanceId: string, messageId: string, outcome: SendOutcome): Promise<void>;
  get(instanceId: string, messageId: string): Promise<SendOutcome | null>;
}

/** The kinds the runner can send today (session-runner/messaging/sender.ts); the others answer 501. */
export const sendableKinds: ReadonlySet<SendKind> = new Set<SendKind>(['text', 'media', 'sticker', 'location', 'contact', 'reaction', 'poll', 'carousel', 'button', 'list', 'form', 'pix', 'status']);

/**
 * WhatsApp message ids of this server: `3EB0` + 16 upper-case hex digits (20 characters), the
 * shape of WhatsApp Web ids and of the contract's example (`3EB0C767D26A1D8E5F12`). Baileys'
 * own `generateMessageIDV2` makes `3EB0` + 18 hex digits; any opaque id is accepted by WhatsApp.
 */
export const newWhatsAppMessageId = (randomHex16: string): string => `3EB0${randomHex16.toUpperCase()}`;
