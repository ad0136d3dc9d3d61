import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBaileysConnectionFactory } from '../../../session-runner/baileys/baileys-connection.ts';
import { spoolMediaToFile } from '../../../session-runner/baileys/media-download.ts';
import type { Fence } from '../../../shared/domain/fleet/fleet.ts';
import { defaultSettings } from '../../../shared/domain/instance/instance.ts';
import { mediaSourceOf, type WaMessageEvent } from '../../../shared/domain/ports/media.port.ts';
import type { WaConnection, WaConnectionOptions, WaEvent } from '../../../shared/domain/ports/wa-connection.port.ts';
import { instanceIdOnShard, startFleet, testLogger, waitFor, type Fleet } from '../../support/fleet.ts';

/**
 * The Baileys adapter's media downloads against the sandbox's media CDN: the sandbox encrypts
 * as WhatsApp does, the adapter downloads (directly or through the instance's HTTP proxy) and
 * Baileys decrypts; the result is verified against the message's fileSha256.
 */

let fleet: Fleet;
let fence: Fence;
const connections: WaConnection[] = [];

beforeAll(async () => {
  fleet = await startFleet({ scanDelayMs: null });
  fence = await fleet.fence(101);
});

afterEach(() => {
  for (const conn of connections.splice(0)) conn.stop();
});

afterAll(async () => {
  await fleet?.stop();
});

/** Links a fresh device by QR and reopens it; returns its number and the events of the open connection. */
const linked = async (proxy: WaConnectionOptions['proxy'] = null) => {
  const factory = createBaileysConnectionFactory({ logger: testLogger, waWebSocketUrl: fleet.sandbox.url, mediaOrigin: fleet.sandbox.mediaOrigin });
  const instanceId = instanceIdOnShard(0);
  const openWith = async () => {
    const auth = await fleet.authState(instanceId, fence);
    const events: WaEvent[] = [];
    const saves: Promise<void>[] = [];
    const conn = factory.open({
      instanceId,
      auth: auth.state,
      saveCreds: () => {
        const save = auth.saveCreds();
        saves.push(save.catch(() => undefined));
        return save;
      },
      settings: { ...defaultSettings },
      proxy,
      historyDays: null,
      onEvent: (event) => events.push(event),
    });
    connections.push(conn);
    return { conn, events, saves };
  };
  const first = await openWith();
  const qr = await waitFor(() => first.events.find((event): event is Extract<WaEvent, { type: 'qr' }> => event.type === 'qr'), 'a QR');
  await fleet.sandbox.scan(qr.qr);
  await waitFor(() => first.events.some((event) => event.type === 'close'), 'the 515 restart');
  await Promise.all(first.saves);
  const second = await openWith();
  const open = await waitFor(() => second.events.find((event): event is Extract<WaEvent, { type: 'open' }> => event.type === 'open'), 'open');
  return { number: open.jid.split('@')[0] as string, events: second.events };
};

const messageEvent = (events: WaEvent[], id: string) =>
  waitFor(() => events.find((event): event is WaMessageEvent => event.type === 'message' && event.key.id === id), `message ${id}`);

/** An HTTP proxy that only does CONNECT, recording each tunnel's target. */
const startConnectProxy = async () => {
  const tunnels: string[] = [];
  const sockets = new Set<Socket | Duplex>();
  const server = createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: IncomingMessage, client: Duplex, head: Buffer) => {
    const target = req.url ?? '';
    const separator = target.lastIndexOf(':');
    const upstream = tcpConnect(Number(target.slice(separator + 1)), target.slice(0, separator), () => {
      tunnels.push(target);
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => socket.destroy());
      socket.on('close', () => (client.destroy(), upstream.destroy(), sockets.delete(socket)));
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    tunnels,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

/** A SOCKS5 proxy (RFC 1928) with username/password auth (RFC 1929), CONNECT to IPv4 or a name only. */
const startSocks5Proxy = async (credentials: { username: string; password: string }) => {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    sockets.add(client);
    client.on('error', () => client.destroy());
    client.on('close', () => sockets.delete(client));
    let buffered = Buffer.alloc(0);
    let stage: 'greeting' | 'auth' | 'request' | 'open' = 'greeting';
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (stage === 'greeting' && buffered.length >= 2 && buffered.length >= 2 + (buffered[1] ?? 0)) {
        const methods = [...buffered.subarray(2, 2 + (buffered[1] ?? 0))];
        buffered = buffered.subarray(2 + (buffered[1] ?? 0));
        if (!methods.includes(2)) return void client.end(Buffer.from([5, 0xff]));
        client.write(Buffer.from([5, 2]));
        stage = 'auth';
      }
      if (stage === 'auth' && buffered.length >= 2) {
        const userLength = buffered[1] ?? 0;
        const passwordLength = buffered[2 + userLength];
        if (passwordLength === undefined || buffered.length < 3 + userLength + passwordLength) return;
        const username = buffered.subarray(2, 2 + userLength).toString();
        const password = buffered.subarray(3 + userLength, 3 + userLength + passwordLength).toString();
        buffered = buffered.subarray(3 + userLength + passwordLength);
        if (username !== credentials.username || password !== credentials.password) return void client.end(Buffer.from([1, 1]));
        client.write(Buffer.from([1, 0]));
        stage = 'request';
      }
      if (stage === 'request' && buffered.length >= 5) {
        const type = buffered[3];
        const hostLength = type === 1 ? 4 : type === 3 ? 1 + (buffered[4] ?? 0) : -1;
        if (hostLength < 0) return void client.destroy();
        if (buffered.length < 4 + hostLength + 2) return;
        const host = type === 1 ? [...buffered.subarray(4, 8)].join('.') : buffered.subarray(5, 4 + hostLength).toString();
        const port = buffered.readUInt16BE(4 + hostLength);
        const rest = buffered.subarray(4 + hostLength + 2);
        stage = 'open';
        client.off('data', onData);
        const upstream = tcpConnect(port, host, () => {
          tunnels.push(`${host}:${port}`);
          client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
          if (rest.length > 0) upstream.write(rest);
          upstream.pipe(client);
          client.pipe(upstream);
        });
        upstream.on('error', () => client.destroy());
        upstream.on('close', () => client.destroy());
        client.on('close', () => upstream.destroy());
      }
    };
    client.on('data', onData);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    tunnels,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
};

describe('media downloads', () => {
  it('decrypts an image from the media CDN to the original bytes, with its announced type and size', async () => {
    // Prepare
    const { number, events } = await linked();
    const image = randomBytes(70_001);

    // Act
    const id = await fleet.sandbox.sendMedia({ toNumber: number, fromNumber: '5511955550010', media: { type: 'image', data: image, mimetype: 'image/jpeg', caption: 'oi' } });
    const event = await messageEvent(events, id);
    const source = mediaSourceOf(event);
    const file = await spoolMediaToFile()(source as NonNullable<typeof source>, { maxBytes: 1_000_000 });

    // Assess
    expect(source).toMatchObject({ mimetype: 'image/jpeg', declaredSize: image.length });
    expect((await readFile(file.path)).equals(image)).toBe(true);
    expect(event.exchange).toMatchObject({ type: 'image', content: { text: 'oi' }, media: { type: 'image', size: image.length, mimetype: 'image/jpeg' } });
    await file.remove();
  });

  it('downloads through the instance HTTP proxy', async () => {
    // Prepare
    const proxy = await startConnectProxy();
    try {
      const { number, events } = await linked({ protocol: 'http', host: '127.0.0.1', port: String(proxy.port), username: null, password: null });
      const tunnelsBefore = proxy.tunnels.length;
      const note = randomBytes(9_000);

      // Act
      const id = await fleet.sandbox.sendMedia({ toNumber: number, fromNumber: '5511955550011', media: { type: 'audio', data: note, mimetype: 'audio/ogg; codecs=opus', ptt: true } });
      const source = mediaSourceOf(await messageEvent(events, id));
      const file = await spoolMediaToFile()(source as NonNullable<typeof source>, { maxBytes: 1_000_000 });

      // Assess: one more tunnel, to the sandbox (the CDN and the edge share its address).
      expect((await readFile(file.path)).equals(note)).toBe(true);
      expect(proxy.tunnels.slice(tunnelsBefore)).toEqual([new URL(fleet.sandbox.mediaOrigin).host]);
      await file.remove();
    } finally {
      await proxy.close();
    }
  });

  it('downloads through the instance SOCKS5 proxy, with credentials', async () => {
    // Prepare
    const credentials = { username: 'zap user', password: 's3cr3t:pw' };
    const proxy = await startSocks5Proxy(credentials);
    try {
      const { number, events } = await linked({ protocol: 'socks5', host: '127.0.0.1', port: String(proxy.port), ...credentials });
      const tunnelsBefore = proxy.tunnels.length;
      const sticker = randomBytes(4_000);

      // Act
      const id = await fleet.sandbox.sendMedia({ toNumber: number, fromNumber: '5511955550012', media: { type: 'sticker', data: sticker, mimetype: 'image/webp' } });
      const source = mediaSourceOf(await messageEvent(events, id));
      const file = await spoolMediaToFile()(source as NonNullable<typeof source>, { maxBytes: 1_000_000 });

      // Assess
      expect((await readFile(file.path)).equals(sticker)).toBe(true);
      expect(proxy.tunnels.slice(tunnelsBefore)).toEqual([new URL(fleet.sandbox.mediaOrigin).host]);
      await file.remove();
    } finally {
      await proxy.close();
    }
  });
});
