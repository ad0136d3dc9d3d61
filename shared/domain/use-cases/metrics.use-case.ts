import type { Principal } from '../auth/principal.ts';
import { DomainError } from '../errors/domain-error.ts';
import type { InstanceRecord } from '../instance/instance.ts';
import type { MessageSummary } from '../messages/message.ts';
import type { MessageStore } from '../ports/message-store.port.ts';
import type { InstanceRepository } from '../ports/repositories.port.ts';
import type { Clock } from '../ports/runtime.port.ts';

/** At most this many names in one metrics call (spec #13). */
export const maxMetricsInstances = 50;

/** 400 `Too many instances (max 50)`: no domain code of its own, rendered by the handler. */
export class TooManyInstancesError extends Error {
  constructor() {
    super(`Too many instances (max ${maxMetricsInstances})`);
    this.name = 'TooManyInstancesError';
  }
}

export const messageTypeBuckets = ['text', 'image', 'video', 'audio', 'document', 'sticker', 'location', 'contact', 'poll', 'reaction', 'interactive', 'other'] as const;
export const mediaTypeBuckets = ['image', 'video', 'audio', 'document', 'sticker'] as const;
export const statusBuckets = ['pending', 'sent', 'delivered', 'read', 'played', 'failed'] as const;

type Counts<K extends string> = Record<K, number>;

export interface Metrics {
  instance: string;
  totalMessages: number;
  messagesReceived: number;
  messagesSent: number;
  messagesByType: Counts<(typeof messageTypeBuckets)[number]>;
  groupMessages: number;
  individualMessages: number;
  messagesWithMedia: number;
  mediaByType: Counts<(typeof mediaTypeBuckets)[number]>;
  messagesByStatus: Counts<(typeof statusBuckets)[number]>;
  uniqueChats: number;
  uniqueGroups: number;
  uniqueContacts: number;
  messagesLast7Days: number;
  messagesLast30Days: number;
  firstMessageAt: string | null;
  lastMessageAt: string | null;
}

const zeros = <K extends string>(names: readonly K[]): Counts<K> => Object.fromEntries(names.map((name) => [name, 0])) as Counts<K>;

/**
 * `:instance` of #13 → the names: comma-separated, spaces around commas allowed, empty entries
 * dropped, duplicates counted once. Throws 400 `Instance name is required` when nothing is left
 * and `TooManyInstancesError` past 50 names (counted as listed).
 */
export const parseInstanceList = (raw: string): string[] => {
  const listed = raw
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  if (listed.length === 0) throw new DomainError('instance.name_required');
  if (listed.length > maxMetricsInstances) throw new TooManyInstancesError();
  return [...new Set(listed)];
};

/**
 * Ownership of every listed name, in the order of #13's table: a TokenInstance naming anything
 * but its own instance → 403 (whether or not the name exists); a TokenAccount naming any instance
 * it does not own → 404.
 */
export const resolveMetricsInstances = async (deps: { instances: InstanceRepository }, principal: Principal, names: string[]): Promise<InstanceRecord[]> => {
  if (principal.kind === 'instance' && names.some((name) => name !== principal.instanceName)) throw new DomainError('auth.instance_mismatch');
  if (names.some((name) => name.length > 64 || name.includes('#'))) throw new DomainError('instance.not_found');
  const found = await Promise.all(names.map((name) => deps.instances.get(principal.accountId, name)));
  return found.map((aggregate) => {
    if (!aggregate) throw new DomainError('instance.not_found');
    return aggregate.instance;
  });
};

/** Exchange types → `messagesByType` buckets; `null` for edits and revocations (not messages). */
export const typeBucketOf = (type: string): (typeof messageTypeBuckets)[number] | null => {
  switch (type) {
    case 'message_edit':
    case 'message_revoke':
      return null;
    case 'ptt':
      return 'audio';
    case 'ptv':
      return 'video';
    case 'buttons':
    case 'list':
    case 'interactive':
      return 'interactive';
    default:
      return (messageTypeBuckets as readonly string[]).includes(type) ? (type as (typeof messageTypeBuckets)[number]) : 'other';
  }
};

const mediaBucketOf = (mediaType: string): (typeof mediaTypeBuckets)[number] | null => {
  const bucket = mediaType === 'ptt' ? 'audio' : mediaType === 'ptv' ? 'video' : mediaType;
  return (mediaTypeBuckets as readonly string[]).includes(bucket) ? (bucket as (typeof mediaTypeBuckets)[number]) : null;
};

const statusBucketOf = (status: MessageSummary['status']): (typeof statusBuckets)[number] | null => {
  if (status === 'error') return 'failed';
  return status === 'received' ? null : status;
};

const dayMs = 24 * 60 * 60 * 1000;

/** The counters of one instance's stored messages (spec #13). */
export const metricsOf = (label: string, messages: readonly MessageSummary[], now: Date): Metrics => {
  const metrics: Metrics = {
    instance: label,
    totalMessages: 0,
    messagesReceived: 0,
    messagesSent: 0,
    messagesByType: zeros(messageTypeBuckets),
    groupMessages: 0,
    individualMessages: 0,
    messagesWithMedia: 0,
    mediaByType: zeros(mediaTypeBuckets),
    messagesByStatus: zeros(statusBuckets),
    uniqueChats: 0,
    uniqueGroups: 0,
    uniqueContacts: 0,
    messagesLast7Days: 0,
    messagesLast30Days: 0,
    firstMessageAt: null,
    lastMessageAt: null,
  };
  const chats = new Set<string>();
  const groups = new Set<string>();
  const contacts = new Set<string>();
  for (const message of messages) {
    const typeBucket = typeBucketOf(message.type);
    if (!typeBucket) continue;
    metrics.totalMessages++;
    metrics.messagesByType[typeBucket]++;
    if (message.direction === 'outgoing') {
      metrics.messagesSent++;
      const statusBucket = statusBucketOf(message.status);
      if (statusBucket) metrics.messagesByStatus[statusBucket]++;
    } else metrics.messagesReceived++;
    chats.add(message.chatJid);
    if (message.chatType === 'group') {
      metrics.groupMessages++;
      groups.add(message.chatJid);
    } else {
      metrics.individualMessages++;
      if (message.chatType === 'private') contacts.add(message.chatJid);
    }
    const mediaBucket = message.mediaType ? mediaBucketOf(message.mediaType) : null;
    if (message.mediaType) metrics.messagesWithMedia++;
    if (mediaBucket) metrics.mediaByType[mediaBucket]++;
    const age = now.getTime() - Date.parse(message.timestamp);
    if (age <= 7 * dayMs) metrics.messagesLast7Days++;
    if (age <= 30 * dayMs) metrics.messagesLast30Days++;
    if (metrics.firstMessageAt === null || message.timestamp < metrics.firstMessageAt) metrics.firstMessageAt = message.timestamp;
    if (metrics.lastMessageAt === null || message.timestamp > metrics.lastMessageAt) metrics.lastMessageAt = message.timestamp;
  }
  metrics.uniqueChats = chats.size;
  metrics.uniqueGroups = groups.size;
  metrics.uniqueContacts = contacts.size;
  return metrics;
};

const sumCounts = <K extends string>(a: Counts<K>, b: Counts<K>): Counts<K> =>
  Object.fromEntries(Object.keys(a).map((key) => [key, a[key as K] + b[key as K]])) as Counts<K>;

/** Several instances' metrics as one: numbers summed, first = minimum, last = maximum. */
export const sumMetrics = (label: string, parts: readonly Metrics[]): Metrics =>
  parts.reduce<Metrics>(
    (sum, part) => ({
      instance: label,
      totalMessages: sum.totalMessages + part.totalMessages,
      messagesReceived: sum.messagesReceived + part.messagesReceived,
      messagesSent: sum.messagesSent + part.messagesSent,
      messagesByType: sumCounts(sum.messagesByType, part.messagesByType),
      groupMessages: sum.groupMessages + part.groupMessages,
      individualMessages: sum.individualMessages + part.individualMessages,
      messagesWithMedia: sum.messagesWithMedia + part.messagesWithMedia,
      mediaByType: sumCounts(sum.mediaByType, part.mediaByType),
      messagesByStatus: sumCounts(sum.messagesByStatus, part.messagesByStatus),
      uniqueChats: sum.uniqueChats + part.uniqueChats,
      uniqueGroups: sum.uniqueGroups + part.uniqueGroups,
      uniqueContacts: sum.uniqueContacts + part.uniqueContacts,
      messagesLast7Days: sum.messagesLast7Days + part.messagesLast7Days,
      messagesLast30Days: sum.messagesLast30Days + part.messagesLast30Days,
      firstMessageAt: [sum.firstMessageAt, part.firstMessageAt].filter((at): at is string => at !== null).sort()[0] ?? null,
      lastMessageAt: [sum.lastMessageAt, part.lastMessageAt].filter((at): at is string => at !== null).sort().at(-1) ?? null,
    }),
    metricsOf(label, [], new Date(0)),
  );

export interface MetricsDeps {
  instances: InstanceRepository;
  messages: MessageStore;
  clock: Clock;
}

/** #13: parse the list, check ownership, read every instance's stored messages, sum. */
export const getMetrics = async (deps: MetricsDeps, principal: Principal, rawNames: string): Promise<Metrics> => {
  const names = parseInstanceList(rawNames);
  const instances = await resolveMetricsInstances(deps, principal, names);
  const now = deps.clock.now();
  const parts = await Promise.all(instances.map(async (instance) => metricsOf(instance.name, await deps.messages.summaries(instance.id), now)));
  return sumMetrics(names.join(','), parts);
};
