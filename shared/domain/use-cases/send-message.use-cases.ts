import { DomainError } from '../errors/domain-error.ts';
import type { CommandBus } from '../fleet/commands.ts';
import type { InstanceAggregate } from '../instance/instance.ts';
import { IdempotencyConflictError, requestFingerprint, withIdempotency, type IdempotencyStore, type IdempotentResponse } from '../messages/idempotency.ts';
import type { StoredMessage } from '../messages/message.ts';
import { pollingOutcomeWaiter, type SendOutcomeWaiter } from '../messages/send-outcomes.ts';
import { chatTypeOfJid, outgoingExchangeOf, quotedView } from '../messages/outgoing.ts';
import { newWhatsAppMessageId, sendableKinds, type OutboundSend, type QuotedMessage, type SendOutcome, type SendOutcomeStore } from '../messages/send.command.ts';
import { contentOf, messageTypeOf, successMessageOf } from '../messages/send.content.ts';
import type { SendRequest } from '../messages/send.schemas.ts';
import type { MessageStore } from '../ports/message-store.port.ts';
import { rfc3339, type Clock, type IdGenerator } from '../ports/runtime.port.ts';

/**
 * The 13 send routes `POST /api/message/<kind>/:instance` (spec §2.3), API side.
 *
 * Steps (after the body was validated, spec §0.6 steps 7–8):
 * 1. idempotency (§0.15): with a key, the whole rest runs at most once per (instance, key);
 *    a repeat replays the first 2xx answer, a conflict is 409;
 * 2. connection state → 503 `Instance is not connected to WhatsApp`;
 * 3. `replyTo` must be stored for this instance → 404 `Quoted message not found`;
 *    `replyPrivate` on a group message redirects the send to the author's private chat;
 * 4. assign the WhatsApp message id (`3EB0` + 16 hex) and the message time; enqueue a `send`
 *    command on the instance's shard queue, then store the message as `pending` (while the
 *    outcome is awaited). Enqueue first: an API that stops between the two leaves a send the
 *    runner carries out and stores itself (as `sent`, or `error` via its failure path), never a
 *    message `pending` forever with no command behind it. The `pending` write cannot undo the
 *    runner's: a stored status is only ever raised (message-store `save` keeps an existing one);
 * 5. wait for the runner's outcome (polling the send-outcome item, or signalled in-process: send-outcomes.ts):
 *    - `delay` < 10 s: until WhatsApp acknowledged (`sent`) or failed, at most `sentWaitMs` (20 s);
 *    - `delay` ≥ 10 s: only until the recipient was checked (`checkWaitMs`, 5 s), then `queued`;
 *    a failure seen in time becomes the contract's error (400 `Number not registered on
 *    WhatsApp`, 503, 429, 500 `Failed to send message: <reason>`); after the deadline the answer
 *    is `queued` and the runner carries on (a later failure is a `message.status` `server_error`).
 * Recipient checks need WhatsApp, so the runner does them (first thing, before pacing and typing).
 */

export interface SendMessageDeps {
  bus: CommandBus;
  clock: Clock;
  ids: IdGenerator;
  messages: Pick<MessageStore, 'save'>;
  outcomes: SendOutcomeStore;
  /** How the outcome is awaited; default: polling `outcomes` (shared/domain/messages/send-outcomes.ts). */
  outcomeWaiter?: SendOutcomeWaiter;
  findQuoted(instanceId: string, messageId: string): Promise<QuotedMessage | null>;
  idempotency: IdempotencyStore;
  /** 16 random hex digits (the message id's random part). */
  randomHex(): string;
  sleep?: (ms: number) => Promise<void>;
  /** How long the API waits for `sent` (spec §2.3.1: at most 20 s in total). */
  sentWaitMs?: number;
  /** How long a long-delay send waits for the recipient check before answering `queued`. */
  checkWaitMs?: number;
  /** A store write that does not fail the request (the idempotency record, the `pending` message). */
  onStoreError?: (error: unknown) => void;
}

/** Sends with at least this typing delay answer `queued` without waiting for the send. */
export const longDelaySeconds = 10;

const delayOf = (request: SendRequest): number => ('delay' in request ? request.delay : 0);

const failureError = (outcome: Extract<SendOutcome, { state: 'failed' }>): DomainError => {
  switch (outcome.code) {
    case 'not_registered':
      return new DomainError('message.number_not_registered');
    case 'not_connected':
      return new DomainError('instance.not_connected');
    case 'rate_limited':
      return new DomainError('whatsapp.rate_limited');
    case 'invalid_media':
      return new DomainError('validation.failed', outcome.reason);
    case 'group_not_found':
      return new DomainError('message.group_not_found');
    case 'group_admins_only':
      return new DomainError('message.group_admins_only');
    case 'channel_forbidden':
      return new DomainError('message.channel_forbidden');
    case 'failed':
      return new DomainError('message.send_failed', `Failed to send message: ${outcome.reason}`);
  }
};

/**
 * Waits for the outcome until it settles (per the delay rule) or the deadline; `null` = still running.
 * Through `outcomeWaiter` when the process has one (the embedded stack: signalled by the runner's
 * write), else by polling the outcome item (send-outcomes.ts).
 */
const awaitOutcome = async (deps: SendMessageDeps, instanceId: string, messageId: string, longDelay: boolean): Promise<SendOutcome | null> => {
  const deadline = deps.clock.now().getTime() + (longDelay ? (deps.checkWaitMs ?? 5_000) : (deps.sentWaitMs ?? 20_000));
  const waiter = deps.outcomeWaiter ?? pollingOutcomeWaiter(deps);
  return waiter.waitFor(instanceId, messageId, (outcome) => outcome.state === 'failed' || outcome.state === 'sent' || (outcome.state === 'checked' && longDelay), deadline);
};

export interface SendResult {
  response: IdempotentResponse;
  replayed: boolean;
}

/**
 * Input: the resolved instance, the normalised request (its `idempotencyKey` already merged with
 * the header), the route (`POST /api/message/text`) and the parsed JSON body (for the fingerprint).
 * Output: the HTTP answer to give (200 with the contract's body) and whether it is a replay.
 */
export const sendMessage = async (
  deps: SendMessageDeps,
  aggregate: InstanceAggregate,
  request: SendRequest,
  origin: { route: string; body: unknown },
): Promise<SendResult> => {
  const { instance } = aggregate;
  const scope = request.idempotencyKey === null ? null : { instanceId: instance.id, key: request.idempotencyKey };
  try {
    return await withIdempotency(deps.idempotency, scope, requestFingerprint(origin.route, origin.body), () => execute(deps, aggregate, request), {
      onStoreError: deps.onStoreError,
    });
  } catch (error) {
    if (error instanceof IdempotencyConflictError) {
      throw new DomainError(error.reason === 'mismatch' ? 'idempotency.different_request' : 'idempotency.in_progress');
    }
    throw error;
  }
};

/** A reaction's target key: `fromMe`/`participant` from the request, else from the stored target (spec #24). */
const withReactionTarget = async (deps: SendMessageDeps, instanceId: string, request: SendRequest): Promise<SendRequest> => {
  if (request.kind !== 'reaction') return request;
  const target = request.fromMe === null || request.participant === null ? await deps.findQuoted(instanceId, request.messageId) : null;
  const fromMe = request.fromMe ?? target?.fromMe ?? false;
  const participantJid = request.participant?.jid ?? target?.participant ?? null;
  if (request.to.kind === 'group' && !fromMe && participantJid === null) throw new DomainError('message.participant_required');
  return { ...request, fromMe, participant: request.participant ?? (participantJid === null ? null : { kind: 'user', jid: participantJid, digits: participantJid.split('@')[0] ?? '' }) };
};

const execute = async (deps: SendMessageDeps, { instance }: InstanceAggregate, original: SendRequest): Promise<IdempotentResponse> => {
  if (!sendableKinds.has(original.kind)) throw new DomainError('message.unsupported', `Sending ${original.kind} messages is not supported yet`);
  if (instance.status !== 'connected') throw new DomainError('instance.not_connected');
  const request = await withReactionTarget(deps, instance.id, original);

  const replyTo = 'replyTo' in request ? request.replyTo : null;
  const quoted = replyTo === null ? null : await deps.findQuoted(instance.id, replyTo);
  if (replyTo !== null && quoted === null) throw new DomainError('message.quoted_not_found');

  let chatJid = request.to.jid;
  if ('replyPrivate' in request && request.replyPrivate && quoted?.participant && quoted.chatJid.endsWith('@g.us')) chatJid = quoted.participant;
  const isGroup = chatJid.endsWith('@g.us');
  let mentions = isGroup && 'mention' in request ? request.mention.map((recipient) => recipient.jid) : [];
  // The form's flow token is generated here so the response can return it (spec #29).
  const sent: SendRequest = request.kind === 'form' && request.flowToken === null ? { ...request, flowToken: deps.ids.ulid() } : request;

  const selfJid = instance.numberJid ?? '';
  const messageId = newWhatsAppMessageId(deps.randomHex());
  const timestamp = rfc3339(deps.clock.now());
  const exchange = outgoingExchangeOf(sent, { messageId, timestamp, chatJid, selfJid, source: sent.source, mentions, quoted });
  const pending: StoredMessage = {
    instanceId: instance.id,
    messageId,
    timestamp,
    direction: 'outgoing',
    type: exchange.type as string,
    chatJid,
    chatType: chatTypeOfJid(chatJid),
    senderJid: selfJid === '' ? null : selfJid,
    mediaType: null,
    isHistory: false,
    status: 'pending',
    statusAt: timestamp,
    exchange,
  };
  const send: OutboundSend = { messageId, timestamp, chatJid, request: sent, quoted, exchange };
  await deps.bus.send({
    type: 'send',
    commandId: deps.ids.ulid(),
    instanceId: instance.id,
    accountId: instance.accountId,
    instanceName: instance.name,
    issuedAt: timestamp,
    send,
  });
  // After the enqueue (see step 4). A failed write is reported, not thrown: the send is already on
  // its way, and an error answer would invite a retry that sends it twice.
  const storing = deps.messages.save(pending).catch((error: unknown) => deps.onStoreError?.(error));

  const [outcome] = await Promise.all([awaitOutcome(deps, instance.id, messageId, delayOf(sent) >= longDelaySeconds), storing]);
  if (outcome?.state === 'failed') throw failureError(outcome);
  const finalJid = outcome?.chatJid ?? chatJid;
  // `mentionAll` is resolved by the runner (the group's participants): its list wins.
  if (outcome?.state === 'sent' && outcome.mentions) mentions = outcome.mentions;

  const data: Record<string, unknown> = {
    messageId,
    messageType: messageTypeOf(sent),
    content: contentOf(sent),
    direction: 'outgoing',
    chat: { jid: finalJid, type: chatTypeOfJid(finalJid), ...(outcome?.state === 'sent' && outcome.groupName ? { name: outcome.groupName, groupName: outcome.groupName } : {}) },
    sender: { jid: selfJid, ...(instance.profile?.name ? { name: instance.profile.name } : {}) },
    timestamp,
    ...(outcome?.state === 'sent' && outcome.media
      ? { ...(outcome.media.url ? { mediaUrl: outcome.media.url } : {}), mediaMimeType: outcome.media.mimeType, mediaSize: outcome.media.size, ...(outcome.media.seconds !== undefined ? { mediaDuration: outcome.media.seconds } : sent.kind === 'media' && sent.duration !== null ? { mediaDuration: sent.duration } : {}) }
      : {}),
    ...(mentions.length > 0 ? { mentions } : {}),
    ...(quoted ? { replyTo: quotedView(quoted, selfJid) } : {}),
    ...(sent.kind === 'reaction' ? { replyTo: { messageId: sent.messageId } } : {}),
    source: sent.source,
    ...(sent.kind === 'contact' ? { vcard: sent.vcard } : {}),
    ...(sent.kind === 'form' ? { flowToken: sent.flowToken } : {}),
  };
  return {
    status: 200,
    body: { success: true, message: successMessageOf(sent), status: outcome?.state === 'sent' ? 'sent' : 'queued', data },
  };
};
