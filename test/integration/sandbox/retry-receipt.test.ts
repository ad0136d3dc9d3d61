import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { proto } from '@whiskeysockets/baileys';
import { startWhatsAppSandbox, trustSandboxRoot, type WhatsAppSandbox } from '#local/sandbox/whatsapp-sandbox.ts';
import { connect, memoryAuthState, type MemoryAuth, type TestSocket } from './baileys-harness.ts';

/**
 * A contact that could not decrypt a message asks for it again with a retry receipt; Baileys
 * re-sends what its socket config's `getMessage` still has (its own recent-message cache is off
 * here, so `getMessage` is the only source, as after a restart).
 */

let sandbox: WhatsAppSandbox;
const debugLogger = { debug: (obj: object, msg?: string) => console.log('[sandbox]', msg, obj), warn: (obj: object, msg?: string) => console.log('[sandbox] WARN', msg, obj) };
const sockets: TestSocket[] = [];
const contact = '5511912340021';
const contactJid = `${contact}@s.whatsapp.net`;

beforeAll(async () => {
  sandbox = await startWhatsAppSandbox({ ...(process.env.SANDBOX_DEBUG ? { logger: debugLogger } : {}), scanDelayMs: null, receipts: null });
  trustSandboxRoot(sandbox.rootPublicKey);
});

afterEach(() => {
  for (const { sock } of sockets.splice(0)) sock.end(undefined);
});

afterAll(async () => {
  await sandbox.stop();
});

/** QR link, then the socket that logs in as the new device, with a store of what it sent. */
async function linkWithMessageStore(serve: boolean): Promise<{ socket: TestSocket; number: string; sent: Map<string, proto.IMessage> }> {
  const auth: MemoryAuth = memoryAuthState();
  const sent = new Map<string, proto.IMessage>();
  const extra = {
    enableRecentMessageCache: false,
    getMessage: async (key: proto.IMessageKey) => (serve && key.id ? sent.get(key.id) : undefined),
  };
  const first = connect(sandbox.url, auth, extra);
  sockets.push(first);
  const { qr } = await first.until((u) => !!u.qr);
  await sandbox.scan(qr ?? '');
  await first.until((u) => u.connection === 'close');
  const socket = connect(sandbox.url, auth, extra);
  sockets.push(socket);
  await socket.until((u) => u.connection === 'open');
  return { socket, number: auth.state.creds.me?.id.split(':')[0] ?? '', sent };
}

async function sendText(link: { socket: TestSocket; number: string; sent: Map<string, proto.IMessage> }, text: string): Promise<string> {
  const message = await link.socket.sock.sendMessage(contactJid, { text });
  const id = message?.key.id ?? '';
  if (message?.message) link.sent.set(id, message.message);
  await vi.waitFor(() => expect(sandbox.outbound(link.number)).toContainEqual({ id, to: contactJid, text }));
  return id;
}

describe('retry receipts', () => {
  it('re-sends a message the contact asks for again, and the contact can read it', async () => {
    // Prepare
    const link = await linkWithMessageStore(true);
    const id = await sendText(link, 'please read me twice');

    // Act
    const resent = await sandbox.requestRetry({ fromNumber: contact, toNumber: link.number, messageId: id });

    // Assess
    expect(resent.conversation ?? resent.extendedTextMessage?.text).toBe('please read me twice');
    expect(sandbox.outbound(link.number).filter((m) => m.id === id)).toEqual([{ id, to: contactJid, text: 'please read me twice' }]);
  });

  it('keeps talking to the contact after a re-send', async () => {
    // Prepare
    const link = await linkWithMessageStore(true);
    const first = await sendText(link, 'first');
    await sandbox.requestRetry({ fromNumber: contact, toNumber: link.number, messageId: first });

    // Act
    await sendText(link, 'after the retry');
    const reply = await sandbox.sendText({ toNumber: link.number, fromNumber: contact, text: 'got both' });

    // Assess
    expect(sandbox.outbound(link.number).map((m) => m.text)).toEqual(['first', 'after the retry']);
    await vi.waitFor(() => expect(sandbox.inbound(link.number).find((m) => m.id === reply)?.status).toBe('delivered'));
  });

  it('gets nothing back when the device no longer has the message', async () => {
    // Prepare
    const link = await linkWithMessageStore(false);
    const id = await sendText(link, 'forgotten');

    // Act
    const retry = sandbox.requestRetry({ fromNumber: contact, toNumber: link.number, messageId: id, timeoutMs: 3_000 });

    // Assess
    await expect(retry).rejects.toThrow(`did not re-send ${id}`);
    expect(sandbox.outbound(link.number)).toEqual([{ id, to: contactJid, text: 'forgotten' }]);
  });

  it('refuses a retry for a message the device never sent to that contact', async () => {
    // Prepare
    const link = await linkWithMessageStore(true);
    const id = await sendText(link, 'to someone else');

    // Act / Assess
    await expect(sandbox.requestRetry({ fromNumber: '5511912340099', toNumber: link.number, messageId: id })).rejects.toThrow('sent no message');
  });
});
