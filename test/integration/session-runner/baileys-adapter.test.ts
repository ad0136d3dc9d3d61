import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBaileysConnectionFactory, type BaileysFactoryOptions } from '../../../session-runner/baileys/baileys-connection.ts';
import type { DynamoAuthState } from '../../../session-runner/baileys/auth-state.dynamodb.ts';
import type { Runner } from '../../../session-runner/runner.ts';
import { keys } from '../../../shared/adapters/dynamodb/table.ts';
import { shardOf, type Fence } from '../../../shared/domain/fleet/fleet.ts';
import { defaultSettings, type InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import type { WaConnection, WaConnectionFactory, WaConnectionOptions, WaEvent } from '../../../shared/domain/ports/wa-connection.port.ts';
import { FLEET_SHARDS, instanceIdOnShard, startFleet, testLogger, waitFor, type Fleet } from '../../support/fleet.ts';

/**
 * The real Baileys adapter (session-runner/baileys/baileys-connection.ts) against the WhatsApp
 * sandbox, with its auth state in DynamoDB (ARCHITECTURE §6): linking by QR and by pairing code,
 * a Signal message decrypted after a restart from the stored state, every close code and the
 * runner's reaction to it, the connect watchdog, and routing through HTTP CONNECT and SOCKS5 proxies.
 */

type CloseEvent = Extract<WaEvent, { type: 'close' }>;
type OpenEvent = Extract<WaEvent, { type: 'open' }>;
type QrEvent = Extract<WaEvent, { type: 'qr' }>;
type MessageEvent = Extract<WaEvent, { type: 'message' }>;

interface Opened {
  conn: WaConnection;
  events: WaEvent[];
  /** Resolves with the first event (already seen ones count) matching `predicate`. */
  until<T extends WaEvent>(predicate: (event: WaEvent) => event is T, timeoutMs?: number): Promise<T>;
  /** Every creds write the adapter asked for, to let them land before reading the store. */
  saves: Promise<void>[];
}

const isQr = (event: WaEvent): event is QrEvent => event.type === 'qr';
const isOpen = (event: WaEvent): event is OpenEvent => event.type === 'open';
const isClose = (event: WaEvent): event is CloseEvent => event.type === 'close';
const isMessageWith = (text: string) => (event: WaEvent): event is MessageEvent => event.type === 'message' && event.text === text;

const numberOfJid = (jid: string) => jid.split('@')[0] as string;

let fleet: Fleet;
let fence: Fence;
const opened: Opened[] = [];

beforeAll(async () => {
  fleet = await startFleet({ scanDelayMs: null });
  // Adapter-level auth states are fenced by a lease of their own, on a shard no runner uses.
  fence = await fleet.fence(100);
});

afterEach(() => {
  for (const { conn } of opened.splice(0)) conn.stop();
});

afterAll(async () => {
  await fleet?.stop();
});

const factoryWith = (options: Omit<BaileysFactoryOptions, 'logger' | 'waWebSocketUrl'> = {}): WaConnectionFactory =>
  createBaileysConnectionFactory({ logger: testLogger, waWebSocketUrl: fleet.sandbox.url, ...options });

const open = (factory: WaConnectionFactory, auth: DynamoAuthState, proxy: WaConnectionOptions['proxy'] = null): Opened => {
  const events: WaEvent[] = [];
  const listeners = new Set<() => void>();
  const saves: Promise<void>[] = [];
  const conn = factory.open({
    instanceId: 'adapter-test',
    auth: auth.state,
    saveCreds: () => {
      const save = auth.saveCreds();
      saves.push(save.catch(() => undefined));
      return save;
    },
    settings: { ...defaultSettings },
    proxy,
    historyDays: null,
    onEvent: (event) => {
      events.push(event);
      for (const listener of [...listeners]) listener();
    },
  });
  const until: Opened['until'] = (predicate, timeoutMs = 15_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = events.find(predicate);
        if (!found) return false;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`event not seen within ${timeoutMs} ms; saw ${JSON.stringify(events.map((e) => (e.type === 'close' ? `close ${e.code}` : e.type)))}`));
      }, timeoutMs);
      if (!check()) listeners.add(check);
    });
  const handle = { conn, events, until, saves };
  opened.push(handle);
  return handle;
};

/** A fresh auth state for a new instance id, read from DynamoDB (nothing stored yet). */
const freshAuth = async (): Promise<{ instanceId: string; auth: DynamoAuthState }> => {
  const instanceId = instanceIdOnShard(0);
  return { instanceId, auth: await fleet.authState(instanceId, fence) };
};

/** After a pairing: the creds writes land, then the auth state is loaded again from DynamoDB and reopened. */
const reopenFromStore = async (previous: Opened, instanceId: string, factory: WaConnectionFactory, proxy: WaConnectionOptions['proxy'] = null) => {
  await Promise.all(previous.saves);
  const auth = await fleet.authState(instanceId, fence);
  expect(auth.isLinked()).toBe(true);
  const next = open(factory, auth, proxy);
  const up = await next.until(isOpen);
  return { auth, connection: next, jid: up.jid, number: numberOfJid(up.jid) };
};

/** QR link: qr → the phone scans → close 515 → reopen with the stored creds → open. */
const linkByQr = async (factory: WaConnectionFactory = factoryWith(), proxy: WaConnectionOptions['proxy'] = null) => {
  const { instanceId, auth } = await freshAuth();
  const first = open(factory, auth, proxy);
  const { qr } = await first.until(isQr);
  await fleet.sandbox.scan(qr);
  const restart = await first.until(isClose);
  expect(restart.code).toBe(515);
  return { instanceId, first, ...(await reopenFromStore(first, instanceId, factory, proxy)) };
};

const deviceOf = (number: string) => fleet.sandbox.devices().find((device) => device.number === number);

describe('linking', () => {
  it('shows a QR and rotates it through the refs, then closes with 408 when they run out', async () => {
    // Prepare
    const { auth } = await freshAuth();

    // Act
    const connection = open(factoryWith({ qrTimeoutMs: 300 }), auth);
    const close = await connection.until(isClose);

    // Assess
    const qrs = connection.events.filter(isQr).map((event) => event.qr);
    expect(qrs).toHaveLength(6);
    expect(new Set(qrs).size).toBe(6);
    // ref, noise key, identity key, adv secret (Baileys wraps them in a wa.me link).
    for (const qr of qrs) expect(qr).toMatch(/2@[^,]+,[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44},[A-Za-z0-9+/=]{44}/);
    // Only the ref rotates; the keys the phone signs for stay those of this companion.
    expect(new Set(qrs.map((qr) => qr.split(',').slice(1).join(','))).size).toBe(1);
    expect(close.code).toBe(408);
    expect(connection.events.some(isOpen)).toBe(false);
  });

  it('links with a rotated QR: the scan closes with 515 and the stored creds open as the linked number', async () => {
    // Prepare
    const { instanceId, auth } = await freshAuth();
    const factory = factoryWith({ qrTimeoutMs: 500 });
    const first = open(factory, auth);
    await waitFor(() => first.events.filter(isQr).length >= 2, 'the second QR', 5_000, 20);

    // Act
    await fleet.sandbox.scan(first.events.filter(isQr)[1]?.qr ?? '');
    const restart = await first.until(isClose);
    const { jid, number } = await reopenFromStore(first, instanceId, factory);

    // Assess
    expect(restart.code).toBe(515);
    expect(jid).toMatch(/^\d{10,15}@s\.whatsapp\.net$/);
    expect(deviceOf(number)).toMatchObject({ number, connected: true });
  });

  it('links with a pairing code requested after the first QR', async () => {
    // Prepare
    const { instanceId, auth } = await freshAuth();
    const factory = factoryWith();
    const number = '5511987650001';
    const first = open(factory, auth);
    await first.until(isQr);

    // Act
    const code = await first.conn.requestPairingCode(number);
    await fleet.sandbox.enterPairingCode(number, code);
    const restart = await first.until(isClose);
    const reopened = await reopenFromStore(first, instanceId, factory);

    // Assess
    expect(code).toMatch(/^[A-Z0-9]{8}$/);
    expect(restart.code).toBe(515);
    expect(reopened.jid).toBe(`${number}@s.whatsapp.net`);
    expect(deviceOf(number)?.connected).toBe(true);
  });
});

describe('auth state round trip', () => {
  it('decrypts Signal messages after a restart from the auth state stored in DynamoDB', async () => {
    // Prepare: linked, one message received (a pkmsg: the contact's session now exists on both sides).
    const { instanceId, connection, number } = await linkByQr();
    const before = await fleet.sandbox.sendText({ toNumber: number, fromNumber: '5511955550001', text: 'antes do restart' });
    await connection.until(isMessageWith('antes do restart'));
    await waitFor(() => fleet.sandbox.inbound(number).find((message) => message.id === before && message.status !== 'sent' && message.status !== 'queued'), 'the delivery receipt');

    // Act: the "runner" stops; a new process loads the state from DynamoDB and opens again.
    connection.conn.stop();
    await connection.until(isClose);
    await waitFor(() => deviceOf(number)?.connected === false, 'the sandbox to see the socket gone');
    const restarted = open(factoryWith(), await fleet.authState(instanceId, fence));
    await restarted.until(isOpen);
    const known = await fleet.sandbox.sendText({ toNumber: number, fromNumber: '5511955550001', text: 'depois do restart' });
    const stranger = await fleet.sandbox.sendText({ toNumber: number, fromNumber: '5511955550002', text: 'primeiro contato' });

    // Assess: the known contact's session and an uploaded one-time pre-key both came from the store.
    const fromKnown = await restarted.until(isMessageWith('depois do restart'));
    const fromStranger = await restarted.until(isMessageWith('primeiro contato'));
    expect(fromKnown).toMatchObject({ key: { remoteJid: '5511955550001@s.whatsapp.net', id: known, fromMe: false }, isGroup: false, isHistory: false });
    expect(fromStranger).toMatchObject({ key: { remoteJid: '5511955550002@s.whatsapp.net', id: stranger, fromMe: false } });
    const inbound = fleet.sandbox.inbound(number);
    expect(inbound.find((message) => message.id === known)?.encryption).toBe('msg');
    expect(inbound.find((message) => message.id === stranger)?.encryption).toBe('pkmsg');
  });
});

describe('close codes', () => {
  it.each([401, 408, 428, 440, 515] as const)('a %i from WhatsApp reaches the adapter as a close with that code', async (code) => {
    // Prepare: a short keep-alive, so a silent edge (408) is noticed in seconds.
    const { connection, number } = await linkByQr(factoryWith({ keepAliveIntervalMs: 500 }));

    // Act
    await fleet.sandbox.disconnect(number, code);
    const close = await connection.until(isClose, 20_000);

    // Assess
    expect(close.code).toBe(code);
  });

  it('ends a connection whose WebSocket upgrade got a non-101 answer, through the connect watchdog', async () => {
    // Prepare
    const { auth } = await freshAuth();
    fleet.sandbox.rejectUpgrades(1, 503);

    // Act
    const connection = open(factoryWith({ connectWatchdogMs: 1_500 }), auth);
    const close = await connection.until(isClose, 8_000);

    // Assess: without the watchdog Baileys stays `connecting` forever.
    expect(close.code).toBe(408);
    expect(connection.events.map((event) => event.type)).toEqual(['connecting', 'close']);
  });
});

describe("the runner's reaction to close codes", () => {
  let runner: Runner;
  let nameCounter = 0;

  beforeAll(async () => {
    runner = await fleet.startRunner('adapter-runner');
  });

  afterAll(async () => {
    await runner?.stop();
  });

  /** An instance linked through the runner: connect → QR → the phone scans → connected. */
  const linked = async (): Promise<{ instance: InstanceRecord; number: string }> => {
    const instance = await fleet.createInstance(`reaction-${nameCounter++}`);
    const answer = await fleet.connect(instance);
    if (answer.kind !== 'qr') throw new Error('expected a QR');
    await fleet.sandbox.scan(answer.qrCode);
    const connected = await waitFor(async () => {
      const current = await fleet.instance(instance);
      return current.status === 'connected' ? current : null;
    }, `${instance.name} to connect`);
    const number = numberOfJid(connected.numberJid ?? '');
    await waitFor(() => deviceOf(number)?.connected, 'the device to be online');
    // The status is written before its state-log entry: wait for the entry too.
    await waitFor(async () => (await fleet.sessions.stateLog(instance.id)).at(-1)?.state === 'connected', 'the connected entry');
    return { instance, number };
  };

  /** State-log entries recorded after the first `skip` ones. */
  const logAfter = async (instance: InstanceRecord, skip: number) => (await fleet.sessions.stateLog(instance.id)).slice(skip).map(({ state, reason }) => ({ state, reason }));
  /** Whether the fleet keeps the session open (restores it after a restart or a move). */
  const desired = async (instance: InstanceRecord) => (await fleet.sessions.desiredOn(shardOf(instance.id, FLEET_SHARDS))).some((session) => session.instanceId === instance.id);
  const authItems = async (instance: InstanceRecord) =>
    (await fleet.dynamo.doc.send(new QueryCommand({ TableName: fleet.dynamo.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': keys.authPartition(instance.id) }, ConsistentRead: true }))).Items ?? [];

  it('515: reconnects at once with the same session', async () => {
    // Prepare
    const { instance, number } = await linked();
    const seen = (await fleet.sessions.stateLog(instance.id)).length;

    // Act
    await fleet.sandbox.disconnect(number, 515);

    // Assess
    const log = await waitFor(async () => {
      const entries = await logAfter(instance, seen);
      return entries.some((entry) => entry.state === 'connected') ? entries : null;
    }, 'the session to open again');
    expect(log).toEqual([
      { state: 'connecting', reason: 'restart_required' },
      { state: 'connected', reason: 'connected' },
    ]);
    await waitFor(() => deviceOf(number)?.connected, 'the device to be online again');
    expect((await fleet.instance(instance)).numberJid).toBe(`${number}@s.whatsapp.net`);
  });

  it('401: wipes the session and reports the instance logged out', async () => {
    // Prepare
    const { instance, number } = await linked();
    expect((await authItems(instance)).length).toBeGreaterThan(0);

    // Act
    await fleet.sandbox.disconnect(number, 401);

    // Assess
    const last = await waitFor(async () => {
      const entry = (await fleet.sessions.stateLog(instance.id)).at(-1);
      return entry?.state === 'logged_out' ? entry : null;
    }, 'the logged-out state');
    expect(last).toMatchObject({ state: 'logged_out', reason: 'logged_out_remote' });
    expect(await fleet.instance(instance)).toMatchObject({ status: 'loggedout', state: 'logged_out', hasSession: false });
    await waitFor(async () => (await authItems(instance)).length === 0, 'the auth state to be wiped');
    expect(await desired(instance)).toBe(false);
  });

  it('440: does not reconnect a replaced session', async () => {
    // Prepare
    const { instance, number } = await linked();

    // Act
    await fleet.sandbox.disconnect(number, 440);

    // Assess
    const last = await waitFor(async () => {
      const entry = (await fleet.sessions.stateLog(instance.id)).at(-1);
      return entry?.reason === 'replaced' ? entry : null;
    }, 'the replaced state');
    expect(last).toMatchObject({ state: 'disconnected', reason: 'replaced' });
    expect(await desired(instance)).toBe(false);
    // Longer than the first backoff of a retried close (about 1 s): still nobody reconnects.
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(deviceOf(number)?.connected).toBe(false);
    expect(runner.supervisor.open()).not.toContain(instance.id);
    expect((await fleet.sessions.stateLog(instance.id)).at(-1)).toMatchObject({ state: 'disconnected', reason: 'replaced' });
    // The saved session is kept: an operator can reconnect it once the double owner is gone.
    expect((await authItems(instance)).length).toBeGreaterThan(0);
  });

  it('428: reconnects after a backoff', async () => {
    // Prepare
    const { instance, number } = await linked();
    const seen = (await fleet.sessions.stateLog(instance.id)).length;

    // Act
    await fleet.sandbox.disconnect(number, 428);

    // Assess
    const log = await waitFor(async () => {
      const entries = await logAfter(instance, seen);
      return entries.some((entry) => entry.state === 'connected') ? entries : null;
    }, 'the session to open again');
    expect(log).toEqual([
      { state: 'disconnected', reason: 'connection_lost' },
      { state: 'connecting', reason: 'reconnect' },
      { state: 'connected', reason: 'connected' },
    ]);
    await waitFor(() => deviceOf(number)?.connected, 'the device to be online again');
    expect(await desired(instance)).toBe(true);
  });
});

// ---- proxies ----------------------------------------------------------------------------

interface TestProxy {
  port: number;
  /** `host:port` of every tunnel opened. */
  tunnels: string[];
  /** Connections refused for missing or wrong credentials. */
  refused: number;
  close(): Promise<void>;
}

interface Credentials {
  username: string;
  password: string;
}

const tracked = (sockets: Set<Socket | Duplex>, socket: Socket | Duplex) => {
  sockets.add(socket);
  socket.on('close', () => sockets.delete(socket));
  socket.on('error', () => socket.destroy());
};

const tunnel = (client: Socket | Duplex, upstream: Socket, head: Buffer) => {
  if (head.length > 0) upstream.write(head);
  upstream.pipe(client);
  client.pipe(upstream);
  upstream.on('close', () => client.destroy());
  client.on('close', () => upstream.destroy());
};

/** An HTTP proxy that only does CONNECT; with credentials it demands `Proxy-Authorization: Basic`. */
const startHttpConnectProxy = async (credentials?: Credentials): Promise<TestProxy> => {
  const sockets = new Set<Socket | Duplex>();
  const state = { tunnels: [] as string[], refused: 0 };
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connection', (socket) => tracked(sockets, socket));
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const expected = credentials ? `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}` : undefined;
    if (expected && req.headers['proxy-authorization'] !== expected) {
      state.refused += 1;
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    const target = req.url ?? '';
    const separator = target.lastIndexOf(':');
    const upstream = tcpConnect(Number(target.slice(separator + 1)), target.slice(0, separator).replace(/^\[|\]$/g, ''), () => {
      state.tunnels.push(target);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      tunnel(client, upstream, head);
    });
    tracked(sockets, upstream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get tunnels() {
      return state.tunnels;
    },
    get refused() {
      return state.refused;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/** Reads exact byte counts off a socket until `detach`, which hands back what was read ahead. */
const byteReader = (socket: Socket) => {
  let buffered = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | null = null;
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    wake?.();
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  return {
    async read(count: number): Promise<Buffer> {
      while (buffered.length < count) {
        if (ended) throw new Error('client went away');
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
      }
      const out = buffered.subarray(0, count);
      buffered = buffered.subarray(count);
      return out;
    },
    detach(): Buffer {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      return buffered;
    },
  };
};

/** A SOCKS5 proxy (RFC 1928): no-auth or username/password (RFC 1929), CONNECT only. */
const startSocks5Proxy = async (credentials?: Credentials): Promise<TestProxy> => {
  const sockets = new Set<Socket | Duplex>();
  const state = { tunnels: [] as string[], refused: 0 };
  const handshake = async (client: Socket) => {
    const reader = byteReader(client);
    const [version = 0, methodCount = 0] = await reader.read(2);
    if (version !== 5) throw new Error('not SOCKS5');
    const methods = [...(await reader.read(methodCount))];
    const method = credentials ? 0x02 : 0x00;
    if (!methods.includes(method)) {
      state.refused += 1;
      client.end(Buffer.from([5, 0xff]));
      return;
    }
    client.write(Buffer.from([5, method]));
    if (credentials) {
      const [, userLength = 0] = await reader.read(2);
      const username = (await reader.read(userLength)).toString();
      const [passwordLength = 0] = await reader.read(1);
      const password = (await reader.read(passwordLength)).toString();
      if (username !== credentials.username || password !== credentials.password) {
        state.refused += 1;
        client.end(Buffer.from([1, 1]));
        return;
      }
      client.write(Buffer.from([1, 0]));
    }
    const [, command, , addressType] = await reader.read(4);
    let host: string;
    if (addressType === 1) host = [...(await reader.read(4))].join('.');
    else if (addressType === 3) host = (await reader.read((await reader.read(1))[0] ?? 0)).toString();
    else if (addressType === 4) host = ((await reader.read(16)).toString('hex').match(/.{4}/g) ?? []).join(':');
    else throw new Error('unknown address type');
    const port = (await reader.read(2)).readUInt16BE(0);
    const failure = (code: number) => client.end(Buffer.from([5, code, 0, 1, 0, 0, 0, 0, 0, 0]));
    if (command !== 1) return failure(7);
    const upstream = tcpConnect(port, host);
    tracked(sockets, upstream);
    try {
      await once(upstream, 'connect');
    } catch {
      return failure(5);
    }
    state.tunnels.push(`${host}:${port}`);
    client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
    tunnel(client, upstream, reader.detach());
  };
  const server = createTcpServer((client) => {
    tracked(sockets, client);
    handshake(client).catch(() => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    get tunnels() {
      return state.tunnels;
    },
    get refused() {
      return state.refused;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

describe('proxies', () => {
  const credentials = { username: 'zap user', password: 's3cr3t:pw' };
  const proxies: TestProxy[] = [];
  const sandboxAddress = () => new URL(fleet.sandbox.url).host;

  afterAll(async () => {
    await Promise.all(proxies.map((proxy) => proxy.close()));
  });

  const cases = [
    { protocol: 'http' as const, start: startHttpConnectProxy },
    { protocol: 'socks5' as const, start: startSocks5Proxy },
  ];

  describe.each(cases)('$protocol', ({ protocol, start }) => {
    it('links and opens through the proxy, with credentials', async () => {
      // Prepare
      const proxy = await start(credentials);
      proxies.push(proxy);
      const settings: WaConnectionOptions['proxy'] = { protocol, host: '127.0.0.1', port: String(proxy.port), ...credentials };

      // Act
      const { number } = await linkByQr(factoryWith({ connectWatchdogMs: 5_000 }), settings);

      // Assess: the QR connection and the logged-in one both went through the proxy.
      expect(deviceOf(number)?.connected).toBe(true);
      expect(proxy.tunnels).toEqual([sandboxAddress(), sandboxAddress()]);
      expect(proxy.refused).toBe(0);
    });

    it('opens through the proxy without credentials', async () => {
      // Prepare
      const proxy = await start();
      proxies.push(proxy);
      const { auth } = await freshAuth();

      // Act
      const connection = open(factoryWith(), auth, { protocol, host: '127.0.0.1', port: String(proxy.port), username: null, password: null });
      await connection.until(isQr);

      // Assess
      expect(proxy.tunnels).toEqual([sandboxAddress()]);
    });

    it('does not connect with wrong credentials', async () => {
      // Prepare
      const proxy = await start(credentials);
      proxies.push(proxy);
      const { auth } = await freshAuth();

      // Act
      const connection = open(factoryWith({ connectWatchdogMs: 1_500 }), auth, { protocol, host: '127.0.0.1', port: String(proxy.port), username: credentials.username, password: 'wrong' });
      const close = await connection.until(isClose, 10_000);

      // Assess
      expect(close.type).toBe('close');
      expect(connection.events.some((event) => event.type === 'qr' || event.type === 'open')).toBe(false);
      expect(proxy.refused).toBe(1);
      expect(proxy.tunnels).toEqual([]);
    });
  });
});
