import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * Events end to end in the embedded stack: the sandbox drives real Baileys, the runner emits,
 * the events queue feeds the webhook dispatcher (a real local receiver) and the WebSocket hub.
 */

interface Received {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads are asserted field by field
  body: { event: string; id: string; timestamp: string; data: Record<string, any>; instanceData: Record<string, unknown> };
}

describe('events through the sandbox', () => {
  let stack: TestStack;
  let receiver: Server;
  const received: Received[] = [];

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(body) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    stack = await startTestStack({ ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' }, { defaultRateLimits: { global: 100_000 } });
  });
  afterAll(async () => {
    await stack?.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  it('delivers instance.state and an inbound message.exchange to the webhook and the WebSocket, with the same event id', async () => {
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const created = await stack.call('POST', '/api/instance/new', {
      token: stack.accountToken,
      body: { name: 'events', webhookEnabled: true, webhookURL: hookUrl, webhookAuthorization: 'Bearer receiver-secret', websocketEnabled: true },
    });
    expect(created.status).toBe(201);
    const token = created.body.instance.token as string;

    await stack.call('GET', '/api/instance/connect/events', { token });
    const connected = await waitFor(() => received.find((r) => r.body.event === 'instance.state' && r.body.data.state === 'connected'), 'instance.state connected');
    expect(connected.headers.authorization).toBe('Bearer receiver-secret');
    expect(connected.body.instanceData).toEqual({ baseUrl: stack.url, instance: 'events', token });
    expect(connected.body.data.numberJid).toMatch(/@s\.whatsapp\.net$/);
    expect(received.some((r) => r.body.event === 'instance.state' && r.body.data.state === 'qr_ready' && typeof r.body.data.qrCode === 'string')).toBe(true);

    const frames: Received['body'][] = [];
    const socket = new WebSocket(`${stack.url.replace('http', 'ws')}/ws/events?token=${token}`);
    socket.on('message', (data) => frames.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));

    const sent = await stack.call('POST', '/sandbox/inbound/events', { token, body: { from: '5511944443333', text: 'bom dia', pushName: 'Maria' } });
    expect(sent.status).toBe(202);
    const hook = await waitFor(() => received.find((r) => r.body.event === 'message.exchange' && r.body.data.id === sent.body.messageId), 'message.exchange on the webhook');
    expect(hook.headers['x-zapfleet-event']).toBe('message.exchange');
    expect(hook.headers['x-zapfleet-event-id']).toBe(hook.body.id);
    expect(hook.body.data.message).toMatchObject({
      id: sent.body.messageId,
      type: 'text',
      direction: 'incoming',
      fromMe: false,
      chat: { jid: '5511944443333@s.whatsapp.net', type: 'private' },
      sender: { jid: '5511944443333@s.whatsapp.net', name: 'Maria' },
      content: { text: 'bom dia' },
    });
    expect(hook.body.timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    const frame = await waitFor(() => frames.find((f) => f.event === 'message.exchange'), 'the WebSocket frame');
    expect(frame.id).toBe(hook.body.id);
    expect(frame.data).toEqual(hook.body.data);
    socket.close();

    const log = await stack.call('GET', '/api/events/deliveries/events?status=delivered', { token });
    expect(log.status).toBe(200);
    expect(log.body.deliveries.some((entry: { eventId: string }) => entry.eventId === hook.body.id)).toBe(true);
  });

  it('delivers text with characters outside the Basic Multilingual Plane (emoji) unchanged', async () => {
    // Prepare
    const hookUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/emoji`;
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name: 'emoji', webhookEnabled: true, webhookURL: hookUrl } });
    const token = created.body.instance.token as string;
    await stack.call('GET', '/api/instance/connect/emoji', { token });
    await waitFor(() => received.find((r) => r.body.event === 'instance.state' && r.body.instanceData.instance === 'emoji' && r.body.data.state === 'connected'), 'emoji connected');
    const text = 'olá 👋🏽 tudo bem? 𝄞 ✓';

    // Act
    const sent = await stack.call('POST', '/sandbox/inbound/emoji', { token, body: { from: '5511944442222', text } });

    // Assess
    expect(sent.status).toBe(202);
    const hook = await waitFor(() => received.find((r) => r.body.event === 'message.exchange' && r.body.data.id === sent.body.messageId), 'the emoji message on the webhook');
    expect(hook.body.data.message.content).toEqual({ text });
  });
});
