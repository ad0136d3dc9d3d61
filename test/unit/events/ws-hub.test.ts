import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { AppDeps } from '../../../functions/deps.ts';
import { createWsHub, type WsHub, type WsHubOptions } from '../../../local/events/ws-hub.ts';
import type { TokenEntry } from '../../../shared/domain/auth/principal.ts';
import type { EventRecord } from '../../../shared/domain/events/event.ts';
import { defaultSettings, emptyProfile, type InstanceAggregate, type WebsocketConfig } from '../../../shared/domain/instance/instance.ts';
import type { InstanceCipher, SecretVault } from '../../../shared/domain/ports/keyring.port.ts';
import type { InstanceRepository, TokenDirectory } from '../../../shared/domain/ports/repositories.port.ts';

// The embedded hub (spec §3.7) with in-memory ports: liveness, configuration changes reaching
// open connections, and shutdown. Sockets are real, on loopback.

const instanceToken = 'tok-instance-0001';
const entry: TokenEntry = { kind: 'instance', accountId: 'acc-1', instanceId: 'inst-1', instanceName: 'sales', limits: { global: 1000, create: 20 } };

function fakeDeps() {
  let websocket: WebsocketConfig | null = { enabled: true, events: [], mediaBase64: false };
  const aggregate = (): InstanceAggregate => ({
    instance: {
      id: 'inst-1',
      accountId: 'acc-1',
      name: 'sales',
      wrappedKey: 'wrapped',
      tokenHash: 'hash',
      tokenSealed: `sealed:${instanceToken}`,
      status: 'connected',
      numberJid: null,
      profile: { ...emptyProfile },
      settings: { ...defaultSettings },
      proxy: null,
      s3: null,
      websocket,
      createdAt: '2026-04-28T10:30:00Z',
      updatedAt: '2026-04-28T10:30:00Z',
    },
    webhooks: [],
    chatwootRequest: null,
  });
  const directory: TokenDirectory = {
    authenticate: async (hash) => (hash === instanceToken ? { entry, count: 1 } : null),
    count: async () => 1,
  };
  const cipher = { open: (_field: string, sealed: string) => sealed.replace(/^sealed:/, '') } as unknown as InstanceCipher;
  const deps = {
    directory,
    tokens: { hash: (token: string) => token },
    clock: { now: () => new Date() },
    adminKey: null,
    limits: { ip: 100, admin: 100 },
    instances: { get: async (accountId: string, name: string) => (accountId === 'acc-1' && name === 'sales' ? aggregate() : null) } as unknown as InstanceRepository,
    vault: { instanceCipher: async () => cipher } as unknown as SecretVault,
    cors: { allowedOrigins: [] },
    ids: { ulid: () => '01JSX3A8B2C4D6E8F0G2H4J6K8', uuid: () => '00000000-0000-4000-8000-000000000000' },
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  } as unknown as AppDeps;
  return { deps, setWebsocket: (next: WebsocketConfig | null) => void (websocket = next) };
}

let counter = 0;
const record = (event: EventRecord['event'] = 'message.exchange'): EventRecord => ({
  id: `01JSX3A8B2C4D6E8F0G2H4K${String((counter += 1)).padStart(3, '0')}`,
  event,
  instanceId: 'inst-1',
  accountId: 'acc-1',
  instanceName: 'sales',
  timestamp: '2026-04-28T10:30:00.123Z',
  data: {},
});

describe('ws hub', () => {
  let server: Server | undefined;
  let hub: WsHub | undefined;
  const sockets: WebSocket[] = [];

  const start = async (options: Partial<WsHubOptions> = {}) => {
    const fake = fakeDeps();
    server = createServer((_req, res) => res.end('other routes'));
    hub = createWsHub({ deps: fake.deps, logger: fake.deps.logger, baseUrl: 'https://api.example.test', ...options });
    hub.attach(server);
    await new Promise<void>((resolve) => (server as Server).listen(0, '127.0.0.1', () => resolve()));
    const url = `ws://127.0.0.1:${((server as Server).address() as AddressInfo).port}/ws/sales?token=${instanceToken}`;
    return { ...fake, hub, url, httpUrl: url.replace('ws://', 'http://').replace(/\/ws\/.*/, '') };
  };

  const open = (url: string, options: { autoPong?: boolean } = {}) =>
    new Promise<{ socket: WebSocket; frames: string[]; nextFrame: () => Promise<string> }>((resolve, reject) => {
      const socket = new WebSocket(url, options);
      sockets.push(socket);
      const frames: string[] = [];
      const waiters: ((frame: string) => void)[] = [];
      socket.on('message', (data) => {
        const waiter = waiters.shift();
        if (waiter) waiter(data.toString());
        else frames.push(data.toString());
      });
      const nextFrame = () => (frames.length ? Promise.resolve(frames.shift() as string) : new Promise<string>((done) => waiters.push(done)));
      socket.once('open', () => resolve({ socket, frames, nextFrame }));
      socket.once('error', reject);
    });

  const closeCode = (socket: WebSocket) => new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));

  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.terminate();
    await hub?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    hub = undefined;
  });

  it('pings clients and terminates one that does not answer, keeping one that does', async () => {
    // Prepare
    const { url, hub: started } = await start({ heartbeatMs: 40 });
    const silent = await open(url, { autoPong: false });
    const healthy = await open(url);
    const terminated = closeCode(silent.socket);
    const pinged = new Promise<void>((resolve) => healthy.socket.once('ping', () => resolve()));

    // Act
    const code = await terminated;
    await pinged;
    started.broadcast(record());

    // Assess
    expect(code).toBe(1006);
    expect(JSON.parse(await healthy.nextFrame()).instanceData.token).toBe(instanceToken);
    expect(started.connectionCount('inst-1')).toBe(1);
  });

  it('applies a configuration change to open connections once the cached one expires', async () => {
    // Prepare
    let now = 1_000_000;
    const { url, hub: started, setWebsocket } = await start({ configTtlMs: 2_000, now: () => now });
    const client = await open(url);
    started.broadcast(record());
    await client.nextFrame();
    setWebsocket({ enabled: true, events: ['call.update'], mediaBase64: false });
    now += 2_001;
    const dropped = record('message.exchange');
    const wanted = record('call.update');

    // Act
    started.broadcast(dropped);
    started.broadcast(wanted);

    // Assess
    expect(JSON.parse(await client.nextFrame()).id).toBe(wanted.id);
  });

  it('closes every connection with 1001 on shutdown', async () => {
    // Prepare
    const { url, hub: started } = await start();
    const client = await open(url);
    const code = closeCode(client.socket);

    // Act
    await started.close();

    // Assess
    expect(await code).toBe(1001);
  });

  it('leaves other paths to the server and answers 405 to other methods on /ws/:instance', async () => {
    // Prepare
    const { httpUrl } = await start();

    // Act
    const other = await fetch(`${httpUrl}/api/anything`);
    const post = await fetch(`${httpUrl}/ws/sales`, { method: 'POST' });

    // Assess
    expect(await other.text()).toBe('other routes');
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
    expect(await post.json()).toEqual({ success: false, error: { message: 'Method not allowed' } });
  });
});
