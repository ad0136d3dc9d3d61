import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * GET /api/instance/metrics/:instance (spec #13) end to end: messages injected through the
 * sandbox reach real Baileys, the runner stores them, and the metrics are computed from the store.
 */

const rfc3339Seconds = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/;

const zeroMetrics = (instance: string) => ({
  instance,
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

describe('instance metrics', () => {
  let stack: TestStack;
  const tokens: Record<string, string> = {};

  const create = async (name: string) => {
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name } });
    expect(created.status).toBe(201);
    tokens[name] = created.body.instance.token as string;
  };
  const connect = async (name: string) => {
    await create(name);
    await stack.call('GET', `/api/instance/connect/${name}`, { token: tokens[name] });
    await waitFor(async () => {
      const listed = await stack.call('GET', `/api/instance/list?instanceName=${name}`, { token: stack.accountToken });
      return listed.body.instances?.[0]?.status === 'connected';
    }, `${name} to connect`);
  };
  const inbound = async (name: string, from: string, text: string) => {
    const sent = await stack.call('POST', `/sandbox/inbound/${name}`, { token: tokens[name], body: { from, text } });
    expect(sent.status).toBe(202);
  };
  const metrics = (path: string, token = stack.accountToken) => stack.call('GET', `/api/instance/metrics/${path}`, { token });
  const metricsWhen = (path: string, total: number) =>
    waitFor(async () => {
      const answer = await metrics(path);
      return answer.status === 200 && answer.body.metrics.totalMessages >= total ? answer : null;
    }, `${total} stored messages of ${path}`);

  beforeAll(async () => {
    stack = await startTestStack({ ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' }, { defaultRateLimits: { global: 100_000 } });
    await connect('metrics-a');
    await connect('metrics-b');
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it('answers every key, with zeros and null dates, for an instance without messages', async () => {
    // Prepare
    await create('metrics-empty');

    // Act
    const answer = await metrics('metrics-empty');

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ success: true, message: 'Metrics retrieved successfully', metrics: zeroMetrics('metrics-empty') });
  });

  it('counts the inbound messages the instance received', async () => {
    // Prepare
    const before = new Date(Date.now() - 2_000).toISOString().slice(0, 19);
    await inbound('metrics-a', '5511944443333', 'bom dia');
    await inbound('metrics-a', '5511944443333', 'tudo bem?');
    await inbound('metrics-a', '5511955554444', 'oi');

    // Act
    const answer = await metricsWhen('metrics-a', 3);

    // Assess
    const got = answer.body.metrics;
    expect(got).toMatchObject({
      instance: 'metrics-a',
      totalMessages: 3,
      messagesReceived: 3,
      messagesSent: 0,
      groupMessages: 0,
      individualMessages: 3,
      messagesWithMedia: 0,
      uniqueChats: 2,
      uniqueGroups: 0,
      uniqueContacts: 2,
      messagesLast7Days: 3,
      messagesLast30Days: 3,
    });
    expect(got.messagesByType).toEqual({ ...zeroMetrics('').messagesByType, text: 3 });
    expect(got.mediaByType).toEqual(zeroMetrics('').mediaByType);
    expect(got.messagesByStatus).toEqual(zeroMetrics('').messagesByStatus);
    expect(got.firstMessageAt).toMatch(rfc3339Seconds);
    expect(got.lastMessageAt).toMatch(rfc3339Seconds);
    expect(got.firstMessageAt >= `${before}Z`).toBe(true);
    expect(got.lastMessageAt >= got.firstMessageAt).toBe(true);
  });

  it('sums a comma-separated list into one object and echoes the list normalised', async () => {
    // Prepare
    await inbound('metrics-b', '5511966665555', 'olá');
    const a = (await metricsWhen('metrics-a', 3)).body.metrics;
    const b = (await metricsWhen('metrics-b', 1)).body.metrics;

    // Act
    const answer = await metrics(encodeURIComponent('metrics-a , metrics-b,'));

    // Assess
    expect(answer.status).toBe(200);
    const got = answer.body.metrics;
    expect(got.instance).toBe('metrics-a,metrics-b');
    expect(got.totalMessages).toBe(a.totalMessages + b.totalMessages);
    expect(got.messagesReceived).toBe(a.messagesReceived + b.messagesReceived);
    expect(got.messagesByType.text).toBe(a.messagesByType.text + b.messagesByType.text);
    expect(got.uniqueChats).toBe(a.uniqueChats + b.uniqueChats);
    expect(got.firstMessageAt).toBe([a.firstMessageAt, b.firstMessageAt].sort()[0]);
    expect(got.lastMessageAt).toBe([a.lastMessageAt, b.lastMessageAt].sort()[1]);
  });

  it('lets a TokenInstance read its own instance and answers 403 for any other name, known or not', async () => {
    const own = await metrics('metrics-a', tokens['metrics-a']);
    expect(own.status).toBe(200);
    expect(own.body.metrics.instance).toBe('metrics-a');
    for (const path of ['metrics-b', 'metrics-a,metrics-b', 'no-such-instance']) {
      const answer = await metrics(path, tokens['metrics-a']);
      expect(answer.status).toBe(403);
      expect(answer.body).toEqual({ success: false, error: { message: 'Instance token does not match the requested instance' } });
    }
  });

  it('answers 404 to a TokenAccount when any listed name is not in the account', async () => {
    const stranger = await stack.createAccount({ name: 'stranger' });
    for (const [path, token] of [
      ['metrics-a,no-such-instance', stack.accountToken],
      ['metrics-a', stranger.token],
    ] as const) {
      const answer = await metrics(path, token);
      expect(answer.status).toBe(404);
      expect(answer.body).toEqual({ success: false, error: { message: 'Instance not found' } });
    }
  });

  it('answers 400 for an empty list and for more than 50 names, before ownership', async () => {
    for (const path of ['', ',', encodeURIComponent(' , ')]) {
      const answer = await metrics(path, tokens['metrics-a']);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({ success: false, error: { message: 'Instance name is required' } });
    }
    const names = Array.from({ length: 51 }, (_, i) => `ghost-${i}`).join(',');
    const tooMany = await metrics(names, tokens['metrics-a']);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body).toEqual({ success: false, error: { message: 'Too many instances (max 50)' } });
  });
});
