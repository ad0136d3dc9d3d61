import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutboundMessage } from '../../local/sandbox/whatsapp-sandbox.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';
import { linkSandboxInstance, startHookReceiver, type Hook } from '../support/hook-receiver.ts';

/**
 * The send routes (spec §2.3) end to end: HTTP → API (stores pending, enqueues) → the in-process
 * runner (real Baileys) → the WhatsApp sandbox, whose simulated contacts decrypt what they got.
 */

describe('sending messages through the sandbox', () => {
  let stack: TestStack;
  let receiver: Awaited<ReturnType<typeof startHookReceiver>>;
  let hooks: Hook[] = [];
  let token = '';
  let selfNumber = '';

  /** What the linked number sent to `contact`, as the contact decrypted it. */
  const receivedBy = (contact: string): OutboundMessage[] => (stack.sandbox?.outbound(selfNumber) ?? []).filter((message) => message.to === `${contact}@s.whatsapp.net`);
  const send = (kind: string, body: unknown, options: { headers?: Record<string, string>; instance?: string; token?: string } = {}) =>
    stack.call('POST', `/api/message/${kind}/${options.instance ?? 'sender'}`, { token: options.token ?? token, body, ...(options.headers ? { headers: options.headers } : {}) });

  beforeAll(async () => {
    receiver = await startHookReceiver();
    hooks = receiver.hooks;
    stack = await startTestStack({ ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' }, { defaultRateLimits: { global: 100_000 } });
    ({ token, number: selfNumber } = await linkSandboxInstance(stack, 'sender', receiver.url));
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  it('sends a text: 200 with the contract shape and status sent, the contact gets exactly that text, it is stored and emitted', async () => {
    const response = await send('text', { number: '+55 11 94444-0001', message: 'Olá, tudo bem?', source: 'crm' });

    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      success: true,
      message: 'Message sent successfully',
      status: 'sent',
      data: {
        messageId: expect.stringMatching(/^3EB0[0-9A-F]{16}$/),
        messageType: 'text',
        content: 'Olá, tudo bem?',
        direction: 'outgoing',
        chat: { jid: '5511944440001@s.whatsapp.net', type: 'private' },
        sender: expect.objectContaining({ jid: `${selfNumber}@s.whatsapp.net` }),
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        source: 'crm',
      },
    });
    const messageId = response.body.data.messageId as string;
    expect(receivedBy('5511944440001')).toEqual([expect.objectContaining({ id: messageId, text: 'Olá, tudo bem?' })]);

    const hook = await waitFor(() => hooks.find((h) => h.body.event === 'message.exchange' && h.body.data.id === messageId), 'the outgoing message.exchange');
    expect(hook.body.data.message).toMatchObject({
      id: messageId,
      type: 'text',
      direction: 'outgoing',
      fromMe: true,
      chat: { jid: '5511944440001@s.whatsapp.net', type: 'private' },
      content: { text: 'Olá, tudo bem?' },
      source: 'crm',
    });
    const metrics = await stack.call('GET', '/api/instance/metrics/sender', { token });
    expect(metrics.body.metrics.messagesSent).toBeGreaterThanOrEqual(1);
    expect(metrics.body.metrics.messagesByType.text).toBeGreaterThanOrEqual(1);
  });

  it('turns the contact’s receipts into message.status events', async () => {
    const response = await send('text', { number: '5511944440002', message: 'receipts please' });
    const messageId = response.body.data.messageId as string;

    const read = await waitFor(() => hooks.find((h) => h.body.event === 'message.status' && h.body.data.messageId === messageId && h.body.data.status === 'read'), 'the read receipt');
    expect(read.body.data).toMatchObject({ messageId, chat: '5511944440002@s.whatsapp.net', status: 'read' });
  });

  describe('typing delay', () => {
    it('answers queued at once for a 10 s delay; the contact gets the text after the typing and the message.exchange follows', async () => {
      const response = await send('text', { number: '5511944440021', message: 'after typing', delay: 10 });

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ success: true, message: 'Message sent successfully', status: 'queued', data: { messageType: 'text', content: 'after typing' } });
      const messageId = response.body.data.messageId as string;
      // Answered while the contact still sees "typing…": nothing delivered yet.
      expect(receivedBy('5511944440021')).toEqual([]);
      const delivered = await waitFor(() => receivedBy('5511944440021').find((message) => message.id === messageId), 'the delayed text on the contact’s side');
      expect(delivered).toMatchObject({ id: messageId, text: 'after typing' });
      const hook = await waitFor(() => hooks.find((h) => h.body.event === 'message.exchange' && h.body.data.id === messageId), 'the outgoing message.exchange');
      expect(hook.body.data.message).toMatchObject({ id: messageId, type: 'text', direction: 'outgoing', fromMe: true, content: { text: 'after typing' } });
    });

    it('answers sent for a 2 s delay, once the contact has the text', async () => {
      const response = await send('text', { number: '5511944440022', message: 'short typing', delay: 2 });

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ success: true, status: 'sent', data: { messageType: 'text', content: 'short typing' } });
      expect(receivedBy('5511944440022')).toEqual([expect.objectContaining({ id: response.body.data.messageId, text: 'short typing' })]);
    });
  });

  it('replays a request with the same Idempotency-Key: same answer, Idempotent-Replayed, one message on the contact’s side', async () => {
    const body = { number: '5511944440003', message: 'only once' };

    const first = await send('text', body, { headers: { 'Idempotency-Key': 'order-42' } });
    const again = await send('text', body, { headers: { 'idempotency-key': 'order-42' } });
    const inBody = await send('text', { ...body, idempotencyKey: 'order-42' });

    expect(first.status).toBe(200);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(inBody.body).toEqual(first.body);
    expect(receivedBy('5511944440003')).toHaveLength(1);
  });

  it('sends once under concurrent retries with the same key; the others replay or are told it is in progress', async () => {
    const body = { number: '5511944440004', message: 'parallel retries' };

    const responses = await Promise.all(Array.from({ length: 4 }, () => send('text', body, { headers: { 'Idempotency-Key': 'parallel-1' } })));

    const succeeded = responses.filter((response) => response.status === 200);
    expect(succeeded.length).toBeGreaterThanOrEqual(1);
    expect(new Set(succeeded.map((response) => response.body.data.messageId)).size).toBe(1);
    for (const response of responses.filter((candidate) => candidate.status !== 200)) {
      expect(response.status).toBe(409);
      expect(response.body).toEqual({ success: false, error: { message: 'A request with this idempotency key is still in progress' } });
    }
    await waitFor(() => receivedBy('5511944440004').length > 0, 'the message');
    expect(receivedBy('5511944440004')).toHaveLength(1);
  });

  it('refuses a reused key with a different body (409)', async () => {
    await send('text', { number: '5511944440005', message: 'first' }, { headers: { 'Idempotency-Key': 'reused' } });

    const response = await send('text', { number: '5511944440005', message: 'second' }, { headers: { 'Idempotency-Key': 'reused' } });

    expect(response.status).toBe(409);
    expect(response.body).toEqual({ success: false, error: { message: 'Idempotency key already used with a different request' } });
    expect(receivedBy('5511944440005').map((message) => message.text)).toEqual(['first']);
  });

  it('quotes a stored message with replyTo, and answers 404 for an unknown one', async () => {
    const original = await send('text', { number: '5511944440006', message: 'Meeting today?' });
    const originalId = original.body.data.messageId as string;

    const reply = await send('text', { number: '5511944440006', message: 'At 3pm', replyTo: originalId });
    const unknown = await send('text', { number: '5511944440006', message: 'At 3pm', replyTo: '3EB0000000000000DEAD' });

    expect(reply.status).toBe(200);
    expect(reply.body.data.replyTo).toEqual({ messageId: originalId, sender: `${selfNumber}@s.whatsapp.net`, content: 'Meeting today?' });
    expect(receivedBy('5511944440006').map((message) => message.id)).toContain(reply.body.data.messageId);
    expect(stack.sandbox?.outboundMessage(reply.body.data.messageId)?.extendedTextMessage).toMatchObject({ text: 'At 3pm', contextInfo: { stanzaId: originalId } });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ success: false, error: { message: 'Quoted message not found' } });
  });

  it('answers 400 for a number not on WhatsApp, and uses the registered ninth-digit variant of a Brazilian number', async () => {
    stack.sandbox?.setRegistered('5511987650007', false);

    const unregistered = await send('text', { number: '999123456789', message: 'hello?' });
    const variant = await send('text', { number: '5511987650007', message: 'oito dígitos' });

    expect(unregistered.status).toBe(400);
    expect(unregistered.body).toEqual({ success: false, error: { message: 'Number not registered on WhatsApp' } });
    expect(variant.status).toBe(200);
    expect(variant.body.data.chat).toEqual({ jid: '551187650007@s.whatsapp.net', type: 'private' });
    expect(receivedBy('551187650007').map((message) => message.text)).toEqual(['oito dígitos']);
  });

  it('sends a location, a contact card, a poll and a reaction that the contact decrypts', async () => {
    const contact = '5511944440008';

    const location = await send('location', { number: contact, latitude: -23.5505, longitude: -46.6333, name: 'Praça da Sé', address: 'São Paulo' });
    const card = await send('contact', { number: contact, vcard: { fullName: 'João Silva', phone: '+55 11 98888-7777', organization: 'Acme' } });
    const poll = await send('poll', { number: contact, question: 'Lunch?', options: ['Pizza', 'Sushi'], maxAnswer: 5 });
    const reaction = await send('reaction', { number: contact, messageId: poll.body.data.messageId, reaction: '👍' });

    expect(location.body).toMatchObject({ status: 'sent', data: { messageType: 'location', content: '📍 Praça da Sé\nSão Paulo\nLat: -23.5505, Long: -46.6333' } });
    expect(card.body).toMatchObject({ message: 'Message sent successfully', data: { messageType: 'contact', content: 'João Silva', vcard: [{ fullName: 'João Silva', phone: '+55 11 98888-7777' }] } });
    expect(poll.body).toMatchObject({ data: { messageType: 'poll', content: 'Lunch?\n1. Pizza\n2. Sushi' } });
    expect(reaction.body).toMatchObject({ data: { messageType: 'reaction', content: '👍', replyTo: { messageId: poll.body.data.messageId } } });
    expect(receivedBy(contact)).toHaveLength(4);
    const got = new Map(receivedBy(contact).map((message) => [message.id, stack.sandbox?.outboundMessage(message.id)]));
    expect(got.get(location.body.data.messageId)?.locationMessage).toMatchObject({ degreesLatitude: -23.5505, degreesLongitude: -46.6333, name: 'Praça da Sé', address: 'São Paulo' });
    expect(got.get(card.body.data.messageId)?.contactMessage?.vcard).toContain('waid=5511988887777');
    const pollMessage = got.get(poll.body.data.messageId);
    const created = pollMessage?.pollCreationMessageV3 ?? pollMessage?.pollCreationMessage;
    expect(created).toMatchObject({ name: 'Lunch?', options: [{ optionName: 'Pizza' }, { optionName: 'Sushi' }], selectableOptionsCount: 2 });
    expect(got.get(reaction.body.data.messageId)?.reactionMessage).toMatchObject({ text: '👍', key: { id: poll.body.data.messageId, fromMe: true } });
  });

  it('answers 503 when the instance is not connected', async () => {
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name: 'offline' } });

    const response = await send('text', { number: '5511944440009', message: 'hi' }, { instance: 'offline', token: created.body.instance.token });

    expect(response.status).toBe(503);
    expect(response.body).toEqual({ success: false, error: { message: 'Instance is not connected to WhatsApp' } });
  });

  it.each([
    ['an empty body', {}, undefined, 'Message is required'],
    ['no number', { message: 'hi' }, undefined, 'Number is required'],
    ['a bad number', { number: '12ab', message: 'hi' }, undefined, 'Invalid number: 12ab'],
    ['a wrong type', { number: '5511944440010', message: 5 }, undefined, "Invalid request body: 'message' must be a string"],
    ['a delay out of range', { number: '5511944440010', message: 'hi', delay: 61 }, undefined, 'Invalid delay: must be between 0 and 60 seconds'],
    ['a long source', { number: '5511944440010', message: 'hi', source: 'x'.repeat(65) }, undefined, "Invalid request body: 'source' must be at most 64 characters"],
    ['header and body keys that differ', { number: '5511944440010', message: 'hi', idempotencyKey: 'a' }, { 'Idempotency-Key': 'b' }, 'Idempotency key mismatch between header and body'],
    ['an invalid key', { number: '5511944440010', message: 'hi', idempotencyKey: '' }, undefined, 'Invalid idempotency key'],
  ])('answers 400 for %s', async (_case, body, headers, message) => {
    const response = await send('text', body, headers ? { headers } : {});

    expect(response.status).toBe(400);
    expect(response.body).toEqual({ success: false, error: { message } });
  });

  it('answers 400 for a body that is not JSON', async () => {
    const response = await stack.call('POST', '/api/message/text/sender', { token, rawBody: '{not json' });

    expect(response.status).toBe(400);
    expect(response.body).toEqual({ success: false, error: { message: 'Invalid request body' } });
  });

  // Every kind is sendable now: interactive kinds, statuses, groups and mentions are in messages-interactive.sandbox.test.ts.
  it('answers 400 for an invalid list, and nothing reaches the contact', async () => {
    const invalid = await send('list', { number: '5511944440011' });

    expect(invalid.status).toBe(400);
    expect(invalid.body).toEqual({ success: false, error: { message: 'contentText is required' } });
    expect(receivedBy('5511944440011')).toEqual([]);
  });

  describe('media', () => {
    /** A 1×1 PNG, sent as base64 without a MIME type: detected from its bytes. */
    const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');
    const pdf = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');
    let files: Server;
    let filesUrl = '';

    beforeAll(async () => {
      files = createServer((req, res) => {
        if (req.url === '/files/report.pdf') res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(pdf);
        else res.writeHead(404).end('not found');
      });
      await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
      filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      await new Promise((resolve) => files?.close(resolve));
    });

    it('sends an image given as base64: the contact decrypts exactly its bytes, the MIME type is detected', async () => {
      const response = await send('media', { number: '5511944440031', mediaType: 'image', mediaBase64: png.toString('base64'), message: 'a pixel' });

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        success: true,
        message: 'Message sent successfully',
        status: 'sent',
        data: { messageType: 'image', content: 'a pixel', direction: 'outgoing', mediaMimeType: 'image/png', mediaSize: png.length },
      });
      // The URL WhatsApp (here the sandbox's CDN) issued for the upload.
      expect(response.body.data.mediaUrl).toMatch(/^https?:\/\/[^/]+\/.+/);
      const messageId = response.body.data.messageId as string;
      expect(receivedBy('5511944440031').map((message) => message.id)).toEqual([messageId]);
      const got = await stack.sandbox?.outboundMedia(messageId);
      expect(got?.type).toBe('image');
      expect(got?.media).toMatchObject({ mimetype: 'image/png', caption: 'a pixel' });
      expect(got?.data.equals(png)).toBe(true);
      const hook = await waitFor(() => hooks.find((h) => h.body.event === 'message.exchange' && h.body.data.id === messageId), 'the outgoing message.exchange');
      expect(hook.body.data.message).toMatchObject({ type: 'image', direction: 'outgoing', content: { text: 'a pixel' }, media: { type: 'image', mimetype: 'image/png', size: png.length } });
    });

    it('sends a 1 MiB base64 document, larger than a queue message, byte for byte', async () => {
      // Prepare: the command carrying it is larger than SQS takes, so it travels through S3.
      const large = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(1024 * 1024)]);

      // Act
      const response = await send('media', { number: '5511944440034', mediaType: 'document', mediaBase64: large.toString('base64'), fileName: 'big.pdf' });

      // Assess
      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'document', mediaSize: large.length } });
      const got = await stack.sandbox?.outboundMedia(response.body.data.messageId as string);
      expect(got?.data.equals(large)).toBe(true);
    });

    it('sends a document downloaded from a URL, named after the last path segment', async () => {
      const response = await send('media', { number: '5511944440032', mediaType: 'document', mediaUrl: `${filesUrl}/files/report.pdf` });

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'document', content: '', mediaMimeType: 'application/pdf', mediaSize: pdf.length } });
      const got = await stack.sandbox?.outboundMedia(response.body.data.messageId as string);
      expect(got?.type).toBe('document');
      expect(got?.media).toMatchObject({ mimetype: 'application/pdf', fileName: 'report.pdf' });
      expect(got?.data.equals(pdf)).toBe(true);
    });

    it('answers 400 when the media URL answers 404, and nothing reaches the contact', async () => {
      const response = await send('media', { number: '5511944440033', mediaType: 'image', mediaUrl: `${filesUrl}/files/missing.png` });

      expect(response.status).toBe(400);
      expect(response.body).toEqual({ success: false, error: { message: 'Failed to download media: HTTP 404' } });
      expect(receivedBy('5511944440033')).toEqual([]);
    });

    // Stickers and voice notes (sharp / ffmpeg conversions): messages.conversion.sandbox.test.ts.
  });
});
