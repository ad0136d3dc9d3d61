import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FairPool } from '../../../functions/events/dispatcher.ts';
import { createWebhookSender } from '../../../shared/adapters/http/webhook-sender.ts';
import { contractRetryDelaysMs, dataFor, retryDelayMs, signatureHeader, targetUrl, type WebhookRequest } from '../../../shared/domain/events/delivery.ts';
import { envelopeOf, type EventRecord } from '../../../shared/domain/events/event.ts';
import type { OutboundTargetPolicy } from '../../../shared/domain/ports/outbound-target.port.ts';

// Spec §3.4 (schedule, request, outcome) and §3.5 (signatures), without network.

const allowAll: OutboundTargetPolicy = { check: async () => ({ allowed: true }) };

const request = (overrides: Partial<WebhookRequest> = {}): WebhookRequest => ({
  url: 'https://hooks.example.com/wa',
  body: '{"event":"message.exchange"}',
  event: 'message.exchange',
  eventId: '01JSX3A8B2C4D6E8F0G2H4J6K8',
  attempt: 2,
  authorization: null,
  secret: null,
  ...overrides,
});

const record: EventRecord = {
  id: '01JSX3A8B2C4D6E8F0G2H4J6K8',
  event: 'message.exchange',
  instanceId: 'i-1',
  accountId: 'a-1',
  instanceName: 'sales',
  timestamp: '2026-04-28T10:30:00.123Z',
  data: { direction: 'incoming', message: { id: 'M1', text: 'hi', media: { type: 'image', mimetype: 'image/png', base64: 'AAAA' } } },
};

describe('retry schedule', () => {
  it('follows the contract delays 30 s … 10 h within ±20 %, and gives up after the 10th attempt', () => {
    // Prepare
    const minutes = [0.5, 2, 10, 30, 60, 120, 240, 360, 600];
    // Act
    const lowest = minutes.map((_, i) => retryDelayMs(i + 1, contractRetryDelaysMs, () => 0));
    const highest = minutes.map((_, i) => retryDelayMs(i + 1, contractRetryDelaysMs, () => 0.999999));
    // Assess
    expect(lowest).toEqual(minutes.map((m) => Math.round(m * 60_000 * 0.8)));
    highest.forEach((delay, i) => expect((delay as number) / (minutes[i]! * 60_000)).toBeCloseTo(1.2, 5));
    expect(retryDelayMs(10)).toBeNull();
  });

  it('takes a shortened schedule', () => {
    expect(retryDelayMs(3, [100, 200, 400], () => 0.5)).toBe(400);
  });
});

describe('request shape', () => {
  it('signs "<t>.<raw body>" with HMAC-SHA256 of the secret, lower-case hex', () => {
    // Act
    const header = signatureHeader('top-secret-key-123', '{"a":1}', 1_777_372_200);
    // Assess
    const expected = createHmac('sha256', 'top-secret-key-123').update('1777372200.{"a":1}').digest('hex');
    expect(header).toBe(`t=1777372200,v1=${expected}`);
  });

  it('appends /<event> with byEvents without doubling a trailing slash', () => {
    expect(targetUrl('https://app/wh/', true, 'message.exchange')).toBe('https://app/wh/message.exchange');
    expect(targetUrl('https://app/wh', true, 'call.update')).toBe('https://app/wh/call.update');
    expect(targetUrl('https://app/wh/', false, 'call.update')).toBe('https://app/wh/');
  });

  it('builds the envelope of §3.1 and keeps media.base64 only for mediaBase64 webhooks', () => {
    // Act
    const without = envelopeOf({ ...record, data: dataFor(record, false) }, { baseUrl: 'https://api.example.com', instance: 'sales', token: null });
    const withMedia = dataFor(record, true);
    // Assess
    expect(without).toEqual({
      event: 'message.exchange',
      data: { direction: 'incoming', message: { id: 'M1', text: 'hi', media: { type: 'image', mimetype: 'image/png' } } },
      instanceData: { baseUrl: 'https://api.example.com', instance: 'sales', token: null },
      id: record.id,
      timestamp: record.timestamp,
    });
    expect(withMedia).toBe(record.data);
  });
});

describe('webhook sender', () => {
  it('posts with the contract headers, Authorization verbatim and the signature', async () => {
    // Prepare
    let seen: { url: string; init: RequestInit } | null = null;
    const sender = createWebhookSender({
      outbound: allowAll,
      now: () => new Date(1_777_372_200_000),
      fetch: (async (url: string, init: RequestInit) => ((seen = { url, init }), new Response(null, { status: 204 }))) as typeof fetch,
    });
    // Act
    const outcome = await sender.send(request({ authorization: 'Bearer  x', secret: 'sixteen-chars-ok' }));
    // Assess
    expect(outcome).toMatchObject({ delivered: true, statusCode: 204, error: null });
    expect(seen!.init).toMatchObject({ method: 'POST', redirect: 'manual', body: '{"event":"message.exchange"}' });
    expect(seen!.init.headers).toEqual({
      'Content-Type': 'application/json',
      'User-Agent': 'zapfleet-webhook/1',
      'X-Zapfleet-Event': 'message.exchange',
      'X-Zapfleet-Event-Id': '01JSX3A8B2C4D6E8F0G2H4J6K8',
      'X-Zapfleet-Attempt': '2',
      Authorization: 'Bearer  x',
      'X-Zapfleet-Signature': signatureHeader('sixteen-chars-ok', '{"event":"message.exchange"}', 1_777_372_200),
    });
  });

  it('treats a redirect and a 5xx as failed attempts', async () => {
    // Prepare
    const statuses = [302, 502];
    const sender = createWebhookSender({ outbound: allowAll, fetch: (async () => new Response(null, { status: statuses.shift() as number })) as unknown as typeof fetch });
    // Act
    const redirect = await sender.send(request());
    const badGateway = await sender.send(request());
    // Assess
    expect(redirect).toMatchObject({ delivered: false, statusCode: 302, error: 'HTTP 302' });
    expect(badGateway).toMatchObject({ delivered: false, statusCode: 502, error: 'HTTP 502' });
  });

  it('reports a timeout with a null status code', async () => {
    // Prepare: a receiver that never answers.
    const hang = ((_url: string, init: RequestInit) =>
      new Promise((_resolve, reject) => init.signal?.addEventListener('abort', () => reject(new Error('aborted'))))) as unknown as typeof fetch;
    const sender = createWebhookSender({ outbound: allowAll, fetch: hang, timeoutMs: 1000 });
    // Act
    const outcome = await sender.send(request());
    // Assess
    expect(outcome).toMatchObject({ delivered: false, statusCode: null, error: 'timeout after 1s' });
  });

  it('refuses a destination the outbound policy forbids at send time, without sending', async () => {
    // Prepare
    let called = false;
    const sender = createWebhookSender({
      outbound: { check: async () => ({ allowed: false, reason: 'private' }) },
      fetch: (async () => ((called = true), new Response(null))) as unknown as typeof fetch,
    });
    // Act
    const outcome = await sender.send(request({ url: 'http://10.0.0.5/wh' }));
    // Assess
    expect(outcome).toMatchObject({ delivered: false, statusCode: null, error: 'destination address not allowed' });
    expect(called).toBe(false);
  });
});

describe('fair pool', () => {
  it('lets other webhooks run while a slow one holds its slots', async () => {
    // Prepare
    const pool = new FairPool(3, 1);
    const started: string[] = [];
    let releaseSlow: () => void = () => undefined;
    const slow = new Promise<void>((resolve) => (releaseSlow = resolve));
    // Act
    for (let i = 0; i < 5; i++) pool.submit('slow', async () => (started.push(`slow${i}`), slow));
    pool.submit('fast', async () => void started.push('fast'));
    await new Promise((resolve) => setTimeout(resolve, 10));
    // Assess
    expect(started).toEqual(['slow0', 'fast']);
    releaseSlow();
    await pool.idle();
    expect(started).toHaveLength(6);
  });
});
