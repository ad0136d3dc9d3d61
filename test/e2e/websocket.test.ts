import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { authorizerHandler } from '../../functions/authorizer/authorizer.handler.ts';
import { websocketHandlers } from '../../functions/events/websocket.handlers.ts';
import { instanceModule } from '../../functions/instance/instance.handlers.ts';
import { createWsHub, type WsHub } from '../../local/events/ws-hub.ts';
import { createApiServer } from '../../local/http-server.ts';
import type { EventRecord } from '../../shared/domain/events/event.ts';
import type { EventName } from '../../shared/domain/instance/instance.ts';
import { moduleHandler } from '../../shared/http/http-handler.ts';
import { routes } from '../../shared/http/routes.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

// Spec #16, #17, #18 and §3.7 over HTTP and WebSocket. This file puts the WebSocket handlers and
// a hub of its own (with its own allowed origins and base URL) on a second API server built from
// the stack's deps, the way local/stack.ts composes its server; websocket-revocation.test.ts and
// events.sandbox.test.ts use the stack's own `/ws`.

const BASE_URL = 'https://zapfleet.example.test';
const ALLOWED_ORIGIN = 'https://app.example.test';
const NOT_ENABLED = (name: string) => `WebSocket is not enabled for this instance. Configure it first using POST /api/events/websocket/${name}`;

interface Refusal {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** Every text frame of a socket, in order, from the moment it is created. */
class Frames {
  private readonly received: string[] = [];
  private readonly waiters: ((frame: string) => void)[] = [];

  constructor(socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = data.toString();
      const waiter = this.waiters.shift();
      if (waiter) waiter(frame);
      else this.received.push(frame);
    });
  }

  next(): Promise<string> {
    const frame = this.received.shift();
    if (frame !== undefined) return Promise.resolve(frame);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

describe('WebSocket stream', () => {
  let stack: TestStack;
  let server: Server;
  let hub: WsHub;
  let wsBase: string;
  let httpBase: string;
  /** An account with room for every instance of this file. */
  let owner: { id: string; token: string };
  const sockets: WebSocket[] = [];

  const api = async (method: string, path: string, options: { token?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.token = options.token;
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${httpBase}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text === '' ? null : JSON.parse(text) };
  };

  const createInstance = async (name: string, token = owner.token): Promise<{ id: string; token: string }> => {
    const created = await stack.call('POST', '/api/instance/new', { token, body: { name } });
    if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
    return { id: created.body.instance.id, token: created.body.instance.token };
  };

  const configure = async (name: string, body: unknown, token = owner.token) => {
    const saved = await api('POST', `/api/events/websocket/${name}`, { token, body });
    if (saved.status !== 200) throw new Error(`configure ${name}: ${saved.status} ${JSON.stringify(saved.body)}`);
  };

  const connect = (path: string, options: { headers?: Record<string, string>; origin?: string } = {}) =>
    new Promise<{ socket: WebSocket; frames: Frames; upgradeHeaders: Record<string, string | string[] | undefined> }>((resolve, reject) => {
      const socket = new WebSocket(`${wsBase}${path}`, { headers: options.headers, origin: options.origin });
      sockets.push(socket);
      const frames = new Frames(socket);
      socket.once('upgrade', (response) => {
        socket.once('open', () => resolve({ socket, frames, upgradeHeaders: response.headers }));
      });
      socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
      socket.once('error', reject);
    });

  /** An upgrade the server answers with an HTTP error instead of 101. */
  const refused = (path: string, options: { headers?: Record<string, string>; origin?: string } = {}) =>
    new Promise<Refusal>((resolve, reject) => {
      const socket = new WebSocket(`${wsBase}${path}`, { headers: options.headers, origin: options.origin });
      socket.on('error', () => undefined);
      socket.once('open', () => {
        socket.close();
        reject(new Error('the upgrade was accepted'));
      });
      socket.once('unexpected-response', (_request, response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: JSON.parse(text) }));
      });
    });

  const closed = (socket: WebSocket) =>
    new Promise<number>((resolve) => {
      if (socket.readyState === WebSocket.CLOSED) return resolve(-1);
      socket.once('close', (code) => resolve(code));
    });

  let eventCounter = 0;
  const record = (name: string, instanceId: string, event: EventName, data: Record<string, unknown> = {}): EventRecord => {
    eventCounter += 1;
    return {
      id: `01JSX3A8B2C4D6E8F0G2H4J${String(eventCounter).padStart(3, '0')}`,
      event,
      instanceId,
      accountId: owner.id,
      instanceName: name,
      timestamp: `2026-04-28T10:30:00.${String(eventCounter).padStart(3, '0')}Z`,
      data,
    };
  };

  beforeAll(async () => {
    stack = await startTestStack({ ZAPFLEET_CORS_ORIGINS: ALLOWED_ORIGIN });
    const { deps } = stack;
    server = createApiServer({
      deps,
      routes,
      modules: { instance: instanceModule(deps), events: moduleHandler(websocketHandlers(deps)) },
      authorizer: authorizerHandler(deps),
    });
    // Configuration is re-read on every event here, so each test sees its own changes at once.
    hub = createWsHub({ deps, logger: deps.logger, baseUrl: BASE_URL, configTtlMs: 0 });
    hub.attach(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const { port } = server.address() as AddressInfo;
    httpBase = `http://127.0.0.1:${port}`;
    wsBase = `ws://127.0.0.1:${port}`;
    owner = await stack.createAccount({ name: 'ws-owner', instanceQuota: 50 });
  });

  afterAll(async () => {
    for (const socket of sockets) socket.terminate();
    await hub?.close();
    await new Promise<void>((resolve) => {
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    await stack?.stop();
  });

  describe('POST /api/events/websocket/:instance and GET /api/events/getWebsocket/:instance', () => {
    it('saves with the defaults and reads the configuration back', async () => {
      // Prepare
      await createInstance('ws-config-defaults');

      // Act
      const saved = await api('POST', '/api/events/websocket/ws-config-defaults', { token: owner.token, body: {} });
      const read = await api('GET', '/api/events/getWebsocket/ws-config-defaults', { token: owner.token });

      // Assess
      expect(saved.status).toBe(200);
      expect(saved.body).toEqual({ success: true, message: 'WebSocket configuration saved', websocket: { enabled: true, events: [], mediaBase64: false } });
      expect(saved.headers.get('x-ratelimit-limit')).toBe('100');
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ success: true, message: 'WebSocket configuration retrieved', websocket: { enabled: true, events: [], mediaBase64: false } });
    });

    it('keeps the events in order without duplicates and the mediaBase64 flag', async () => {
      // Prepare
      const instance = await createInstance('ws-config-events');

      // Act
      const saved = await api('POST', '/api/events/websocket/ws-config-events', {
        token: instance.token,
        body: { events: ['message.status', 'message.exchange', 'message.status'], mediaBase64: true },
      });

      // Assess
      expect(saved.body.websocket).toEqual({ enabled: true, events: ['message.status', 'message.exchange'], mediaBase64: true });
      const read = await api('GET', '/api/events/getWebsocket/ws-config-events', { token: instance.token });
      expect(read.body.websocket).toEqual({ enabled: true, events: ['message.status', 'message.exchange'], mediaBase64: true });
    });

    it('clears events and mediaBase64 when disabled', async () => {
      // Prepare
      await createInstance('ws-config-disable');
      await configure('ws-config-disable', { events: ['call.update'], mediaBase64: true });

      // Act
      const saved = await api('POST', '/api/events/websocket/ws-config-disable', { token: owner.token, body: { enabled: false, events: ['call.update'], mediaBase64: true } });

      // Assess
      expect(saved.body).toEqual({ success: true, message: 'WebSocket configuration saved', websocket: { enabled: false, events: [], mediaBase64: false } });
      const read = await api('GET', '/api/events/getWebsocket/ws-config-disable', { token: owner.token });
      expect(read.body).toEqual({ success: true, message: 'WebSocket configuration retrieved', websocket: { enabled: false, events: [], mediaBase64: false } });
    });

    it('rejects an unknown event name and a wrongly typed field', async () => {
      // Prepare
      await createInstance('ws-config-invalid');

      // Act
      const unknown = await api('POST', '/api/events/websocket/ws-config-invalid', { token: owner.token, body: { events: ['message.exchange', 'message.sent', 'x'] } });
      const typed = await api('POST', '/api/events/websocket/ws-config-invalid', { token: owner.token, body: { enabled: 'yes' } });
      const read = await api('GET', '/api/events/getWebsocket/ws-config-invalid', { token: owner.token });

      // Assess
      expect(unknown.status).toBe(400);
      expect(unknown.body).toEqual({ success: false, error: { message: 'Invalid event: message.sent' } });
      expect(typed.status).toBe(400);
      expect(typed.body).toEqual({ success: false, error: { message: "Invalid request body: 'enabled' must be a boolean" } });
      expect(read.status).toBe(404);
    });

    it('answers 404 when the instance was never configured', async () => {
      // Prepare
      await createInstance('ws-config-never');

      // Act
      const read = await api('GET', '/api/events/getWebsocket/ws-config-never', { token: owner.token });

      // Assess
      expect(read.status).toBe(404);
      expect(read.body).toEqual({ success: false, error: { message: 'WebSocket not configured for this instance' } });
    });

    it('applies the ownership rules', async () => {
      // Prepare
      const mine = await createInstance('ws-config-owned');
      await createInstance('ws-config-other');
      const stranger = await stack.createAccount({ name: 'ws-stranger-config' });

      // Act
      const wrongInstanceToken = await api('POST', '/api/events/websocket/ws-config-other', { token: mine.token, body: {} });
      const notOwned = await api('GET', '/api/events/getWebsocket/ws-config-owned', { token: stranger.token });

      // Assess
      expect(wrongInstanceToken.status).toBe(403);
      expect(wrongInstanceToken.body).toEqual({ success: false, error: { message: 'Instance token does not match the requested instance' } });
      expect(notOwned.status).toBe(404);
      expect(notOwned.body).toEqual({ success: false, error: { message: 'Instance not found' } });
    });
  });

  describe('GET /ws/:instance', () => {
    it('streams the exact envelope to a client authenticated with ?token=', async () => {
      // Prepare
      const instance = await createInstance('ws-stream-query');
      await configure('ws-stream-query', {});
      const { frames, upgradeHeaders } = await connect(`/ws/ws-stream-query?token=${instance.token}`);
      const event = record('ws-stream-query', instance.id, 'message.exchange', { messageId: '3EB0C767D26A1D8E5F12', fromMe: false });

      // Act
      hub.broadcast(event);

      // Assess
      expect(JSON.parse(await frames.next())).toEqual({
        event: 'message.exchange',
        data: { messageId: '3EB0C767D26A1D8E5F12', fromMe: false },
        instanceData: { baseUrl: BASE_URL, instance: 'ws-stream-query', token: instance.token },
        id: event.id,
        timestamp: event.timestamp,
      });
      expect(upgradeHeaders['x-ratelimit-limit']).toBe('100');
    });

    it('streams to a client authenticated with the token header, TokenInstance in instanceData', async () => {
      // Prepare
      const instance = await createInstance('ws-stream-header');
      await configure('ws-stream-header', {});
      const { frames } = await connect('/ws/ws-stream-header', { headers: { token: owner.token } });
      const event = record('ws-stream-header', instance.id, 'instance.state', { state: 'connected' });

      // Act
      hub.broadcast(event);

      // Assess
      const frame = JSON.parse(await frames.next());
      expect(frame.id).toBe(event.id);
      expect(frame.instanceData).toEqual({ baseUrl: BASE_URL, instance: 'ws-stream-header', token: instance.token });
    });

    it('sends only the configured events, in the order they were produced', async () => {
      // Prepare
      const instance = await createInstance('ws-stream-filter');
      await configure('ws-stream-filter', { events: ['message.status', 'call.update'] });
      const { frames } = await connect('/ws/ws-stream-filter', { headers: { authorization: `Bearer ${instance.token}` } });
      const filtered = record('ws-stream-filter', instance.id, 'message.exchange');
      const first = record('ws-stream-filter', instance.id, 'message.status');
      const second = record('ws-stream-filter', instance.id, 'call.update');

      // Act
      hub.broadcast(filtered);
      hub.broadcast(first);
      hub.broadcast(second);

      // Assess
      expect(JSON.parse(await frames.next()).id).toBe(first.id);
      expect(JSON.parse(await frames.next()).id).toBe(second.id);
    });

    it('drops message.media.base64 unless mediaBase64 is on', async () => {
      // Prepare
      const instance = await createInstance('ws-stream-media');
      await configure('ws-stream-media', {});
      const { frames } = await connect(`/ws/ws-stream-media?token=${instance.token}`);
      const data = { direction: 'incoming', message: { id: 'M1', media: { type: 'image', mimetype: 'image/jpeg', base64: 'AAEC' } } };

      // Act
      hub.broadcast(record('ws-stream-media', instance.id, 'message.exchange', data));
      const withoutBase64 = JSON.parse(await frames.next());
      await configure('ws-stream-media', { mediaBase64: true });
      hub.broadcast(record('ws-stream-media', instance.id, 'message.exchange', data));
      const withBase64 = JSON.parse(await frames.next());

      // Assess
      expect(withoutBase64.data).toEqual({ direction: 'incoming', message: { id: 'M1', media: { type: 'image', mimetype: 'image/jpeg' } } });
      expect(withBase64.data).toEqual(data);
    });

    it('answers the text frame ping with pong', async () => {
      // Prepare
      const instance = await createInstance('ws-stream-ping');
      await configure('ws-stream-ping', {});
      const { socket, frames } = await connect(`/ws/ws-stream-ping?token=${instance.token}`);

      // Act
      socket.send('ping');
      socket.send('hello');
      socket.send('ping');

      // Assess
      expect(await frames.next()).toBe('pong');
      expect(await frames.next()).toBe('pong');
    });

    it('keeps open connections but stops their frames while disabled', async () => {
      // Prepare
      const instance = await createInstance('ws-stream-disabled');
      await configure('ws-stream-disabled', {});
      const { socket, frames } = await connect(`/ws/ws-stream-disabled?token=${instance.token}`);
      const whileDisabled = record('ws-stream-disabled', instance.id, 'message.exchange');
      const afterReenabled = record('ws-stream-disabled', instance.id, 'message.exchange');

      // Act
      await configure('ws-stream-disabled', { enabled: false });
      hub.broadcast(whileDisabled);
      const upgradeWhileDisabled = await refused(`/ws/ws-stream-disabled?token=${instance.token}`);
      await configure('ws-stream-disabled', {});
      hub.broadcast(afterReenabled);

      // Assess
      expect(JSON.parse(await frames.next()).id).toBe(afterReenabled.id);
      expect(socket.readyState).toBe(WebSocket.OPEN);
      expect(upgradeWhileDisabled.status).toBe(400);
      expect(upgradeWhileDisabled.body).toEqual({ success: false, error: { message: NOT_ENABLED('ws-stream-disabled') } });
    });

    it('closes the connections of a deleted instance with 1008', async () => {
      // Prepare
      const instance = await createInstance('ws-stream-deleted');
      await configure('ws-stream-deleted', {});
      const { socket } = await connect(`/ws/ws-stream-deleted?token=${instance.token}`);
      const code = closed(socket);
      await stack.call('DELETE', '/api/instance/delete/ws-stream-deleted', { token: owner.token });

      // Act
      hub.broadcast(record('ws-stream-deleted', instance.id, 'message.exchange'));

      // Assess
      expect(await code).toBe(1008);
    });
  });

  describe('GET /ws/:instance refusals', () => {
    it('answers 426 to a plain GET', async () => {
      // Prepare
      const instance = await createInstance('ws-refuse-plain');
      await configure('ws-refuse-plain', {});

      // Act
      const plain = await api('GET', '/ws/ws-refuse-plain', { token: instance.token });

      // Assess
      expect(plain.status).toBe(426);
      expect(plain.body).toEqual({ success: false, error: { message: 'Expected WebSocket upgrade' } });
      expect(plain.headers.get('x-ratelimit-limit')).toBe('100');
      expect(plain.headers.get('x-request-id')).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    });

    it('answers 401 without a token and with an unknown token', async () => {
      // Act
      const missing = await refused('/ws/ws-refuse-auth');
      const unknown = await refused('/ws/ws-refuse-auth?token=not-a-real-token-0000');

      // Assess
      expect(missing.status).toBe(401);
      expect(missing.body).toEqual({ success: false, error: { message: 'Missing token in header, Authorization header, or query parameter' } });
      expect(missing.headers['x-ratelimit-limit']).toBeDefined();
      expect(unknown.status).toBe(401);
      expect(unknown.body).toEqual({ success: false, error: { message: 'Invalid token' } });
    });

    it('answers 403 to the TokenInstance of another instance and 404 to a TokenAccount that does not own it', async () => {
      // Prepare
      const mine = await createInstance('ws-refuse-mine');
      await createInstance('ws-refuse-theirs');
      await configure('ws-refuse-theirs', {});
      const stranger = await stack.createAccount({ name: 'ws-stranger' });

      // Act
      const mismatch = await refused(`/ws/ws-refuse-theirs?token=${mine.token}`);
      const notOwned = await refused('/ws/ws-refuse-theirs', { headers: { token: stranger.token } });

      // Assess
      expect(mismatch.status).toBe(403);
      expect(mismatch.body).toEqual({ success: false, error: { message: 'Instance token does not match the requested instance' } });
      expect(notOwned.status).toBe(404);
      expect(notOwned.body).toEqual({ success: false, error: { message: 'Instance not found' } });
    });

    it('answers 403 to a browser origin that is not allowed and upgrades an allowed one', async () => {
      // Prepare
      const instance = await createInstance('ws-refuse-origin');
      await configure('ws-refuse-origin', {});

      // Act
      const foreign = await refused(`/ws/ws-refuse-origin?token=${instance.token}`, { origin: 'https://evil.example.test' });
      const allowed = await connect(`/ws/ws-refuse-origin?token=${instance.token}`, { origin: ALLOWED_ORIGIN });

      // Assess
      expect(foreign.status).toBe(403);
      expect(foreign.body).toEqual({ success: false, error: { message: 'Origin not allowed' } });
      expect(allowed.socket.readyState).toBe(WebSocket.OPEN);
    });

    it('answers 400 with the instance name when the WebSocket was never configured', async () => {
      // Prepare
      const instance = await createInstance('ws-refuse-never');

      // Act
      const never = await refused('/ws/ws-refuse-never', { headers: { token: instance.token } });

      // Assess
      expect(never.status).toBe(400);
      expect(never.body).toEqual({ success: false, error: { message: NOT_ENABLED('ws-refuse-never') } });
    });

    it('answers 429 to the 11th concurrent connection of an instance', async () => {
      // Prepare
      const instance = await createInstance('ws-refuse-limit');
      await configure('ws-refuse-limit', {});
      const open = await Promise.all(Array.from({ length: 10 }, () => connect(`/ws/ws-refuse-limit?token=${instance.token}`)));

      // Act
      const eleventh = await refused(`/ws/ws-refuse-limit?token=${instance.token}`);
      open[0]?.socket.close();
      await closed(open[0]?.socket as WebSocket);
      const replacement = await connect(`/ws/ws-refuse-limit?token=${instance.token}`);

      // Assess
      expect(eleventh.status).toBe(429);
      expect(eleventh.body).toEqual({ success: false, error: { message: 'Too many WebSocket connections for this instance' } });
      expect(replacement.socket.readyState).toBe(WebSocket.OPEN);
    });

    it('counts the upgrade against the global bucket and answers 429 when it is exhausted', async () => {
      // Prepare
      const limited = await stack.createAccount({ name: 'ws-limited', rateLimits: { global: 2 } });
      await createInstance('ws-refuse-rate', limited.token);

      // Act: never configured, so each upgrade is refused with 400 until the bucket runs out.
      const answers: Refusal[] = [];
      for (let attempt = 0; attempt < 8 && !answers.some((answer) => answer.status === 429); attempt++) {
        answers.push(await refused('/ws/ws-refuse-rate', { headers: { token: limited.token } }));
      }

      // Assess
      const limitedAnswer = answers.find((answer) => answer.status === 429) as Refusal;
      expect(answers[0]?.status).toBe(400);
      expect(answers[0]?.headers['x-ratelimit-limit']).toBe('2');
      expect(limitedAnswer.body).toEqual({ success: false, error: { message: 'Rate limit exceeded. Try again later.' } });
      expect(Number(limitedAnswer.headers['retry-after'])).toBeGreaterThan(0);
      expect(limitedAnswer.headers['x-ratelimit-remaining']).toBe('0');
    });
  });
});
