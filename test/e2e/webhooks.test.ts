import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { createHmac, randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { authorizerHandler } from '../../functions/authorizer/authorizer.handler.ts';
import { webhookModule } from '../../functions/events/webhook.handlers.ts';
import { instanceModule } from '../../functions/instance/instance.handlers.ts';
import { localCredentials } from '../../local/emulators/dynamodb-local.ts';
import { startEmbeddedEventDelivery, type EmbeddedEventDelivery } from '../../local/events/event-poller.ts';
import { createApiServer } from '../../local/http-server.ts';
import { documentClient, type DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import { createSqsEventPublisher } from '../../shared/adapters/sqs/event-publisher.sqs.ts';
import type { EventPublisher, EventRecord } from '../../shared/domain/events/event.ts';
import type { EventName } from '../../shared/domain/instance/instance.ts';
import { routes } from '../../shared/http/routes.ts';
import { createLogger } from '../../shared/observability/logger.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

// Spec #14, #15, Z1, Z2, Z3 and §3.4–§3.5: webhooks configured over HTTP, events published to
// the events queue as the runner does, delivered to a real HTTP receiver on 127.0.0.1.
// The embedded stack does not serve the events module nor run the events pipeline yet, so this
// file serves the webhook routes and runs `startEmbeddedEventDelivery` itself, beside the stack.

interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  raw: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- asserted field by field
  body: any;
  status: number;
}

/** A webhook receiver: answers each path with the scripted statuses, then 200. */
const startReceiver = async (port = 0) => {
  const received: Received[] = [];
  const scripts = new Map<string, number[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const path = req.url ?? '';
      const status = scripts.get(path)?.shift() ?? 200;
      received.push({ path, headers: req.headers, raw, body: JSON.parse(raw), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const boundPort = (server.address() as AddressInfo).port;
  return {
    received,
    port: boundPort,
    url: (path: string) => `http://127.0.0.1:${boundPort}${path}`,
    script: (path: string, statuses: number[]) => scripts.set(path, [...statuses]),
    at: (path: string) => received.filter((request) => request.path === path),
    close: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())),
  };
};
type Receiver = Awaited<ReturnType<typeof startReceiver>>;

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
};

/** Short retry schedule (the contract's is minutes to hours): attempts 2…10 after ~150 ms. */
const fastRetries = Array.from({ length: 9 }, () => 150);

describe('webhooks: configuration, durable delivery, delivery log and replay', () => {
  let stack: TestStack;
  let owner: { id: string; token: string };
  let dynamo: DynamoDBClient;
  let context: DynamoContext;
  let fauxqs: Awaited<ReturnType<typeof startFauxqs>>;
  let sqs: SQSClient;
  let s3: S3Client;
  let queueUrl: string;
  let publisher: EventPublisher;
  let api: Server;
  let apiUrl: string;
  let delivery: EmbeddedEventDelivery;
  let receiver: Receiver;
  const bucket = 'zapfleet-media';

  const startApi = async () => {
    api = createApiServer({
      deps: stack.deps,
      routes,
      modules: { instance: instanceModule(stack.deps), events: webhookModule(stack.deps, { dynamo: context }) },
      authorizer: authorizerHandler(stack.deps),
    });
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    apiUrl = `http://127.0.0.1:${(api.address() as AddressInfo).port}`;
  };
  const stopApi = () => new Promise<void>((resolve) => (api.close(() => resolve()), api.closeAllConnections()));
  const startDelivery = () => {
    delivery = startEmbeddedEventDelivery({
      deps: stack.deps,
      dynamo: context,
      sqs,
      s3,
      queueUrl,
      bucket,
      baseUrl: stack.url,
      logger: createLogger({ level: 'silent' }),
      retryDelaysMs: fastRetries,
      sweepIntervalMs: 100,
      waitTimeSeconds: 1,
    });
  };

  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response JSON is asserted field by field
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const response = await fetch(`${apiUrl}${path}`, {
      method,
      headers: { token: owner.token, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };

  const createInstance = async (name: string, extra: Record<string, unknown> = {}) => {
    const created = await call('POST', '/api/instance/new', { name, ...extra });
    expect(created.status).toBe(201);
    return { id: created.body.instance.id as string, name, token: created.body.instance.token as string };
  };

  const publish = async (instance: { id: string; name: string }, event: EventName, data: Record<string, unknown> = { text: 'hello' }) => {
    const record: EventRecord = {
      id: ulid(),
      event,
      instanceId: instance.id,
      accountId: owner.id,
      instanceName: instance.name,
      timestamp: new Date().toISOString(),
      data,
    };
    await publisher.publish(record);
    return record;
  };

  const deliveriesOf = async (name: string, query = '') => {
    const listed = await call('GET', `/api/events/deliveries/${name}${query}`);
    expect(listed.status).toBe(200);
    return listed.body.deliveries as { eventId: string; status: string; attempts: number; label: string; lastStatusCode: number | null; lastError: string | null }[];
  };

  beforeAll(async () => {
    // The stack's own event delivery sweeps the same table: it must retry on the same short schedule.
    stack = await startTestStack({}, { retryDelaysMs: fastRetries });
    owner = await stack.createAccount({ name: 'webhooks', instanceQuota: 30, rateLimits: { global: 100_000 } });
    dynamo = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: localCredentials });
    context = { doc: documentClient(dynamo), tableName: stack.tableName };
    fauxqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    queueUrl = fauxqs.createQueue('zapfleet-events').queueUrl;
    fauxqs.createBucket(bucket);
    sqs = new SQSClient({ endpoint: fauxqs.address, region: 'us-east-1', credentials: localCredentials });
    s3 = new S3Client({ endpoint: fauxqs.address, region: 'us-east-1', credentials: localCredentials, forcePathStyle: true });
    publisher = createSqsEventPublisher({ sqs, queueUrl, s3, bucket });
    receiver = await startReceiver();
    await startApi();
    startDelivery();
  });

  afterAll(async () => {
    await delivery?.stop();
    await stopApi();
    await receiver?.close();
    sqs?.destroy();
    s3?.destroy();
    await fauxqs?.stop();
    dynamo?.destroy();
    await stack?.stop();
  });

  describe('configuration (#14, #15, Z1)', () => {
    it('saves a webhook and returns it with the authorization decrypted and the secret hidden', async () => {
      // Prepare
      await createInstance('cfg-save');
      // Act
      const saved = await call('POST', '/api/events/webhook/cfg-save', {
        label: ' crm ',
        url: 'https://crm.example.com/hooks/wa',
        authorization: 'Bearer svc-token-xyz',
        events: ['message.exchange', 'message.status', 'message.exchange'],
        secret: 's'.repeat(16),
      });
      // Assess
      expect(saved.status).toBe(200);
      expect(saved.body).toEqual({
        success: true,
        message: 'Webhook saved',
        webhook: {
          label: 'crm',
          enabled: true,
          url: 'https://crm.example.com/hooks/wa',
          authorization: 'Bearer svc-token-xyz',
          byEvents: false,
          events: ['message.exchange', 'message.status'],
          mediaBase64: false,
          includeInstanceToken: true,
          hasSecret: true,
        },
      });
    });

    it('rejects bad fields with the contract messages, in the order of the request table', async () => {
      // Prepare
      await createInstance('cfg-invalid');
      const cases: [Record<string, unknown>, string][] = [
        [{ label: 'x'.repeat(65), url: 'nope' }, 'Invalid webhook label'],
        [{ label: 'a\u0007b', url: 'https://ok.example.com' }, 'Invalid webhook label'],
        [{ url: 'ftp://example.com' }, 'Invalid webhook URL'],
        [{}, 'Invalid webhook URL'],
        [{ url: 'https://user:pw@example.com/' }, 'Invalid webhook URL'],
        [{ url: 'https://example.com', events: ['message.exchange', 'bogus', 'other'] }, 'Invalid event: bogus'],
        [{ url: 'https://example.com', secret: 'short' }, 'Invalid webhook secret'],
        [{ url: 'https://example.com', secret: 'x'.repeat(257) }, 'Invalid webhook secret'],
        [{ url: 'https://example.com', enabled: 'yes' }, "Invalid request body: 'enabled' must be a boolean"],
      ];
      for (const [body, message] of cases) {
        // Act
        const response = await call('POST', '/api/events/webhook/cfg-invalid', body);
        // Assess
        expect({ body, status: response.status, message: response.body.error?.message }).toEqual({ body, status: 400, message });
      }
    });

    it('keeps the secret when absent, removes it with null, and soft-disables a row', async () => {
      // Prepare
      await createInstance('cfg-secret');
      await call('POST', '/api/events/webhook/cfg-secret', { url: 'https://a.example.com', secret: 'k'.repeat(20), byEvents: true, includeInstanceToken: false });
      // Act
      const kept = await call('POST', '/api/events/webhook/cfg-secret', { url: 'https://b.example.com' });
      const removed = await call('POST', '/api/events/webhook/cfg-secret', { url: 'https://b.example.com', secret: null });
      const disabled = await call('POST', '/api/events/webhook/cfg-secret', { label: '', enabled: false });
      // Assess
      expect(kept.body.webhook).toMatchObject({ url: 'https://b.example.com', hasSecret: true, byEvents: false, includeInstanceToken: true });
      expect(removed.body.webhook.hasSecret).toBe(false);
      expect(disabled.body.webhook).toEqual({
        label: 'default',
        enabled: false,
        url: null,
        authorization: null,
        byEvents: false,
        events: [],
        mediaBase64: false,
        includeInstanceToken: true,
        hasSecret: false,
      });
    });

    it('lists every webhook sorted by label, reads one by label (empty = default), 404 for an unknown label', async () => {
      // Prepare
      await createInstance('cfg-list', { webhookEnabled: true, webhookURL: 'https://inline.example.com/wh' });
      await call('POST', '/api/events/webhook/cfg-list', { label: 'b', url: 'https://b.example.com' });
      await call('POST', '/api/events/webhook/cfg-list', { label: 'a', enabled: false });
      // Act
      const all = await call('GET', '/api/events/getWebhook/cfg-list');
      const alias = await call('GET', '/api/events/webhook/cfg-list');
      const byEmptyLabel = await call('GET', '/api/events/getWebhook/cfg-list?label=');
      const unknown = await call('GET', '/api/events/getWebhook/cfg-list?label=zzz');
      const none = await (async () => (await createInstance('cfg-none'), call('GET', '/api/events/getWebhook/cfg-none')))();
      // Assess
      expect(all.status).toBe(200);
      expect(all.body.message).toBe('3 webhooks found');
      expect(all.body.webhooks.map((webhook: { label: string }) => webhook.label)).toEqual(['a', 'b', 'default']);
      expect(alias.body).toEqual(all.body);
      expect(byEmptyLabel.body).toMatchObject({ success: true, message: 'Webhook retrieved successfully', webhook: { label: 'default', url: 'https://inline.example.com/wh' } });
      expect(unknown).toEqual({ status: 404, body: { success: false, error: { message: 'Webhook not found' } } });
      expect(none.body).toEqual({ success: true, message: '0 webhooks found', webhooks: [] });
    });

    it('refuses a 4th enabled webhook with 409; disabled rows do not count', async () => {
      // Prepare
      await createInstance('cfg-limit');
      for (const label of ['a', 'b', 'c']) await call('POST', '/api/events/webhook/cfg-limit', { label, url: `https://${label}.example.com` });
      await call('POST', '/api/events/webhook/cfg-limit', { label: 'off', enabled: false });
      // Act
      const fourth = await call('POST', '/api/events/webhook/cfg-limit', { label: 'd', url: 'https://d.example.com' });
      const updateOfThird = await call('POST', '/api/events/webhook/cfg-limit', { label: 'c', url: 'https://c2.example.com' });
      // Assess
      expect(fourth).toEqual({ status: 409, body: { success: false, error: { message: 'Maximum of 3 enabled webhooks per instance' } } });
      expect(updateOfThird.status).toBe(200);
      expect((await call('GET', '/api/events/getWebhook/cfg-limit')).body.message).toBe('4 webhooks found');
    });

    it('lets exactly 3 of 10 concurrent enables of distinct labels through; the others get 409', async () => {
      // Prepare
      await createInstance('cfg-limit-race');
      const labels = Array.from({ length: 10 }, (_, i) => `race-${i}`);
      // Act
      const results = await Promise.all(labels.map((label) => call('POST', '/api/events/webhook/cfg-limit-race', { label, url: `https://${label}.example.com` })));
      const listed = await call('GET', '/api/events/getWebhook/cfg-limit-race');
      // Assess
      expect(results.filter((result) => result.status === 200)).toHaveLength(3);
      const refused = results.filter((result) => result.status !== 200);
      expect(refused).toHaveLength(7);
      for (const result of refused) expect(result).toEqual({ status: 409, body: { success: false, error: { message: 'Maximum of 3 enabled webhooks per instance' } } });
      const saved = results.filter((result) => result.status === 200).map((result) => result.body.webhook.label as string).sort();
      expect((listed.body.webhooks as { label: string; enabled: boolean }[]).filter((webhook) => webhook.enabled).map((webhook) => webhook.label)).toEqual(saved);
      expect(listed.body.message).toBe('3 webhooks found');
    });
  });

  describe('delivery (§3.4, §3.5)', () => {
    it('posts the exact envelope with the Authorization header verbatim and the contract headers', async () => {
      // Prepare
      const instance = await createInstance('dl-envelope');
      await call('POST', '/api/events/webhook/dl-envelope', { url: receiver.url('/envelope'), authorization: 'Token  a b=c' });
      // Act
      const record = await publish(instance, 'message.exchange', { messageId: 'ABC', fromMe: false, text: 'olá' });
      // Assess
      const [request] = await waitFor('the delivery', () => (receiver.at('/envelope').length ? receiver.at('/envelope') : undefined));
      expect(request!.body).toEqual({
        event: 'message.exchange',
        data: { messageId: 'ABC', fromMe: false, text: 'olá' },
        instanceData: { baseUrl: stack.url, instance: 'dl-envelope', token: instance.token },
        id: record.id,
        timestamp: record.timestamp,
      });
      expect(request!.headers).toMatchObject({
        authorization: 'Token  a b=c',
        'content-type': 'application/json',
        'user-agent': 'zapfleet-webhook/1',
        'x-zapfleet-event': 'message.exchange',
        'x-zapfleet-event-id': record.id,
        'x-zapfleet-attempt': '1',
      });
      expect(request!.headers['x-zapfleet-signature']).toBeUndefined();
      const [entry] = await waitFor('delivered status', async () => {
        const log = await deliveriesOf('dl-envelope');
        return log[0]?.status === 'delivered' ? log : undefined;
      });
      expect(entry).toMatchObject({ eventId: record.id, event: 'message.exchange', label: 'default', url: receiver.url('/envelope'), attempts: 1, lastStatusCode: 200, lastError: null });
    });

    it('appends /<event> with byEvents, signs with the secret, and sends token null when includeInstanceToken is false', async () => {
      // Prepare
      const instance = await createInstance('dl-signed');
      const secret = 'a-very-secret-signing-key';
      await call('POST', '/api/events/webhook/dl-signed', { url: receiver.url('/signed/'), byEvents: true, secret, includeInstanceToken: false });
      // Act
      const record = await publish(instance, 'call.update', { callId: 'C1', status: 'offer' });
      // Assess
      const [request] = await waitFor('the signed delivery', () => (receiver.at('/signed/call.update').length ? receiver.at('/signed/call.update') : undefined));
      expect(request!.body.instanceData.token).toBeNull();
      expect(request!.body.id).toBe(record.id);
      const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(request!.headers['x-zapfleet-signature'] as string);
      expect(match).not.toBeNull();
      const expected = createHmac('sha256', secret).update(`${match![1]}.${request!.raw}`).digest('hex');
      expect(match![2]).toBe(expected);
      expect(Math.abs(Number(match![1]) - Date.now() / 1000)).toBeLessThan(300);
    });

    it('retries a receiver answering 500 twice with the same event id and ends delivered after 3 attempts', async () => {
      // Prepare
      const instance = await createInstance('dl-flaky');
      receiver.script('/flaky', [500, 500]);
      await call('POST', '/api/events/webhook/dl-flaky', { url: receiver.url('/flaky') });
      // Act
      const record = await publish(instance, 'message.status', { messageId: 'M1', status: 'read' });
      // Assess
      const requests = await waitFor('three attempts', () => (receiver.at('/flaky').length >= 3 ? receiver.at('/flaky') : undefined));
      expect(requests.map((request) => [request.body.id, request.headers['x-zapfleet-event-id'], request.headers['x-zapfleet-attempt'], request.status])).toEqual([
        [record.id, record.id, '1', 500],
        [record.id, record.id, '2', 500],
        [record.id, record.id, '3', 200],
      ]);
      const [entry] = await waitFor('delivered', async () => {
        const log = await deliveriesOf('dl-flaky');
        return log[0]?.status === 'delivered' ? log : undefined;
      });
      expect(entry).toMatchObject({ status: 'delivered', attempts: 3, lastStatusCode: 200 });
    });

    it('logs a delivery whose first attempt is still waiting on a slow receiver, then records its outcome', async () => {
      // Prepare: a receiver that holds every request until released.
      const held: (() => void)[] = [];
      const slow = createServer((req, res) => {
        req.resume();
        req.on('end', () => held.push(() => res.writeHead(204).end()));
      });
      await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
      try {
        const instance = await createInstance('dl-slow');
        await call('POST', '/api/events/webhook/dl-slow', { url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/slow` });
        // Act
        const record = await publish(instance, 'message.exchange');
        // Assess: the entry exists while the attempt waits (a crash now would not lose the event)…
        const [pending] = await waitFor('the entry of the attempt in flight', async () => {
          const log = await deliveriesOf('dl-slow');
          return log.length ? log : undefined;
        });
        expect(pending).toMatchObject({ eventId: record.id, status: 'pending', attempts: 1 });
        expect(held).toHaveLength(1);
        // …and records the attempt's outcome once the receiver answers.
        held.shift()!();
        const [entry] = await waitFor('delivered', async () => {
          const log = await deliveriesOf('dl-slow');
          return log[0]?.status === 'delivered' ? log : undefined;
        });
        expect(entry).toMatchObject({ eventId: record.id, status: 'delivered', attempts: 1, lastStatusCode: 204 });
      } finally {
        for (const release of held) release();
        await new Promise<void>((resolve) => (slow.close(() => resolve()), slow.closeAllConnections()));
      }
    });

    it('a webhook filtered to call.update receives no message.exchange', async () => {
      // Prepare
      const instance = await createInstance('dl-filter');
      await call('POST', '/api/events/webhook/dl-filter', { label: 'calls', url: receiver.url('/calls-only'), events: ['call.update'] });
      await call('POST', '/api/events/webhook/dl-filter', { label: 'witness', url: receiver.url('/witness') });
      // Act
      const message = await publish(instance, 'message.exchange');
      const callEvent = await publish(instance, 'call.update', { callId: 'C2' });
      // Assess: the witness got both, so both were dispatched.
      await waitFor('both events at the witness', () => (receiver.at('/witness').length >= 2 ? true : undefined));
      await waitFor('the call at the filtered webhook', () => (receiver.at('/calls-only').length >= 1 ? true : undefined));
      expect(receiver.at('/calls-only').map((request) => request.body.id)).toEqual([callEvent.id]);
      const log = await deliveriesOf('dl-filter', '?label=calls');
      expect(log.map((entry) => entry.eventId)).toEqual([callEvent.id]);
      expect(log.map((entry) => entry.eventId)).not.toContain(message.id);
    });

    it('a receiver down past the last attempt leaves the event dead in the log; replay delivers it', async () => {
      // Prepare: a port with nothing listening.
      const down = await startReceiver();
      const port = down.port;
      await down.close();
      const instance = await createInstance('dl-dead');
      await call('POST', '/api/events/webhook/dl-dead', { url: `http://127.0.0.1:${port}/dead` });
      // Act
      const record = await publish(instance, 'label.update', { labelId: '3', action: 'created', name: 'VIP', color: 1 });
      // Assess
      const [dead] = await waitFor('dead letter', async () => {
        const log = await deliveriesOf('dl-dead', '?status=dead');
        return log.length ? log : undefined;
      });
      expect(dead).toMatchObject({ eventId: record.id, status: 'dead', attempts: 10, lastStatusCode: null, nextAttemptAt: null, deliveredAt: null });
      expect(dead!.lastError).toMatch(/^network error/);

      // Act: the receiver is back, replay the event.
      const back = await startReceiver(port);
      try {
        const replayed = await call('POST', '/api/events/replay/dl-dead', { eventIds: [record.id, ulid()] });
        // Assess
        expect(replayed).toEqual({ status: 202, body: { success: true, message: '1 delivery queued for redelivery', queued: 1 } });
        const [request] = await waitFor('the replayed delivery', () => (back.at('/dead').length ? back.at('/dead') : undefined));
        expect(request!.body).toMatchObject({ id: record.id, timestamp: record.timestamp, event: 'label.update' });
        const [entry] = await waitFor('delivered after replay', async () => {
          const log = await deliveriesOf('dl-dead');
          return log[0]?.status === 'delivered' ? log : undefined;
        });
        expect(entry).toMatchObject({ eventId: record.id, attempts: 1, lastStatusCode: 200 });
      } finally {
        await back.close();
      }
    });

    it('disabling a webhook cancels its pending deliveries', async () => {
      // Prepare: a receiver that keeps failing.
      const instance = await createInstance('dl-cancel');
      receiver.script('/cancel', Array.from({ length: 20 }, () => 503));
      await call('POST', '/api/events/webhook/dl-cancel', { url: receiver.url('/cancel') });
      await publish(instance, 'message.exchange');
      await waitFor('a failed attempt', () => (receiver.at('/cancel').length >= 1 ? true : undefined));
      // Act
      await call('POST', '/api/events/webhook/dl-cancel', { enabled: false });
      // Assess
      const [entry] = await waitFor('cancelled', async () => {
        const log = await deliveriesOf('dl-cancel');
        return log[0]?.status === 'dead' ? log : undefined;
      });
      expect(entry!.lastError).toBe('webhook disabled');
    });
  });

  describe('delivery log and replay requests (Z2, Z3)', () => {
    it('filters, pages newest first and validates its query', async () => {
      // Prepare
      const instance = await createInstance('log-page');
      await call('POST', '/api/events/webhook/log-page', { url: receiver.url('/log-page') });
      const records: EventRecord[] = [];
      for (let i = 0; i < 3; i++) records.push(await publish(instance, i === 1 ? 'call.update' : 'message.exchange'));
      await waitFor('three delivered', async () => ((await deliveriesOf('log-page', '?status=delivered')).length === 3 ? true : undefined));
      // Act
      const first = await call('GET', '/api/events/deliveries/log-page?limit=2');
      const second = await call('GET', `/api/events/deliveries/log-page?limit=2&cursor=${first.body.nextCursor}`);
      const calls = await call('GET', '/api/events/deliveries/log-page?event=call.update');
      const bad = await call('GET', '/api/events/deliveries/log-page?limit=501');
      const badStatus = await call('GET', '/api/events/deliveries/log-page?status=failed');
      const badSince = await call('GET', '/api/events/deliveries/log-page?since=yesterday');
      // Assess
      expect(first.body.message).toBe('2 deliveries found');
      expect(first.body.deliveries.map((entry: { eventId: string }) => entry.eventId)).toEqual([records[2]!.id, records[1]!.id]);
      expect(second.body).toMatchObject({ message: '1 delivery found', nextCursor: null });
      expect(second.body.deliveries[0].eventId).toBe(records[0]!.id);
      expect(calls.body.deliveries.map((entry: { eventId: string }) => entry.eventId)).toEqual([records[1]!.id]);
      expect(first.body.deliveries[0]).toEqual({
        eventId: records[2]!.id,
        event: 'message.exchange',
        label: 'default',
        url: receiver.url('/log-page'),
        status: 'delivered',
        attempts: 1,
        lastAttemptAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
        lastStatusCode: 200,
        lastError: null,
        nextAttemptAt: null,
        deliveredAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
        createdAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
      });
      expect(bad).toEqual({ status: 400, body: { success: false, error: { message: "Invalid value for query parameter 'limit'" } } });
      expect(badStatus.body.error.message).toBe("Invalid value for query parameter 'status'");
      expect(badSince.body.error.message).toBe("Invalid value for query parameter 'since'");
    });

    it('answers replay requests with the messages of its table', async () => {
      // Prepare
      await createInstance('replay-rules');
      await call('POST', '/api/events/webhook/replay-rules', { url: receiver.url('/replay-rules') });
      const cases: [unknown, number, string][] = [
        [{}, 400, 'Provide eventIds or since'],
        [{ eventIds: [] }, 400, 'Provide eventIds or since'],
        [{ since: 'monday' }, 400, 'Invalid timestamp: monday'],
        [{ since: '2026-04-28T10:00:00Z', until: 'later' }, 400, 'Invalid timestamp: later'],
        [{ since: '2026-04-28T10:00:00Z', until: '2026-04-28T10:00:00Z' }, 400, "'since' must be before 'until'"],
        [{ eventIds: Array.from({ length: 1001 }, () => ulid()) }, 400, 'Too many events to replay (max 1000)'],
        [{ since: '2026-04-28T10:00:00Z', label: 'nope' }, 404, 'Webhook not found'],
        [{ eventIds: 'x' }, 400, "Invalid request body: 'eventIds' must be an array of strings"],
      ];
      for (const [body, status, message] of cases) {
        // Act
        const response = await call('POST', '/api/events/replay/replay-rules', body);
        // Assess
        expect({ body, status: response.status, message: response.body.error?.message }).toEqual({ body, status, message });
      }
      const nothing = await call('POST', '/api/events/replay/replay-rules', { since: new Date(Date.now() - 60_000).toISOString() });
      expect(nothing).toEqual({ status: 202, body: { success: true, message: '0 deliveries queued for redelivery', queued: 0 } });
    });
  });

  describe('restart', () => {
    it('a restart of the stack in the middle of retries loses nothing', async () => {
      // Prepare: a receiver failing until the restart.
      const instance = await createInstance(`dl-restart-${randomUUID().slice(0, 8)}`);
      receiver.script('/restart', Array.from({ length: 8 }, () => 502));
      await call('POST', `/api/events/webhook/${instance.name}`, { url: receiver.url('/restart') });
      const record = await publish(instance, 'message.exchange');
      await waitFor('two failed attempts', () => (receiver.at('/restart').length >= 2 ? true : undefined));

      // Act: everything stops while the delivery is pending, then starts again on the same data.
      await delivery.stop();
      const mid = await delivery.dispatcher.deliveries.get(instance.id, record.id, 'default');
      expect(mid).toMatchObject({ status: 'pending', lastStatusCode: 502 });
      expect(mid!.attempts).toBeLessThan(10);
      await stopApi();
      await stack.halt();
      receiver.script('/restart', []);
      stack = await startTestStack({}, { reuse: { dataDir: stack.dataDir, tableName: stack.tableName, accountToken: stack.accountToken }, retryDelaysMs: fastRetries });
      await startApi();
      startDelivery();

      // Assess
      const [entry] = await waitFor('delivered after the restart', async () => {
        const log = await deliveriesOf(instance.name);
        return log[0]?.status === 'delivered' ? log : undefined;
      });
      expect(entry).toMatchObject({ eventId: record.id, status: 'delivered', lastStatusCode: 200 });
      const requests = receiver.at('/restart');
      expect(requests.at(-1)!.status).toBe(200);
      expect(new Set(requests.map((request) => request.body.id))).toEqual(new Set([record.id]));
    });
  });
});
