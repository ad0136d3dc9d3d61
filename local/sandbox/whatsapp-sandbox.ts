import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { Curve, S_WHATSAPP_NET, WA_CERT_DETAILS, proto, type BinaryNode } from '@whiskeysockets/baileys';
import { controlHandler } from './control-api.ts';
import { MediaCdn, trustSandboxMediaTls, type SandboxMedia } from './media-cdn.ts';
import { EdgeConnection } from './edge-connection.ts';
import { makeEdgeIdentity, type HandshakeResult, type KeyPair } from './noise-responder.ts';
import {
  completeLinkCode,
  parseQr,
  signDeviceIdentity,
  unwrapWithCode,
  verifyDeviceSignature,
  wrapWithCode,
} from './pairing.ts';
import { PreKeyPool } from './pre-key-pool.ts';
import { SignalParty, newMessageId, type EncryptedType, type PreKeyBundle } from './signal-party.ts';
import {
  bigEndian,
  bundleNode,
  bytesOf,
  child,
  children,
  iqError,
  iqResult,
  isWellFormedNumber,
  node,
  nowSeconds,
  parseJid,
  readSignedPreKey,
  textOf,
  uintOf,
  uintOfBytes,
} from './stanzas.ts';
import { SandboxGroups, SandboxNewsletters, SenderKeys, type CreateGroupInput, type CreateNewsletterInput } from './groups.ts';
import { pollVoteMessage } from './poll-vote.ts';

/**
 * A local fake of WhatsApp's edge that unmodified Baileys connects to through
 * `waWebSocketUrl` (ARCHITECTURE §6 "The WhatsApp sandbox"): Noise handshake with a sandbox
 * certificate chain, QR and pairing-code linking by a simulated phone, login, pre-keys, 1:1
 * messages over real Signal sessions with simulated contacts, receipts and WhatsApp's close codes.
 */

export interface SandboxLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

export interface SandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** The simulated phone scans a QR this long after it is shown (`qrShown`); null = only `scan()`. */
  scanDelayMs?: number | null;
  /** How long the simulated user takes to type a pairing code into the phone. */
  pairingDelayMs?: number;
  /** How long each QR ref stays valid server-side (WhatsApp: 60 s, then 20 s each). */
  qrTtlMs?: { first: number; next: number };
  /** Prefix of the synthetic numbers that QR linking assigns. */
  numberPrefix?: string;
  /** Refs per `pair-device` (WhatsApp sends 6: one QR plus five rotations). */
  qrRefs?: number;
  /** Delays of the contact's delivery and read receipts for outbound messages; null = none. */
  receipts?: { deliveredMs: number; readMs: number } | null;
  /**
   * Accept logins of devices this sandbox never linked (it keeps no state across restarts, so
   * a restarted stack would otherwise need a new QR). Default true.
   */
  adoptUnknownDevices?: boolean;
  /** Serve the JSON control API (control-api.ts) on the same port, for an out-of-process sandbox. */
  control?: boolean;
  logger?: SandboxLogger;
}

export interface OutboundMessage {
  id: string;
  to: string;
  text?: string;
  /** The `name` of the stanza's `<biz><interactive><native_flow>` node (interactive messages), if any. */
  nativeFlow?: string;
  /** Set when the simulated contact could not decrypt its copy. */
  error?: string;
}

export interface InboundMessage {
  id: string;
  from: string;
  /** The text, or a media message's caption (`''` without one). */
  text: string;
  media?: { type: SandboxMedia['type']; mimetype: string; size: number };
  encryption: EncryptedType | 'plaintext' | 'pending';
  status: 'queued' | 'sent' | 'delivered' | 'read';
}

export interface WhatsAppSandbox {
  /** The URL to give Baileys as `waWebSocketUrl`. */
  readonly url: string;
  /** The sandbox's root public key, to install into Baileys' WA_CERT_DETAILS.PUBLIC_KEY (see `trustSandboxRoot`). */
  readonly rootPublicKey: Uint8Array;
  /** Linked devices (after a completed pairing): their JIDs and numbers. */
  devices(): { number: string; jid: string; connected: boolean }[];
  /** Makes the simulated phone scan the QR string Baileys showed; resolves once `pair-success` was accepted. */
  scan(qr: string): Promise<void>;
  /** Tells the simulated phone a QR is on screen: it scans it after `scanDelayMs` (unless null). */
  qrShown(qr: string): void;
  /**
   * The user types the pairing code Baileys' `requestPairingCode(number)` returned into the
   * phone of `number`; the phone completes the link after `pairingDelayMs`.
   */
  enterPairingCode(number: string, code: string): Promise<void>;
  /** A simulated contact sends a text to the linked number; encrypted with a real Signal session (pkmsg on first contact, msg after) unless plaintext: true. Returns the message id. */
  sendText(input: { toNumber: string; fromNumber: string; text: string; pushName?: string; plaintext?: boolean }): Promise<string>;
  /**
   * A simulated contact sends media (image, video, audio, document, sticker): encrypted as WhatsApp
   * does and served by the sandbox's media CDN (`mediaOrigin`). Returns the message id.
   */
  sendMedia(input: { toNumber: string; fromNumber: string; media: SandboxMedia; pushName?: string; plaintext?: boolean }): Promise<string>;
  /** The media CDN's origin (`http://host:port`): what Baileys must download `directPath`s from in sandbox mode. */
  readonly mediaOrigin: string;
  /** Outbound messages the linked device sent, decrypted, with their ids and recipients (for assertions). */
  outbound(number: string): OutboundMessage[];
  /** An outbound message as the contact decrypted it (location, contacts, poll, reaction, quote context…), by id. */
  outboundMessage(id: string): proto.IMessage | undefined;
  /**
   * The media of an outbound message as the contact downloads and decrypts it from the sandbox's
   * CDN (the linked device uploaded it through `media_conn`), by id; `undefined` without media.
   */
  outboundMedia(id: string): Promise<{ type: string; data: Buffer; media: Record<string, unknown> } | undefined>;
  /**
   * The contact `fromNumber`, who got the outbound message `messageId` from a linked device of
   * `toNumber`, asks for it again with a retry receipt (count 1, its real registration id), as a
   * phone does that could not decrypt it. Resolves with the message as the contact decrypts the
   * device's re-send (same id; `outbound(toNumber)` keeps one record for it, `outboundMessage(id)`
   * the re-sent content); rejects if the device is offline, re-sends nothing within `timeoutMs`
   * (default 10 s; Baileys re-sends only what its cache or `getMessage` still has) or the re-send
   * cannot be decrypted.
   */
  requestRetry(input: { fromNumber: string; toNumber: string; messageId: string; timeoutMs?: number }): Promise<proto.IMessage>;
  /** Contact `fromNumber` votes on a poll `toNumber`'s device sent it (encrypted with the poll's secret); `[]` withdraws. */
  votePoll(input: { toNumber: string; fromNumber: string; pollMessageId: string; options: string[] }): Promise<string>;
  /**
   * Whether a number is on WhatsApp for USync (`onWhatsApp`). Every well-formed number is, except
   * numbers starting with `999` (no such country code) and numbers set here to `false`.
   */
  setRegistered(number: string, registered: boolean): void;
  /**
   * Creates a group (groups.ts): `creator` is its superadmin, `participants` plain members (or
   * `admins`), `announce` makes it announcement-only. Returns its JID. Group and status messages
   * from a linked device are decrypted with sender keys and recorded in `outbound(number)` with
   * `to` = the group JID (or `status@broadcast`); `outboundMessage(id)` has the content.
   */
  createGroup(input: CreateGroupInput): string;
  /**
   * Creates a channel owned by `owner` (with `admins`, `subscribers`); returns its JID. Posts the
   * linked device makes to it are recorded in `outbound(number)` with `to` = the channel JID.
   */
  createNewsletter(input: CreateNewsletterInput): string;
  /** A simulated contact sends any message content (e.g. a reply to buttons); returns the message id. */
  sendMessage(input: { toNumber: string; fromNumber: string; message: proto.IMessage; pushName?: string }): Promise<string>;
  /** A member of a sandbox group writes a text to it (sender key + SKDM, as a phone does); returns the message id. */
  sendGroupText(input: { groupJid: string; fromNumber: string; text: string; pushName?: string }): Promise<string>;
  /** Inbound messages sent to the linked number with how they were encrypted and how far they got. */
  inbound(number: string): InboundMessage[];
  /** Closes the device's socket the way WhatsApp does for a given code. */
  disconnect(number: string, code: 401 | 408 | 428 | 440 | 515): Promise<void>;
  /** Makes the next WebSocket upgrade(s) answer a non-101 HTTP status (e.g. 503), to test Baileys' connect hang. */
  rejectUpgrades(count: number, status?: number): void;
  /** The highest number of simultaneous logged-in sockets ever seen for any one linked device (must stay 1 in a healthy fleet). */
  maxConcurrentLogins(): number;
  stop(): Promise<void>;
}

/** Points Baileys' certificate check at a sandbox root key (WA_CERT_DETAILS is a mutable export). Only the sandbox mode and tests call this; production asserts the constants are untouched. */
export function trustSandboxRoot(rootPublicKey: Uint8Array): void {
  WA_CERT_DETAILS.PUBLIC_KEY = Buffer.from(rootPublicKey);
  // Media uploads go to the sandbox's TLS listener (media-cdn.ts).
  trustSandboxMediaTls();
}

// ---- state -------------------------------------------------------------------------------

/** A WhatsApp account: a number, its primary phone and its linked (companion) devices. */
interface Account {
  number: string;
  lidUser: string;
  /** The primary phone (device 0): signs device identities, receives the own-device copies. */
  phone: SignalParty;
  pushName: string;
  devices: Map<number, LinkedDevice>;
  nextDeviceId: number;
  nextKeyIndex: number;
}

interface DeviceKeys {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: PreKeyBundle['signedPreKey'];
}

interface LinkedDevice {
  account: Account;
  deviceId: number;
  jid: string;
  lid: string;
  noiseKey: Uint8Array;
  /** Known from the registration payload, refreshed by pre-key uploads. */
  keys: DeviceKeys | null;
  /** One-time pre-keys uploaded and not handed out yet. */
  preKeys: PreKeyPool;
  /** Stanzas for a device that is offline, built at delivery (they may need a session). */
  pending: Array<() => Promise<BinaryNode>>;
  outbound: OutboundMessage[];
  inbound: InboundMessage[];
  loggedOut: boolean;
}

/** A not-yet-linked client between `pair-device` and `pair-success`. */
interface Registration {
  kind: 'registration';
  noiseKey: Uint8Array;
  keys: DeviceKeys;
  refs: Array<{ ref: string; expiresAt: number }>;
  /** Set while a scan or code is being completed, so a second one is refused. */
  pairing: boolean;
  linkCode?: LinkCodeState;
}

interface LinkCodeState {
  number: string;
  ref: string;
  wrappedCompanionEphemeral: Buffer;
  primaryHello?: {
    companionEphemeral: Buffer;
    primaryEphemeral: KeyPair;
    done: (error?: Error) => void;
  };
}

/** A logged-in device's connection. */
interface LoggedIn {
  kind: 'session';
  device: LinkedDevice;
}

type Conn = EdgeConnection<Registration | LoggedIn>;

/** Debug chatter off; warnings (a device that could not decrypt, a failed auto-scan) on stderr. */
const defaultLogger: SandboxLogger = {
  debug: () => undefined,
  warn: (obj, msg) => console.warn(`[whatsapp-sandbox] ${msg ?? ''}`, obj),
};
const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Baileys' S_WHATSAPP_NET is the server's own address (`@s.whatsapp.net`); users live on this. */
const PN_SERVER = 's.whatsapp.net';
const userJid = (number: string) => `${number}@${PN_SERVER}`;
const messageText = (message: proto.IMessage): string | undefined =>
  message.conversation ?? message.extendedTextMessage?.text ?? undefined;

export async function startWhatsAppSandbox(options: SandboxOptions = {}): Promise<WhatsAppSandbox> {
  const sandbox = new Sandbox(options);
  await sandbox.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  return sandbox;
}

class Sandbox implements WhatsAppSandbox {
  readonly rootPublicKey: Uint8Array;
  private readonly identity = makeEdgeIdentity();
  private readonly control: ReturnType<typeof controlHandler>;
  private readonly media = new MediaCdn(() => this.mediaOrigin);
  private readonly http = createServer((req, res) => {
    if (this.media.handle(req, res)) return;
    if (this.options.control) void this.control(req, res);
    else res.writeHead(426).end();
  });
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly log: SandboxLogger;
  private readonly connections = new Set<Conn>();
  private readonly accounts = new Map<string, Account>();
  private readonly contacts = new Map<string, SignalParty>();
  private readonly unregistered = new Set<string>();
  private readonly outboundMessages = new Map<string, proto.IMessage>();
  /** `requestRetry` callers waiting for the device's re-send, by message id. */
  private readonly resendWaiters = new Map<string, (outcome: { message: proto.IMessage } | { error: string }) => void>();
  private readonly groups = new SandboxGroups();
  private readonly senderKeys = new SenderKeys();
  private readonly newsletters = new SandboxNewsletters();
  /** Synthetic LIDs: Baileys rc14 only fetches sessions for contacts whose LID it knows. */
  private readonly lidToNumber = new Map<string, string>();
  private readonly numberToLid = new Map<string, string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextLid = 100000000000000;
  private nextSyntheticNumber = 1;
  private rejectedUpgrades: { count: number; status: number } = { count: 0, status: 503 };
  private maxLogins = 0;
  private address = '';
  /** `host:port` of the media CDN's TLS upload listener: the `media_conn` host. */
  private uploadHost = '';
  private stopped = false;

  constructor(private readonly options: SandboxOptions) {
    this.rootPublicKey = this.identity.rootKey.public;
    this.log = options.logger ?? defaultLogger;
    this.control = controlHandler(this);
    this.http.on('upgrade', (req, socket, head) => {
      if (this.rejectedUpgrades.count > 0) {
        // Baileys listens for `unexpected-response` and then does nothing: it stays connecting.
        this.rejectedUpgrades.count--;
        const { status } = this.rejectedUpgrades;
        socket.end(`HTTP/1.1 ${status} Sandbox Rejected Upgrade\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        const conn: Conn = new EdgeConnection(ws, this.identity, {
          onHandshake: (c, result) => this.onHandshake(c, result),
          onNode: (c, stanza) => this.onNode(c, stanza),
          onError: (_c, error) => this.log.warn({ err: error }, 'sandbox connection error'),
          onClose: (c) => this.connections.delete(c),
        });
        this.connections.add(conn);
      });
    });
  }

  get url(): string {
    return `ws://${this.address}/ws/chat`;
  }

  get mediaOrigin(): string {
    return `http://${this.address}`;
  }

  async listen(port: number, host: string): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => resolve());
    });
    const { port: bound } = this.http.address() as AddressInfo;
    this.address = `${host}:${bound}`;
    this.uploadHost = await this.media.listenUploads(host);
  }

  // ---- public API ------------------------------------------------------------------------

  devices(): { number: string; jid: string; connected: boolean }[] {
    return this.allDevices()
      .filter((d) => !d.loggedOut)
      .map((d) => ({ number: d.account.number, jid: d.jid, connected: this.sessionsOf(d).length > 0 }));
  }

  async scan(qr: string): Promise<void> {
    const scanned = parseQr(qr);
    const found = this.registrations().find(({ reg }) => reg.refs.some((r) => r.ref === scanned.ref));
    if (!found) throw new Error('QR not recognised: no connection is showing this ref');
    const { conn, reg } = found;
    const ref = reg.refs.find((r) => r.ref === scanned.ref);
    if (!ref || Date.now() > ref.expiresAt) throw new Error('QR expired');
    if (!scanned.noiseKey.equals(Buffer.from(reg.noiseKey)) || !scanned.identityKey.equals(Buffer.from(reg.keys.identityKey))) {
      throw new Error('QR keys do not match the connection that showed it');
    }
    if (reg.pairing) throw new Error('this companion is already being linked');
    reg.pairing = true;
    const number = this.newSyntheticNumber();
    await this.completePairing(conn, { number, advSecret: scanned.advSecret });
  }

  qrShown(qr: string): void {
    const { scanDelayMs = 2000 } = this.options;
    if (scanDelayMs === null) return;
    // Best effort, like a phone pointed at a screen: a QR already used, expired or superseded by
    // a pairing code is simply not linked (`scan()` callers get those errors).
    this.later(scanDelayMs, () =>
      this.scan(qr).catch((error: unknown) => this.log.debug({ err: error }, 'simulated phone did not link from the QR')),
    );
  }

  async enterPairingCode(number: string, code: string): Promise<void> {
    const { conn, reg } = await this.waitFor(() =>
      this.registrations().find(({ reg }) => reg.linkCode?.number === number && !reg.pairing),
    );
    const linkCode = reg.linkCode;
    if (!linkCode) throw new Error('no pairing code was requested for this number');
    reg.pairing = true;
    await delay(this.options.pairingDelayMs ?? 1000);
    const account = this.account(number);
    const primaryEphemeral = Curve.generateKeyPair();
    const companionEphemeral = await unwrapWithCode(linkCode.wrappedCompanionEphemeral, code);
    const wrapped = await wrapWithCode(primaryEphemeral.public, code);
    const finished = new Promise<void>((resolve, reject) => {
      linkCode.primaryHello = {
        companionEphemeral,
        primaryEphemeral,
        done: (error) => (error ? reject(error) : resolve()),
      };
    });
    // The phone's "primary hello", relayed by the server as a notification.
    conn.send(
      node('notification', { from: S_WHATSAPP_NET, type: 'link_code_companion_reg', id: newTag(), t: nowSeconds() }, [
        node('link_code_companion_reg', { stage: 'primary_hello' }, [
          node('link_code_pairing_wrapped_primary_ephemeral_pub', {}, wrapped),
          node('primary_identity_pub', {}, Buffer.from(account.phone.identity.public)),
          node('link_code_pairing_ref', {}, Buffer.from(linkCode.ref)),
        ]),
      ]),
    );
    const outcome = await Promise.race([finished, conn.closedPromise.then(() => 'closed' as const)]);
    if (outcome === 'closed') throw new Error('the companion disconnected before the pairing completed');
  }

  async sendText(input: { toNumber: string; fromNumber: string; text: string; pushName?: string; plaintext?: boolean }): Promise<string> {
    return this.sendInbound(input, { conversation: input.text }, { text: input.text });
  }

  async sendMedia(input: { toNumber: string; fromNumber: string; media: SandboxMedia; pushName?: string; plaintext?: boolean }): Promise<string> {
    if (!isWellFormedNumber(input.fromNumber)) throw new Error(`Invalid number: ${input.fromNumber}`);
    const { media } = input;
    const message = await this.media.upload(media);
    return this.sendInbound(input, message, { text: media.caption ?? '', media: { type: media.type, mimetype: media.mimetype, size: media.data.length } }, 'media');
  }

  private async sendInbound(
    input: { toNumber: string; fromNumber: string; pushName?: string; plaintext?: boolean },
    message: proto.IMessage,
    shown: Pick<InboundMessage, 'text' | 'media'>,
    type: 'text' | 'media' = 'text',
  ): Promise<string> {
    const { toNumber, fromNumber } = input;
    if (!isWellFormedNumber(fromNumber)) throw new Error(`Invalid number: ${fromNumber}`);
    const devices = [...(this.accounts.get(toNumber)?.devices.values() ?? [])].filter((d) => !d.loggedOut);
    if (devices.length === 0) throw new Error(`no linked device for ${toNumber}`);
    const id = newMessageId();
    const t = nowSeconds();
    for (const device of devices) {
      const record: InboundMessage = { id, from: fromNumber, ...shown, encryption: 'pending', status: 'queued' };
      device.inbound.push(record);
      await this.deliver(device, async () => {
        const content = await this.encryptInbound(device, fromNumber, message, input.plaintext === true);
        record.encryption = content.tag === 'plaintext' ? 'plaintext' : (content.attrs.type as EncryptedType);
        record.status = 'sent';
        return node('message', { from: userJid(fromNumber), id, type, t, notify: input.pushName ?? fromNumber }, [content]);
      });
    }
    return id;
  }

  setRegistered(number: string, registered: boolean): void {
    if (registered) this.unregistered.delete(number);
    else this.unregistered.add(number);
  }

  private isRegistered(number: string): boolean {
    return isWellFormedNumber(number) && !number.startsWith('999') && !this.unregistered.has(number);
  }

  outboundMessage(id: string): proto.IMessage | undefined {
    return this.outboundMessages.get(id);
  }

  outboundMedia(id: string): Promise<{ type: string; data: Buffer; media: Record<string, unknown> } | undefined> {
    return this.media.decrypt(this.outboundMessages.get(id));
  }

  async requestRetry(input: { fromNumber: string; toNumber: string; messageId: string; timeoutMs?: number }): Promise<proto.IMessage> {
    const { fromNumber, toNumber, messageId, timeoutMs = 10_000 } = input;
    const contactJid = userJid(fromNumber);
    const device = this.devicesOf(toNumber).find((d) => d.outbound.some((r) => r.id === messageId && r.to === contactJid));
    if (!device) throw new Error(`${toNumber} sent no message ${messageId} to ${fromNumber}`);
    const [live] = this.sessionsOf(device).slice(-1);
    if (!live || live.silent) throw new Error(`${device.jid} is not connected: no socket to send the retry receipt to`);
    if (this.resendWaiters.has(messageId)) throw new Error(`a retry of ${messageId} is already pending`);
    const resent = new Promise<proto.IMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.resendWaiters.delete(messageId);
        reject(new Error(`${device.jid} did not re-send ${messageId} within ${timeoutMs} ms of ${fromNumber}'s retry receipt`));
      }, timeoutMs);
      this.resendWaiters.set(messageId, (outcome) => {
        clearTimeout(timer);
        this.resendWaiters.delete(messageId);
        if ('message' in outcome) resolve(outcome.message);
        else reject(new Error(`${fromNumber} could not decrypt the re-sent ${messageId}: ${outcome.error}`));
      });
    });
    // What WhatsApp relays from the contact's phone (Baileys' own `sendRetryRequest` builds the
    // same). Count 1 with the registration id the device's session already has: Baileys keeps
    // that id, fetches a fresh bundle of the contact anyway (assertSessions with force) and
    // re-sends as a pkmsg on a new session, which the contact's store accepts.
    live.send(
      node('receipt', { from: contactJid, id: messageId, type: 'retry', t: nowSeconds() }, [
        node('retry', { count: '1', id: messageId, t: nowSeconds(), v: '1', error: '0' }),
        node('registration', {}, bigEndian(this.party(fromNumber).registrationId, 4)),
      ]),
    );
    return resent;
  }

  outbound(number: string): OutboundMessage[] {
    return this.devicesOf(number).flatMap((d) => d.outbound);
  }

  inbound(number: string): InboundMessage[] {
    return this.devicesOf(number).flatMap((d) => d.inbound);
  }

  async disconnect(number: string, code: 401 | 408 | 428 | 440 | 515): Promise<void> {
    const devices = this.devicesOf(number);
    if (devices.length === 0) throw new Error(`no linked device for ${number}`);
    const sessions = devices.flatMap((d) => this.sessionsOf(d));
    if (code === 401) {
      // The phone removed the device: it can never log in again with these creds.
      for (const device of devices) device.loggedOut = true;
    }
    await Promise.all(
      sessions.map((conn) => {
        switch (code) {
          case 401:
            return conn.end(node('failure', { reason: '401', location: 'sandbox' }));
          case 408:
            // WhatsApp's edge going quiet: Baileys notices through its keep-alive and closes.
            conn.silent = true;
            return Promise.resolve();
          case 428:
            return conn.closeTransport();
          case 440:
            return conn.end(node('stream:error', {}, [node('conflict', { type: 'replaced' })]));
          case 515:
            return conn.end(node('stream:error', { code: '515' }));
        }
      }),
    );
  }

  rejectUpgrades(count: number, status = 503): void {
    this.rejectedUpgrades = { count, status };
  }

  createGroup(input: CreateGroupInput): string {
    return this.groups.create(input).jid;
  }

  createNewsletter(input: CreateNewsletterInput): string {
    return this.newsletters.create(input);
  }

  async sendMessage(input: { toNumber: string; fromNumber: string; message: proto.IMessage; pushName?: string }): Promise<string> {
    return this.sendInbound(input, input.message, { text: messageText(input.message) ?? '' });
  }

  /**
   * Contact `fromNumber` votes on poll `pollMessageId`, which the linked device of `toNumber` sent
   * it (encrypted with the poll's secret, as WhatsApp clients do: poll-vote.ts); `options: []`
   * withdraws the vote. Returns the vote message's id.
   */
  async votePoll(input: { toNumber: string; fromNumber: string; pollMessageId: string; options: string[] }): Promise<string> {
    const poll = this.outboundMessages.get(input.pollMessageId);
    if (!poll) throw new Error(`no message ${input.pollMessageId} was sent through the sandbox`);
    const message = pollVoteMessage({ poll, pollMessageId: input.pollMessageId, pollCreatorJid: userJid(input.toNumber), voterJid: userJid(input.fromNumber), options: input.options });
    return this.sendInbound(input, message, { text: '' });
  }

  async sendGroupText(input: { groupJid: string; fromNumber: string; text: string; pushName?: string }): Promise<string> {
    const group = this.groups.get(input.groupJid);
    if (!group?.participants.has(input.fromNumber)) throw new Error(`${input.fromNumber} is not in ${input.groupJid}`);
    const message: proto.IMessage = { conversation: input.text };
    const { distribution, ciphertext } = await this.senderKeys.encrypt(input.fromNumber, group.jid, message);
    const id = newMessageId();
    const t = nowSeconds();
    const devices = [...group.participants.keys()]
      .filter((number) => number !== input.fromNumber)
      .flatMap((number) => this.devicesOf(number))
      .filter((device) => !device.loggedOut);
    for (const device of devices) {
      const record: InboundMessage = { id, from: input.fromNumber, text: input.text, encryption: 'pending', status: 'queued' };
      device.inbound.push(record);
      await this.deliver(device, async () => {
        // The pairwise copy carries the sender key; the content travels once, as `skmsg`.
        const pairwise = await this.encryptInbound(device, input.fromNumber, { senderKeyDistributionMessage: { groupId: group.jid, axolotlSenderKeyDistributionMessage: distribution } }, false);
        record.encryption = pairwise.attrs.type as EncryptedType;
        record.status = 'sent';
        return node('message', { from: group.jid, participant: userJid(input.fromNumber), id, type: 'text', t, notify: input.pushName ?? input.fromNumber }, [
          pairwise,
          node('enc', { v: '2', type: 'skmsg' }, Buffer.from(ciphertext)),
        ]);
      });
    }
    return id;
  }

  /** A group or status message (`skmsg`): each member phone holding the sender's key decrypts it; the first copy is recorded. */
  private async readGroupMessage(to: string, sender: { user: string; device: number }, ciphertext: Buffer | undefined, record: OutboundMessage): Promise<void> {
    const group = this.groups.get(to);
    const receivers = group ? [...group.participants.keys()].filter((number) => number !== sender.user) : this.senderKeys.receivers(to, sender).filter((number) => number !== sender.user);
    for (const number of receivers) {
      try {
        if (!ciphertext) throw new Error('empty skmsg');
        const message = await this.senderKeys.decrypt(number, to, sender, ciphertext);
        if (!this.outboundMessages.has(record.id)) {
          this.outboundMessages.set(record.id, message);
          record.text = messageText(message);
        }
      } catch (error) {
        this.log.warn({ err: error, id: record.id, to, member: number }, 'simulated member could not decrypt a group message');
        record.error ??= (error as Error).message;
      }
    }
    if (this.outboundMessages.has(record.id)) delete record.error;
  }

  maxConcurrentLogins(): number {
    return this.maxLogins;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const conn of this.connections) conn.terminate();
    await Promise.all([...this.connections].map((c) => c.closedPromise));
    this.wss.close();
    await Promise.all([new Promise<void>((resolve) => this.http.close(() => resolve())), this.media.stop()]);
  }

  // ---- handshake: registration or login -------------------------------------------------

  private async onHandshake(conn: Conn, { clientStaticKey, payload }: HandshakeResult): Promise<void> {
    if (payload.username !== null && payload.username !== undefined) {
      await this.login(conn, clientStaticKey, String(payload.username), payload.device ?? 0);
      return;
    }
    const pairing = payload.devicePairingData;
    const registrationId = uintOfBytes(pairing?.eRegid);
    const keyId = uintOfBytes(pairing?.eSkeyId);
    if (!pairing?.eIdent || !pairing.eSkeyVal || !pairing.eSkeySig || registrationId === undefined || keyId === undefined) {
      await conn.end(node('failure', { reason: '400' }));
      return;
    }
    const { first, next } = this.options.qrTtlMs ?? { first: 60_000, next: 20_000 };
    const count = this.options.qrRefs ?? 6;
    const start = Date.now();
    const refs = Array.from({ length: count }, (_, i) => ({
      ref: `2@${randomBytes(24).toString('base64')}`,
      expiresAt: start + first + i * next,
    }));
    conn.state = {
      kind: 'registration',
      noiseKey: clientStaticKey,
      keys: {
        registrationId,
        identityKey: pairing.eIdent,
        signedPreKey: { keyId, publicKey: pairing.eSkeyVal, signature: pairing.eSkeySig },
      },
      refs,
      pairing: false,
    };
    conn.send(
      node('iq', { from: S_WHATSAPP_NET, type: 'set', id: newTag(), xmlns: 'md' }, [
        node('pair-device', {}, refs.map((r) => node('ref', {}, Buffer.from(r.ref)))),
      ]),
    );
    // Once every ref has expired unscanned, the edge gives up on the companion. Baileys' own QR
    // timer normally ends it first with 408; the sandbox's end carries the same code.
    const lastExpiry = refs[refs.length - 1]?.expiresAt ?? start;
    this.later(lastExpiry - start + 2_000, async () => {
      if (conn.state?.kind === 'registration' && !conn.state.pairing) await conn.end(node('stream:error', { code: '408' }));
    });
  }

  private async login(conn: Conn, noiseKey: Uint8Array, number: string, deviceId: number): Promise<void> {
    let device = this.accounts.get(number)?.devices.get(deviceId);
    // Device 0 is the phone itself: a companion logging in as 0 holds provisional creds from a
    // pairing code that never completed (Baileys writes creds.me early), which WhatsApp refuses.
    const adopt = (this.options.adoptUnknownDevices ?? true) && deviceId > 0 && isWellFormedNumber(number);
    if (device?.loggedOut || (!device && !adopt) || (device && !Buffer.from(device.noiseKey).equals(Buffer.from(noiseKey)))) {
      await conn.end(node('failure', { reason: '401', location: 'sandbox' }));
      return;
    }
    if (!device) {
      device = this.addDevice(this.account(number), deviceId, noiseKey, null);
      this.log.debug({ jid: device.jid }, 'adopted a device this sandbox did not link');
    }
    const others = this.sessionsOf(device);
    conn.state = { kind: 'session', device };
    this.maxLogins = Math.max(this.maxLogins, others.length + 1);
    // WhatsApp keeps one socket per device: the newer login replaces the older (440 there).
    for (const old of others) void old.end(node('stream:error', {}, [node('conflict', { type: 'replaced' })]));
    conn.send(node('success', { t: nowSeconds(), lid: device.lid, location: 'sandbox', props: '1' }));
    // What arrived while the device was away goes first, marked offline, then the end marker
    // that makes Baileys flush its buffered events.
    let delivered = 0;
    for (const build of device.pending.splice(0)) {
      try {
        const stanza = await build();
        stanza.attrs.offline = '1';
        conn.send(stanza);
        delivered++;
      } catch (error) {
        this.log.warn({ err: error, jid: device.jid }, 'dropped an offline stanza that could not be built');
      }
    }
    conn.send(node('ib', {}, [node('offline', { count: String(delivered) })]));
  }

  // ---- stanzas from the client ------------------------------------------------------------

  private async onNode(conn: Conn, stanza: BinaryNode): Promise<void> {
    const state = conn.state;
    // Replies to the sandbox's own queries (pair-device, pair-success) need no answer.
    if (stanza.tag === 'iq' && (stanza.attrs.type === 'result' || stanza.attrs.type === 'error')) return;
    if (stanza.tag === 'iq') {
      const reply =
        state?.kind === 'session' ? await this.sessionIq(state.device, stanza) : await this.registrationIq(conn, stanza);
      if (reply) conn.send(reply);
      return;
    }
    if (state?.kind !== 'session') return;
    switch (stanza.tag) {
      case 'message':
        await this.onOutboundMessage(conn, state.device, stanza);
        return;
      case 'receipt':
        this.onReceipt(state.device, stanza);
        conn.send(node('ack', { class: 'receipt', id: stanza.attrs.id ?? '', from: stanza.attrs.to ?? S_WHATSAPP_NET }));
        return;
      default:
        // presence, ack, ib (unified_session), chatstate: nothing for the edge to answer.
        this.log.debug({ tag: stanza.tag }, 'sandbox ignored stanza');
    }
  }

  private async registrationIq(conn: Conn, iq: BinaryNode): Promise<BinaryNode | undefined> {
    const reg = conn.state?.kind === 'registration' ? conn.state : undefined;
    const linkReg = child(iq, 'link_code_companion_reg');
    if (!reg || !linkReg) return this.genericIq(iq);
    if (linkReg.attrs.stage === 'companion_hello') {
      const number = parseJid(linkReg.attrs.jid)?.user;
      const wrapped = bytesOf(child(linkReg, 'link_code_pairing_wrapped_companion_ephemeral_pub'));
      const noiseKey = bytesOf(child(linkReg, 'companion_server_auth_key_pub'));
      if (!number || !isWellFormedNumber(number) || !wrapped || wrapped.length < 80 || !noiseKey?.equals(Buffer.from(reg.noiseKey))) {
        return iqError(iq, 400, 'bad-request');
      }
      const ref = randomBytes(16).toString('hex');
      reg.linkCode = { number, ref, wrappedCompanionEphemeral: wrapped };
      return iqResult(iq, [node('link_code_companion_reg', {}, [node('link_code_pairing_ref', {}, Buffer.from(ref))])]);
    }
    if (linkReg.attrs.stage === 'companion_finish') {
      const hello = reg.linkCode?.primaryHello;
      const bundle = bytesOf(child(linkReg, 'link_code_pairing_wrapped_key_bundle'));
      if (!reg.linkCode || !hello || !bundle) return iqError(iq, 400, 'bad-request');
      const account = this.account(reg.linkCode.number);
      let advSecret: Buffer;
      try {
        const opened = completeLinkCode({
          wrappedKeyBundle: bundle,
          companionEphemeralKey: hello.companionEphemeral,
          primaryEphemeral: hello.primaryEphemeral,
          primaryIdentity: account.phone.identity,
        });
        if (!opened.companionIdentityKey.equals(Buffer.from(reg.keys.identityKey))) throw new Error('identity mismatch');
        advSecret = opened.advSecret;
      } catch (error) {
        hello.done(new Error(`pairing code rejected: ${(error as Error).message}`));
        reg.pairing = false;
        return iqError(iq, 401, 'not-authorized');
      }
      conn.send(iqResult(iq));
      // Not awaited: while the phone waits for the companion's counter-signature, the
      // companion's other stanzas (acks, pings) keep being handled.
      this.completePairing(conn, { number: reg.linkCode.number, advSecret }).then(
        () => hello.done(),
        (error: Error) => hello.done(error),
      );
      return undefined;
    }
    return iqError(iq, 400, 'bad-request');
  }

  /**
   * The phone has accepted the companion: `pair-success` with a device identity signed by the
   * account, then the companion's counter-signature, then 515 so it logs in as the new device.
   */
  private async completePairing(conn: Conn, { number, advSecret }: { number: string; advSecret: Buffer }): Promise<void> {
    const reg = conn.state;
    if (reg?.kind !== 'registration') throw new Error('connection is not registering');
    const account = this.account(number);
    const deviceId = account.nextDeviceId++;
    const keyIndex = account.nextKeyIndex++;
    const identity = signDeviceIdentity({
      accountKey: account.phone.identity,
      companionIdentityKey: reg.keys.identityKey,
      advSecret,
      keyIndex,
    });
    const id = newTag();
    const reply = conn.awaitReply(id);
    conn.send(
      node('iq', { from: S_WHATSAPP_NET, type: 'set', id, xmlns: 'md', t: nowSeconds() }, [
        node('pair-success', {}, [
          node('device-identity', { 'key-index': String(keyIndex) }, identity.bytes),
          node('platform', { name: 'android' }),
          // Baileys takes creds.me.name from here; without a name it never sends presence.
          node('biz', { name: account.pushName }),
          node('device', { jid: `${number}:${deviceId}@${PN_SERVER}`, lid: `${account.lidUser}:${deviceId}@lid` }),
        ]),
      ]),
    );
    const signed = bytesOf(child(child(await reply, 'pair-device-sign'), 'device-identity'));
    if (!signed || !verifyDeviceSignature(signed, identity.details, reg.keys.identityKey, account.phone.identity.public)) {
      reg.pairing = false;
      throw new Error('companion did not counter-sign its device identity');
    }
    this.addDevice(account, deviceId, reg.noiseKey, reg.keys);
    // Linked: the companion must reconnect and log in as the new device. Not awaited, so the
    // caller learns of the link before the socket is gone.
    void conn.end(node('stream:error', { code: '515' }));
  }

  /** IQs of a logged-in device. */
  private async sessionIq(device: LinkedDevice, iq: BinaryNode): Promise<BinaryNode | undefined> {
    const xmlns = iq.attrs.xmlns;
    const [first] = children(iq);
    if (xmlns === 'encrypt') {
      if (first?.tag === 'count') return iqResult(iq, [node('count', { value: String(device.preKeys.size) })]);
      if (first?.tag === 'key') return this.fetchBundles(iq, first);
      if (first?.tag === 'digest') return iqResult(iq, [this.digest(device)]);
      if (first?.tag === 'rotate') {
        const skey = readSignedPreKey(child(first, 'skey'));
        if (skey && device.keys) device.keys.signedPreKey = skey;
        return iqResult(iq);
      }
      if (iq.attrs.type === 'set') return this.storePreKeys(device, iq);
    }
    if (xmlns === 'usync') return this.usync(iq);
    if (xmlns === 'w:g2') return this.groups.iq(device.account.number, iq, userJid);
    if (xmlns === 'w:mex') return this.newsletters.iq(device.account.number, iq);
    if (xmlns === 'md' && first?.tag === 'remove-companion-device') {
      // Baileys' logout(): the device unlinks itself.
      device.loggedOut = true;
      return iqResult(iq);
    }
    return this.genericIq(iq);
  }

  /** IQs every client sends whose answer only has to be well-formed. */
  private genericIq(iq: BinaryNode): BinaryNode {
    const [first] = children(iq);
    switch (iq.attrs.xmlns) {
      case 'abt':
        return iqResult(iq, [node('props', { protocol: '1', hash: 'sandbox' })]);
      case 'blocklist':
        return iqResult(iq, [node('list', {})]);
      case 'w:m':
        // Baileys' `refreshMediaConn`: where and with which token to upload media.
        return iqResult(iq, [
          node('media_conn', { auth: this.media.uploadAuth, ttl: '3600', auth_ttl: '21600', max_buckets: '12' }, [
            node('host', { hostname: this.uploadHost, maxContentLengthBytes: String(110 * 1024 * 1024) }),
          ]),
        ]);
      case 'privacy':
        if (first?.tag === 'privacy' && iq.attrs.type === 'get') {
          const categories = ['last', 'online', 'profile', 'status', 'groupadd', 'readreceipts', 'calladd'];
          return iqResult(iq, [
            node('privacy', {}, categories.map((name) => node('category', { name, value: name === 'readreceipts' ? 'all' : 'contacts' }))),
          ]);
        }
        return iqResult(iq);
      default:
        // ping (w:p), passive/active, w:stats and anything else: an empty result.
        this.log.debug({ xmlns: iq.attrs.xmlns, child: first?.tag }, 'sandbox answered iq generically');
        return iqResult(iq);
    }
  }

  private storePreKeys(device: LinkedDevice, iq: BinaryNode): BinaryNode {
    const registrationId = uintOf(child(iq, 'registration'));
    const identityKey = bytesOf(child(iq, 'identity'));
    const signedPreKey = readSignedPreKey(child(iq, 'skey'));
    if (registrationId === undefined || !identityKey || !signedPreKey) return iqError(iq, 400, 'bad-request');
    device.keys = { registrationId, identityKey, signedPreKey };
    device.preKeys.add(
      children(child(iq, 'list')).flatMap((key) => {
        const id = uintOf(child(key, 'id'));
        const value = bytesOf(child(key, 'value'));
        return id !== undefined && value?.length === 32 ? [{ id, key: value }] : [];
      }),
    );
    return iqResult(iq);
  }

  /**
   * Baileys only checks that a digest comes back (else it re-uploads). WhatsApp's also lists
   * every pre-key id and a hash; that is left out, as it would cost ~800 nodes per login when a
   * benchmark restores a thousand sessions.
   */
  private digest(device: LinkedDevice): BinaryNode {
    const keys = device.keys;
    if (!keys) return node('digest', {});
    return node('digest', {}, [
      node('type', {}, Buffer.from([5])),
      node('identity', {}, Buffer.from(keys.identityKey)),
      node('skey', {}, [
        node('id', {}, bigEndian(keys.signedPreKey.keyId, 3)),
        node('value', {}, Buffer.from(keys.signedPreKey.publicKey)),
        node('signature', {}, Buffer.from(keys.signedPreKey.signature)),
      ]),
    ]);
  }

  /** `<iq xmlns="encrypt" type="get"><key>`: one-time pre-key bundles, so Baileys can encrypt. */
  private fetchBundles(iq: BinaryNode, keyNode: BinaryNode): BinaryNode {
    const users = children(keyNode).map((user) => {
      const jid = user.attrs.jid ?? '';
      const target = parseJid(jid);
      const number = target ? this.numberOf(target.user, target.server) : undefined;
      let bundle: PreKeyBundle | undefined;
      if (target && number) {
        if (target.device === 0) bundle = this.party(number).issueBundle();
        else {
          const device = this.accounts.get(number)?.devices.get(target.device);
          bundle = device ? this.takeDeviceBundle(device) : undefined;
        }
      }
      return bundle ? bundleNode(jid, bundle) : node('user', { jid }, [node('error', { code: '404', text: 'item-not-found' })]);
    });
    return iqResult(iq, [node('list', {}, users)]);
  }

  /** USync: devices, LIDs and registration of any well-formed number. */
  private usync(iq: BinaryNode): BinaryNode {
    const usync = child(iq, 'usync');
    const protocols = children(child(usync, 'query')).map((p) => p.tag);
    const users = children(child(usync, 'list')).map((user) => {
      const phone = textOf(child(user, 'contact'))?.replace(/\D/g, '');
      const target = parseJid(user.attrs.jid);
      const number = target ? this.numberOf(target.user, target.server) : phone;
      const registered = number !== undefined && this.isRegistered(number);
      const jid = user.attrs.jid ?? userJid(phone ?? '');
      const content: BinaryNode[] = [];
      for (const protocol of protocols) {
        if (protocol === 'contact') content.push(node('contact', { type: registered ? 'in' : 'out' }));
        if (!registered || !number) continue;
        if (protocol === 'lid') content.push(node('lid', { val: `${this.lidOf(number)}@lid` }));
        if (protocol === 'devices') content.push(this.deviceList(number));
      }
      return node('user', { jid }, content);
    });
    return iqResult(iq, [
      node('usync', { ...usync?.attrs, last: 'true', index: '0' }, [node('result', {}), node('list', {}, users)]),
    ]);
  }

  private deviceList(number: string): BinaryNode {
    const linked = [...(this.accounts.get(number)?.devices.values() ?? [])].filter((d) => !d.loggedOut);
    return node('devices', {}, [
      node('device-list', {}, [
        node('device', { id: '0' }),
        ...linked.map((d) => node('device', { id: String(d.deviceId), 'key-index': String(d.deviceId) })),
      ]),
    ]);
  }

  // ---- messages --------------------------------------------------------------------------

  /** Decrypts each contact's copy with that contact's Signal store, then acks and receipts. */
  private async onOutboundMessage(conn: Conn, device: LinkedDevice, stanza: BinaryNode): Promise<void> {
    const id = stanza.attrs.id ?? '';
    const to = stanza.attrs.to ?? '';
    const sender = { user: device.account.number, device: device.deviceId };
    const participants = children(child(stanza, 'participants')).filter((p) => p.tag === 'to');
    const copies = participants.length > 0 ? participants : [node('to', { jid: to }, children(stanza))];
    const recipient = parseJid(to);
    const recipientNumber = recipient ? this.numberOf(recipient.user, recipient.server) : undefined;
    const isContactChat = recipientNumber !== undefined && recipientNumber !== device.account.number && stanza.attrs.category !== 'peer';
    const record: OutboundMessage = { id, to: recipientNumber ? userJid(recipientNumber) : to };
    const nativeFlow = children(children(children(stanza).find((part) => part.tag === 'biz')).find((part) => part.tag === 'interactive')).find((part) => part.tag === 'native_flow');
    if (nativeFlow?.attrs.name) record.nativeFlow = nativeFlow.attrs.name;
    let decrypted: proto.IMessage | undefined;
    for (const copy of copies) {
      const target = parseJid(copy.attrs.jid);
      const enc = child(copy, 'enc');
      const ciphertext = bytesOf(enc);
      const number = target ? this.numberOf(target.user, target.server) : undefined;
      // Copies for other companion devices are not simulated; the primary phone's copy is
      // decrypted too (it proves the own-device session works) but not recorded.
      if (!target || !number || target.device !== 0 || !enc || !ciphertext) continue;
      const type = enc.attrs.type;
      if (type !== 'pkmsg' && type !== 'msg') continue;
      try {
        const message = await this.party(number).decrypt(sender, type, ciphertext);
        const distribution = message.senderKeyDistributionMessage;
        if (distribution?.axolotlSenderKeyDistributionMessage) {
          await this.senderKeys.process(number, distribution.groupId ?? to, sender, distribution.axolotlSenderKeyDistributionMessage);
        }
        if (number === recipientNumber) {
          record.text = messageText(message);
          this.outboundMessages.set(id, message);
          decrypted = message;
        }
      } catch (error) {
        this.log.warn({ err: error, id, to: copy.attrs.jid }, 'simulated device could not decrypt');
        if (number === recipientNumber) record.error = (error as Error).message;
      }
    }
    const senderKeyMessage = children(stanza).find((part) => part.tag === 'enc' && part.attrs.type === 'skmsg');
    if (senderKeyMessage) await this.readGroupMessage(to, sender, bytesOf(senderKeyMessage), record);
    // Channel posts are not end-to-end encrypted: the stanza carries the message in plaintext.
    const plaintext = to.endsWith('@newsletter') ? bytesOf(child(stanza, 'plaintext')) : undefined;
    const isChannelPost = plaintext !== undefined && this.newsletters.has(to);
    if (isChannelPost) {
      const message = proto.Message.decode(plaintext);
      this.outboundMessages.set(id, message);
      record.text = messageText(message);
    }
    // A re-send (the answer to a retry receipt) has the same id: still one record per message,
    // showing how the latest copy fared.
    const earlier = device.outbound.find((r) => r.id === id && r.to === record.to);
    if (earlier) {
      if (record.text !== undefined) earlier.text = record.text;
      if (record.error === undefined) delete earlier.error;
      else earlier.error = record.error;
    } else if (isContactChat || senderKeyMessage || isChannelPost) device.outbound.push(record);
    const waiter = isContactChat ? this.resendWaiters.get(id) : undefined;
    if (waiter && decrypted) waiter({ message: decrypted });
    else if (waiter && record.error) waiter({ error: record.error });
    conn.send(node('ack', { class: 'message', id, from: to, t: nowSeconds() }));
    const receipts = this.options.receipts === undefined ? { deliveredMs: 300, readMs: 1000 } : this.options.receipts;
    if (!isContactChat || receipts === null || record.error) return;
    const receipt = (type?: string) => () =>
      this.deliver(device, async () => node('receipt', { from: to, id, t: nowSeconds(), ...(type ? { type } : {}) }));
    this.later(receipts.deliveredMs, receipt());
    this.later(Math.max(receipts.readMs, receipts.deliveredMs), receipt('read'));
  }

  /** Receipts the device sends for inbound messages. */
  private onReceipt(device: LinkedDevice, stanza: BinaryNode): void {
    const ids = [stanza.attrs.id, ...children(child(stanza, 'list')).map((item) => item.attrs.id)];
    const type = stanza.attrs.type;
    if (type === 'retry') {
      this.log.warn({ ids, from: device.jid }, 'device could not decrypt an inbound message');
      return;
    }
    const read = type === 'read' || type === 'read-self';
    for (const record of device.inbound.filter((m) => ids.includes(m.id))) {
      if (record.status === 'sent' && record.encryption !== 'plaintext') {
        // The device holds our session now; later messages need no pre-key header.
        this.party(record.from).confirmSession({ user: device.account.number, device: device.deviceId });
      }
      if (read) record.status = 'read';
      else if (record.status === 'sent') record.status = 'delivered';
    }
  }

  private async encryptInbound(device: LinkedDevice, fromNumber: string, message: proto.IMessage, plaintext: boolean): Promise<BinaryNode> {
    if (plaintext) return node('plaintext', {}, proto.Message.encode(message).finish());
    const contact = this.party(fromNumber);
    const peer = { user: device.account.number, device: device.deviceId };
    if (!contact.hasSession(peer)) {
      const bundle = this.takeDeviceBundle(device);
      if (!bundle) throw new Error(`${device.jid} has not uploaded its keys yet`);
      await contact.startSession(peer, bundle);
    }
    const { type, ciphertext } = await contact.encrypt(peer, message);
    return node('enc', { v: '2', type }, ciphertext);
  }

  /** Sends to the device's live socket, or queues for its next login (offline delivery). */
  private async deliver(device: LinkedDevice, build: () => Promise<BinaryNode>): Promise<void> {
    const [live] = this.sessionsOf(device).slice(-1);
    if (live && !live.silent) live.send(await build());
    else device.pending.push(build);
  }

  // ---- bookkeeping -----------------------------------------------------------------------

  private takeDeviceBundle(device: LinkedDevice): PreKeyBundle | undefined {
    if (!device.keys) return undefined;
    // Without one-time pre-keys left, WhatsApp hands out the signed pre-key alone.
    const preKey = device.preKeys.take();
    return {
      registrationId: device.keys.registrationId,
      identityKey: device.keys.identityKey,
      signedPreKey: device.keys.signedPreKey,
      ...(preKey ? { preKey } : {}),
    };
  }

  private account(number: string): Account {
    let account = this.accounts.get(number);
    if (!account) {
      account = {
        number,
        lidUser: this.lidOf(number),
        phone: this.party(number),
        pushName: `Sandbox ${number.slice(-4)}`,
        devices: new Map(),
        nextDeviceId: 1,
        nextKeyIndex: 1,
      };
      this.accounts.set(number, account);
    }
    return account;
  }

  private addDevice(account: Account, deviceId: number, noiseKey: Uint8Array, keys: DeviceKeys | null): LinkedDevice {
    const device: LinkedDevice = {
      account,
      deviceId,
      jid: `${account.number}:${deviceId}@${PN_SERVER}`,
      lid: `${account.lidUser}:${deviceId}@lid`,
      noiseKey,
      keys,
      preKeys: new PreKeyPool(),
      pending: [],
      outbound: [],
      inbound: [],
      loggedOut: false,
    };
    account.devices.set(deviceId, device);
    account.nextDeviceId = Math.max(account.nextDeviceId, deviceId + 1);
    return device;
  }

  /** The Signal store of a number's primary phone (contacts and linked accounts alike). */
  private party(number: string): SignalParty {
    let party = this.contacts.get(number);
    if (!party) {
      party = new SignalParty();
      this.contacts.set(number, party);
    }
    return party;
  }

  private lidOf(number: string): string {
    let lid = this.numberToLid.get(number);
    if (!lid) {
      lid = String(this.nextLid++);
      this.numberToLid.set(number, lid);
      this.lidToNumber.set(lid, number);
    }
    return lid;
  }

  private numberOf(user: string, server: string): string | undefined {
    if (server === 'lid') return this.lidToNumber.get(user);
    return server === PN_SERVER ? user : undefined;
  }

  private newSyntheticNumber(): string {
    const prefix = this.options.numberPrefix ?? '5511990';
    for (;;) {
      const number = `${prefix}${String(this.nextSyntheticNumber++).padStart(13 - prefix.length, '0')}`;
      if (!this.accounts.has(number)) return number;
    }
  }

  private allDevices(): LinkedDevice[] {
    return [...this.accounts.values()].flatMap((a) => [...a.devices.values()]);
  }

  private devicesOf(number: string): LinkedDevice[] {
    return [...(this.accounts.get(number)?.devices.values() ?? [])];
  }

  private sessionsOf(device: LinkedDevice): Conn[] {
    return [...this.connections].filter((c) => !c.closed && c.state?.kind === 'session' && c.state.device === device);
  }

  private registrations(): Array<{ conn: Conn; reg: Registration }> {
    return [...this.connections].flatMap((conn) =>
      !conn.closed && conn.state?.kind === 'registration' ? [{ conn, reg: conn.state }] : [],
    );
  }

  private later(ms: number, task: () => unknown): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void Promise.resolve()
        .then(task)
        .catch((error: unknown) => this.log.warn({ err: error }, 'sandbox timer task failed'));
    }, ms);
    this.timers.add(timer);
  }

  /** Polls for a condition the client has yet to bring about (its companion_hello). */
  private async waitFor<T>(probe: () => T | undefined, timeoutMs = 30_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = probe();
      if (found !== undefined) return found;
      if (this.stopped) throw new Error('sandbox stopped');
      if (Date.now() > deadline) throw new Error('timed out waiting for the companion');
      await delay(20);
    }
  }
}

let tagCounter = 0;
/** Server-originated stanza ids; they only need to be unique per connection. */
const newTag = (): string => `sandbox-${Date.now().toString(36)}-${tagCounter++}`;
