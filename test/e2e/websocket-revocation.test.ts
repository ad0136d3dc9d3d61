import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { authorizerHandler } from '../../functions/authorizer/authorizer.handler.ts';
import { instanceModule } from '../../functions/instance/instance.handlers.ts';
import { createWsHub, type WsHub } from '../../local/events/ws-hub.ts';
import { createApiServer } from '../../local/http-server.ts';
import { routes } from '../../shared/http/routes.ts';
import type { EventRecord } from '../../shared/domain/events/event.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

// Spec Z8 and §3.7 close codes, against the embedded stack's own `/ws/:instance`: rotating a
// TokenAccount closes the streams opened with it (1008 `Token revoked`) and no other.

describe('WebSocket streams and TokenAccount rotation', () => {
  let stack: TestStack;
  let wsBase: string;
  /** A second `/ws` server on the stack's deps whose hub re-checks its instances every 100 ms. */
  let checkingServer: Server;
  let checkingHub: WsHub;
  let checkingBase: string;
  const sockets: WebSocket[] = [];

  const connect = (path: string, base = wsBase) =>
    new Promise<{ socket: WebSocket; frames: string[]; closed: Promise<{ code: number; reason: string }> }>((resolve, reject) => {
      const socket = new WebSocket(`${base}${path}`);
      sockets.push(socket);
      const frames: string[] = [];
      socket.on('message', (data) => frames.push(data.toString()));
      const closed = new Promise<{ code: number; reason: string }>((done) => socket.once('close', (code, reason) => done({ code, reason: reason.toString() })));
      socket.once('open', () => resolve({ socket, frames, closed }));
      socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
      socket.once('error', reject);
    });

  /** The status an upgrade is refused with. */
  const refusedStatus = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const socket = new WebSocket(`${wsBase}${path}`);
      socket.on('error', () => undefined);
      socket.once('open', () => {
        socket.close();
        reject(new Error('the upgrade was accepted'));
      });
      socket.once('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0));
    });

  /** Resolves once the socket has received a frame with this event id. */
  const frameWithId = (socket: WebSocket, frames: string[], id: string) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const find = () => frames.map((frame) => JSON.parse(frame) as Record<string, unknown>).find((frame) => frame.id === id);
      const found = find();
      if (found) return resolve(found);
      const onMessage = () => {
        const hit = find();
        if (!hit) return;
        socket.off('message', onMessage);
        resolve(hit);
      };
      socket.on('message', onMessage);
    });

  const newOwner = async (name: string) => {
    const owner = await stack.createAccount({ name, instanceQuota: 5, rateLimits: { global: 100_000 } });
    const created = await stack.call('POST', '/api/instance/new', { token: owner.token, body: { name, websocketEnabled: true } });
    if (created.status !== 201) throw new Error(`create ${name}: ${created.status} ${JSON.stringify(created.body)}`);
    return { ...owner, instance: { id: created.body.instance.id as string, token: created.body.instance.token as string } };
  };

  let eventCounter = 0;
  const record = (owner: { id: string; instance: { id: string } }, name: string): EventRecord => ({
    id: `01JSX3A8B2C4D6E8F0G2H4K${String((eventCounter += 1)).padStart(3, '0')}`,
    event: 'message.exchange',
    instanceId: owner.instance.id,
    accountId: owner.id,
    instanceName: name,
    timestamp: '2026-04-28T10:30:00.000Z',
    data: { messageId: `3EB0C767D26A1D8E5F${eventCounter}` },
  });

  const rotate = (accountId: string) => stack.call('POST', `/admin/accounts/${accountId}/rotate-token`, { headers: { 'x-admin-key': stack.adminKey } });

  beforeAll(async () => {
    stack = await startTestStack();
    wsBase = stack.url.replace(/^http/, 'ws');
    const { deps } = stack;
    checkingServer = createApiServer({ deps, routes, modules: { instance: instanceModule(deps) }, authorizer: authorizerHandler(deps) });
    checkingHub = createWsHub({ deps, logger: deps.logger, baseUrl: stack.url, heartbeatMs: 100 });
    checkingHub.attach(checkingServer);
    await new Promise<void>((resolve) => checkingServer.listen(0, '127.0.0.1', () => resolve()));
    checkingBase = `ws://127.0.0.1:${(checkingServer.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    for (const socket of sockets) socket.terminate();
    await checkingHub?.close();
    await new Promise<void>((resolve) => {
      if (!checkingServer) return resolve();
      checkingServer.close(() => resolve());
      checkingServer.closeAllConnections();
    });
    await stack?.stop();
  });

  it('closes the connections opened with the old TokenAccount with 1008 Token revoked', async () => {
    // Prepare
    const owner = await newOwner('ws-rotate-close');
    const byAccount = await connect(`/ws/ws-rotate-close?token=${owner.token}`);

    // Act
    const rotated = await rotate(owner.id);

    // Assess
    expect(rotated.status).toBe(200);
    expect(await byAccount.closed).toEqual({ code: 1008, reason: 'Token revoked' });
  });

  it('keeps the TokenInstance connections of the same account open and receiving', async () => {
    // Prepare
    const owner = await newOwner('ws-rotate-keep');
    const byAccount = await connect(`/ws/ws-rotate-keep?token=${owner.token}`);
    const byInstance = await connect(`/ws/ws-rotate-keep?token=${owner.instance.token}`);
    const event = record(owner, 'ws-rotate-keep');

    // Act
    await rotate(owner.id);
    await byAccount.closed;
    stack.wsHub.broadcast(event);

    // Assess
    const frame = await frameWithId(byInstance.socket, byInstance.frames, event.id);
    expect(frame).toMatchObject({ event: 'message.exchange', id: event.id, instanceData: { instance: 'ws-rotate-keep', token: owner.instance.token } });
    expect(byInstance.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('refuses the old TokenAccount afterwards and streams to the new one', async () => {
    // Prepare
    const owner = await newOwner('ws-rotate-new');
    const rotated = await rotate(owner.id);
    const newToken = rotated.body.token as string;
    const event = record(owner, 'ws-rotate-new');

    // Act
    const oldStatus = await refusedStatus(`/ws/ws-rotate-new?token=${owner.token}`);
    const byNewToken = await connect(`/ws/ws-rotate-new?token=${newToken}`);
    stack.wsHub.broadcast(event);

    // Assess
    expect(oldStatus).toBe(401);
    expect((await frameWithId(byNewToken.socket, byNewToken.frames, event.id)).id).toBe(event.id);
    expect(byNewToken.socket.readyState).toBe(WebSocket.OPEN);
  });

  it('a hub that was not told of a deletion closes its connections 1008 Instance deleted at its next check', async () => {
    // Prepare
    const owner = await newOwner('ws-deleted-recheck');
    const stream = await connect(`/ws/ws-deleted-recheck?token=${owner.instance.token}`, checkingBase);

    // Act
    const deleted = await stack.call('DELETE', '/api/instance/delete/ws-deleted-recheck', { token: owner.token });

    // Assess
    expect(deleted.status).toBe(200);
    expect(await stream.closed).toEqual({ code: 1008, reason: 'Instance deleted' });
  });

  it('deleting an instance closes its open streams 1008 Instance deleted without waiting for an event', { timeout: 10_000 }, async () => {
    // Prepare: a stream on the stack's own hub (its periodic re-check is 30 s away).
    const owner = await newOwner('ws-deleted-now');
    const stream = await connect(`/ws/ws-deleted-now?token=${owner.instance.token}`);

    // Act
    const deleted = await stack.call('DELETE', '/api/instance/delete/ws-deleted-now', { token: owner.token });

    // Assess
    expect(deleted.status).toBe(200);
    expect(await stream.closed).toEqual({ code: 1008, reason: 'Instance deleted' });
  });
});
