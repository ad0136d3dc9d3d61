import makeWASocket, {
  Browsers,
  jidNormalizedUser,
  makeCacheableSignalKeyStore,
  type AnyMessageContent,
  type AuthenticationState,
  type CacheStore,
  type ConnectionState,
  type UserFacingSocketConfig,
  type WAMessage,
  type WASocket,
  type proto,
} from '@whiskeysockets/baileys';
import { HttpsProxyAgent } from 'https-proxy-agent';
import asyncHooks, { AsyncLocalStorage } from 'node:async_hooks';
import { syncBuiltinESMExports } from 'node:module';
import { SocksProxyAgent } from 'socks-proxy-agent';
import { ProxyAgent } from 'undici';
import type { Logger } from '../../shared/domain/ports/runtime.port.ts';
import type { WaConnection, WaConnectionFactory, WaConnectionOptions, WaEvent } from '../../shared/domain/ports/wa-connection.port.ts';
import type { WaMessageEvent } from '../../shared/domain/ports/media.port.ts';
import type { Dispatcher } from 'undici';
import { mediaDispatcher, mediaSourceOf } from './media-download.ts';
import { statusName, toMessageExchange } from './message-mapper.ts';
import { decodedMessage, decryptedPollVote, encodedMessage, pollKeyOf } from './poll-votes.ts';
import { armWriteBehind, durabilityOf } from './write-behind.ts';
import { GroupMetadataCache, groupInfoOf, newsletterRoleOf } from './group-info.ts';
import { isRelayContent, relaySend } from './relay-content.ts';

export interface BaileysFactoryOptions {
  logger: Logger;
  /** The WhatsApp sandbox's URL in sandbox mode; WhatsApp's own edge otherwise. */
  waWebSocketUrl?: string;
  /** Client version and browser are runtime config: WhatsApp may reject a version (405). */
  version?: [number, number, number];
  /**
   * Baileys hangs in `connecting` when the WebSocket upgrade is answered with a non-101 status:
   * the watchdog ends such a socket so the supervisor sees a close and applies its policy.
   */
  connectWatchdogMs?: number;
  /** Idle sessions are cheap only with Baileys' per-socket caches kept small (ARCHITECTURE §6). */
  lean?: boolean;
  /** How long each QR is shown before Baileys rotates to the next ref (Baileys: 60 s, then 20 s). */
  qrTimeoutMs?: number;
  /** Keep-alive ping period; a silent edge is noticed about 5 s after one missed period (Baileys: 30 s). */
  keepAliveIntervalMs?: number;
  /** The sandbox's media CDN origin (`http://host:port`) in sandbox mode; WhatsApp's `mmg.whatsapp.net` otherwise. */
  mediaOrigin?: string;
}

/** Baileys wants a pino logger; zapfleet's logs go through its own redacting logger instead. */
const silentPino = () => {
  const logger = {
    level: 'silent',
    child: () => logger,
    trace: () => undefined,
    debug: () => undefined,
    info: () => undefined,
    warn: () => undefined,
    error: () => undefined,
    fatal: () => undefined,
  };
  return logger as unknown as UserFacingSocketConfig['logger'];
};

const proxyUrl = (proxy: NonNullable<WaConnectionOptions['proxy']>): string => {
  const auth = proxy.username ? `${encodeURIComponent(proxy.username)}:${encodeURIComponent(proxy.password ?? '')}@` : '';
  const scheme = proxy.protocol === 'socks5' ? 'socks5h' : proxy.protocol;
  return `${scheme}://${auth}${proxy.host}:${proxy.port}`;
};

/**
 * A proxy needs three Baileys settings (ARCHITECTURE §6): `agent` for the WebSocket,
 * `fetchAgent` for media uploads and `options.dispatcher` for media downloads.
 */
export const proxySettings = (proxy: WaConnectionOptions['proxy']): Pick<UserFacingSocketConfig, 'agent' | 'fetchAgent' | 'options'> => {
  if (!proxy) return {};
  const url = proxyUrl(proxy);
  const agent = (proxy.protocol === 'socks5' ? new SocksProxyAgent(url) : new HttpsProxyAgent(url)) as unknown as NonNullable<UserFacingSocketConfig['agent']>;
  // undici has no SOCKS dispatcher: media downloads through a SOCKS5 proxy wait for the media issue.
  const dispatcher = proxy.protocol === 'socks5' ? undefined : new ProxyAgent(url);
  return { agent, fetchAgent: agent, options: (dispatcher ? { dispatcher } : {}) as unknown as UserFacingSocketConfig['options'] };
};

const statusCodeOf = (error: unknown): number => {
  const output = (error as { output?: { statusCode?: number } } | undefined)?.output;
  return output?.statusCode ?? 428;
};

/**
 * A Baileys `CacheStore` without a timer of its own: entries expire when read and are swept every
 * few hundred writes. Baileys' default (a NodeCache) keeps an interval, and with it the cache and
 * everything in it, alive until someone calls `close()`, which nobody does for the signal key
 * cache a caller creates: every socket ever opened would leave one behind.
 */
class TtlCache implements CacheStore {
  private readonly entries = new Map<string, { value: unknown; expiresAt: number }>();
  private writes = 0;

  constructor(
    private readonly ttlMs: number,
    /** Keys never worth keeping (they are read at most once), e.g. one-time pre-keys. */
    private readonly skip: (key: string) => boolean = () => false,
  ) {}

  get<T>(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > Date.now()) return entry.value as T;
    this.entries.delete(key);
    return undefined;
  }

  set<T>(key: string, value: T): void {
    if (this.skip(key)) {
      this.entries.delete(key);
      return;
    }
    this.writes += 1;
    if (this.writes % 256 === 0) this.deleteWhere((_, expiresAt) => expiresAt <= Date.now());
    this.entries.set(key, { value, expiresAt: Date.now() + this.ttlMs });
  }

  del(key: string): void {
    this.entries.delete(key);
  }

  flushAll(): void {
    this.entries.clear();
  }

  deleteWhere(test: (key: string, expiresAt: number) => boolean): void {
    for (const [key, entry] of this.entries) if (test(key, entry.expiresAt)) this.entries.delete(key);
  }
}

/** One instance's view of a cache shared by every socket of a factory. */
const scopedCache = (shared: TtlCache, instanceId: string): CacheStore => {
  const prefix = `${instanceId}|`;
  return {
    get: <T>(key: string) => shared.get<T>(prefix + key),
    set: <T>(key: string, value: T) => shared.set(prefix + key, value),
    del: (key: string) => shared.del(prefix + key),
    flushAll: () => shared.deleteWhere((key) => key.startsWith(prefix)),
  };
};

const minutes = (count: number) => count * 60_000;

/**
 * Baileys 7.0.0-rc14 gives every socket its own `AsyncLocalStorage` (key-store transactions) and
 * never disables it. On Node 20 each enabled storage is walked, and stamps a property, on every
 * promise and timer the process creates from then on, so the cost of all async work grows with
 * the number of sockets ever opened (Baileys issue #2806): measured here, restoring 988 sessions
 * took 282 s and 313 ms of CPU each, against ~80 ms at 30 sessions. The storage Baileys creates
 * for a socket is therefore this one, which disables itself whenever none of its transactions is
 * running: nothing reads its context then, and the next transaction enables it again.
 */
class TransactionStorage<T> extends AsyncLocalStorage<T> {
  private running = 0;

  override run<R>(store: T, callback: () => R): R;
  override run<R, TArgs extends unknown[]>(store: T, callback: (...args: TArgs) => R, ...args: TArgs): R;
  override run<R, TArgs extends unknown[]>(store: T, callback: (...args: TArgs) => R, ...args: TArgs): R {
    this.running += 1;
    let result: R;
    try {
      result = super.run(store, callback, ...args);
    } catch (error) {
      this.settled();
      throw error;
    }
    // A transaction is asynchronous: its context must live until its promise settles.
    if (result instanceof Promise) result.then(this.settled, this.settled);
    else this.settled();
    return result;
  }

  private readonly settled = (): void => {
    this.running -= 1;
    if (this.running === 0) this.disable();
  };
}

/**
 * Runs `makeWASocket` (synchronous) while `node:async_hooks` exports `TransactionStorage` as
 * `AsyncLocalStorage`, so the storage Baileys constructs in it is one; restored right after.
 */
const withTransactionStorage = <T>(make: () => T): T => {
  const original = asyncHooks.AsyncLocalStorage;
  asyncHooks.AsyncLocalStorage = TransactionStorage;
  syncBuiltinESMExports();
  try {
    return make();
  } finally {
    asyncHooks.AsyncLocalStorage = original;
    syncBuiltinESMExports();
  }
};

/** Opens WhatsApp sockets with Baileys, one per `open` call. */
export const createBaileysConnectionFactory = (factory: BaileysFactoryOptions): WaConnectionFactory => {
  // Lean (ARCHITECTURE §6): the four caches Baileys would create per socket, each a NodeCache with
  // an interval, are shared by all sockets and scoped by instance; TTLs are Baileys' defaults.
  const shared = factory.lean
    ? { msgRetry: new TtlCache(minutes(60)), callOffer: new TtlCache(minutes(5)), placeholderResend: new TtlCache(minutes(60)), userDevices: new TtlCache(minutes(5)) }
    : null;
  return {
    open(options: WaConnectionOptions): WaConnection {
      const auth = options.auth as AuthenticationState;
      const watchdogMs = factory.connectWatchdogMs ?? 30_000;
      const pino = silentPino();
      let closed = false;
      const emit = (event: WaEvent) => {
        if (closed && event.type !== 'close') return;
        options.onEvent(event);
      };
      // Signal keys are cached for 5 minutes, as Baileys does. Lean mode keeps no one-time pre-keys:
      // the ~812 of a first login would sit in memory for nothing (each is read at most once).
      const keyCache = new TtlCache(minutes(5), factory.lean ? (key) => key.startsWith('pre-key.') : undefined);
      // Filled by the send check (groupMetadata below), read by relayMessage: one query per group send.
      const groups = new GroupMetadataCache();
      const sock: WASocket = withTransactionStorage(() =>
        makeWASocket({
          auth: { creds: auth.creds, keys: makeCacheableSignalKeyStore(auth.keys, pino, keyCache) },
          logger: pino,
          ...(factory.waWebSocketUrl ? { waWebSocketUrl: factory.waWebSocketUrl } : {}),
          ...(factory.version ? { version: factory.version } : {}),
          ...(factory.qrTimeoutMs ? { qrTimeout: factory.qrTimeoutMs } : {}),
          ...(factory.keepAliveIntervalMs ? { keepAliveIntervalMs: factory.keepAliveIntervalMs } : {}),
          browser: Browsers.macOS('Chrome'),
          markOnlineOnConnect: options.settings.keepOnlineStatus,
          syncFullHistory: options.historyDays !== null || !options.settings.disableHistorySync,
          shouldSyncHistoryMessage: () => options.historyDays !== null || !options.settings.disableHistorySync,
          enableRecentMessageCache: factory.lean !== true,
          ...(shared
            ? {
                msgRetryCounterCache: scopedCache(shared.msgRetry, options.instanceId),
                callOfferCache: scopedCache(shared.callOffer, options.instanceId),
                placeholderResendCache: scopedCache(shared.placeholderResend, options.instanceId),
                userDevicesCache: scopedCache(shared.userDevices, options.instanceId),
              }
            : {}),
          fireInitQueries: true,
          generateHighQualityLinkPreview: false,
          cachedGroupMetadata: async (jid) => groups.get(jid),
          // Re-sends on a recipient's retry receipt come from the message store (the lean runner
          // keeps no recent-message cache; a restarted one has none either).
          getMessage: async (key) => (key.id ? storedOrRecent(key.id) : undefined),
          ...proxySettings(options.proxy),
        }),
      );

      // Keys written behind (auth-state.dynamodb.ts `writeBehind`): outgoing frames wait for them
      // to be durable, and reading pauses while the backlog is high (write-behind.ts).
      const durability = durabilityOf(auth.keys);
      if (durability) {
        try {
          armWriteBehind(sock as unknown as { ws: unknown; messageMutex?: unknown }, durability, (error) => {
            factory.logger.error('auth state write failed', { instanceId: options.instanceId, error: String(error) });
            void sock.end(Object.assign(new Error('auth state write failed'), { output: { statusCode: 500 } }) as never);
          }, options.backlog);
        } catch (error) {
          void sock.end(undefined);
          throw error;
        }
      }
      let opened = false;
      const watchdog = setTimeout(() => {
        if (!opened && !closed) {
          void sock.end(Object.assign(new Error('connect watchdog: no progress'), { output: { statusCode: 408 } }) as never);
        }
      }, watchdogMs);
      watchdog.unref();
      // The upgrade succeeded: from here Baileys' own handshake timeout and keep-alive notice a
      // silent edge. Waiting for `open` instead would end healthy first logins on a busy runner,
      // which generate, store and upload ~812 pre-keys before `open` (retried, they do it again).
      sock.ws.on('open', () => clearTimeout(watchdog));

      emit({ type: 'connecting' });
      sock.ev.on('creds.update', () => {
        options.saveCreds().catch((error: unknown) => {
          factory.logger.error('auth state write failed', { instanceId: options.instanceId, error: String(error) });
          // A creds write that cannot land must not leave a socket running on state we cannot keep.
          void sock.end(Object.assign(new Error('auth state write failed'), { output: { statusCode: 500 } }) as never);
        });
      });
      sock.ev.on('connection.update', (update: Partial<ConnectionState>) => {
        if (update.qr) {
          // A QR means the server answered: the connect watchdog has done its job.
          clearTimeout(watchdog);
          emit({ type: 'qr', qr: update.qr });
        }
        if (update.connection === 'open') {
          opened = true;
          clearTimeout(watchdog);
          const me = sock.user ?? auth.creds.me;
          emit({
            type: 'open',
            jid: (me?.id ?? '').replace(/:\d+@/, '@'),
            profile: { name: me?.name ?? auth.creds.me?.name ?? null, pictureUrl: null, isBusiness: false, businessName: '' },
          });
        }
        if (update.connection === 'close') {
          clearTimeout(watchdog);
          if (closed) return;
          closed = true;
          const error = update.lastDisconnect?.error;
          options.onEvent({ type: 'close', code: statusCodeOf(error), message: error instanceof Error ? error.message : 'closed' });
        }
      });
      const now = () => `${new Date().toISOString().slice(0, 19)}Z`;
      // Media downloads go through the instance's proxy. The dispatcher is made on first use (idle
      // sessions stay cheap) and never closed here: downloads may still run after the socket closes.
      let dispatcher: Dispatcher | null = null;
      const downloads = () => (dispatcher ??= mediaDispatcher(options.proxy));
      const selfJid = () => {
        const id = sock.user?.id ?? auth.creds.me?.id;
        return id ? id.replace(/:\d+@/, '@') : null;
      };
      sock.ev.on('call', (calls) => {
        for (const call of calls) {
          emit({ type: 'call', callId: call.id, from: call.from, status: call.status, isVideo: call.isVideo === true, isGroup: call.isGroup === true, timestamp: now() });
        }
      });
      sock.ev.on('messages.upsert', ({ messages }) => {
        // Both `notify` and `append` (the offline backlog after a reconnect) are live traffic;
        // history sync arrives through `messaging-history.set`, which is not emitted.
        for (const message of messages) {
          const key = message.key;
          if (!key?.remoteJid || !key.id) continue;
          // Sent through `send`: the sender stores and publishes it with its API fields (source…).
          if (key.fromMe && ownSends.delete(key.id)) continue;
          const text = message.message?.conversation ?? message.message?.extendedTextMessage?.text ?? null;
          const media = mediaSourceOf(message, { mediaOrigin: factory.mediaOrigin, dispatcher: downloads });
          const exchange = toMessageExchange(message, selfJid());
          const pollKey = pollKeyOf(message);
          const event: WaMessageEvent = {
            type: 'message',
            key: { remoteJid: key.remoteJid, id: key.id, participant: key.participant ?? undefined, fromMe: key.fromMe === true },
            isGroup: key.remoteJid.endsWith('@g.us'),
            isStatus: key.remoteJid === 'status@broadcast',
            isHistory: false,
            text,
            pushName: message.pushName ?? null,
            exchange,
            ...(message.message ? { raw: encodedMessage(message.message) } : {}),
            ...(media ? { media } : {}),
            // A poll vote is read with the poll it answers (poll-votes.ts); one that cannot be stays `unknown`.
            ...(exchange && pollKey?.id
              ? {
                  complete: async () => {
                    const poll = await storedOrRecent(pollKey.id as string).catch((error: unknown) => {
                      factory.logger.warn('poll for a vote not read from the store', { instanceId: options.instanceId, error: String(error) });
                      return undefined;
                    });
                    const vote = poll ? decryptedPollVote(message, poll, selfJid() ?? '') : null;
                    if (!vote) return;
                    exchange.type = 'poll_vote';
                    exchange.content = { pollMessageId: vote.pollMessageId, selectedOptions: vote.selectedOptions };
                  },
                }
              : {}),
          };
          emit(event);
          // A receipt merged into the upsert (it arrived before Baileys emitted the message).
          const merged = key.fromMe ? statusName(message.status) : null;
          if (merged && merged !== 'server_error') {
            emit({ type: 'status', messageId: key.id, chat: key.remoteJid, status: merged, timestamp: now(), messageSender: null, isGroup: key.remoteJid.endsWith('@g.us') });
          }
        }
      });
      // API sends (`send`): ids whose own-event echo is skipped, and waiters for WhatsApp's server ack.
      const ownSends = new Set<string>();
      /**
       * What was just sent, for a minute: the sender stores it (with its WhatsApp form) only after
       * the ack, and a retry receipt or a vote on a poll can come sooner than that write.
       */
      const recentSends = new Map<string, proto.IMessage>();
      const storedOrRecent = async (id: string): Promise<proto.IMessage | undefined> =>
        recentSends.get(id) ?? (options.storedMessage ? decodedMessage(await options.storedMessage(id)) : undefined);
      const ackWaiters = new Map<string, (error: string | null) => void>();
      sock.ws.on('CB:ack,class:message', (node: { attrs: Record<string, string> }) => {
        ackWaiters.get(node.attrs.id ?? '')?.(node.attrs.error ?? null);
      });
      const ackTimeoutMs = 15_000;
      // group.flow (spec §3.2): membership, join requests and metadata changes.
      const participantAction: Record<string, string> = { add: 'joined', remove: 'left', promote: 'promoted', demote: 'demoted' };
      sock.ev.on('group-participants.update', (update) => {
        const action = participantAction[update.action];
        if (!action) return;
        const participants = update.participants.map((participant) => jidNormalizedUser(typeof participant === 'string' ? participant : participant.id));
        emit({ type: 'notice', event: 'group.flow', data: { groupJid: update.id, action, participants, author: update.author ? jidNormalizedUser(update.author) : null, changes: null } });
      });
      sock.ev.on('group.join-request', (request) => {
        if (request.action !== 'created') return;
        emit({ type: 'notice', event: 'group.flow', data: { groupJid: request.id, action: 'requested', participants: [jidNormalizedUser(request.participantPn ?? request.participant)], author: null, changes: null } });
      });
      sock.ev.on('groups.update', (updates) => {
        for (const update of updates) {
          if (!update.id) continue;
          const changes: Record<string, unknown> = {};
          if (update.subject !== undefined) changes.name = update.subject;
          if (update.desc !== undefined) changes.description = update.desc;
          if (update.announce !== undefined) changes.membersCanSendMessages = !update.announce;
          if (update.restrict !== undefined) changes.membersCanEditInfo = !update.restrict;
          if (update.memberAddMode !== undefined) changes.membersCanAddOthers = update.memberAddMode;
          if (update.joinApprovalMode !== undefined) changes.requireAdminApproval = update.joinApprovalMode;
          if (update.ephemeralDuration !== undefined) changes.ephemeralSeconds = update.ephemeralDuration ?? 0;
          if (Object.keys(changes).length === 0) continue;
          emit({ type: 'notice', event: 'group.flow', data: { groupJid: update.id, action: 'updated', participants: [], author: update.author ? jidNormalizedUser(update.author) : null, changes } });
        }
      });
      // label.update: Baileys reports creation and edits alike; a label first seen by this socket counts as created.
      const knownLabels = new Set<string>();
      sock.ev.on('labels.edit', (label) => {
        const action = label.deleted ? 'deleted' : knownLabels.has(label.id) ? 'updated' : 'created';
        if (label.deleted) knownLabels.delete(label.id);
        else knownLabels.add(label.id);
        emit({ type: 'notice', event: 'label.update', data: { labelId: label.id, action, ...(label.deleted ? {} : { name: label.name, color: label.color }) } });
      });
      sock.ev.on('labels.association', ({ association, type }) => {
        emit({
          type: 'notice',
          event: 'label.update',
          data: {
            labelId: association.labelId,
            action: type === 'add' ? 'assigned' : 'unassigned',
            chatJid: jidNormalizedUser(association.chatId),
            ...('messageId' in association ? { messageId: association.messageId } : {}),
          },
        });
      });
      sock.ev.on('messages.update', (updates) => {
        for (const { key, update } of updates) {
          const status = statusName(update.status);
          if (!status || !key.remoteJid || !key.id) continue;
          const isGroup = key.remoteJid.endsWith('@g.us');
          emit({ type: 'status', messageId: key.id, chat: key.remoteJid, status, timestamp: now(), messageSender: isGroup ? (key.participant ?? null) : null, isGroup });
        }
      });

      return {
        requestPairingCode: (phoneNumber) => sock.requestPairingCode(phoneNumber),
        sendPresence: (available) => sock.sendPresenceUpdate(available ? 'available' : 'unavailable'),
        rejectCall: (callId, from) => sock.rejectCall(callId, from),
        sendText: async (toJid, text) => (await sock.sendMessage(toJid, { text }))?.key.id ?? '',
        markRead: (keys) => sock.readMessages(keys),
        send: async (toJid, content, options) => {
          const id = options.messageId;
          let timer: NodeJS.Timeout | undefined;
          const acked = new Promise<string | null>((resolve) => {
            ackWaiters.set(id, resolve);
            // No ack in time: the stanza went out; the receipts (or their absence) tell the rest.
            timer = setTimeout(() => resolve(null), ackTimeoutMs);
          });
          ownSends.add(id);
          try {
            // Interactive kinds are relayed as built (relay-content.ts); the rest goes through sendMessage.
            const sent = isRelayContent(content)
              ? await relaySend(sock, toJid, content, { messageId: id, timestamp: options.timestamp, quoted: (options.quoted as unknown as WAMessage | null) ?? null })
              : await sock.sendMessage(toJid, content as unknown as AnyMessageContent, {
                  messageId: id,
                  timestamp: options.timestamp,
                  ...(options.quoted ? { quoted: options.quoted as unknown as WAMessage } : {}),
                  ...(options.statusJidList ? { statusJidList: options.statusJidList } : {}),
                  ...(options.backgroundColor ? { backgroundColor: options.backgroundColor } : {}),
                  ...(options.font !== undefined ? { font: options.font } : {}),
                });
            if (sent?.message) recentSends.set(id, sent.message);
            const error = await acked;
            if (error !== null) throw Object.assign(new Error(`WhatsApp refused the message (error ${error})`), { code: error });
            // The upload's URL (spec §2.3.1 `mediaUrl`): on the media part of the message as sent.
            const message = sent?.message;
            const media = message?.imageMessage ?? message?.videoMessage ?? message?.audioMessage ?? message?.documentMessage ?? message?.stickerMessage;
            return { mediaUrl: media?.url ?? null, ...(message ? { raw: encodedMessage(message) } : {}) };
          } catch (error) {
            ownSends.delete(id);
            const status = (error as { output?: { statusCode?: number } }).output?.statusCode;
            throw status !== undefined && (error as { code?: unknown }).code === undefined ? Object.assign(error as Error, { code: status }) : error;
          } finally {
            clearTimeout(timer);
            ackWaiters.delete(id);
            // The echo comes on the next tick after the send; never keep an id (or what was sent) longer than a minute.
            setTimeout(() => (ownSends.delete(id), recentSends.delete(id)), 60_000).unref();
          }
        },
        onWhatsApp: async (jids) => (await sock.onWhatsApp(...jids)) ?? [],
        sendChatPresence: (toJid, state) => sock.sendPresenceUpdate(state, toJid),
        groupMetadata: (groupJid) => groupInfoOf(sock, groupJid, groups),
        newsletterRole: (newsletterJid) => newsletterRoleOf(sock, newsletterJid),
        logout: async () => {
          // Unlinking asks WhatsApp to remove the device; the socket closes whatever the answer,
          // and a missing answer must not hold the caller (logout, delete) for a query timeout.
          let timer: NodeJS.Timeout | undefined;
          try {
            await Promise.race([
              sock.logout(),
              new Promise<void>((resolve) => {
                timer = setTimeout(resolve, 5_000);
              }),
            ]);
          } finally {
            clearTimeout(timer);
            closed = true;
            clearTimeout(watchdog);
            void sock.end(undefined);
          }
        },
        stop: () => {
          clearTimeout(watchdog);
          void sock.end(undefined);
        },
      };
    },
  };
};
