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
import { abandonedSendReasons, byAcceptance, type SendJournal } from '../../shared/domain/messages/send-journal.ts';
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
 * A runner that stops with sends in its lanes: with a `journal` (shared/domain/messages/send-journal.ts)
 * every accepted send is journaled, with its command, before the command leaves the queue. A
 * runner that loses a shard (`release`: deploy, rebalance, self-fence) leaves the sends of that
 * shard that have not started going to WhatsApp where they are (journaled `accepted`), and
 * writes nothing for them; a crashed one (`halt`) writes nothing at all. The runner that next
 * acquires the shard (`recover`) adopts the `accepted` sends and sends them from its own lanes, in
 * their first acceptance order, waiting for the session to be restored (`resumeConnectionWaitMs`);
 * the sends already `sending` are reported failed: at most once, never sent twice. Without a
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
  /** How long a send adopted from a stopped runner waits for the instance's session to be restored here (default 120 s). */
  resumeConnectionWaitMs?: number;
  /**
   * How long a send waits for its session while the socket is being opened (restored after a
   * shard move, reconnecting) before it fails `not_connected` (default 15 s, inside the API's 20 s).
   */
  openingConnectionWaitMs?: number;
}

export interface MessageSender {
  /**
   * Queues the send on the instance's lane; `connection()` is asked when its turn comes, and while
   * it is null and `connecting()` says a socket is being opened, again (up to
   * `openingConnectionWaitMs`). Resolves once the send is journaled (the command may then leave
   * the queue); a redelivered command whose send is journaled or has an outcome is dropped.
   */
  accept(command: SendCommand, connection: () => WaConnection | null, connecting?: () => boolean): Promise<void>;
  /**
   * Resolves the journaled sends of other runners (and its own left-overs) on a shard this runner
   * just acquired: `accepted` ones are adopted and sent here (`connectionOf` is asked when their
   * turn comes), `sending` ones reported failed. Call it before consuming the shard's queue.
   */
  recover(shard: number, connectionOf: (instanceId: string) => WaConnection | null): Promise<void>;
  /** Tests only (`runner.crash()`): the lanes stop where they are and write nothing more, like a killed process. */
  halt(): void;
  /**
   * The shard left this runner: its sends not yet `sending` stop where they are, writing nothing
   * (the next owner adopts them), and its per-instance state is dropped (reloaded if it comes back).
   * Call it before the shard's sockets close.
   */
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
  /** Per shard: bumped by `release`; a lane started under an older generation stops before it sends. */
  const generations = new Map<number, number>();
  const generationOf = (shard: number | null) => (shard === null ? 0 : (generations.get(shard) ?? 0));
  /** Shards released and not acquired again: a send command still handled for one is journaled, left for the next owner. */
  const released = new Set<number>();
  const shardOfInstance = (instanceId: string) => (deps.journal ? deps.journal.shardOf(instanceId) : null);
  /** Sends in this runner's lanes that still run for this runner: `<instanceId>#<messageId>` → the lane's token. */
  const inLanes = new Map<string, object>();
  /** Acceptance order of this runner's journal entries (milliseconds × 1000, then +1 per send). */
  let lastSeq = 0;
  const nextSeq = () => (lastSeq = Math.max(lastSeq + 1, deps.clock.now().getTime() * 1000));
  const resumeConnectionWaitMs = deps.resumeConnectionWaitMs ?? 120_000;
  const openingConnectionWaitMs = deps.openingConnectionWaitMs ?? 15_000;

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
        .catch((error: unknown) => {
          // Not kept: a store that failed once must not make every later send a first contact.
          knownChats.delete(instanceId);
          deps.logger.warn('known chats not read; counting this send as a first contact', { instanceId, error: String(error) });
          return new Set<string>();
        });
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
  const fail = async (command: Pick<SendCommand, 'instanceId' | 'accountId' | 'instanceName'> & { send: Pick<OutboundSend, 'messageId'> & Partial<Pick<OutboundSend, 'exchange'>> }, chatJid: string, failure: SendFailed | { code: SendFailure; reason: string }, options: { journaled?: boolean } = {}) => {
    const { send } = command;
    if (halted) return;
    if (options.journaled !== false && !(await closeJournal(command, send.messageId))) return;
    const reason = failure instanceof SendFailed ? failure.message : failure.reason;
    await record(command.instanceId, send.messageId, { state: 'failed', code: failure.code, reason, chatJid, at: now() });
    const updated = await deps.messages.updateStatus(command.instanceId, send.messageId, 'error', now()).catch(() => false);
    // Not stored yet (the API stores it as `pending` after enqueuing, and may have crashed in
    // between): stored as `error` now; a `pending` write arriving later keeps this status.
    const stored = !updated && send.exchange ? storedMessageOf(command.instanceId, send.exchange, { isHistory: false, now: now() }) : null;
    if (stored) await deps.messages.save({ ...stored, status: 'error', statusAt: now() }).catch((error: unknown) => deps.logger.error('message not stored', { instanceId: command.instanceId, error: String(error) }));
    await publish(refOf(command), 'message.status', { messageId: send.messageId, chat: chatJid, status: 'server_error', timestamp: now(), reason });
  };

  /**
   * One send of a lane. `lane.generation`: the shard's generation when the send was handed to this
   * runner (a `release` since → stop before sending, writing nothing); `lane.resumed`: a send
   * adopted from a stopped runner (wait for the session, `waited` shared by the instance's adopted
   * sends so a session that never comes back costs one wait, not one per send; `typingFrom`: its
   * typing already started).
   */
  const run = async (
    command: SendCommand,
    connection: () => WaConnection | null,
    lane: { generation: number; resumed: { typingFrom: string | null; waited: { ms: number } } | null; connecting?: () => boolean },
  ): Promise<void> => {
    const { send } = command;
    const ref = refOf(command);
    const shard = shardOfInstance(command.instanceId);
    const abandoned = () => halted || generationOf(shard) !== lane.generation;
    /** Set once the journal says `sending`: from then on the send is this runner's to finish. */
    let sending = false;
    let chatJid = send.chatJid;
    let media: OutgoingFile | null = null;
    /** Group/channel checks, resolved mentions, link preview, interactive and status content (send-extras.ts). */
    let extras: SendExtras | null = null;
    let sentMedia: { mediaUrl: string | null; raw?: Uint8Array } | void = undefined;
    /** The `checked` write, awaited with the journal's `sending` mark (one round trip less when nothing waits in between). */
    let checked: Promise<unknown> = Promise.resolve();
    try {
      if (abandoned()) return;
      let conn = connection();
      // An adopted send runs as soon as the shard is acquired, before its session is restored here.
      while (lane.resumed && !conn?.send && lane.resumed.waited.ms < resumeConnectionWaitMs && !abandoned()) {
        await sleep(250);
        lane.resumed.waited.ms += 250;
        conn = connection();
      }
      // A send that arrives while its socket is being opened (a session restored after a shard
      // move, a reconnect) waits for it, briefly, rather than failing at once.
      for (let waitedMs = 0; !conn?.send && lane.connecting?.() && waitedMs < openingConnectionWaitMs && !abandoned(); waitedMs += 250) {
        await sleep(250);
        conn = connection();
      }
      if (abandoned()) return;
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
      // The checks may take seconds (a download, a conversion): a shard released meanwhile is the next owner's.
      if (abandoned()) return;
      checked = record(command.instanceId, send.messageId, { state: 'checked', chatJid, at: now() });

      // Only a person can be a first contact: groups, channels and status posts never count against the daily cap.
      const firstContact = /@(s\.whatsapp\.net|lid)$/.test(chatJid) ? await isFirstContact(command.instanceId, chatJid) : false;
      await loadPacing(command.instanceId);
      if (abandoned()) return;
      const decision = deps.pacer.reserve(command.instanceId, { to: chatJid, firstContact });
      persistPacing(command.instanceId);
      if (decision.kind !== 'send') throw new SendFailed('rate_limited', `sending paused (${decision.kind}) until ${decision.until.toISOString()}`);
      const wait = decision.at.getTime() - deps.clock.now().getTime();
      if (wait > 0) await sleep(wait);
      if (abandoned()) return;

      const key = journalKey(command, send.messageId);
      // A send adopted from a stopped runner that had started typing shows only the rest of its delay.
      const delayMs = ('delay' in send.request ? send.request.delay : 0) * 1000;
      const typingFrom = lane.resumed?.typingFrom ?? null;
      const typingMs = typingFrom === null ? delayMs : Math.max(0, Math.min(delayMs, delayMs - (deps.clock.now().getTime() - Date.parse(typingFrom))));
      if (typingMs > 0 && conn.sendChatPresence) {
        if (typingFrom === null && key && deps.journal && !(await deps.journal.store.markTyping(key, deps.clock.now().toISOString()))) {
          deps.logger.warn('send resolved by another runner; not sending', { instanceId: command.instanceId, messageId: send.messageId });
          return;
        }
        await conn.sendChatPresence(chatJid, 'composing').catch(() => undefined);
        await sleep(typingMs);
        await conn.sendChatPresence(chatJid, 'paused').catch(() => undefined);
      }
      if (abandoned()) return;
      // The connection may have dropped while waiting.
      const live = connection();
      if (!live?.send) throw new SendFailed('not_connected', 'Instance is not connected to WhatsApp');
      // Past this point the message may reach WhatsApp: it is never sent again (send-journal.ts).
      const [marked] = await Promise.all([key && deps.journal ? deps.journal.store.markSending(key) : true, checked]);
      if (!marked) {
        deps.logger.warn('send resolved by another runner; not sending', { instanceId: command.instanceId, messageId: send.messageId });
        return;
      }
      sending = true;
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
        // The outcome first: the API is waiting for it; the store follows within a round trip or two
        // (a stop in between is repaired by `recover`, which moves the stored status to `sent`).
        await record(command.instanceId, send.messageId, { state: 'sent', chatJid, at: now(), ...(extras && extras.mentions.length > 0 ? { mentions: extras.mentions } : {}), ...(extras?.groupName ? { groupName: extras.groupName } : {}), ...(media ? { media: { mimeType: media.mimeType, size: media.size, ...(media.seconds === null ? {} : { seconds: media.seconds }), ...(sentMedia?.mediaUrl ? { url: sentMedia.mediaUrl } : {}) } } : {}) });
        if (stored) await deps.messages.save(sentMedia?.raw ? { ...stored, raw: sentMedia.raw } : stored).catch((error: unknown) => deps.logger.error('message not stored', { instanceId: command.instanceId, error: String(error) }));
        await deps.messages.updateStatus(command.instanceId, send.messageId, 'sent', now()).catch(() => false);
        await publish(ref, 'message.exchange', { id: send.messageId, message: exchange });
        await closeJournal(command, send.messageId);
        await announceResume(ref, firstContact);
      });
    } catch (error) {
      const failure = error instanceof SendFailed ? error : new SendFailed('failed', error instanceof Error ? error.message : String(error));
      if (!(error instanceof SendFailed)) deps.logger.error('send failed', { instanceId: command.instanceId, messageId: send.messageId, error: String(error) });
      await checked;
      // Not started, and the shard left this runner (its socket closed under it): the next owner sends it.
      if (!sending && abandoned()) return;
      await fail(command, chatJid, failure);
    } finally {
      await media?.remove().catch(() => undefined);
      await extras?.remove().catch(() => undefined);
    }
  };

  /** Appends a send to its instance's lane. */
  const enqueue = (command: SendCommand, connection: () => WaConnection | null, lane: Parameters<typeof run>[2]) => {
    const id = command.instanceId;
    const liveKey = `${id}#${command.send.messageId}`;
    const token = {};
    inLanes.set(liveKey, token);
    const previous = lanes.get(id) ?? Promise.resolve();
    const next = previous
      .then(() => run(command, connection, lane))
      .catch((error: unknown) => deps.logger.error('send lane failed', { instanceId: id, error: String(error) }))
      .then(() => {
        if (inLanes.get(liveKey) === token) inLanes.delete(liveKey);
      });
    lanes.set(id, next);
    void next.then(() => {
      if (lanes.get(id) === next) lanes.delete(id);
    });
  };

  return {
    async accept(command, connection, connecting) {
      if (halted) return;
      const { send } = command;
      // Taken before the journal write: a shard released meanwhile stops this send before it starts.
      const generation = generationOf(shardOfInstance(command.instanceId));
      const key = journalKey(command, send.messageId);
      if (key && deps.journal) {
        // A redelivered command (the runner died before the queue message was deleted, or the send
        // was adopted by the shard's next owner): its send already has an outcome, or is journaled
        // and so belongs to whoever holds the entry.
        const [outcome, opened] = await Promise.all([
          deps.outcomes.get(command.instanceId, send.messageId),
          deps.journal.store.open({ ...key, accountId: command.accountId, instanceName: command.instanceName, chatJid: send.chatJid, phase: 'accepted', acceptedAt: now(), seq: nextSeq(), command }),
        ]);
        if (outcome !== null || !opened) {
          // Journaled again just now for a send that already has an outcome: take the entry back.
          if (opened) await deps.journal.store.close(key);
          deps.logger.warn('send command delivered again; not sending twice', { instanceId: command.instanceId, messageId: send.messageId });
          return;
        }
      }
      // Handled while the shard was being released (queued behind slower work of the instance): journaled, the next owner sends it.
      const shard = shardOfInstance(command.instanceId);
      if (shard !== null && released.has(shard)) return;
      enqueue(command, connection, { generation, resumed: null, ...(connecting ? { connecting } : {}) });
    },
    async recover(shard, connectionOf) {
      const journal = deps.journal;
      if (!journal || halted) return;
      const generation = generationOf(shard);
      released.delete(shard);
      const waits = new Map<string, { ms: number }>();
      for (const entry of (await journal.store.list(shard)).sort(byAcceptance)) {
        // This runner's own sends still in its lanes; its left-overs (a shard it released and took back) are resolved like any other.
        if (entry.runnerId === journal.runnerId && inLanes.has(`${entry.instanceId}#${entry.messageId}`)) continue;
        if (entry.phase === 'accepted' && entry.command) {
          const outcome = await deps.outcomes.get(entry.instanceId, entry.messageId);
          if (outcome === null || outcome.state === 'checked') {
            // Never started: sent from this runner's lane, same message id (a runner still alive finds the entry moved and drops it).
            if (!(await journal.store.adopt(entry, journal.runnerId))) continue;
            if (halted) return;
            deps.logger.info('send adopted from a stopped runner', { instanceId: entry.instanceId, messageId: entry.messageId, runnerId: entry.runnerId });
            const waited = waits.get(entry.instanceId) ?? { ms: 0 };
            waits.set(entry.instanceId, waited);
            enqueue(entry.command, () => connectionOf(entry.instanceId), { generation, resumed: { typingFrom: entry.typingFrom ?? null, waited } });
            continue;
          }
        }
        // Whoever removes the entry owns the outcome (a runner still alive drops the send).
        if (!(await journal.store.claim(entry))) continue;
        const outcome = await deps.outcomes.get(entry.instanceId, entry.messageId);
        if (outcome?.state === 'failed') continue;
        if (outcome?.state === 'sent') {
          // Stopped between recording `sent` and storing it.
          await deps.messages.updateStatus(entry.instanceId, entry.messageId, 'sent', outcome.at).catch(() => false);
          continue;
        }
        const reason = abandonedSendReasons[entry.phase];
        deps.logger.warn('send abandoned by a stopped runner', { instanceId: entry.instanceId, messageId: entry.messageId, runnerId: entry.runnerId, phase: entry.phase });
        await fail({ ...entry, send: { messageId: entry.messageId, ...(entry.command ? { exchange: entry.command.send.exchange } : {}) } }, outcome?.chatJid ?? entry.chatJid, { code: 'failed', reason }, { journaled: false });
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
      // Sends of the shard not yet `sending` stop before they send (the next owner adopts them).
      generations.set(shard, generationOf(shard) + 1);
      released.add(shard);
      for (const key of [...inLanes.keys()]) if (shardOf(key.split('#')[0] ?? '') === shard) inLanes.delete(key);
      const known = new Set([...registrations.keys(), ...knownChats.keys(), ...pacingLoads.keys()]);
      // Lanes still running fail (their sockets are closed) without writing the pacing state again.
      for (const instanceId of known) if (shardOf(instanceId) === shard) this.forget(instanceId);
    },
    async idle() {
      while (lanes.size > 0 || settling.size > 0 || pacingWrites.size > 0) await Promise.all([...lanes.values(), ...settling, ...pacingWrites.values()]);
    },
  };
};
