import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { undiciPost } from '../../../shared/adapters/http/undici-post.ts';
import { createWebhookSender, type WebhookSenderOptions } from '../../../shared/adapters/http/webhook-sender.ts';
import type { WebhookRequest } from '../../../shared/domain/events/delivery.ts';
import type { OutboundTargetPolicy } from '../../../shared/domain/ports/outbound-target.port.ts';

/**
 * Both webhook transports against a real HTTP receiver: the global `fetch` (Lambda bundles) and
 * undici's `request` (the embedded stack). Same headers and body, no redirect followed.
 */

const allowAll: OutboundTargetPolicy = { check: async () => ({ allowed: true }) };

describe.each<[string, Partial<WebhookSenderOptions>]>([
  ['global fetch', {}],
  ['undici request', { post: undiciPost }],
])('webhook sender over %s', (_name, transport) => {
  let server: Server;
  let base: string;
  const received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url === '/moved') {
          res.writeHead(302, { Location: '/ok' }).end();
          return;
        }
        res.writeHead(req.url === '/ok' ? 200 : 500).end('ignored');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  const request = (path: string): WebhookRequest => ({
    url: `${base}${path}`,
    body: '{"event":"message.exchange","data":{"text":"olá 👋"}}',
    event: 'message.exchange',
    eventId: '01JSX3A8B2C4D6E8F0G2H4J6K8',
    attempt: 1,
    authorization: 'Bearer  abc',
    secret: null,
  });

  it('delivers on 2xx with the contract headers and the body byte for byte', async () => {
    // Prepare
    received.length = 0;
    const sender = createWebhookSender({ outbound: allowAll, ...transport });

    // Act
    const outcome = await sender.send(request('/ok'));

    // Assess
    expect(outcome).toMatchObject({ delivered: true, statusCode: 200, error: null });
    expect(received).toHaveLength(1);
    expect(received[0]?.body).toBe('{"event":"message.exchange","data":{"text":"olá 👋"}}');
    expect(received[0]?.headers).toMatchObject({ authorization: 'Bearer  abc', 'content-type': 'application/json', 'x-zapfleet-event-id': '01JSX3A8B2C4D6E8F0G2H4J6K8' });
  });

  it('does not follow a redirect and counts it as not delivered', async () => {
    // Prepare
    received.length = 0;
    const sender = createWebhookSender({ outbound: allowAll, ...transport });

    // Act
    const outcome = await sender.send(request('/moved'));

    // Assess
    expect(outcome).toMatchObject({ delivered: false, statusCode: 302, error: 'HTTP 302' });
    expect(received.map((hit) => hit.path)).toEqual(['/moved']);
  });

  it('answers a refused connection as a network error', async () => {
    // Prepare
    const sender = createWebhookSender({ outbound: allowAll, ...transport });
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    // Act
    const outcome = await sender.send({ ...request('/ok'), url: `http://127.0.0.1:${port}/ok` });

    // Assess
    expect(outcome).toMatchObject({ delivered: false, statusCode: null, error: 'network error: ECONNREFUSED' });
  });
});
