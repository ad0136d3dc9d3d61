import type { EventName } from '../instance/instance.ts';

/**
 * One event as produced by a runner (spec §3). The `id` (ULID) and `timestamp` (ms) are fixed
 * when the event is produced and never change: every webhook, the WebSocket, every retry and
 * every replay carry them, so receivers can deduplicate.
 */
export interface EventRecord {
  id: string;
  event: EventName;
  instanceId: string;
  accountId: string;
  instanceName: string;
  /** RFC 3339 UTC with milliseconds. */
  timestamp: string;
  data: Record<string, unknown>;
}

/** The envelope receivers get (spec §3.1). */
export interface EventEnvelope {
  event: EventName;
  data: Record<string, unknown>;
  instanceData: { baseUrl: string; instance: string; token: string | null };
  id: string;
  timestamp: string;
}

export const envelopeOf = (record: EventRecord, instanceData: EventEnvelope['instanceData']): EventEnvelope => ({
  event: record.event,
  data: record.data,
  instanceData,
  id: record.id,
  timestamp: record.timestamp,
});

/** Does a channel configured with `events` (empty = all) want this event? */
export const wants = (events: readonly string[], event: EventName): boolean => events.length === 0 || events.includes(event);

/** Runner → events queue. At least once: a publish that throws must be retried by the caller or lost loudly. */
export interface EventPublisher {
  publish(record: EventRecord): Promise<void>;
}
