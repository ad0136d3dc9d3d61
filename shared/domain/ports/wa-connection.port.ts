import type { Settings } from '../instance/instance.ts';

/**
 * One WhatsApp socket, in domain terms. The Baileys adapter implements it; a scriptable double
 * serves the supervisor's unit tests. The connection never reconnects by itself: the supervisor
 * above it owns the reconnect policy, leases, watchdogs and pacing.
 */
export interface WaConnection {
  /** Asks for an 8-character pairing code for `phoneNumber` (digits); call after the first `qr` event. */
  requestPairingCode(phoneNumber: string): Promise<string>;
  /** Announces `available` or `unavailable` presence. */
  sendPresence(available: boolean): Promise<void>;
  /** Rejects an incoming call. */
  rejectCall(callId: string, from: string): Promise<void>;
  /** Sends a plain text (the call-reject message); returns the WhatsApp message id. */
  sendText(toJid: string, text: string): Promise<string>;
  /** Sends read receipts. */
  markRead(keys: WaMessageKey[]): Promise<void>;
  /** Unlinks the device on WhatsApp, then closes. */
  logout(): Promise<void>;
  /** Closes the socket and keeps the saved session. */
  stop(): void;
  /**
   * Sends one message under the given id (API sends, spec §2.3); resolves once WhatsApp's server
   * acknowledged it, or after the adapter's ack timeout (the stanza went out). Throws a
   * `WaSendError`-shaped error (`code`: WhatsApp's ack error or Baileys' status) when refused.
   * The message is not reported back as a `message` event: the caller stores and publishes it.
   * Optional so that scripted doubles need not implement sending.
   */
  /** Sends and waits for the server's ack; resolves the URL WhatsApp issued for an uploaded media, if any. */
  send?(toJid: string, content: WaOutgoingContent, options: WaSendOptions): Promise<{ mediaUrl: string | null; raw?: Uint8Array } | void>;
  /** Which of these user JIDs are on WhatsApp (one USync query). */
  onWhatsApp?(jids: string[]): Promise<{ jid: string; exists: boolean }[]>;
  /** Chat state in one chat: "typing…" (`composing`) or stopped (`paused`). */
  sendChatPresence?(toJid: string, state: 'composing' | 'paused'): Promise<void>;
  /** A group's subject, participants and send restriction; `null` when it does not exist or this account is not in it. */
  groupMetadata?(groupJid: string): Promise<WaGroupInfo | null>;
  /** Whether this account owns or administers the channel; `null` when the channel is unknown. */
  newsletterRole?(newsletterJid: string): Promise<'owner' | 'admin' | 'subscriber' | 'guest' | null>;
}

/** Baileys' `AnyMessageContent`, built by session-runner/messaging (opaque to the domain). */
export type WaOutgoingContent = Record<string, unknown>;

export interface WaSendOptions {
  messageId: string;
  /** The message time (the API's, so the stored message keeps one key). */
  timestamp: Date;
  /** The quoted message as Baileys' `WAMessage` (`{ key, message }`), or `null`. */
  quoted: Record<string, unknown> | null;
  /** `status@broadcast` sends: who may see the status, and a text status's look (spec #31). */
  statusJidList?: string[];
  backgroundColor?: string;
  /** WhatsApp's `ExtendedTextMessage.FontType` code. */
  font?: number;
}

/** A group as the sender needs it (spec §2.3.0 recipient checks, `mentionAll`). */
export interface WaGroupInfo {
  jid: string;
  subject: string;
  /** Announcement-only: only admins may send. */
  announce: boolean;
  /** `isSelf`: this account (matched by phone number or LID, as the adapter knows both). */
  participants: { jid: string; isAdmin: boolean; isSelf: boolean }[];
}

/** What a refused send carries: WhatsApp's ack error (`'463'`, `'479'`, …) or an HTTP-like status (429). */
export interface WaSendError extends Error {
  code?: string | number;
}

export interface WaMessageKey {
  remoteJid: string;
  id: string;
  participant?: string;
  fromMe: boolean;
}

export interface WaProfile {
  name: string | null;
  pictureUrl: string | null;
  isBusiness: boolean;
  businessName: string;
}

export type WaEvent =
  | { type: 'connecting' }
  | { type: 'qr'; qr: string }
  | { type: 'open'; jid: string; profile: WaProfile }
  /** `code` is WhatsApp's / Baileys' close status (401, 403, 405, 408, 411, 428, 440, 500, 503, 515…). */
  | { type: 'close'; code: number; message: string }
  | { type: 'call'; callId: string; from: string; status: string; isVideo: boolean; isGroup: boolean; timestamp: string }
  | {
      type: 'message';
      key: WaMessageKey;
      isGroup: boolean;
      isStatus: boolean;
      /** Imported by history sync: stored, never emitted (spec §3.3). The offline backlog is not history. */
      isHistory: boolean;
      text: string | null;
      pushName: string | null;
      /** The contract's `message.exchange` `data.message`, or `null` for protocol-only messages. */
      exchange: Record<string, unknown> | null;
      /** The message as WhatsApp has it (`proto.Message`, encoded), stored for `getMessage`. */
      raw?: Uint8Array;
      /**
       * What must happen before `exchange` is complete and may be stored and published (a poll
       * vote is decrypted with the poll it answers, read from the store); it fills `exchange` in.
       */
      complete?: () => Promise<void>;
    }
  /** Group and label changes, already in the contract's `data` shape (spec §3.2). */
  | { type: 'notice'; event: 'group.flow' | 'label.update'; data: Record<string, unknown> }
  /** A receipt for one message (spec §3.2 `message.status`). */
  | { type: 'status'; messageId: string; chat: string; status: string; timestamp: string; messageSender: string | null; isGroup: boolean };

export interface WaConnectionOptions {
  instanceId: string;
  /** Linked-device credentials and keys, persisted by the runner (opaque here). */
  auth: unknown;
  saveCreds: () => Promise<void>;
  settings: Settings;
  proxy: { protocol: 'http' | 'https' | 'socks5'; host: string; port: string; username: string | null; password: string | null } | null;
  /** Days of history to request at the first pairing; `null` = as settings say. */
  historyDays: number | null;
  onEvent: (event: WaEvent) => void;
  /**
   * A message this instance sent or received, as stored (`StoredMessage.raw`): Baileys'
   * `getMessage` (re-sends on retry receipts) and poll-vote decryption. Optional.
   */
  storedMessage?: (messageId: string) => Promise<Uint8Array | null>;
  /**
   * Events of this connection handed to `onEvent` and not yet done with (stored and published):
   * an adapter that reads faster than that pauses reading while it is high. Optional.
   */
  backlog?: () => number;
}

export interface WaConnectionFactory {
  open(options: WaConnectionOptions): WaConnection;
}
