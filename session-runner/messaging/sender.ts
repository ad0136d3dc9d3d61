import type { EventPublisher } from '../../shared/domain/events/event.ts';
import type { SessionCommand } from '../../shared/domain/fleet/commands.ts';
import type { Pacer, PacingStateStore, PauseNotice } from '../../shared/domain/messages/pacing.ts';
import { storedMessageOf } from '../../shared/domain/messages/message.ts';
import { vcardOf } from '../../shared/domain/messages/outgoing.ts';
import type { OutboundSend, SendFailure, SendOutcome, SendOutcomeStore } from '../../shared/domain/messages/send.command.ts';
import { parseRecipient, registrationCandidates } from '../../shared/domain/numbers.ts';
import type { MessageStore } from '../../shared/domain/ports/message-store.port.ts';
import { rfc3339, type Clock, type Logger } from '../../shared/domain/ports/runtime.port.ts';
import type { InstanceRef } from '../../shared/domain/ports/session-repository.port.ts';
import type { WaConnection, WaOutgoingContent, WaSendError } from '../../shared/domain/ports/wa-connection.port.ts';
import type { OutboundTargetPolicy } from '../../shared/domain/ports/outbound-target.port.ts';
import { abandonedSendReasons, type SendJournal } from '../../shared/domain/messages/send-journal.ts';
import { createOutboundTargetPolicy } from '../../shared/adapters/net/outbound-target-policy.ts';
import { MediaRejected } from './outgoing-media.ts';
import { prepareOutgoingFile, type OutgoingFile } from './outgoing-file.ts';
import { ChatRefused, prepareSendExtras, type SendExtras } from './send-extras.ts';

/**
 * The runner's side of the send routes (spec §2.3): one lane per instance, so an instance's sends
 * go out in the order they were accepted while other instances (and the session's own work in
 * the supervisor) carry on. `accept` returns at once: a send may wait for pacing and a typing
 * delay of up to 60 s, which must hold neither the shard's command queue nor the instance's events.
 *
 * Per send: connection → recipient check (USync, ninth-digit variants, cached 24 h) → media
 * fetched or decoded to a temporary file (outgoing-media.ts; refusals are `invalid_media`), voice
 * notes converted to OGG/Opus and stickers to a 512×512 WebP (outgoing-file.ts) →
 * outcome `checked` → pacing slot (createPacer) → `composing` for `delay` s, then `paused` → send and
 * wait for WhatsApp's ack → message stored as `sent`, outcome `sent`, outgoing `message.exchange`
 * published. A failure → outcome `failed`, message `error`, `message.status` `server_error`.
 * WhatsApp's throttling (429 / `rate-overlimit`, reach-out refusals) pauses the instance in the
 * pacer; the pause is published as `instance.state` with reason `sending_paused` (and
 * `sending_resumed` after the next successful send), the state itself staying `connected`.
 *
 * A runner that dies with sends in its lanes: with a `journal` (shared/domain/messages/send-journal.ts)
 * every accepted send is journaled before its command leaves the queue, and the runner that next
 * acquires the shard reports it failed (`recover`): at most once, never sent twice. Without a
 * journal (unit tests) such sends stay `pending`.
 */

export type SendCommand = Extract<SessionCommand, { type: 'send' }>;

export interface SenderDeps {
  messages: MessageStore;
  outcomes: SendOutcomeStore;
  events?: EventPublisher;
  newEventId: () => string;
  pacer: Pacer;
  clock: Clock;
  logger: Logger;
  sleep?: (ms: number) => Promise<void>;
  /** How long a registration answer is reused (spec §2.3.0: 24 h). */
  registrationTtlMs?: number;
  /** Outbound-target rules for media by URL (outgoing-media.ts); default: public targets only. */
  outbound?: OutboundTargetPolicy;
  /** Where media files are spooled while sending (default: the OS temp directory). */
  mediaDirectory?: string;
  /** A pause started by WhatsApp's throttling (also logged and published as `instance.state` `sending_paused`). */
  onPause?: (notice: PauseNotice) => void;
  /** In-flight sends, so another runner can resolve them after this one stopped (send-journal.ts). */
  journal?: { store: SendJournal; runnerId: string; shardOf(instanceId: string): number };
  /** Where the pacing state (first contacts of the day, pauses) outlives this runner (pacing.ts `PacingStateStore`). */
  pacingState?: PacingStateStore;
}

export interface MessageSender {
  /**
   * Queues the send on the instance's lane; `connection()` is asked when its turn comes. Resolves
   * once the send is journaled (the command may then leave the queue); a redelivered command
   * whose send is journaled or has an outcome is dropped.
   */
  accept(command: SendCommand, connection: () => WaConnection | null): Promise<void>;
  /** Resolves the journaled sends of other runners on a shard this runner just acquired. */
  recover(shard: number): Promise<void>;
  /** Tests only (`runner.crash()`): the lanes stop where they are and write nothing more, like a killed process. */
  halt(): void;
  /** Drops the per-instance state of a shard this runner no longer holds (reloaded if it comes back). */
  release(shard: number): void;
  /** Drops the per-instance state (the instance left this runner). */
  forget(instanceId: string): void;
  /** Resolves when every queued send has finished (tests, shutdown). */
  idle(): Promise<void>;
}

class SendFailed extends Error {
  constructor(
    readonly code: SendFailure,
    reason: string,
  ) {
    super(reason);
  }
}

/** Baileys' content for each kind; kinds not listed are refused by the API before they get here. */
export const contentOf = (send: OutboundSend): WaOutgoingContent => {
  const { request } = send;
  switch (request.kind) {
    case 'text': {
      const mentions = (send.exchange.mentions as string[] | undefined) ?? [];
      return { text: request.message, ...(mentions.length > 0 ? { mentions } : {}) };
    }
    case 'location':
      return {
        location: {
          degreesLatitude: request.latitude,
          degreesLongitude: request.longitude,
          ...(request.name === null ? {} : { name: request.name }),
          ...(request.address === null ? {} : { address: request.address }),
        },
      };
    case 'contact': {
      const contacts = request.vcard.map((entry) => ({ displayName: entry.fullName, vcard: vcardOf(entry) }));
      const displayName = request.vcard.length === 1 ? (request.vcard[0]?.fullName ?? '') : `${request.vcard.length} contacts`;
      return { contacts: { displayName, contacts } };
    }
    case 'reaction':
      return {
        react: {
          text: request.reaction,
          key: {
            remoteJid: send.chatJid,
            id: request.messageId,
            fromMe: request.fromMe === true,
            ...(request.participant ? { participant: request.participant.jid } : {}),
          },
        },
      };
    case 'poll':
      return { poll: { name: request.question, values: request.options, selectableCount: request.maxAnswer } };
    default:
      throw new SendFailed('failed', `${request.kind} messages are not supported yet`);
  }
};

/** Baileys' `WAMessage` for the quote context. */
const quotedOf = (send: OutboundSend): Record<string, unknown> | null => {
  const quoted = send.quoted;
  if (!quoted) return null;
  return {
    key: { remoteJid: quoted.chatJid, id: quoted.messageId, fromMe: quoted.fromMe, ...(quoted.participant ? { participant: quoted.participant } : {}) },
    message: { conversation: quoted.text ?? '' },
  };
};

/** WhatsApp's refusals that mean "slow down" vs "no new chats for now" (Baileys' NACK reasons). */
const classify = (error: unknown): { code: SendFailure; pacing: 'rate_limited' | 'reach_out_limited' | null; reason: string } => {
  const code = String((error as WaSendError).code ?? '');
  const reason = error instanceof Error ? error.message : String(error);
  if (code === '429' || /rate-overlimit/i.test(reason)) return { code: 'rate_limited', pacing: 'rate_limited', reason };
  if (code === '463' || code === '479') return { code: 'failed', pacing: 'reach_out_limited', reason };
  return { code: 'failed', pacing: null, reason };
};

export const createMessageSender = (deps: SenderDeps): MessageSender => {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const registrationTtlMs = deps.registrationTtlMs ?? 24 * 60 * 60 * 1000;
  const outbound = deps.outbound ?? createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false });
  const lanes = new Map<string, Promise<void>>();
  /** What finishes a send after WhatsApp's ack (store, outcome, event, journal), off the lane. */
  const settling = new Set<Promise<void>>();
  const settle = (work: () => Promise<void>): void => {
    const done = work().catch((error: unknown) => deps.logger.error('send bookkeeping failed', { error: String(error) }));
    settling.add(done);
    void done.then(() => settling.delete(done));
  };
  /** Per instance: JID asked → the registered JID (`null` = not on WhatsApp), with when it was learnt. */
  const registrations = new Map<string, Map<string, { jid: string | null; at: number }>>();
  /** Per instance: chats that already have messages (first contacts count against the daily cap). */
  const knownChats = new Map<string, Promise<Set<string>>>();
  /** Per instance: the pause scopes announced with `sending_paused` and not yet ended by a successful send. */
  const announcedPauses = new Map<string, Set<PauseNotice['scope']>>();
  /** Per instance: the stored pacing state, loaded once before its first send on this runner. */
  const pacingLoads = new Map<string, Promise<void>>();
  /** Per instance: the pacing state as last written (`undefined` until loaded: never overwrite a state not read). */
  const pacingWritten = new Map<string, string>();
  const pacingWrites = new Map<string, Promise<void>>();

  const loadPacing = (instanceId: string): Promise<void> => {
    const store = deps.pacingState;
    if (!store) return Promise.resolve();
    let load = pacingLoads.get(instanceId);
    if (!load) {
      load = store
        .load(instanceId)
        .then((snapshot) => {
          if (snapshot) deps.pacer.restore(instanceId, snapshot);
          pacingWritten.set(instanceId, JSON.stringify(deps.pacer.snapshot(instanceId)));
        })
        .catch((error: unknown) => {
          // Sends go on with the state in memory; the next send tries the store again.
          pacingLoads.delete(instanceId);
          deps.logger.error('pacing state not loaded', { instanceId, error: String(error) });
        });
      pacingLoads.set(instanceId, load);
    }
    return load;
  };
  /** Writes the pacing state when it changed, in the background, one write at a time per instance. */
  const persistPacing = (instanceId: string): void => {
    const store = deps.pacingState;
    if (!store || halted || !pacingWritten.has(instanceId)) return;
    const snapshot = deps.pacer.snapshot(instanceId);
    const text = JSON.stringify(snapshot);
    if (pacingWritten.get(instanceId) === text) return;
    pacingWritten.set(instanceId, text);
    const write = (pacingWrites.get(instanceId) ?? Promise.resolve())
      .then(() => store.save(instanceId, snapshot))
      .catch((error: unknown) => deps.logger.error('pacing state not stored', { instanceId, error: String(error) }));
    pacingWrites.set(instanceId, write);
    void write.then(() => {
      if (pacingWrites.get(instanceId) === write) pacingWrites.delete(instanceId);
    });
  };

  /**
   * Pacing pauses as `instance.state` events (README "Sending messages"): the state does not change
   * (a throttled instance is still `connected`), the reason says why the event was sent.
   */
  const announcePause = async (ref: InstanceRef, notice: PauseNotice) => {
    const scopes = announcedPauses.get(ref.instanceId) ?? new Set<PauseNotice['scope']>();
    announcedPauses.set(ref.instanceId, scopes.add(notice.scope));
    await publish(ref, 'instance.state', {
      state: 'connected',
      previousState: 'connected',
      reason: 'sending_paused',
      pause: { cause: notice.reason, scope: notice.scope, until: notice.until.toISOString() },
    });
  };
  /** A successful send ends the announced pauses it proves over: every pause, or a first-contacts one for a first contact. */
  const announceResume = async (ref: InstanceRef, firstContact: boolean) => {
    const scopes = announcedPauses.get(ref.instanceId);
    if (!scopes) return;
    const ended = [...scopes].filter((scope) => scope === 'all' || firstContact);
    if (ended.length === 0) return;
    for (const scope of ended) scopes.delete(scope);
    if (scopes.size === 0) announcedPauses.delete(ref.instanceId);
    await publish(ref, 'instance.state', { state: 'connected', previousState: 'connected', reason: 'sending_resumed', pause: { scope: ended.includes('all') ? 'all' : 'first_contacts' } });
  };

  let halted = false;
  const now = () => rfc3339(deps.clock.now());
  const refOf = (command: Pick<SendCommand, 'instanceId' | 'accountId' | 'instanceName'>): InstanceRef => ({ instanceId: command.instanceId, accountId: command.accountId, instanceName: command.instanceName });

  const publish = async (ref: InstanceRef, event: 'message.exchange' | 'message.status' | 'instance.state', data: Record<string, unknown>) => {
    if (!deps.events || halted) return;
    const record = { id: deps.newEventId(), event, ...ref, timestamp: deps.clock.now().toISOString(), data };
    for (let attempt = 1; ; attempt++) {
      try {
        return await deps.events.publish(record);
      } catch (error) {
        if (attempt >= 3) return deps.logger.error('event not published', { instanceId: ref.instanceId, event, eventId: record.id, error: String(error) });
        await sleep(200 * attempt);
      }
    }
  };

  const record = async (instanceId: string, messageId: string, outcome: SendOutcome) =>
    halted ? undefined : deps.outcomes.record(instanceId, messageId, outcome).catch((error: unknown) => deps.logger.error('send outcome not recorded', { instanceId, messageId, error: String(error) }));

  /** The JID to send to: the recipient as given, or its registered ninth-digit variant. */
  const resolveRecipient = async (instanceId: string, conn: WaConnection, chatJid: string): Promise<string> => {
    const recipient = parseRecipient(chatJid);
    const candidates = recipient ? registrationCandidates(recipient) : [];
    if (candidates.length === 0) return chatJid;
    const cache = registrations.get(instanceId) ?? new Map<string, { jid: string | null; at: number }>();
    registrations.set(instanceId, cache);
    const cached = cache.get(chatJid);
    const nowMs = deps.clock.now().getTime();
    let resolved: string | null;
    if (cached && nowMs - cached.at < registrationTtlMs) {
      resolved = cached.jid;
    } else {
      if (!conn.onWhatsApp) throw new SendFailed('failed', 'registration check not supported by this connection');
      const answers = await conn.onWhatsApp(candidates);
      const digitsOf = (jid: string) => jid.split('@')[0]?.split(':')[0] ?? '';
      const registered = new Set(answers.filter((answer) => answer.exists).map((answer) => digitsOf(answer.jid)));
      resolved = candidates.find((candidate) => registered.has(digitsOf(candidate))) ?? null;
      cache.set(chatJid, { jid: resolved, at: nowMs });
    }
    if (resolved === null) throw new SendFailed('not_registered', 'Number not registered on WhatsApp');
    return resolved;
  };

  const isFirstContact = async (instanceId: string, chatJid: string): Promise<boolean> => {
    let known = knownChats.get(instanceId);
    if (!known) {
      known = deps.messages
        .summaries(instanceId)
        .then((messages) => new Set(messages.filter((message) => message.status !== 'pending' && message.status !== 'error').map((message) => message.chatJid)))
        .catch(() => new Set<string>());
      knownChats.set(instanceId, known);
    }
    return !(await known).has(chatJid);
  };

  /** A chat becomes known once a message went out to it: a refused first contact stays a first contact. */
  const rememberChat = async (instanceId: string, chatJid: string): Promise<void> => {
    (await knownChats.get(instanceId))?.add(chatJid);
  };

  /** The journal key of a send of this runner. */
  const journalKey = (command: Pick<SendCommand, 'instanceId'>, messageId: string) =>
    deps.journal ? { shard: deps.journal.shardOf(command.instanceId), instanceId: command.instanceId, messageId, runnerId: deps.journal.runnerId } : null;
  /** Ends this runner's journal entry; `false` when another runner claimed it meanwhile (it reports the outcome). */
  const closeJournal = async (command: Pick<SendCommand, 'instanceId'>, messageId: string): Promise<boolean> => {
    const key = journalKey(command, messageId);
    if (!key || !deps.journal || halted) return true;
    return deps.journal.store.close(key).catch((error: unknown) => {
      deps.logger.error('send journal entry not closed', { instanceId: command.instanceId, messageId, error: String(error) });
      return true;
    });
  };

  /** `reason` (a zapfleet addition to `message.status`) says why a send failed. */
  const fail = async (command: Pick<SendCommand, 'instanceId' | 'accountId' | 'instanceName'> & { send: Pick<OutboundSend, 'messageId'> }, chatJid: string, failure: SendFailed | { code: SendFailure; reason: string }, options: { journaled?: boolean } = {}) => {
    const { send } = command;
    if (halted) return;
    if (options.journaled !== false && !(await closeJournal(command, send.messageId))) return;
    const reason = failure instanceof SendFailed ? failure.message : failure.reason;
    await record(command.instanceId, send.messageId, { state: 'failed', code: failure.code, reason, chatJid, at: now() });
    await deps.messages.updateStatus(command.instanceId, send.messageId, 'error', now()).catch(() => false);
    await publish(refOf(command), 'message.status', { messageId: send.messageId, chat: chatJid, status: 'server_error', timestamp: now(), reason });
  };

  const run = async (command: SendCommand, connection: () => WaConnection | null): Promise<void> => {
    const { send } = command;
    const ref = refOf(command);
    let chatJid = send.chatJid;
    let media: OutgoingFile | null = null;
    /** Group/channel checks, resolved mentions, link preview, interactive and status content (send-extras.ts). */
    let extras: SendExtras | null = null;
    let sentMedia: { mediaUrl: string | null } | void = undefined;
    /** The `checked` write, awaited with the journal's `sending` mark (one round trip less when nothing waits in between). */
    let checked: Promise<unknown> = Promise.resolve();
    try {
      const conn = connection();
      if (!conn?.send) throw new SendFailed('not_connected', 'Instance is not connected to WhatsApp');
      chatJid = await resolveRecipient(command.instanceId, conn, send.chatJid);
      // Before `checked`: a download or decoding error is still seen by the waiting API (a 400).
      extras = await prepareSendExtras(send, conn, chatJid, { instanceId: command.instanceId, outbound, messages: deps.messages, ...(deps.mediaDirectory ? { mediaDirectory: deps.mediaDirectory } : {}) }).catch((error: unknown) => {
        if (error instanceof ChatRefused) throw new SendFailed(error.code, error.message);
        throw error instanceof MediaRejected ? new SendFailed('invalid_media', error.message) : error;
      });
      if (send.request.kind === 'media' || send.request.kind === 'sticker') {
        const mentions = extras.mentions;
        media = await prepareOutgoingFile(send.request, mentions, { outbound: outbound, ...(deps.mediaDirectory ? { directory: deps.mediaDirectory } : {}) }).catch((error: unknown) => {
          throw error instanceof MediaRejected ? new SendFailed('invalid_media', error.message) : error;
        });
      }
      checked = record(command.instanceId, send.messageId, { state: 'checked', chatJid, at: now() });

      // Only a person can be a first contact: groups, channels and status posts never count against the daily cap.
      const firstContact = /@(s\.whatsapp\.net|lid)$/.test(chatJid) ? await isFirstContact(command.instanceId, chatJid) : false;
      await loadPacing(command.instanceId);
      const decision = deps.pacer.reserve(command.instanceId, { to: chatJid, firstContact });
      persistPacing(command.instanceId);
      if (decision.kind !== 'send') throw new SendFailed('rate_limited', `sending paused (${decision.kind}) until ${decision.until.toISOString()}`);
      const wait = decision.at.getTime() - deps.clock.now().getTime();
      if (wait > 0) await sleep(wait);

      const delay = 'delay' in send.request ? send.request.delay : 0;
      if (delay > 0 && conn.sendChatPresence) {
        await conn.sendChatPresence(chatJid, 'composing').catch(() => undefined);
        await sleep(delay * 1000);
        await conn.sendChatPresence(chatJid, 'paused').catch(() => undefined);
      }
      // The connection may have dropped while waiting.
      const live = connection();
      if (!live?.send) throw new SendFailed('not_connected', 'Instance is not connected to WhatsApp');
      if (halted) return;
      // Past this point the message may reach WhatsApp: it is never sent again (send-journal.ts).
      const key = journalKey(command, send.messageId);
      const [marked] = await Promise.all([key && deps.journal ? deps.journal.store.markSending(key) : true, checked]);
      if (!marked) {
        deps.logger.warn('send resolved by another runner; not sending', { instanceId: command.instanceId, messageId: send.messageId });
        return;
      }
      try {
        sentMedia = await live.send(chatJid, media ? media.content : ((await extras?.content()) ?? contentOf(send)), { messageId: send.messageId, timestamp: new Date(send.timestamp), quoted: quotedOf(send), ...extras?.options });
      } catch (error) {
        const { code, pacing, reason } = classify(error);
        const notice = pacing ? deps.pacer.report(command.instanceId, { kind: pacing }) : null;
        persistPacing(command.instanceId);
        if (notice) {
          deps.logger.warn('sending paused by WhatsApp throttling', { instanceId: command.instanceId, reason: notice.reason, scope: notice.scope, until: notice.until.toISOString() });
          deps.onPause?.(notice);
          await announcePause(ref, notice);
        }
        throw new SendFailed(code, reason);
      }
      deps.pacer.report(command.instanceId, { kind: 'sent' });
      persistPacing(command.instanceId);
      await rememberChat(command.instanceId, chatJid);

      const exchange = {
        ...send.exchange,
        chat: { ...(send.exchange.chat as Record<string, unknown>), jid: chatJid, ...(extras?.groupName ? { name: extras.groupName } : {}) },
        ...(media ? { media: media.exchangeMedia } : {}),
        ...(extras && extras.mentions.length > 0 ? { mentions: extras.mentions } : {}),
      };
      const stored = storedMessageOf(command.instanceId, exchange, { isHistory: false, now: now() });
      // After WhatsApp's ack the lane moves on to the instance's next send: this bookkeeping (none of
      // it throws) runs beside it, so consecutive sends are not spaced by the store's round trips.
      settle(async () => {
        if (halted) return;
        if (stored) await deps.messages.save(stored).catch((error: unknown) => deps.logger.error('message not stored', { instanceId: command.instanceId, error: String(error) }));
        await deps.messages.updateStatus(command.instanceId, send.messageId, 'sent', now()).catch(() => false);
        await record(command.instanceId, send.messageId, { state: 'sent', chatJid, at: now(), ...(extras && extras.mentions.length > 0 ? { mentions: extras.mentions } : {}), ...(extras?.groupName ? { groupName: extras.groupName } : {}), ...(media ? { media: { mimeType: media.mimeType, size: media.size, ...(media.seconds === null ? {} : { seconds: media.seconds }), ...(sentMedia?.mediaUrl ? { url: sentMedia.mediaUrl } : {}) } } : {}) });
        await publish(ref, 'message.exchange', { id: send.messageId, message: exchange });
        await closeJournal(command, send.messageId);
        await announceResume(ref, firstContact);
      });
    } catch (error) {
      const failure = error instanceof SendFailed ? error : new SendFailed('failed', error instanceof Error ? error.message : String(error));
      if (!(error instanceof SendFailed)) deps.logger.error('send failed', { instanceId: command.instanceId, messageId: send.messageId, error: String(error) });
      await checked;
      await fail(command, chatJid, failure);
    } finally {
      await media?.remove().catch(() => undefined);
      await extras?.remove().catch(() => undefined);
    }
  };

  return {
    async accept(command, connection) {
      if (halted) return;
      const { send } = command;
      const key = journalKey(command, send.messageId);
      if (key && deps.journal) {
        // A redelivered command (the runner died before the queue message was deleted): its send
        // already has an outcome, or is journaled and so belongs to whoever resolves the entry.
        const [outcome, opened] = await Promise.all([
          deps.outcomes.get(command.instanceId, send.messageId),
          deps.journal.store.open({ ...key, accountId: command.accountId, instanceName: command.instanceName, chatJid: send.chatJid, phase: 'accepted', acceptedAt: now() }),
        ]);
        if (outcome !== null || !opened) {
          // Journaled again just now for a send that already has an outcome: take the entry back.
          if (opened) await deps.journal.store.close(key);
          deps.logger.warn('send command delivered again; not sending twice', { instanceId: command.instanceId, messageId: send.messageId });
          return;
        }
      }
      const id = command.instanceId;
      const previous = lanes.get(id) ?? Promise.resolve();
      const next = previous.then(() => run(command, connection)).catch((error: unknown) => deps.logger.error('send lane failed', { instanceId: id, error: String(error) }));
      lanes.set(id, next);
      void next.then(() => {
        if (lanes.get(id) === next) lanes.delete(id);
      });
    },
    async recover(shard) {
      const journal = deps.journal;
      if (!journal || halted) return;
      for (const entry of await journal.store.list(shard)) {
        if (entry.runnerId === journal.runnerId) continue;
        // Whoever removes the entry owns the outcome (a runner still alive drops the send).
        if (!(await journal.store.claim(entry))) continue;
        const outcome = await deps.outcomes.get(entry.instanceId, entry.messageId);
        if (outcome?.state === 'sent' || outcome?.state === 'failed') continue;
        const reason = abandonedSendReasons[entry.phase];
        deps.logger.warn('send abandoned by a stopped runner', { instanceId: entry.instanceId, messageId: entry.messageId, runnerId: entry.runnerId, phase: entry.phase });
        await fail({ ...entry, send: { messageId: entry.messageId } }, outcome?.chatJid ?? entry.chatJid, { code: 'failed', reason }, { journaled: false });
      }
    },
    halt() {
      halted = true;
    },
    forget(instanceId) {
      registrations.delete(instanceId);
      knownChats.delete(instanceId);
      announcedPauses.delete(instanceId);
      pacingLoads.delete(instanceId);
      pacingWritten.delete(instanceId);
      deps.pacer.forget(instanceId);
    },
    release(shard) {
      const shardOf = deps.journal?.shardOf;
      if (!shardOf) return;
      const known = new Set([...registrations.keys(), ...knownChats.keys(), ...pacingLoads.keys()]);
      // Lanes still running fail (their sockets are closed) without writing the pacing state again.
      for (const instanceId of known) if (shardOf(instanceId) === shard) this.forget(instanceId);
    },
    async idle() {
      while (lanes.size > 0 || settling.size > 0 || pacingWrites.size > 0) await Promise.all([...lanes.values(), ...settling, ...pacingWrites.values()]);
    },
  };
};
