import { z } from 'zod';
import { ValidationError } from '../errors/domain-error.ts';
import {
  claimMs,
  contractRetryDelaysMs,
  dataFor,
  deliveryStatuses,
  maxAttempts,
  retryDelayMs,
  targetUrl,
  type AttemptOutcome,
  type AttemptResult,
  type Delivery,
  type DeliveryFilter,
  type DeliveryRepository,
  type DeliveryStatus,
  type WebhookSender,
} from '../events/delivery.ts';
import { envelopeOf, wants, type EventRecord } from '../events/event.ts';
import type { InstanceAggregate, InstanceRecord, WebhookRecord } from '../instance/instance.ts';
import { eventNames, sealedFields } from '../instance/instance.ts';
import { limits } from '../instance/instance.schemas.ts';
import type { InstanceCipher, SecretVault } from '../ports/keyring.port.ts';
import type { OutboundTargetPolicy } from '../ports/outbound-target.port.ts';
import type { InstanceRepository } from '../ports/repositories.port.ts';
import { rfc3339, type Clock, type Logger } from '../ports/runtime.port.ts';
import { isAbsoluteHttpUrl, stringArray } from '../validation.ts';
import { normaliseEvents } from './create-instance.use-case.ts';

/** At most 3 enabled webhooks per instance (spec #14). */
export const maxEnabledWebhooks = 3;

/** 404 `Webhook not found` (spec #15, Z3). */
export class WebhookNotFoundError extends Error {
  override name = 'WebhookNotFoundError';
  constructor() {
    super('Webhook not found');
  }
}

/** 409 `Maximum of 3 enabled webhooks per instance` (spec #14). */
export class WebhookLimitError extends Error {
  override name = 'WebhookLimitError';
  constructor() {
    super('Maximum of 3 enabled webhooks per instance');
  }
}

export interface WebhookView {
  label: string;
  enabled: boolean;
  url: string | null;
  authorization: string | null;
  byEvents: boolean;
  events: string[];
  mediaBase64: boolean;
  includeInstanceToken: boolean;
  hasSecret: boolean;
}

export interface WebhookStorePort {
  /**
   * Upserts the row; an enabled row only while fewer than `maxEnabled` other rows are enabled,
   * checked atomically with the write (`limit` otherwise, nothing written).
   */
  put(instance: InstanceRecord, webhook: WebhookRecord, options: { maxEnabled: number }): Promise<'saved' | 'limit'>;
}

export interface WebhookConfigDeps {
  vault: SecretVault;
  outbound: OutboundTargetPolicy;
  clock: Clock;
  logger: Logger;
  webhooks: WebhookStorePort;
  deliveries: DeliveryRepository;
}

/** Body of `POST /api/events/webhook/:instance`: types only; rules run in the use case, in table order. */
export const SaveWebhookBody = z.object({
  label: z.string().nullish(),
  enabled: z.boolean().nullish(),
  url: z.string().nullish(),
  authorization: z.string().nullish(),
  byEvents: z.boolean().nullish(),
  events: stringArray(),
  mediaBase64: z.boolean().nullish(),
  // `null` removes the secret, absent keeps it: not `nullish`, which would merge them.
  secret: z.string().nullable().optional(),
  includeInstanceToken: z.boolean().nullish(),
});
export type SaveWebhookBody = z.output<typeof SaveWebhookBody>;

const hasControlCharacter = (text: string) => [...text].some((char) => char.charCodeAt(0) < 0x20 || (char.charCodeAt(0) >= 0x7f && char.charCodeAt(0) <= 0x9f));

/** Trimmed; empty → `default`; `null` when invalid (spec #14). */
export const normaliseLabel = (label: string | null | undefined): string | null => {
  const trimmed = (label ?? '').trim();
  if (trimmed === '') return 'default';
  return trimmed.length > 64 || hasControlCharacter(trimmed) ? null : trimmed;
};

const openOrNull = (cipher: InstanceCipher, field: string, sealed: string | null, logger: Logger, log: Record<string, string>): string | null => {
  if (sealed === null) return null;
  try {
    return cipher.open(field, sealed);
  } catch {
    logger.warn('stored webhook secret cannot be decrypted; save the webhook again', log);
    return null;
  }
};

export const webhookView = (webhook: WebhookRecord, cipher: InstanceCipher, logger: Logger, instanceId: string): WebhookView => ({
  label: webhook.label,
  enabled: webhook.enabled,
  url: webhook.enabled ? webhook.url : null,
  authorization: webhook.enabled
    ? openOrNull(cipher, sealedFields.webhookAuthorization(webhook.label), webhook.authorizationSealed, logger, { instanceId, label: webhook.label })
    : null,
  byEvents: webhook.byEvents,
  events: [...webhook.events],
  mediaBase64: webhook.mediaBase64,
  includeInstanceToken: webhook.includeInstanceToken,
  hasSecret: webhook.secretSealed !== null,
});

/**
 * Creates or updates a webhook (`POST /api/events/webhook/:instance`).
 *
 * Input: the resolved instance and the typed body. Output: the saved WebhookView.
 * Steps: field rules in the order of the request table → outbound policy on the URL → seal
 * authorization and secret (absent secret keeps the stored one) → write the row, the 3-enabled
 * limit (409) checked by the store atomically with the write, so that concurrent saves of
 * different labels cannot make a fourth → when the row is disabled, cancel its pending deliveries.
 */
export const saveWebhook = async (deps: WebhookConfigDeps, aggregate: InstanceAggregate, body: SaveWebhookBody): Promise<WebhookView> => {
  const { instance } = aggregate;
  const label = normaliseLabel(body.label);
  if (label === null) throw new ValidationError('Invalid webhook label');
  const enabled = body.enabled ?? true;
  const existing = aggregate.webhooks.find((webhook) => webhook.label === label) ?? null;
  const cipher = await deps.vault.instanceCipher(instance.id, instance.wrappedKey);
  let record: WebhookRecord;
  if (!enabled) {
    record = { label, enabled: false, url: null, authorizationSealed: null, byEvents: false, events: [], mediaBase64: false, includeInstanceToken: true, secretSealed: null };
  } else {
    const url = body.url;
    if (typeof url !== 'string' || url.length > limits.url || !isAbsoluteHttpUrl(url)) throw new ValidationError('Invalid webhook URL');
    if ((body.authorization?.length ?? 0) > limits.authorization) {
      throw new ValidationError(`Invalid request body: 'authorization' must be at most ${limits.authorization} characters`);
    }
    const events = normaliseEvents(body.events);
    if ('invalid' in events) throw new ValidationError(`Invalid event: ${events.invalid}`);
    const secret = body.secret;
    if (typeof secret === 'string' && secret !== '' && (secret.length < 16 || secret.length > 256)) throw new ValidationError('Invalid webhook secret');
    const verdict = await deps.outbound.check(url);
    if (!verdict.allowed) throw new ValidationError('Invalid webhook URL');
    const authorization = body.authorization ?? null;
    record = {
      label,
      enabled: true,
      url,
      authorizationSealed: authorization === null || authorization === '' ? null : cipher.seal(sealedFields.webhookAuthorization(label), authorization),
      byEvents: body.byEvents ?? false,
      events: events.events,
      mediaBase64: body.mediaBase64 ?? false,
      includeInstanceToken: body.includeInstanceToken ?? true,
      secretSealed:
        secret === undefined
          ? (existing?.secretSealed ?? null)
          : secret === null || secret === ''
            ? null
            : cipher.seal(sealedFields.webhookSecret(label), secret),
    };
  }
  if ((await deps.webhooks.put(instance, record, { maxEnabled: maxEnabledWebhooks })) === 'limit') throw new WebhookLimitError();
  if (!enabled && existing?.enabled) {
    const cancelled = await deps.deliveries.cancelPending(instance.id, label, 'webhook disabled', deps.clock.now());
    if (cancelled) deps.logger.info('pending deliveries cancelled', { instanceId: instance.id, label, cancelled });
  }
  return webhookView(record, cipher, deps.logger, instance.id);
};

/** `GET /api/events/getWebhook/:instance`: every webhook sorted by label (byte order), or one by `?label=`. */
export const getWebhooks = async (
  deps: Pick<WebhookConfigDeps, 'vault' | 'logger'>,
  aggregate: InstanceAggregate,
  query: { label?: string },
): Promise<{ kind: 'one'; webhook: WebhookView } | { kind: 'all'; webhooks: WebhookView[] }> => {
  const { instance } = aggregate;
  const cipher = await deps.vault.instanceCipher(instance.id, instance.wrappedKey);
  if (query.label !== undefined) {
    const label = query.label.trim() === '' ? 'default' : query.label;
    const found = aggregate.webhooks.find((webhook) => webhook.label === label);
    if (!found) throw new WebhookNotFoundError();
    return { kind: 'one', webhook: webhookView(found, cipher, deps.logger, instance.id) };
  }
  const sorted = [...aggregate.webhooks].sort((a, b) => Buffer.compare(Buffer.from(a.label), Buffer.from(b.label)));
  return { kind: 'all', webhooks: sorted.map((webhook) => webhookView(webhook, cipher, deps.logger, instance.id)) };
};

// ——— Z2 delivery log ———

export interface DeliveryView {
  eventId: string;
  event: string;
  label: string;
  url: string | null;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

const seconds = (iso: string | null): string | null => (iso === null ? null : rfc3339(new Date(iso)));

export const deliveryView = (delivery: Delivery): DeliveryView => ({
  eventId: delivery.eventId,
  event: delivery.event,
  label: delivery.label,
  url: delivery.url,
  status: delivery.status,
  attempts: delivery.attempts,
  lastAttemptAt: seconds(delivery.lastAttemptAt),
  lastStatusCode: delivery.lastStatusCode,
  lastError: delivery.lastError,
  nextAttemptAt: delivery.status === 'pending' ? seconds(delivery.nextAttemptAt) : null,
  deliveredAt: seconds(delivery.deliveredAt),
  createdAt: seconds(delivery.createdAt) as string,
});

const rfc3339Pattern = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** ISO with milliseconds (the stored form), or `null` when not RFC 3339. */
export const parseRfc3339 = (value: string): string | null => {
  if (!rfc3339Pattern.test(value)) return null;
  const time = Date.parse(value);
  return Number.isNaN(time) ? null : new Date(time).toISOString();
};

const invalidQuery = (name: string) => new ValidationError(`Invalid value for query parameter '${name}'`);

const encodeCursor = (sk: string) => Buffer.from(JSON.stringify({ k: sk }), 'utf8').toString('base64url');
const decodeCursor = (cursor: string): string | null => {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown };
    return typeof parsed.k === 'string' && parsed.k.includes('#') ? parsed.k : null;
  } catch {
    return null;
  }
};

/**
 * Reads the delivery log (`GET /api/events/deliveries/:instance`), newest first.
 * Input: query parameters. Output: one page of DeliveryViews and the next cursor.
 */
export const listDeliveries = async (
  deps: { deliveries: DeliveryRepository },
  aggregate: InstanceAggregate,
  query: Record<string, string | undefined>,
): Promise<{ deliveries: DeliveryView[]; nextCursor: string | null }> => {
  const filter: DeliveryFilter = {};
  if (query.status !== undefined) {
    if (!(deliveryStatuses as readonly string[]).includes(query.status)) throw invalidQuery('status');
    filter.status = query.status as DeliveryStatus;
  }
  if (query.label !== undefined && query.label !== '') filter.label = query.label;
  if (query.event !== undefined) {
    if (!(eventNames as readonly string[]).includes(query.event)) throw invalidQuery('event');
    filter.event = query.event;
  }
  for (const name of ['since', 'until'] as const) {
    const value = query[name];
    if (value === undefined) continue;
    const parsed = parseRfc3339(value);
    if (parsed === null) throw invalidQuery(name);
    filter[name] = parsed;
  }
  let limit = 100;
  if (query.limit !== undefined) {
    if (!/^\d{1,3}$/.test(query.limit) || Number(query.limit) < 1 || Number(query.limit) > 500) throw invalidQuery('limit');
    limit = Number(query.limit);
  }
  let after: string | null = null;
  if (query.cursor !== undefined) {
    after = decodeCursor(query.cursor);
    if (after === null) throw invalidQuery('cursor');
  }
  const page = await deps.deliveries.list(aggregate.instance.id, filter, limit, after);
  return { deliveries: page.deliveries.map(deliveryView), nextCursor: page.nextCursor === null ? null : encodeCursor(page.nextCursor) };
};

// ——— Z3 replay ———

export const ReplayBody = z.object({
  eventIds: stringArray(),
  since: z.string().nullish(),
  until: z.string().nullish(),
  label: z.string().nullish(),
});
export type ReplayBody = z.output<typeof ReplayBody>;

export const maxReplay = 1000;

/**
 * Redelivers finished entries of the log (`POST /api/events/replay/:instance`).
 * Input: event ids, or a time range on the event timestamp; optionally one webhook label.
 * Output: how many deliveries were queued. Each selected `delivered`/`dead` entry starts over
 * (pending, fresh schedule, due now) and is sent with the webhook's current configuration;
 * entries of webhooks now disabled are skipped.
 */
export const replayDeliveries = async (
  deps: { deliveries: DeliveryRepository; clock: Clock },
  aggregate: InstanceAggregate,
  body: ReplayBody,
): Promise<number> => {
  const eventIds = body.eventIds ?? [];
  const filter: DeliveryFilter = { finished: true };
  if (eventIds.length > maxReplay) throw new ValidationError(`Too many events to replay (max ${maxReplay})`);
  if (eventIds.length === 0) {
    if (body.since === null || body.since === undefined) throw new ValidationError('Provide eventIds or since');
    const since = parseRfc3339(body.since);
    if (since === null) throw new ValidationError(`Invalid timestamp: ${body.since}`);
    let until = deps.clock.now().toISOString();
    if (body.until !== null && body.until !== undefined) {
      const parsed = parseRfc3339(body.until);
      if (parsed === null) throw new ValidationError(`Invalid timestamp: ${body.until}`);
      until = parsed;
    }
    if (since >= until) throw new ValidationError("'since' must be before 'until'");
    filter.since = since;
    filter.until = until;
  }
  if (body.label !== null && body.label !== undefined) {
    const label = body.label.trim() === '' ? 'default' : body.label;
    if (!aggregate.webhooks.some((webhook) => webhook.label === label)) throw new WebhookNotFoundError();
    filter.label = label;
  }
  const instanceId = aggregate.instance.id;
  const selected =
    eventIds.length > 0
      ? (await deps.deliveries.ofEvents(instanceId, eventIds)).filter(
          (delivery) => delivery.status !== 'pending' && (filter.label === undefined || delivery.label === filter.label),
        )
      : await deps.deliveries.select(instanceId, filter, maxReplay + 1);
  if (selected.length > maxReplay) throw new ValidationError(`Too many events to replay (max ${maxReplay})`);
  const enabled = new Set(aggregate.webhooks.filter((webhook) => webhook.enabled).map((webhook) => webhook.label));
  const now = deps.clock.now();
  let queued = 0;
  for (const delivery of selected) {
    if (!enabled.has(delivery.label)) continue;
    if (await deps.deliveries.requeue(delivery, now)) queued += 1;
  }
  return queued;
};

// ——— Fan-out and attempts (the dispatcher's use cases) ———

export interface DeliveryDeps {
  instances: InstanceRepository;
  vault: SecretVault;
  clock: Clock;
  logger: Logger;
  deliveries: DeliveryRepository;
  sender: WebhookSender;
  /** `instanceData.baseUrl`. */
  baseUrl: string;
  /** Delays before attempts 2…10 (the contract's by default; tests shorten them). */
  retryDelaysMs?: readonly number[];
  /** Reads an event stored in S3 (payloads too large for a queue message). */
  loadPointer(pointer: { bucket: string; key: string }): Promise<EventRecord>;
}

/**
 * Fans one event out to the instance's webhooks (spec §3.4 fan-out).
 * Input: the event (and its S3 pointer when it came as one). Output: the new deliveries, already
 * holding their first attempt (the caller sends it now; if it never does, the claim expires and
 * the retry scheduler sends it). Idempotent: a redelivered event creates nothing twice.
 */
export const fanOutEvent = async (
  deps: DeliveryDeps,
  record: EventRecord,
  pointer: { bucket: string; key: string } | null,
): Promise<{ aggregate: InstanceAggregate | null; created: Delivery[] }> => {
  const { aggregate, planned } = await planFanOut(deps, record, pointer);
  const created = await Promise.all(planned.map(async (delivery) => ((await deps.deliveries.create(delivery)) ? delivery : null)));
  return { aggregate, created: created.filter((delivery): delivery is Delivery => delivery !== null) };
};

/**
 * The deliveries of one event (one per enabled webhook that wants it), each holding its first
 * attempt, without writing them: the caller writes each (`deliveries.create`) before it lets the
 * event go (fanOutEvent writes them at once; the dispatcher writes them after the first attempt,
 * with its outcome, see `settledDelivery`).
 */
export const planFanOut = async (
  deps: Pick<DeliveryDeps, 'instances' | 'clock'>,
  record: EventRecord,
  pointer: { bucket: string; key: string } | null,
): Promise<{ aggregate: InstanceAggregate | null; planned: Delivery[] }> => {
  const aggregate = await deps.instances.get(record.accountId, record.instanceName);
  // A deleted instance (or a new one with the same name) receives nothing (spec §3.3).
  if (!aggregate || aggregate.instance.id !== record.instanceId) return { aggregate: null, planned: [] };
  const now = deps.clock.now();
  const nowIso = now.toISOString();
  const targets = aggregate.webhooks.filter((webhook) => webhook.enabled && webhook.url && wants(webhook.events, record.event));
  return {
    aggregate,
    planned: targets.map((webhook): Delivery => ({
      instanceId: record.instanceId,
      accountId: record.accountId,
      instanceName: record.instanceName,
      eventId: record.id,
      event: record.event,
      eventTimestamp: record.timestamp,
      label: webhook.label,
      url: targetUrl(webhook.url as string, webhook.byEvents, record.event),
      status: 'pending',
      attempts: 1,
      lastAttemptAt: null,
      lastStatusCode: null,
      lastError: null,
      lastLatencyMs: null,
      nextAttemptAt: nowIso,
      deliveredAt: null,
      createdAt: nowIso,
      claimedUntil: new Date(now.getTime() + claimMs).toISOString(),
      record: pointer ? null : record,
      recordPointer: pointer,
    })),
  };
};

/** The entry as `deliveries.complete(claimed, result)` leaves it: written in one go after a first attempt. */
export const settledDelivery = (claimed: Delivery, result: AttemptResult): Delivery => ({
  ...claimed,
  status: result.status,
  url: result.url,
  lastStatusCode: result.outcome?.statusCode ?? null,
  lastError: result.status === 'dead' ? result.error : (result.outcome?.error ?? null),
  lastLatencyMs: result.outcome?.latencyMs ?? null,
  lastAttemptAt: result.outcome ? result.at : claimed.lastAttemptAt,
  nextAttemptAt: result.status === 'pending' ? result.nextAttemptAt : null,
  deliveredAt: result.status === 'delivered' ? result.at : null,
  claimedUntil: null,
});

/**
 * Sends one claimed attempt with the webhook's current configuration and records its outcome:
 * 2xx → delivered; otherwise the next attempt per the schedule, or dead after the 10th.
 * A deleted instance or a disabled/removed webhook cancels the delivery (dead).
 */
export const sendAttempt = async (deps: DeliveryDeps, claimed: Delivery, known?: InstanceAggregate | null): Promise<AttemptResult> => {
  const result = await attemptOutcome(deps, claimed, known);
  if (!(await deps.deliveries.complete(claimed, result))) {
    deps.logger.warn('delivery moved on during an attempt', { instanceId: claimed.instanceId, eventId: claimed.eventId, label: claimed.label });
  }
  return result;
};

/** Sends one claimed attempt (as `sendAttempt`) and returns its outcome without recording it. */
export const attemptOutcome = async (deps: DeliveryDeps, claimed: Delivery, known?: InstanceAggregate | null): Promise<AttemptResult> => {
  const aggregate = known ?? (await deps.instances.get(claimed.accountId, claimed.instanceName));
  const finish = async (result: AttemptResult) => result;
  const cancel = (error: string) => finish({ status: 'dead', at: deps.clock.now().toISOString(), url: claimed.url, outcome: null, error });
  if (!aggregate || aggregate.instance.id !== claimed.instanceId) return cancel('instance deleted');
  const webhook = aggregate.webhooks.find((candidate) => candidate.label === claimed.label);
  if (!webhook || !webhook.enabled || !webhook.url) return cancel('webhook disabled');

  const { instance } = aggregate;
  const url = targetUrl(webhook.url, webhook.byEvents, claimed.event);
  let outcome: AttemptOutcome;
  try {
    const record = claimed.record ?? (await deps.loadPointer(claimed.recordPointer as { bucket: string; key: string }));
    const cipher = await deps.vault.instanceCipher(instance.id, instance.wrappedKey);
    const token = webhook.includeInstanceToken ? cipher.open(sealedFields.token, instance.tokenSealed) : null;
    const authorization = webhook.authorizationSealed === null ? null : cipher.open(sealedFields.webhookAuthorization(webhook.label), webhook.authorizationSealed);
    const secret = webhook.secretSealed === null ? null : cipher.open(sealedFields.webhookSecret(webhook.label), webhook.secretSealed);
    const envelope = envelopeOf({ ...record, data: dataFor(record, webhook.mediaBase64) }, { baseUrl: deps.baseUrl, instance: instance.name, token });
    outcome = await deps.sender.send({
      url,
      body: JSON.stringify(envelope),
      event: claimed.event,
      eventId: claimed.eventId,
      attempt: claimed.attempts,
      authorization,
      secret,
    });
  } catch (error) {
    deps.logger.error('webhook attempt could not be prepared', {
      instanceId: claimed.instanceId,
      eventId: claimed.eventId,
      label: claimed.label,
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    });
    outcome = { delivered: false, statusCode: null, error: 'delivery could not be prepared', latencyMs: 0 };
  }
  const now = deps.clock.now();
  const at = now.toISOString();
  if (outcome.delivered) return finish({ status: 'delivered', at, url, outcome });
  const delay = retryDelayMs(claimed.attempts, deps.retryDelaysMs ?? contractRetryDelaysMs);
  if (delay === null) return finish({ status: 'dead', at, url, outcome, error: outcome.error ?? 'failed' });
  return finish({ status: 'pending', at, url, outcome, nextAttemptAt: new Date(now.getTime() + delay).toISOString() });
};

/** Claims and sends the next attempt of a due delivery; `null` when another worker has it. */
export const attemptDue = async (deps: DeliveryDeps, due: Delivery): Promise<AttemptResult | null> => {
  if (due.attempts >= maxAttempts) {
    // The 10th attempt was claimed and never finished (a crash): it counts as failed.
    const result: AttemptResult = { status: 'dead', at: deps.clock.now().toISOString(), url: due.url, outcome: null, error: due.lastError ?? 'attempt interrupted' };
    return (await deps.deliveries.complete(due, result)) ? result : null;
  }
  const claimed = await deps.deliveries.claim(due, deps.clock.now());
  if (!claimed) return null;
  return sendAttempt(deps, claimed);
};
