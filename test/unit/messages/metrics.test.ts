import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../shared/domain/errors/domain-error.ts';
import { defaultSettings, emptyProfile, type InstanceAggregate, type InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import { statusOfReceipt, storedMessageOf, type MessageSummary } from '../../../shared/domain/messages/message.ts';
import type { MessageStore } from '../../../shared/domain/ports/message-store.port.ts';
import type { InstanceRepository } from '../../../shared/domain/ports/repositories.port.ts';
import { getMetrics, metricsOf, parseInstanceList, sumMetrics, TooManyInstancesError } from '../../../shared/domain/use-cases/metrics.use-case.ts';

const NOW = new Date('2026-04-28T10:30:00Z');
const ACCOUNT = 'acc-1';

const summary = (overrides: Partial<MessageSummary> = {}): MessageSummary => ({
  messageId: `m-${Math.random().toString(36).slice(2)}`,
  timestamp: '2026-04-28T10:00:00Z',
  direction: 'incoming',
  type: 'text',
  chatJid: '5511999990001@s.whatsapp.net',
  chatType: 'private',
  senderJid: '5511999990001@s.whatsapp.net',
  mediaType: null,
  isHistory: false,
  status: 'received',
  statusAt: '2026-04-28T10:00:00Z',
  ...overrides,
});

const record = (name: string): InstanceRecord => ({
  id: `id-${name}`,
  accountId: ACCOUNT,
  name,
  wrappedKey: 'w',
  tokenHash: `h-${name}`,
  tokenSealed: 's',
  status: 'connected',
  numberJid: null,
  profile: { ...emptyProfile },
  settings: { ...defaultSettings },
  proxy: null,
  s3: null,
  websocket: null,
  createdAt: '2026-04-01T00:00:00Z',
  updatedAt: '2026-04-01T00:00:00Z',
});

const errorOf = (run: () => unknown): unknown => {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
};

const rejectionOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

describe('parseInstanceList (#13 :instance)', () => {
  it('splits on commas, trims spaces around them, drops empty entries and repeats', () => {
    expect(parseInstanceList('sales')).toEqual(['sales']);
    expect(parseInstanceList(' sales , support,,ops ,sales')).toEqual(['sales', 'support', 'ops']);
  });

  it.each(['', ',', ' , ,, '])('answers 400 Instance name is required for %j', (raw) => {
    const error = errorOf(() => parseInstanceList(raw));
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('instance.name_required');
  });

  it('accepts 50 names and refuses 51 with Too many instances (max 50)', () => {
    const names = Array.from({ length: 51 }, (_, i) => `n${i}`);
    expect(parseInstanceList(names.slice(0, 50).join(','))).toHaveLength(50);
    const error = errorOf(() => parseInstanceList(names.join(',')));
    expect(error).toBeInstanceOf(TooManyInstancesError);
    expect((error as Error).message).toBe('Too many instances (max 50)');
  });
});

describe('metricsOf', () => {
  it('has every key, every bucket at zero and null dates when there are no messages', () => {
    expect(metricsOf('empty', [], NOW)).toEqual({
      instance: 'empty',
      totalMessages: 0,
      messagesReceived: 0,
      messagesSent: 0,
      messagesByType: { text: 0, image: 0, video: 0, audio: 0, document: 0, sticker: 0, location: 0, contact: 0, poll: 0, reaction: 0, interactive: 0, other: 0 },
      groupMessages: 0,
      individualMessages: 0,
      messagesWithMedia: 0,
      mediaByType: { image: 0, video: 0, audio: 0, document: 0, sticker: 0 },
      messagesByStatus: { pending: 0, sent: 0, delivered: 0, read: 0, played: 0, failed: 0 },
      uniqueChats: 0,
      uniqueGroups: 0,
      uniqueContacts: 0,
      messagesLast7Days: 0,
      messagesLast30Days: 0,
      firstMessageAt: null,
      lastMessageAt: null,
    });
  });

  it('counts directions, types, media, chats, statuses of outgoing messages and the time windows', () => {
    // Prepare
    const maria = '5511999990001@s.whatsapp.net';
    const joao = '5511999990002@s.whatsapp.net';
    const group = '120363041234567890@g.us';
    const messages = [
      summary({ chatJid: maria, timestamp: '2026-04-28T10:00:00Z' }),
      summary({ chatJid: maria, direction: 'outgoing', status: 'read', timestamp: '2026-04-27T10:00:00Z' }),
      summary({ chatJid: joao, direction: 'outgoing', status: 'error', type: 'image', mediaType: 'image', timestamp: '2026-04-10T10:00:00Z' }),
      summary({ chatJid: joao, type: 'audio', mediaType: 'ptt', timestamp: '2026-03-01T10:00:00Z' }),
      summary({ chatJid: group, chatType: 'group', type: 'buttons', timestamp: '2026-04-28T09:00:00Z' }),
      summary({ chatJid: group, chatType: 'group', type: 'poll_vote', timestamp: '2026-04-28T09:10:00Z' }),
      summary({ chatJid: 'status@broadcast', chatType: 'status', type: 'video', mediaType: 'ptv', timestamp: '2026-04-28T09:20:00Z' }),
      // Edits and revocations are not messages.
      summary({ chatJid: maria, type: 'message_edit', timestamp: '2026-04-28T10:10:00Z' }),
      summary({ chatJid: maria, type: 'message_revoke', timestamp: '2026-04-28T10:20:00Z' }),
    ];

    // Act
    const metrics = metricsOf('sales', messages, NOW);

    // Assess
    expect(metrics).toMatchObject({
      instance: 'sales',
      totalMessages: 7,
      messagesReceived: 5,
      messagesSent: 2,
      groupMessages: 2,
      individualMessages: 5,
      messagesWithMedia: 3,
      uniqueChats: 4,
      uniqueGroups: 1,
      uniqueContacts: 2,
      messagesLast7Days: 5,
      messagesLast30Days: 6,
      firstMessageAt: '2026-03-01T10:00:00Z',
      lastMessageAt: '2026-04-28T10:00:00Z',
    });
    expect(metrics.messagesByType).toEqual({ text: 2, image: 1, video: 1, audio: 1, document: 0, sticker: 0, location: 0, contact: 0, poll: 0, reaction: 0, interactive: 1, other: 1 });
    expect(metrics.mediaByType).toEqual({ image: 1, video: 1, audio: 1, document: 0, sticker: 0 });
    expect(metrics.messagesByStatus).toEqual({ pending: 0, sent: 0, delivered: 0, read: 1, played: 0, failed: 1 });
  });
});

describe('sumMetrics', () => {
  it('sums numbers and buckets, takes the earliest first and the latest last message', () => {
    // Prepare
    const a = metricsOf('a', [summary({ timestamp: '2026-04-20T10:00:00Z' }), summary({ type: 'image', mediaType: 'image', timestamp: '2026-04-21T10:00:00Z' })], NOW);
    const b = metricsOf('b', [summary({ direction: 'outgoing', status: 'delivered', timestamp: '2026-04-25T10:00:00Z' })], NOW);
    const empty = metricsOf('c', [], NOW);

    // Act
    const sum = sumMetrics('a,b,c', [a, empty, b]);

    // Assess
    expect(sum).toMatchObject({ instance: 'a,b,c', totalMessages: 3, messagesReceived: 2, messagesSent: 1, uniqueChats: 2, firstMessageAt: '2026-04-20T10:00:00Z', lastMessageAt: '2026-04-25T10:00:00Z' });
    expect(sum.messagesByType).toMatchObject({ text: 2, image: 1 });
    expect(sum.messagesByStatus.delivered).toBe(1);
  });
});

describe('getMetrics ownership (#13 error table)', () => {
  const instances = (names: string[]): InstanceRepository =>
    ({
      get: async (accountId: string, name: string): Promise<InstanceAggregate | null> =>
        accountId === ACCOUNT && names.includes(name) ? { instance: record(name), webhooks: [], chatwootRequest: null } : null,
    }) as InstanceRepository;
  const store = (byInstance: Record<string, MessageSummary[]>): MessageStore => ({
    save: async () => undefined,
    updateStatus: async () => false,
    summaries: async (instanceId) => byInstance[instanceId] ?? [],
  });
  const deps = { instances: instances(['sales', 'support']), messages: store({ 'id-sales': [summary()], 'id-support': [summary(), summary()] }), clock: { now: () => NOW } };
  const account = { kind: 'account', accountId: ACCOUNT } as const;
  const own = { kind: 'instance', accountId: ACCOUNT, instanceId: 'id-sales', instanceName: 'sales' } as const;

  it('sums a list of the account and echoes it normalised', async () => {
    const metrics = await getMetrics(deps, account, 'sales , support');
    expect(metrics.instance).toBe('sales,support');
    expect(metrics.totalMessages).toBe(3);
  });

  it('lets a TokenInstance read its own instance', async () => {
    expect((await getMetrics(deps, own, 'sales')).totalMessages).toBe(1);
  });

  it('answers 403 to a TokenInstance naming another instance, even an unknown one, before any 404', async () => {
    for (const raw of ['support', 'sales,ghost', 'ghost']) {
      const error = await rejectionOf(getMetrics(deps, own, raw));
      expect((error as DomainError).code).toBe('auth.instance_mismatch');
    }
  });

  it('answers 404 to a TokenAccount when any listed name is not in the account', async () => {
    for (const raw of ['ghost', 'sales,ghost', 'sales,a#b']) {
      const error = await rejectionOf(getMetrics(deps, account, raw));
      expect((error as DomainError).code).toBe('instance.not_found');
    }
  });
});

describe('storedMessageOf / statusOfReceipt', () => {
  it('stores an incoming exchange as received and an outgoing one as sent', () => {
    const exchange = {
      id: 'ABC',
      type: 'image',
      direction: 'incoming',
      fromMe: false,
      timestamp: '2026-04-28T10:00:00Z',
      chat: { jid: '120363041234567890@g.us', type: 'group' },
      sender: { jid: '5511999990001@s.whatsapp.net' },
      media: { type: 'image' },
    };
    expect(storedMessageOf('i1', exchange, { isHistory: false, now: '2026-04-28T10:00:01Z' })).toMatchObject({
      instanceId: 'i1',
      messageId: 'ABC',
      direction: 'incoming',
      type: 'image',
      chatJid: '120363041234567890@g.us',
      chatType: 'group',
      senderJid: '5511999990001@s.whatsapp.net',
      mediaType: 'image',
      status: 'received',
      exchange,
    });
    expect(storedMessageOf('i1', { ...exchange, fromMe: true, direction: 'outgoing' }, { isHistory: true, now: 'x' })).toMatchObject({ status: 'sent', isHistory: true });
    expect(storedMessageOf('i1', { ...exchange, id: undefined }, { isHistory: false, now: 'x' })).toBeNull();
  });

  it('maps receipts to stored statuses and ignores the ones that do not change a status', () => {
    expect(['delivered', 'read', 'played', 'server_error', 'sender', 'read_self', 'retry'].map(statusOfReceipt)).toEqual(['delivered', 'read', 'played', 'error', null, null, null]);
  });
});
