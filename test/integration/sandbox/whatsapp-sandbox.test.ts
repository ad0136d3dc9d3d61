import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { proto, type WAMessage, type WAMessageUpdate } from '@whiskeysockets/baileys';
import { startWhatsAppSandbox, trustSandboxRoot, type SandboxOptions, type WhatsAppSandbox } from '#local/sandbox/whatsapp-sandbox.ts';
import { connect, memoryAuthState, type MemoryAuth, type TestSocket } from './baileys-harness.ts';

let sandbox: WhatsAppSandbox;
const debugLogger = { debug: (obj: object, msg?: string) => console.log('[sandbox]', msg, obj), warn: (obj: object, msg?: string) => console.log('[sandbox] WARN', msg, obj) };
const sockets: TestSocket[] = [];

beforeAll(async () => {
  sandbox = await startWhatsAppSandbox({ ...(process.env.SANDBOX_DEBUG ? { logger: debugLogger } : {}), scanDelayMs: null, pairingDelayMs: 0, receipts: { deliveredMs: 150, readMs: 400 } });
  trustSandboxRoot(sandbox.rootPublicKey);
});

afterEach(() => {
  for (const { sock } of sockets.splice(0)) sock.end(undefined);
});

afterAll(async () => {
  await sandbox.stop();
});

function open(auth: MemoryAuth, extra?: Parameters<typeof connect>[2]): TestSocket {
  const socket = connect(sandbox.url, auth, extra);
  sockets.push(socket);
  return socket;
}

/** Runs `fn` against a second sandbox, trusting its root meanwhile (the trust is process-wide). */
async function withSandbox(options: SandboxOptions, fn: (other: WhatsAppSandbox) => Promise<void>): Promise<void> {
  const other = await startWhatsAppSandbox(options);
  trustSandboxRoot(other.rootPublicKey);
  try {
    await fn(other);
  } finally {
    for (const { sock } of sockets.splice(0)) sock.end(undefined);
    trustSandboxRoot(sandbox.rootPublicKey);
    await other.stop();
  }
}

/** QR link: scan → 515 → reconnect with the same creds → open. */
async function linkByQr(auth: MemoryAuth): Promise<TestSocket> {
  const first = open(auth);
  const { qr } = await first.until((u) => !!u.qr);
  await sandbox.scan(qr ?? '');
  await first.until((u) => u.connection === 'close');
  expect(first.closeCode()).toBe(515);
  const second = open(auth);
  await second.until((u) => u.connection === 'open');
  return second;
}

const numberOf = (auth: MemoryAuth) => auth.state.creds.me?.id.split(':')[0] ?? '';

function collectMessages(socket: TestSocket): { upserts: WAMessage[]; updates: WAMessageUpdate[] } {
  const upserts: WAMessage[] = [];
  const updates: WAMessageUpdate[] = [];
  socket.sock.ev.on('messages.upsert', ({ messages }) => upserts.push(...messages));
  socket.sock.ev.on('messages.update', (list) => updates.push(...list));
  return { upserts, updates };
}

describe('linking', () => {
  it('shows a QR, and a scan links the device: 515, then open with creds.me', async () => {
    const auth = memoryAuthState();
    await linkByQr(auth);
    expect(auth.state.creds.me?.id).toMatch(/^5511990\d{6}:\d+@s\.whatsapp\.net$/);
    expect(auth.state.creds.account).toBeTruthy();
    expect(auth.state.creds.me?.name).toMatch(/^Sandbox \d{4}$/);
    expect(sandbox.devices()).toContainEqual({ number: numberOf(auth), jid: auth.state.creds.me?.id, connected: true });
  });

  it('rotates the QR through its refs, then closes with 408 when they run out', async () => {
    const socket = open(memoryAuthState(), { qrTimeout: 200 });
    await socket.until((u) => u.connection === 'close', 10_000);
    const qrs = socket.updates.flatMap((u) => (u.qr ? [u.qr] : []));
    expect(new Set(qrs).size).toBe(6);
    expect(socket.closeCode()).toBe(408);
  });

  it('refuses an expired QR and ends the unscanned registration itself with 408', async () => {
    await withSandbox({ scanDelayMs: null, qrTtlMs: { first: 200, next: 200 }, qrRefs: 2 }, async (short) => {
      const socket = connect(short.url, memoryAuthState());
      sockets.push(socket);
      const { qr } = await socket.until((u) => !!u.qr);
      await delay(300);
      await expect(short.scan(qr ?? '')).rejects.toThrow('QR expired');
      await socket.until((u) => u.connection === 'close', 10_000);
      expect(socket.closeCode()).toBe(408);
    });
  });

  it('scans a shown QR by itself after scanDelayMs', async () => {
    await withSandbox({ scanDelayMs: 100 }, async (auto) => {
      const auth = memoryAuthState();
      const socket = connect(auto.url, auth);
      sockets.push(socket);
      const { qr } = await socket.until((u) => !!u.qr);
      auto.qrShown(qr ?? '');
      await socket.until((u) => u.connection === 'close');
      expect(socket.closeCode()).toBe(515);
      expect(auto.devices()).toHaveLength(1);
    });
  });

  it('serves the same operations over its JSON control API when asked to', async () => {
    await withSandbox({ scanDelayMs: null, control: true }, async (remote) => {
      const control = remote.url.replace(/^ws:/, 'http:').replace(/\/ws\/chat$/, '/control');
      const post = (route: string, body: unknown) =>
        fetch(`${control}/${route}`, { method: 'POST', body: JSON.stringify(body) });
      const auth = memoryAuthState();
      const socket = connect(remote.url, auth);
      sockets.push(socket);
      const { qr } = await socket.until((u) => !!u.qr);
      expect((await post('scan', { qr })).status).toBe(200);
      await socket.until((u) => u.connection === 'close');
      expect(await (await fetch(`${control}/devices`)).json()).toEqual([
        { number: numberOf(auth), jid: auth.state.creds.me?.id, connected: false },
      ]);
      expect((await post('disconnect', { number: numberOf(auth), code: 999 })).status).toBe(400);
      expect((await post('send-text', { toNumber: '5511000000000', fromNumber: '5511912340009', text: 'x' })).status).toBe(409);
    });
  });

  it('links with a pairing code typed into the phone', async () => {
    const auth = memoryAuthState();
    const first = open(auth);
    await first.until((u) => !!u.qr);
    const code = await first.sock.requestPairingCode('5511987650001');
    expect(code).toMatch(/^[A-Z0-9]{8}$/);
    await sandbox.enterPairingCode('5511987650001', code);
    await first.until((u) => u.connection === 'close');
    expect(first.closeCode()).toBe(515);
    const second = open(auth);
    await second.until((u) => u.connection === 'open');
    expect(auth.state.creds.me?.id).toMatch(/^5511987650001:\d+@s\.whatsapp\.net$/);
  });

  it('refuses to log in with the provisional creds of a pairing code that never completed (401)', async () => {
    const auth = memoryAuthState();
    const first = open(auth);
    await first.until((u) => !!u.qr);
    await first.sock.requestPairingCode('5511987650003');
    first.sock.end(undefined);
    await first.until((u) => u.connection === 'close');
    expect(auth.state.creds.me?.id).toBe('5511987650003@s.whatsapp.net');
    const again = open(auth);
    await again.until((u) => u.connection === 'close');
    expect(again.closeCode()).toBe(401);
  });

  it('a mistyped pairing code does not link', async () => {
    const auth = memoryAuthState();
    const first = open(auth);
    await first.until((u) => !!u.qr);
    const code = await first.sock.requestPairingCode('5511987650002');
    const wrong = code.startsWith('A') ? `B${code.slice(1)}` : `A${code.slice(1)}`;
    await expect(sandbox.enterPairingCode('5511987650002', wrong)).rejects.toThrow('pairing code rejected');
    expect(sandbox.devices().some((d) => d.number === '5511987650002')).toBe(false);
  });
});

describe('messages', () => {
  let auth: MemoryAuth;
  let socket: TestSocket;
  let messages: ReturnType<typeof collectMessages>;

  beforeAll(async () => {
    auth = memoryAuthState();
    socket = await linkByQr(auth);
    // This socket lives across the tests of this block: keep afterEach from ending it.
    sockets.splice(sockets.indexOf(socket), 1);
    messages = collectMessages(socket);
  });

  afterAll(() => socket.sock.end(undefined));

  const upserted = (id: string) => vi.waitFor(() => {
    const found = messages.upserts.find((m) => m.key.id === id);
    if (!found) throw new Error(`message ${id} not upserted`);
    return found;
  }, { timeout: 10_000 });

  it('delivers inbound texts over a real Signal session: pkmsg first, then msg', async () => {
    const number = numberOf(auth);
    const first = await sandbox.sendText({ toNumber: number, fromNumber: '5511912340001', text: 'hello 1', pushName: 'Ana' });
    const m1 = await upserted(first);
    expect(m1.message?.conversation).toBe('hello 1');
    expect(m1.pushName).toBe('Ana');
    expect(m1.key.remoteJid).toBe('5511912340001@s.whatsapp.net');
    await vi.waitFor(() => expect(sandbox.inbound(number).find((m) => m.id === first)?.status).toBe('delivered'));

    const second = await sandbox.sendText({ toNumber: number, fromNumber: '5511912340001', text: 'hello 2' });
    expect((await upserted(second)).message?.conversation).toBe('hello 2');
    expect(sandbox.inbound(number).map((m) => m.encryption)).toEqual(['pkmsg', 'msg']);
  });

  it('treats every well-formed number as registered (onWhatsApp)', async () => {
    expect(await socket.sock.onWhatsApp('5511912340005', '123')).toEqual([
      { jid: '5511912340005@s.whatsapp.net', exists: true },
    ]);
  });

  it('delivers plaintext inbound messages when asked', async () => {
    const id = await sandbox.sendText({ toNumber: numberOf(auth), fromNumber: '5511912340002', text: 'plain', plaintext: true });
    expect((await upserted(id)).message?.conversation).toBe('plain');
  });

  it('records outbound texts decrypted by the contact, then reports delivery and read', async () => {
    const number = numberOf(auth);
    for (const text of ['hi there', 'second']) {
      const sent = await socket.sock.sendMessage('5511912340003@s.whatsapp.net', { text });
      const id = sent?.key.id ?? '';
      await vi.waitFor(() =>
        expect(sandbox.outbound(number)).toContainEqual({ id, to: '5511912340003@s.whatsapp.net', text }),
      );
      // A receipt that lands while Baileys still buffers its own upsert is merged into it.
      await vi.waitFor(() => {
        const statuses = [
          ...messages.upserts.filter((m) => m.key.id === id).map((m) => m.status),
          ...messages.updates.filter((u) => u.key.id === id).map((u) => u.update.status),
        ];
        expect(statuses).toEqual(expect.arrayContaining([proto.WebMessageInfo.Status.DELIVERY_ACK, proto.WebMessageInfo.Status.READ]));
      });
    }
  });

  it('replies inside an existing inbound conversation', async () => {
    const number = numberOf(auth);
    const sent = await socket.sock.sendMessage('5511912340001@s.whatsapp.net', { text: 'reply' });
    await vi.waitFor(() =>
      expect(sandbox.outbound(number)).toContainEqual({ id: sent?.key.id, to: '5511912340001@s.whatsapp.net', text: 'reply' }),
    );
  });

  it('queues inbound messages while the device is away and delivers them as offline on login', async () => {
    const number = numberOf(auth);
    socket.sock.end(undefined);
    await socket.until((u) => u.connection === 'close');
    await vi.waitFor(() => expect(sandbox.devices().find((d) => d.number === number)?.connected).toBe(false));
    const id = await sandbox.sendText({ toNumber: number, fromNumber: '5511912340004', text: 'while away' });
    socket = open(auth);
    const upserts: { id: string; type: string }[] = [];
    socket.sock.ev.on('messages.upsert', ({ messages: list, type }) => upserts.push(...list.map((m) => ({ id: m.key.id ?? '', type }))));
    await socket.until((u) => u.connection === 'open');
    await vi.waitFor(() => expect(upserts).toContainEqual({ id, type: 'append' }), { timeout: 10_000 });
  });
});

describe('disconnects', () => {
  it.each([428, 440, 515] as const)('closing with %i reaches Baileys as the same status code', async (code) => {
    const auth = memoryAuthState();
    await linkByQr(auth);
    await sandbox.disconnect(numberOf(auth), code);
    const socket = sockets[sockets.length - 1];
    await socket?.until((u) => u.connection === 'close');
    expect(socket?.closeCode()).toBe(code);
  });

  it('401 logs the device out: the close carries 401 and the creds can no longer log in', async () => {
    const auth = memoryAuthState();
    const socket = await linkByQr(auth);
    await sandbox.disconnect(numberOf(auth), 401);
    await socket.until((u) => u.connection === 'close');
    expect(socket.closeCode()).toBe(401);
    const again = open(auth);
    await again.until((u) => u.connection === 'close');
    expect(again.closeCode()).toBe(401);
    expect(sandbox.devices().some((d) => d.number === numberOf(auth))).toBe(false);
  });

  it('408: a silent edge makes Baileys give up through its keep-alive', async () => {
    const auth = memoryAuthState();
    const first = open(auth);
    const { qr } = await first.until((u) => !!u.qr);
    await sandbox.scan(qr ?? '');
    await first.until((u) => u.connection === 'close');
    const socket = open(auth, { keepAliveIntervalMs: 500 });
    await socket.until((u) => u.connection === 'open');
    await sandbox.disconnect(numberOf(auth), 408);
    await socket.until((u) => u.connection === 'close', 15_000);
    expect(socket.closeCode()).toBe(408);
  });

  it("Baileys' logout() unlinks the device: it is gone and its creds get 401", async () => {
    const auth = memoryAuthState();
    const socket = await linkByQr(auth);
    await socket.sock.logout();
    await socket.until((u) => u.connection === 'close');
    expect(socket.closeCode()).toBe(401);
    await vi.waitFor(() => expect(sandbox.devices().some((d) => d.number === numberOf(auth))).toBe(false));
    const again = open(auth);
    await again.until((u) => u.connection === 'close');
    expect(again.closeCode()).toBe(401);
  });

  it('a non-101 upgrade answer leaves Baileys connecting until the caller ends it', async () => {
    sandbox.rejectUpgrades(1, 503);
    const socket = open(memoryAuthState());
    await delay(1_500);
    expect(socket.updates.some((u) => u.connection === 'open' || u.connection === 'close' || u.qr)).toBe(false);
    expect(socket.updates.at(-1)?.connection).toBe('connecting');
    socket.sock.end(undefined);
    await socket.until((u) => u.connection === 'close');
  });
});

describe('concurrent logins', () => {
  it('counts two sockets logged in with the same creds, and the newer replaces the older (440)', async () => {
    expect(sandbox.maxConcurrentLogins()).toBe(1);
    const auth = memoryAuthState();
    const older = await linkByQr(auth);
    const newer = open(auth);
    await newer.until((u) => u.connection === 'open');
    expect(sandbox.maxConcurrentLogins()).toBe(2);
    await older.until((u) => u.connection === 'close');
    expect(older.closeCode()).toBe(440);
  });
});
