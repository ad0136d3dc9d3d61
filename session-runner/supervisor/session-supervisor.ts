import type { Fence } from '../../shared/domain/fleet/fleet.ts';
import type { SessionCommand } from '../../shared/domain/fleet/commands.ts';
import type { InstanceRecord, SessionState, Settings } from '../../shared/domain/instance/instance.ts';
import { sealedFields } from '../../shared/domain/instance/instance.ts';
import type { InstanceCipher, SecretVault } from '../../shared/domain/ports/keyring.port.ts';
import type { InstanceRepository } from '../../shared/domain/ports/repositories.port.ts';
import type { Clock, Logger } from '../../shared/domain/ports/runtime.port.ts';
import { rfc3339 } from '../../shared/domain/ports/runtime.port.ts';
import type { InstanceRef, SessionRepository, StateChange } from '../../shared/domain/ports/session-repository.port.ts';
import type { WaConnection, WaConnectionFactory, WaConnectionOptions, WaEvent } from '../../shared/domain/ports/wa-connection.port.ts';
import type { EventPublisher } from '../../shared/domain/events/event.ts';
import type { EventName } from '../../shared/domain/instance/instance.ts';
import { statusOfReceipt, storedMessageOf } from '../../shared/domain/messages/message.ts';
import type { MessageStore } from '../../shared/domain/ports/message-store.port.ts';

/** A loaded auth state (see session-runner/baileys/auth-state.dynamodb.ts). */
export interface AuthStateHandle {
  state: unknown;
  saveCreds(): Promise<void>;
  wipe(): Promise<void>;
  isLinked(): boolean;
  /** Resolves once key writes made so far are settled (written behind, see auth-state.dynamodb.ts). */
  flushed?(): Promise<void>;
}

export type AuthStateLoader = (input: { instanceId: string; cipher: InstanceCipher; fence: () => Fence | null }) => Promise<AuthStateHandle>;

export interface Timers {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface SupervisorDeps {
  factory: WaConnectionFactory;
  instances: InstanceRepository;
  sessions: SessionRepository;
  vault: SecretVault;
  loadAuthState: AuthStateLoader;
  fenceOf: (shard: number) => Fence | null;
  shardOf: (instanceId: string) => number;
  clock: Clock;
  timers: Timers;
  random: () => number;
  logger: Logger;
  /** A linking attempt without a scan ends after this (spec §0.14: about 2 minutes). */
  linkTimeoutMs?: number;
  /** Pause between two sessions restored on a newly acquired shard (login costs CPU). */
  restoreStaggerMs?: number;
  /** Where events go (the events queue); absent in unit tests that do not look at events. */
  events?: EventPublisher;
  newEventId?: () => string;
  /** Message events stored and published at once per instance (default 32). */
  emitConcurrency?: number;
  /** The message store (spec §3.3): exchanged messages and their receipts; absent in unit tests that do not look at it. */
  messages?: MessageStore;
  /** Stores a message's media and names it in `exchange.media.stored`, before the message is stored and published; never throws. */
  media?: (ref: InstanceRef, event: Extract<WaEvent, { type: 'message' }>) => Promise<void>;
  /** Removes the media kept for a deleted instance in the platform bucket; never throws. */
  forgetMedia?: (ref: InstanceRef) => Promise<void>;
  /** Called for close codes an operator must hear about (405 client rejected, 440 replaced, 403). */
  alarm?: (name: 'client_version_rejected' | 'session_replaced' | 'forbidden', ref: InstanceRef) => void;
  /** API sends (session-runner/messaging/sender.ts): handed over once journaled, run in the sender's own per-instance lane. */
  sender?: { accept(command: Extract<SessionCommand, { type: 'send' }>, connection: () => WaConnection | null, connecting?: () => boolean): Promise<void> | void };
}

interface Linking {
  attemptId: string;
  phoneNumber: string | null;
  historyDays: number | null;
  codeRequested: boolean;
}

interface Session {
  ref: InstanceRef;
  shard: number;
  generation: number;
  conn: WaConnection | null;
  auth: AuthStateHandle | null;
  settings: Settings;
  linking: Linking | null;
  connected: boolean;
  backoffMs: number;
  retryTimer: unknown;
  linkTimer: unknown;
}

const initialBackoffMs = 1_000;

/** Internal reasons → the `instance.state` reason vocabulary of spec §3.2 (absent = no reason). */
const contractReasons: Record<string, string> = {
  api_connect: 'api_connect',
  restart_required: 'api_connect',
  api_reconnect: 'api_reconnect',
  api_logout: 'api_logout',
  reconnect: 'auto_reconnect',
  qr_timeout: 'qr_timeout',
  pairing_failed: 'connection_lost',
  connection_failed: 'connection_lost',
  connection_lost: 'connection_lost',
  logged_out_remote: 'phone_logout',
  replaced: 'connection_replaced',
  forbidden: 'temporarily_banned',
  client_version_rejected: 'session_invalid',
  multidevice_mismatch: 'session_invalid',
  session_unusable: 'session_invalid',
  session_rejected: 'session_invalid',
  session_moved: 'session_moved',
};
const maxBackoffMs = 60_000;
/** Tries per event before a publish failure is given up (and logged). */
const publishAttempts = 4;

/**
 * Owns every WhatsApp socket of one runner: opens them for commands and restores, and applies
 * the reconnect policy per close code (ARCHITECTURE §6):
 * 401 logged out → wipe, no retry · 403 → temporarily banned, no retry, alarm · 405 → client
 * rejected, no retry storm, alarm · 411 → needs relink · 440 replaced → never reconnect (it means
 * two owners: a lease bug), alarm · 515 → reconnect at once · anything else (408, 428, 500, 503…)
 * → exponential backoff 1 s → 60 s with jitter while the saved session is valid.
 * Work for one instance is serialised, so commands and restores never race on a socket.
 */
export const createSessionSupervisor = (deps: SupervisorDeps) => {
  const sessions = new Map<string, Session>();
  const queues = new Map<string, Promise<void>>();
  const linkTimeoutMs = deps.linkTimeoutMs ?? 120_000;
  const staggerMs = deps.restoreStaggerMs ?? 50;

  /** Runs `work` after every earlier piece of work for the same instance. */
  const serial = (instanceId: string, work: () => Promise<void>): Promise<void> => {
    const previous = queues.get(instanceId) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.catch(() => undefined);
    queues.set(instanceId, settled);
    void settled.then(() => {
      if (queues.get(instanceId) === settled) queues.delete(instanceId);
    });
    return next;
  };

  /** Events are at least once from here on: a publish that fails is logged, never swallowed silently. */
  const publish = async (session: Pick<Session, 'ref'>, event: EventName, data: Record<string, unknown>) => {
    if (!deps.events || !deps.newEventId) return;
    const record = {
      id: deps.newEventId(),
      event,
      instanceId: session.ref.instanceId,
      accountId: session.ref.accountId,
      instanceName: session.ref.instanceName,
      timestamp: deps.clock.now().toISOString(),
      data,
    };
    // A queue that refuses for a moment (throttling, a dropped connection) does not cost the event:
    // the same record (same id) is published again, a few times, before it is given up and logged.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await deps.events.publish(record);
        return;
      } catch (error) {
        if (attempt >= publishAttempts) {
          deps.logger.error('event not published', { instanceId: session.ref.instanceId, event, eventId: record.id, error: String(error) });
          return;
        }
        await new Promise<void>((resolve) => deps.timers.setTimeout(resolve, 200 * attempt));
      }
    }
  };

  /** Stored before it is published, so a client reacting to the event finds it; a failure is logged. */
  const storeMessage = async (session: Pick<Session, 'ref'>, exchange: Record<string, unknown>, isHistory: boolean, raw?: Uint8Array) => {
    if (!deps.messages) return;
    const message = storedMessageOf(session.ref.instanceId, exchange, { isHistory, now: rfc3339(deps.clock.now()) });
    if (!message) return;
    await deps.messages.save(raw ? { ...message, raw } : message).catch((error: unknown) => deps.logger.error('message not stored', { instanceId: session.ref.instanceId, error: String(error) }));
  };

  const storeReceipt = async (session: Pick<Session, 'ref'>, messageId: string, receipt: string, at: string) => {
    const status = statusOfReceipt(receipt);
    if (!deps.messages || !status) return;
    await deps.messages
      .updateStatus(session.ref.instanceId, messageId, status, at)
      .catch((error: unknown) => deps.logger.error('message status not stored', { instanceId: session.ref.instanceId, error: String(error) }));
  };

  /**
   * Message traffic (store + publish, two round trips) runs beside the session's serial work,
   * up to `emitConcurrency` at a time per instance: waiting for each message in turn capped an
   * instance at about one message per round trip. Webhook order is not guaranteed anyway
   * (spec §3.4); receivers order on `timestamp`.
   */
  const emitting = new Map<string, { running: number; waiting: (() => Promise<void>)[]; idle?: (() => void)[] }>();
  const emitConcurrency = deps.emitConcurrency ?? 32;
  const emitLater = (session: Pick<Session, 'ref'>, task: () => Promise<void>) => {
    const id = session.ref.instanceId;
    const lane = emitting.get(id) ?? { running: 0, waiting: [] };
    emitting.set(id, lane);
    lane.waiting.push(task);
    const pump = () => {
      while (lane.running < emitConcurrency && lane.waiting.length > 0) {
        const next = lane.waiting.shift() as () => Promise<void>;
        lane.running += 1;
        void next()
          .catch((error: unknown) => deps.logger.error('event emission failed', { instanceId: id, error: String(error) }))
          .finally(() => {
            lane.running -= 1;
            if (lane.running === 0 && lane.waiting.length === 0) {
              emitting.delete(id);
              for (const resolve of lane.idle ?? []) resolve();
            } else pump();
          });
      }
    };
    pump();
  };

  /**
   * Resolves once the instance's message traffic accepted so far is stored and published (or after
   * `timeoutMs`): a socket closed for a release has acknowledged those messages to WhatsApp already,
   * so they must not be dropped with the process.
   */
  const emitted = (instanceId: string, timeoutMs = 15_000): Promise<void> => {
    const lane = emitting.get(instanceId);
    if (!lane) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = deps.timers.setTimeout(resolve, timeoutMs);
      (lane.idle ??= []).push(() => {
        deps.timers.clearTimeout(timer);
        resolve();
      });
    });
  };

  const record = async (
    session: Pick<Session, 'ref'>,
    state: SessionState,
    reason: string,
    extra: Omit<StateChange, 'state' | 'reason'> & { qrCode?: string; pairingCode?: string } = {},
  ) => {
    const { qrCode, pairingCode, ...change } = extra;
    let previous: SessionState | null | undefined;
    try {
      previous = await deps.sessions.recordState(session.ref, { state, reason, ...change });
    } catch (error) {
      deps.logger.error('state change not recorded', { instanceId: session.ref.instanceId, state, error: String(error) });
      return;
    }
    if (previous === undefined) return;
    const contractReason = contractReasons[reason];
    await publish(session, 'instance.state', {
      state,
      previousState: previous,
      ...(contractReason ? { reason: contractReason } : {}),
      ...(change.numberJid ? { numberJid: change.numberJid } : {}),
      ...(qrCode ? { qrCode } : {}),
      ...(pairingCode ? { pairingCode } : {}),
    });
  };

  const clearTimers = (session: Session) => {
    if (session.retryTimer) deps.timers.clearTimeout(session.retryTimer);
    if (session.linkTimer) deps.timers.clearTimeout(session.linkTimer);
    session.retryTimer = undefined;
    session.linkTimer = undefined;
  };

  /** Closes the socket and forgets it locally; the saved session stays. */
  const closeSocket = (session: Session) => {
    clearTimers(session);
    session.generation += 1;
    const conn = session.conn;
    session.conn = null;
    session.connected = false;
    conn?.stop();
  };

  const proxyOf = (instance: InstanceRecord, cipher: InstanceCipher): WaConnectionOptions['proxy'] =>
    instance.proxy
      ? {
          protocol: instance.proxy.protocol,
          host: instance.proxy.host,
          port: instance.proxy.port,
          username: instance.proxy.username,
          password: instance.proxy.passwordSealed ? cipher.open(sealedFields.proxyPassword, instance.proxy.passwordSealed) : null,
        }
      : null;

  const failLinking = async (session: Session, error: string) => {
    if (!session.linking) return;
    await deps.sessions.setLinking(session.ref, {
      attemptId: session.linking.attemptId,
      qr: null,
      pairingCode: null,
      error,
      updatedAt: rfc3339(deps.clock.now()),
    });
  };

  /** Opens (or reopens) the socket of a session. */
  const open = async (session: Session, reason: string): Promise<void> => {
    closeSocket(session);
    const aggregate = await deps.instances.get(session.ref.accountId, session.ref.instanceName);
    if (!aggregate || aggregate.instance.id !== session.ref.instanceId) {
      sessions.delete(session.ref.instanceId);
      await deps.sessions.forget(session.ref.instanceId);
      return;
    }
    const { instance } = aggregate;
    session.settings = instance.settings;
    const cipher = await deps.vault.instanceCipher(instance.id, instance.wrappedKey);
    // After a scan (515) the in-memory state is the newest: reloading could read creds whose
    // write is still in flight, show a new QR and link the number twice.
    let auth =
      reason === 'restart_required' && session.auth
        ? session.auth
        : await deps.loadAuthState({ instanceId: instance.id, cipher, fence: () => deps.fenceOf(session.shard) });
    if (session.linking && reason === 'api_connect') {
      // /connect starts a fresh link (spec #3): it discards a saved session that is not connected,
      // and provisional creds an interrupted pairing left behind (runner stopped or moved mid-way),
      // whose `creds.me` would make Baileys log in instead of showing a QR (§6).
      await auth.wipe();
      auth = await deps.loadAuthState({ instanceId: instance.id, cipher, fence: () => deps.fenceOf(session.shard) });
    }
    if (!session.linking && !auth.isLinked()) {
      await auth.wipe();
      await deps.sessions.forget(instance.id);
      await record(session, 'needs_relink', 'session_unusable', { hasSession: false });
      sessions.delete(instance.id);
      return;
    }
    session.auth = auth;
    const generation = session.generation;
    await record(session, 'connecting', reason);
    let handling = 0;
    const rawMessage = deps.messages?.rawMessage?.bind(deps.messages);
    session.conn = deps.factory.open({
      instanceId: instance.id,
      auth: auth.state,
      saveCreds: () => auth.saveCreds(),
      settings: instance.settings,
      proxy: proxyOf(instance, cipher),
      historyDays: session.linking?.historyDays ?? null,
      ...(rawMessage ? { storedMessage: (messageId: string) => rawMessage(instance.id, messageId) } : {}),
      onEvent: (event) => {
        if (session.generation !== generation) return;
        handling += 1;
        void serial(session.ref.instanceId, () => onEvent(session, generation, event))
          .catch((error: unknown) => deps.logger.error('session event failed', { instanceId: session.ref.instanceId, event: event.type, error: String(error) }))
          .finally(() => (handling -= 1));
      },
      // Events waiting for the instance's serial work, plus message traffic being stored and published.
      backlog: () => {
        const lane = emitting.get(session.ref.instanceId);
        return handling + (lane ? lane.running + lane.waiting.length : 0);
      },
    });
    if (session.linking && !session.linkTimer) {
      session.linkTimer = deps.timers.setTimeout(() => {
        void serial(session.ref.instanceId, async () => {
          if (session.generation !== generation || session.connected) return;
          await endLinking(session, 'qr_timeout');
        });
      }, linkTimeoutMs);
    }
  };

  /** A linking attempt that did not complete leaves nothing behind (provisional creds included). */
  const endLinking = async (session: Session, reason: string) => {
    closeSocket(session);
    const linked = session.auth?.isLinked() ?? false;
    if (!linked) await session.auth?.wipe();
    session.linking = null;
    sessions.delete(session.ref.instanceId);
    await record(session, 'disconnected', reason, linked ? {} : { hasSession: false });
  };

  const scheduleRetry = async (session: Session, reason: string) => {
    const delay = Math.min(session.backoffMs, maxBackoffMs) * (0.8 + deps.random() * 0.4);
    session.backoffMs = Math.min(session.backoffMs * 2, maxBackoffMs);
    await record(session, 'disconnected', reason);
    const generation = session.generation;
    session.retryTimer = deps.timers.setTimeout(() => {
      void serial(session.ref.instanceId, async () => {
        if (session.generation !== generation || !sessions.has(session.ref.instanceId)) return;
        await open(session, 'reconnect');
      });
    }, delay);
  };

  const onEvent = async (session: Session, generation: number, event: WaEvent): Promise<void> => {
    if (session.generation !== generation) return;
    switch (event.type) {
      case 'connecting':
        return;
      case 'qr': {
        if (!session.linking) {
          // A saved session that is asked to scan again is no longer valid.
          closeSocket(session);
          await session.auth?.wipe();
          await deps.sessions.forget(session.ref.instanceId);
          sessions.delete(session.ref.instanceId);
          return record(session, 'needs_relink', 'session_rejected', { hasSession: false });
        }
        const now = rfc3339(deps.clock.now());
        if (session.linking.phoneNumber) {
          if (session.linking.codeRequested) return;
          session.linking.codeRequested = true;
          try {
            const code = await (session.conn as WaConnection).requestPairingCode(session.linking.phoneNumber);
            await deps.sessions.setLinking(session.ref, { attemptId: session.linking.attemptId, qr: null, pairingCode: code, error: null, updatedAt: now });
            return record(session, 'pairing_code_ready', 'api_connect', { pairingCode: code });
          } catch (error) {
            const status = (error as { output?: { statusCode?: number } }).output?.statusCode;
            await failLinking(session, status === 429 ? 'rate_limited' : `Failed to connect: ${(error as Error).message}`);
            return endLinking(session, 'pairing_failed');
          }
        }
        await deps.sessions.setLinking(session.ref, { attemptId: session.linking.attemptId, qr: event.qr, pairingCode: null, error: null, updatedAt: now });
        return record(session, 'qr_ready', 'api_connect', { qrCode: event.qr });
      }
      case 'open': {
        clearTimers(session);
        session.connected = true;
        session.linking = null;
        session.backoffMs = initialBackoffMs;
        await deps.sessions.keepOpen({ ...session.ref, shard: session.shard });
        await record(session, 'connected', 'connected', { numberJid: event.jid, profile: event.profile, hasSession: true });
        if (!session.settings.keepOnlineStatus) await session.conn?.sendPresence(false).catch(() => undefined);
        return;
      }
      case 'close':
        return onClose(session, event.code, event.message);
      case 'call': {
        const call = { callId: event.callId, from: event.from, isVideo: event.isVideo, isGroup: event.isGroup };
        await publish(session, 'call.update', { ...call, status: event.status, timestamp: event.timestamp });
        if (event.status !== 'offer' || !session.settings.autoRejectCalls || !session.conn) return;
        await session.conn.rejectCall(event.callId, event.from);
        await publish(session, 'call.update', { ...call, status: 'rejected', timestamp: rfc3339(deps.clock.now()) });
        if (session.settings.callRejectMessage !== '') await session.conn.sendText(event.from, session.settings.callRejectMessage);
        return;
      }
      case 'notice':
        emitLater(session, () => publish(session, event.event, event.data));
        return;
      case 'status': {
        if (session.settings.ignoreGroupMessages && event.isGroup) return;
        emitLater(session, async () => {
          await storeReceipt(session, event.messageId, event.status, event.timestamp);
          await publish(session, 'message.status', {
            messageId: event.messageId,
            chat: event.chat,
            status: event.status,
            timestamp: event.timestamp,
            ...(event.isGroup && event.messageSender ? { messageSender: event.messageSender } : {}),
          });
        });
        return;
      }
      case 'message': {
        const { settings } = session;
        const filtered = (settings.ignoreGroupMessages && event.isGroup) || (settings.ignoreStatus && event.isStatus);
        const exchange = event.exchange;
        if (exchange && !filtered) {
          emitLater(session, async () => {
            await event.complete?.();
            await deps.media?.(session.ref, event);
            await storeMessage(session, exchange, event.isHistory, event.raw);
            if (!event.isHistory) await publish(session, 'message.exchange', { id: event.key.id, message: exchange });
          });
        }
        if (!settings.autoReadMessages || event.key.fromMe || event.isHistory || !session.conn) return;
        if ((settings.ignoreGroupMessages && event.isGroup) || (settings.ignoreStatus && event.isStatus)) return;
        await session.conn.markRead([event.key]);
        return;
      }
    }
  };

  const onClose = async (session: Session, code: number, message: string): Promise<void> => {
    session.conn = null;
    session.connected = false;
    const linked = session.auth?.isLinked() ?? false;
    const stopFor = async (state: SessionState, reason: string, wipe: boolean) => {
      clearTimers(session);
      if (wipe) await session.auth?.wipe();
      // A stopped session is not restored by a later shard move or restart either.
      await deps.sessions.forget(session.ref.instanceId);
      sessions.delete(session.ref.instanceId);
      await record(session, state, reason, wipe ? { hasSession: false } : {});
    };
    if (code === 515) {
      await session.auth?.saveCreds().catch((error: unknown) => deps.logger.warn('creds flush before restart failed', { instanceId: session.ref.instanceId, error: String(error) }));
      return open(session, 'restart_required');
    }
    if (session.linking && !linked) {
      if (code !== 408) await failLinking(session, `Failed to connect: ${message}`);
      return endLinking(session, code === 408 ? 'qr_timeout' : 'connection_failed');
    }
    switch (code) {
      case 401:
        return stopFor('logged_out', 'logged_out_remote', true);
      case 403:
        deps.alarm?.('forbidden', session.ref);
        return stopFor('temp_banned', 'forbidden', false);
      case 405:
        deps.alarm?.('client_version_rejected', session.ref);
        deps.logger.error('WhatsApp rejected the client version; not retrying', { instanceId: session.ref.instanceId });
        return stopFor('disconnected', 'client_version_rejected', false);
      case 411:
        return stopFor('needs_relink', 'multidevice_mismatch', true);
      case 440:
        deps.alarm?.('session_replaced', session.ref);
        deps.logger.error('session replaced by another connection (two owners?); not reconnecting', { instanceId: session.ref.instanceId });
        clearTimers(session);
        sessions.delete(session.ref.instanceId);
        await deps.sessions.forget(session.ref.instanceId);
        return record(session, 'disconnected', 'replaced');
      default:
        if (session.linking) {
          // Paired (the phone scanned) but dropped before opening: the session is saved, keep it.
          session.linking = null;
          await deps.sessions.keepOpen({ ...session.ref, shard: session.shard });
          await record(session, 'disconnected', 'connection_lost', { hasSession: true });
        }
        return scheduleRetry(session, 'connection_lost');
    }
  };

  const sessionFor = (ref: InstanceRef): Session => {
    const existing = sessions.get(ref.instanceId);
    if (existing) return existing;
    const created: Session = {
      ref,
      shard: deps.shardOf(ref.instanceId),
      generation: 0,
      conn: null,
      auth: null,
      settings: {} as Settings,
      linking: null,
      connected: false,
      backoffMs: initialBackoffMs,
      retryTimer: undefined,
      linkTimer: undefined,
    };
    sessions.set(ref.instanceId, created);
    return created;
  };

  /** Wipes the saved session; true when it was linked (there was something to log out of). */
  const wipeAuthOf = async (ref: InstanceRef, session: Session | undefined): Promise<boolean> => {
    if (session?.auth) {
      const linked = session.auth.isLinked();
      await session.auth.wipe();
      return linked;
    }
    // Not open here: load it to wipe (the instance may already be gone, then its key is too).
    const aggregate = await deps.instances.get(ref.accountId, ref.instanceName);
    if (!aggregate || aggregate.instance.id !== ref.instanceId) return false;
    const cipher = await deps.vault.instanceCipher(ref.instanceId, aggregate.instance.wrappedKey);
    const auth = await deps.loadAuthState({ instanceId: ref.instanceId, cipher, fence: () => deps.fenceOf(deps.shardOf(ref.instanceId)) });
    const linked = auth.isLinked();
    await auth.wipe();
    return linked;
  };

  const handleNow = async (command: SessionCommand): Promise<void> => {
    const ref: InstanceRef = { instanceId: command.instanceId, accountId: command.accountId, instanceName: command.instanceName };
    switch (command.type) {
      case 'connect': {
        const session = sessionFor(ref);
        closeSocket(session);
        session.linking = { attemptId: command.attemptId, phoneNumber: command.phoneNumber, historyDays: command.historyDays, codeRequested: false };
        try {
          return await open(session, 'api_connect');
        } catch (error) {
          await failLinking(session, `Failed to connect: ${(error as Error).message}`);
          throw error;
        }
      }
      case 'reconnect': {
        const session = sessionFor(ref);
        session.linking = null;
        session.backoffMs = initialBackoffMs;
        return open(session, 'api_reconnect');
      }
      case 'logout':
      case 'delete': {
        const session = sessions.get(ref.instanceId);
        if (session) {
          clearTimers(session);
          session.generation += 1;
          if (session.conn && session.connected) await session.conn.logout().catch((error: unknown) => deps.logger.warn('logout failed', { instanceId: ref.instanceId, error: String(error) }));
          else session.conn?.stop();
          session.conn = null;
          sessions.delete(ref.instanceId);
        }
        const hadSavedSession = await wipeAuthOf(ref, session);
        await deps.sessions.forget(ref.instanceId);
        if (command.type === 'delete') await deps.forgetMedia?.(ref);
        // Spec #5: logged_out is emitted when the state changes, also for a disconnected instance
        // whose saved session this runner holds no socket for (stopped after 405, 440, a move…).
        if (command.type === 'logout' && (session || hadSavedSession)) await record({ ref }, 'logged_out', 'api_logout', { hasSession: false });
        return;
      }
      case 'settings': {
        const session = sessions.get(ref.instanceId);
        if (!session) return;
        const aggregate = await deps.instances.get(ref.accountId, ref.instanceName);
        if (!aggregate) return;
        const before = session.settings.keepOnlineStatus;
        session.settings = aggregate.instance.settings;
        if (session.connected && session.conn && before !== session.settings.keepOnlineStatus) await session.conn.sendPresence(session.settings.keepOnlineStatus);
        return;
      }
      case 'send':
        // Typing delays and pacing must hold neither this instance's serial work nor the shard's queue:
        // this waits only until the send is journaled, so a runner that dies later does not lose it.
        return deps.sender?.accept(
          command,
          () => {
            const session = sessions.get(ref.instanceId);
            return session?.connected ? session.conn : null;
          },
          // A socket is open and not connected yet (restored after a shard move, reconnecting), or
          // the restore of the instance's shard is under way and has not reached it yet.
          () => {
            const session = sessions.get(ref.instanceId);
            if (session?.conn) return !session.connected && !session.linking;
            return restoring.has(deps.shardOf(ref.instanceId));
          },
        );
    }
  };

  const sleep = (ms: number) => new Promise<void>((resolve) => deps.timers.setTimeout(resolve, ms));
  /** Shards whose kept-open sessions are being reopened here (`restore`). */
  const restoring = new Set<number>();

  return {
    handle: (command: SessionCommand): Promise<void> => serial(command.instanceId, () => handleNow(command)),

    /** Reopens every session kept open on a newly acquired shard, one every `restoreStaggerMs`. */
    async restore(shard: number): Promise<void> {
      // Marked before the first await: the shard's queue is consumed already, and a send handled
      // before its session is reopened waits for it (`connecting` above) instead of failing.
      restoring.add(shard);
      try {
        for (const desired of await deps.sessions.desiredOn(shard)) {
          if (deps.fenceOf(shard) === null) return;
          if (sessions.get(desired.instanceId)?.conn) continue;
          const session = sessionFor(desired);
          await serial(desired.instanceId, () => open(session, 'session_moved')).catch((error: unknown) =>
            deps.logger.error('restore failed', { instanceId: desired.instanceId, error: String(error) }),
          );
          if (staggerMs > 0) await sleep(staggerMs);
        }
      } finally {
        restoring.delete(shard);
      }
    },

    /**
     * Closes the sockets of a shard this runner no longer holds; saved sessions stay. Then waits
     * (up to 15 s) for the messages already received on them to be stored and published, unless
     * `drain` is false (a crash).
     */
    async release(shard: number, { drain = true }: { drain?: boolean } = {}): Promise<void> {
      const owned = [...sessions.values()].filter((session) => session.shard === shard);
      await Promise.all(
        owned.map((session) =>
          serial(session.ref.instanceId, async () => {
            closeSocket(session);
            sessions.delete(session.ref.instanceId);
            // A caller waiting on this link must hear now, not at its timeout.
            if (session.linking && !session.connected) await failLinking(session, 'Failed to connect: the session moved to another worker; call connect again');
          }),
        ),
      );
      // Key writes still behind settle too: stored, or refused once the lease is handed back, in
      // which case their messages were never acknowledged and WhatsApp delivers them to the next owner.
      if (drain) await Promise.all(owned.flatMap((session) => [emitted(session.ref.instanceId), session.auth?.flushed?.() ?? Promise.resolve()]));
    },

    async stopAll(): Promise<void> {
      const shards = new Set([...sessions.values()].map((session) => session.shard));
      for (const shard of shards) await this.release(shard, { drain: false });
    },

    /** Instance ids with an open socket (for metrics and tests). */
    open: (): string[] => [...sessions.values()].filter((session) => session.connected).map((session) => session.ref.instanceId),

    /** The connected socket of an instance, if any (sends adopted on a shard takeover ask it when their turn comes). */
    connectionOf: (instanceId: string): WaConnection | null => {
      const session = sessions.get(instanceId);
      return session?.connected ? session.conn : null;
    },
  };
};

export type SessionSupervisor = ReturnType<typeof createSessionSupervisor>;
