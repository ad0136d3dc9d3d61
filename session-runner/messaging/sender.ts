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

/**
 * The runner's side of the send routes (spec §2.3): one lane per instance, so an instance's sends
 * go out in the order they were accepted while other instances (and the session's own work in
 * the supervisor) carry on. `accept` returns at once: a send may wait for pacing and a typing
 * delay of up to 60 s, which must hold neither the shard's command queue nor the instance's events.
 *
 * Per send: connection → recipient check (USync, ninth-digit variants, cached 24 h) → outcome
 * `checked` → pacing slot (createPacer) → `composing` for `delay` s, then `paused` → send and
 * wait for WhatsApp's ack → message stored as `sent`, outcome `sent`, outgoing `message.exchange`
 * published. A failure → outcome `failed`, message `error`, `message.status` `server_error`.
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
  /** A pause started by WhatsApp's throttling (logged, and for the caller to report). */
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
  const lanes = new Map<string, Promise<void>>();
  /** Per instance: JID asked → the registered JID (`null` = not on WhatsApp), with when it was learnt. */
  const registrations = new Map<string, Map<string, { jid: string | null; at: number }>>();
  /** Per instance: chats that already have messages (first contacts count against the daily cap). */
  const knownChats = new Map<string, Promise<Set<string>>>();

  const now = () => rfc3339(deps.clock.now());
  const refOf = (command: SendCommand): InstanceRef => ({ instanceId: command.instanceId, accountId: command.accountId, instanceName: command.instanceName });

  const publish = async (ref: InstanceRef, event: 'message.exchange' | 'message.status', data: Record<string, unknown>) => {
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
    const chats = await known;
    const first = !chats.has(chatJid);
    chats.add(chatJid);
    return first;
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
    try {
      const conn = connection();
      if (!conn?.send) throw new SendFailed('not_connected', 'Instance is not connected to WhatsApp');
      chatJid = await resolveRecipient(command.instanceId, conn, send.chatJid);
      await record(command.instanceId, send.messageId, { state: 'checked', chatJid, at: now() });

      const decision = deps.pacer.reserve(command.instanceId, { to: chatJid, firstContact: await isFirstContact(command.instanceId, chatJid) });
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
        await live.send(chatJid, contentOf(send), { messageId: send.messageId, timestamp: new Date(send.timestamp), quoted: quotedOf(send) });
      } catch (error) {
        const { code, pacing, reason } = classify(error);
        const notice = pacing ? deps.pacer.report(command.instanceId, { kind: pacing }) : null;
        if (notice) {
          deps.logger.warn('sending paused by WhatsApp throttling', { instanceId: command.instanceId, reason: notice.reason, scope: notice.scope, until: notice.until.toISOString() });
          deps.onPause?.(notice);
        }
        throw new SendFailed(code, reason);
      }
      deps.pacer.report(command.instanceId, { kind: 'sent' });

      const exchange = { ...send.exchange, chat: { ...(send.exchange.chat as Record<string, unknown>), jid: chatJid } };
      const stored = storedMessageOf(command.instanceId, exchange, { isHistory: false, now: now() });
      if (stored) await deps.messages.save(stored).catch((error: unknown) => deps.logger.error('message not stored', { instanceId: command.instanceId, error: String(error) }));
      await deps.messages.updateStatus(command.instanceId, send.messageId, 'sent', now()).catch(() => false);
      await record(command.instanceId, send.messageId, { state: 'sent', chatJid, at: now() });
      await publish(ref, 'message.exchange', { id: send.messageId, message: exchange });
    } catch (error) {
      const failure = error instanceof SendFailed ? error : new SendFailed('failed', error instanceof Error ? error.message : String(error));
      if (!(error instanceof SendFailed)) deps.logger.error('send failed', { instanceId: command.instanceId, messageId: send.messageId, error: String(error) });
      await fail(command, chatJid, failure);
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
      deps.pacer.forget(instanceId);
    },
    async idle() {
      while (lanes.size > 0) await Promise.all([...lanes.values()]);
    },
  };
};
