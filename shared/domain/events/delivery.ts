import { createHmac } from 'node:crypto';
import type { EventName } from '../instance/instance.ts';
import type { EventRecord } from './event.ts';

/**
 * One entry of the webhook delivery log (spec §3.4, Z2): one event for one webhook.
 * Timestamps are ISO strings with milliseconds (they order the due index); the API renders them
 * with second precision.
 */
export const deliveryStatuses = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof deliveryStatuses)[number];

export interface Delivery {
  instanceId: string;
  accountId: string;
  instanceName: string;
  eventId: string;
  event: EventName;
  /** The event's own timestamp (Z2 `since`/`until` filter on it). */
  eventTimestamp: string;
  label: string;
  /** Where the last attempt went (the webhook's URL when created). */
  url: string | null;
  status: DeliveryStatus;
  attempts: number;
  lastAttemptAt: string | null;
  lastStatusCode: number | null;
  lastError: string | null;
  lastLatencyMs: number | null;
  /** Pending only. */
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  createdAt: string;
  /** An attempt in flight holds the delivery until then; a crashed attempt is retried after it. */
  claimedUntil: string | null;
  /** The event, or where it lies in S3 when it was too large for the queue. */
  record: EventRecord | null;
  recordPointer: { bucket: string; key: string } | null;
}

/** Up to 10 attempts (spec §3.4). */
export const maxAttempts = 10;

/** Delay before attempts 2…10, measured from the previous failure (spec §3.4). */
export const contractRetryDelaysMs: readonly number[] = [
  30_000,
  2 * 60_000,
  10 * 60_000,
  30 * 60_000,
  60 * 60_000,
  2 * 60 * 60_000,
  4 * 60 * 60_000,
  6 * 60 * 60_000,
  10 * 60 * 60_000,
];

/** How long an attempt holds its delivery: the 10 s send timeout plus margin. */
export const claimMs = 30_000;
/** Entries are kept 7 days (spec Z2). */
export const retentionSeconds = 7 * 24 * 60 * 60;

/**
 * The delay before the attempt after `failedAttempts` failures, with ±20 % jitter, or `null`
 * when the delivery is dead. `random` returns [0, 1).
 */
export const retryDelayMs = (
  failedAttempts: number,
  schedule: readonly number[] = contractRetryDelaysMs,
  random: () => number = Math.random,
): number | null => {
  if (failedAttempts >= maxAttempts) return null;
  const base = schedule[failedAttempts - 1] ?? schedule.at(-1) ?? 0;
  return Math.round(base * (0.8 + 0.4 * random()));
};

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` (spec §3.5). */
export const signatureHeader = (secret: string, rawBody: string, unixSeconds: number): string => {
  const v1 = createHmac('sha256', Buffer.from(secret, 'utf8')).update(`${unixSeconds}.`).update(Buffer.from(rawBody, 'utf8')).digest('hex');
  return `t=${unixSeconds},v1=${v1}`;
};

/** `url`, or `url/<event>` with `byEvents` (a trailing `/` is not doubled). */
export const targetUrl = (url: string, byEvents: boolean, event: string): string => (byEvents ? `${url.replace(/\/+$/, '')}/${event}` : url);

/** The result of one HTTP attempt. */
export interface AttemptOutcome {
  delivered: boolean;
  /** `null` for timeouts, network errors and refused destinations. */
  statusCode: number | null;
  error: string | null;
  latencyMs: number;
}

/** What a webhook receives for one attempt (spec §3.4 request). */
export interface WebhookRequest {
  url: string;
  body: string;
  event: EventName;
  eventId: string;
  attempt: number;
  authorization: string | null;
  secret: string | null;
}

export interface WebhookSender {
  send(request: WebhookRequest): Promise<AttemptOutcome>;
}

/**
 * `message.exchange` data without `message.media.base64` (and `base64Omitted`), for channels
 * without `mediaBase64`. Other data is returned as is.
 */
export const withoutMediaBase64 = (data: Record<string, unknown>): Record<string, unknown> => {
  const message = data.message;
  if (message === null || typeof message !== 'object') return data;
  const media = (message as Record<string, unknown>).media;
  if (media === null || typeof media !== 'object' || !('base64' in media || 'base64Omitted' in media)) return data;
  const { base64: _dropped, base64Omitted: _omitted, ...rest } = media as Record<string, unknown>;
  return { ...data, message: { ...message, media: rest } };
};

/** The data a webhook receives: `message.media.base64` only for webhooks with `mediaBase64`. */
export const dataFor = (record: EventRecord, mediaBase64: boolean): Record<string, unknown> => (mediaBase64 ? record.data : withoutMediaBase64(record.data));

export interface DeliveryFilter {
  status?: DeliveryStatus;
  /** Only `delivered` or `dead` entries (replay selection). */
  finished?: boolean;
  label?: string;
  event?: string;
  /** On the event timestamp: `since` inclusive, `until` exclusive (ISO). */
  since?: string;
  until?: string;
}

export interface DeliveryPage {
  deliveries: Delivery[];
  nextCursor: string | null;
}

/** What an attempt changes on its delivery. */
export type AttemptResult =
  | { status: 'delivered'; at: string; url: string | null; outcome: AttemptOutcome }
  | { status: 'pending'; at: string; url: string | null; outcome: AttemptOutcome; nextAttemptAt: string }
  | { status: 'dead'; at: string; url: string | null; outcome: AttemptOutcome | null; error: string };

/** The delivery log and its due index (DynamoDB: `delivery-repository.dynamodb.ts`). */
export interface DeliveryRepository {
  /** Writes the delivery unless its (event, label) entry already exists; `false` then. */
  create(delivery: Delivery): Promise<boolean>;
  get(instanceId: string, eventId: string, label: string): Promise<Delivery | null>;
  /** Pending deliveries whose next attempt (or expired claim) is due at `now`. */
  due(now: Date, limitPerShard?: number): Promise<Delivery[]>;
  /**
   * Takes the next attempt of a due delivery: only one caller wins for a given attempt number.
   * Returns the claimed delivery (attempts incremented), or `null` when someone else has it.
   */
  claim(delivery: Delivery, now: Date, holdMs?: number): Promise<Delivery | null>;
  /** Records the outcome of the claimed attempt (same attempt number and claim); `false` when the delivery moved on meanwhile. */
  complete(claimed: Delivery, result: AttemptResult): Promise<boolean>;
  /** Newest first. */
  list(instanceId: string, filter: DeliveryFilter, limit: number, cursor: string | null): Promise<DeliveryPage>;
  /** Every entry of these events (any label). */
  ofEvents(instanceId: string, eventIds: readonly string[]): Promise<Delivery[]>;
  /** Entries matching the filter, stopping after `max` (callers detect "too many"). */
  select(instanceId: string, filter: DeliveryFilter, max: number): Promise<Delivery[]>;
  /** A finished (delivered or dead) entry starts over: pending, 0 attempts, due now. */
  requeue(delivery: Delivery, now: Date): Promise<boolean>;
  /** Pending deliveries of a webhook become dead with `reason` (disabled webhook). */
  cancelPending(instanceId: string, label: string, reason: string, now: Date): Promise<number>;
}
