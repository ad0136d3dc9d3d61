import type { EventPublisher } from '../../shared/domain/events/event.ts';
import type { SessionCommand } from '../../shared/domain/fleet/commands.ts';
import type { Pacer, PauseNotice } from '../../shared/domain/messages/pacing.ts';
import { storedMessageOf } from '../../shared/domain/messages/message.ts';
import { vcardOf } from '../../shared/domain/messages/outgoing.ts';
import type { OutboundSend, SendFailure, SendOutcome, SendOutcomeStore } from '../../shared/domain/messages/send.command.ts';
import { parseRecipient, registrationCandidates } from '../../shared/domain/numbers.ts';
import type { MessageStore } from '../../shared/domain/ports/message-store.port.ts';
import { rfc3339, type Clock, type Logger } from '../../shared/domain/ports/runtime.port.ts';
import type { InstanceRef } from '../../shared/domain/ports/session-repository.port.ts';
import type { WaConnection, WaOutgoingContent, WaSendError } from '../../shared/domain/ports/wa-connection.port.ts';
import type { OutboundTargetPolicy } from '../../shared/domain/ports/outbound-target.port.ts';
import { createOutboundTargetPolicy } from '../../shared/adapters/net/outbound-target-policy.ts';
import { MediaRejected, mediaContentOf, prepareMedia, type PreparedMedia } from './outgoing-media.ts';

/**
 * The runner's side of the send routes (spec §2.3): one lane per instance, so an instance's sends
 * go out in the order they were accepted while other instances (and the session's own work in
 * the supervisor) carry on. `accept` returns at once: a send may wait for pacing and a typing
 * delay of up to 60 s, which must hold neither the shard's command queue nor the instance's events.
 *
 * Per send: connection → recipient check (USync, ninth-digit variants, cached 24 h) → media
 * fetched or decoded to a temporary file (outgoing-media.ts; refusals are `invalid_media`) →
 * outcome `checked` → pacing slot (createPacer) → `composing` for `delay` s, then `paused` → send and
 * wait for WhatsApp's ack → message stored as `sent`, outcome `sent`, outgoing `message.exchange`
 * published. A failure → outcome `failed`, message `error`, `message.status` `server_error`.
 * WhatsApp's throttling (429 / `rate-overlimit`, reach-out refusals) pauses the instance in the
 * pacer; the pause is published as `instance.state` with reason `sending_paused` (and
 * `sending_resumed` after the next successful send), the state itself staying `connected`.
 *
 * A runner that dies with sends in its lanes loses them (the API already answered, or answers
 * `queued`); they stay `pending` in the store.
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
}

export interface MessageSender {
  /** Queues the send on the instance's lane; `connection()` is asked when its turn comes. */
  accept(command: SendCommand, connection: () => WaConnection | null): void;
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
  /** Per instance: JID asked → the registered JID (`null` = not on WhatsApp), with when it was learnt. */
  const registrations = new Map<string, Map<string, { jid: string | null; at: number }>>();
  /** Per instance: chats that already have messages (first contacts count against the daily cap). */
  const knownChats = new Map<string, Promise<Set<string>>>();
  /** Per instance: the pause scopes announced with `sending_paused` and not yet ended by a successful send. */
  const announcedPauses = new Map<string, Set<PauseNotice['scope']>>();

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

  const now = () => rfc3339(deps.clock.now());
  const refOf = (command: SendCommand): InstanceRef => ({ instanceId: command.instanceId, accountId: command.accountId, instanceName: command.instanceName });

  const publish = async (ref: InstanceRef, event: 'message.exchange' | 'message.status' | 'instance.state', data: Record<string, unknown>) => {
    if (!deps.events) return;
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

  const record = (instanceId: string, messageId: string, outcome: SendOutcome) =>
    deps.outcomes.record(instanceId, messageId, outcome).catch((error: unknown) => deps.logger.error('send outcome not recorded', { instanceId, messageId, error: String(error) }));

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

  const fail = async (command: SendCommand, chatJid: string, failure: SendFailed | { code: SendFailure; reason: string }) => {
    const { send } = command;
    const reason = failure instanceof SendFailed ? failure.message : failure.reason;
    await record(command.instanceId, send.messageId, { state: 'failed', code: failure.code, reason, chatJid, at: now() });
    await deps.messages.updateStatus(command.instanceId, send.messageId, 'error', now()).catch(() => false);
    await publish(refOf(command), 'message.status', { messageId: send.messageId, chat: chatJid, status: 'server_error', timestamp: now() });
  };

  const run = async (command: SendCommand, connection: () => WaConnection | null): Promise<void> => {
    const { send } = command;
    const ref = refOf(command);
    let chatJid = send.chatJid;
    let media: PreparedMedia | null = null;
    let sentMedia: { mediaUrl: string | null } | void = undefined;
    try {
      const conn = connection();
      if (!conn?.send) throw new SendFailed('not_connected', 'Instance is not connected to WhatsApp');
      chatJid = await resolveRecipient(command.instanceId, conn, send.chatJid);
      // Before `checked`: a download or decoding error is still seen by the waiting API (a 400).
      if (send.request.kind === 'media') {
        media = await prepareMedia(send.request.media, send.request, { outbound: outbound, ...(deps.mediaDirectory ? { directory: deps.mediaDirectory } : {}) }).catch((error: unknown) => {
          throw error instanceof MediaRejected ? new SendFailed('invalid_media', error.message) : error;
        });
      }
      await record(command.instanceId, send.messageId, { state: 'checked', chatJid, at: now() });

      const firstContact = await isFirstContact(command.instanceId, chatJid);
      const decision = deps.pacer.reserve(command.instanceId, { to: chatJid, firstContact });
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
      try {
        sentMedia = await live.send(chatJid, send.request.kind === 'media' && media ? mediaContentOf(send.request, media, (send.exchange.mentions as string[] | undefined) ?? []) : contentOf(send), { messageId: send.messageId, timestamp: new Date(send.timestamp), quoted: quotedOf(send) });
      } catch (error) {
        const { code, pacing, reason } = classify(error);
        const notice = pacing ? deps.pacer.report(command.instanceId, { kind: pacing }) : null;
        if (notice) {
          deps.logger.warn('sending paused by WhatsApp throttling', { instanceId: command.instanceId, reason: notice.reason, scope: notice.scope, until: notice.until.toISOString() });
          deps.onPause?.(notice);
          await announcePause(ref, notice);
        }
        throw new SendFailed(code, reason);
      }
      deps.pacer.report(command.instanceId, { kind: 'sent' });
      await rememberChat(command.instanceId, chatJid);

      const exchange = {
        ...send.exchange,
        chat: { ...(send.exchange.chat as Record<string, unknown>), jid: chatJid },
        ...(send.request.kind === 'media' && media
          ? { media: { type: send.request.mediaType, mimetype: media.mimeType, fileName: send.request.mediaType === 'document' ? send.request.fileName : null, size: media.size, duration: send.request.duration } }
          : {}),
      };
      const stored = storedMessageOf(command.instanceId, exchange, { isHistory: false, now: now() });
      if (stored) await deps.messages.save(stored).catch((error: unknown) => deps.logger.error('message not stored', { instanceId: command.instanceId, error: String(error) }));
      await deps.messages.updateStatus(command.instanceId, send.messageId, 'sent', now()).catch(() => false);
      await record(command.instanceId, send.messageId, { state: 'sent', chatJid, at: now(), ...(media ? { media: { mimeType: media.mimeType, size: media.size, ...(sentMedia?.mediaUrl ? { url: sentMedia.mediaUrl } : {}) } } : {}) });
      await publish(ref, 'message.exchange', { id: send.messageId, message: exchange });
      await announceResume(ref, firstContact);
    } catch (error) {
      const failure = error instanceof SendFailed ? error : new SendFailed('failed', error instanceof Error ? error.message : String(error));
      if (!(error instanceof SendFailed)) deps.logger.error('send failed', { instanceId: command.instanceId, messageId: send.messageId, error: String(error) });
      await fail(command, chatJid, failure);
    } finally {
      await media?.remove().catch(() => undefined);
    }
  };

  return {
    accept(command, connection) {
      const id = command.instanceId;
      const previous = lanes.get(id) ?? Promise.resolve();
      const next = previous.then(() => run(command, connection)).catch((error: unknown) => deps.logger.error('send lane failed', { instanceId: id, error: String(error) }));
      lanes.set(id, next);
      void next.then(() => {
        if (lanes.get(id) === next) lanes.delete(id);
      });
    },
    forget(instanceId) {
      registrations.delete(instanceId);
      knownChats.delete(instanceId);
      announcedPauses.delete(instanceId);
      deps.pacer.forget(instanceId);
    },
    async idle() {
      while (lanes.size > 0) await Promise.all([...lanes.values()]);
    },
  };
};
