import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';
import { startHookReceiver, type Hook } from '../support/hook-receiver.ts';

/**
 * Stickers (spec §2.3 #21) and voice notes (#20 with `mediaType: "audio"`, `isVoice` true by
 * default) end to end: HTTP → API → runner (download, sharp / ffmpeg conversion, real Baileys
 * upload) → the WhatsApp sandbox, whose contact downloads the media from the sandbox's CDN and
 * decrypts it. The test reads what the contact got: a 512×512 WebP sticker, an OGG/Opus voice note.
 */

const run = promisify(execFile);

/** A pixel of a decoded image, with alpha. */
const pixelAt = async (image: Buffer, x: number, y: number) => {
  const { data, info } = await sharp(image).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return { r: data[at] as number, g: data[at + 1] as number, b: data[at + 2] as number, alpha: data[at + 3] as number };
};

describe('stickers and voice notes through the sandbox', () => {
  let stack: TestStack;
  let receiver: Awaited<ReturnType<typeof startHookReceiver>>;
  let files: Server;
  let filesUrl = '';
  let hooks: Hook[] = [];
  const served = new Map<string, Buffer>();
  const tokens = new Map<string, string>();
  let selfNumber = '';

  /** An opaque blue 300×150 rectangle in the middle of a transparent 300×300 PNG. */
  let png = Buffer.alloc(0);
  /** Two frames: red, then green. */
  let animatedGif = Buffer.alloc(0);
  /** 3 s of a 440 Hz tone. */
  let mp3 = Buffer.alloc(0);

  const send = (instance: string, kind: string, body: unknown) => stack.call('POST', `/api/message/${kind}/${instance}`, { token: tokens.get(instance) ?? '', body });
  const receivedBy = (contact: string) => (stack.sandbox?.outbound(selfNumber) ?? []).filter((message) => message.to === `${contact}@s.whatsapp.net`);
  const exchangeOf = (messageId: string) =>
    waitFor(() => hooks.find((hook) => hook.body.event === 'message.exchange' && hook.body.data.id === messageId), `the outgoing message.exchange ${messageId}`);

  const connect = async (name: string, hookUrl: string) => {
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name, webhookEnabled: true, webhookURL: hookUrl } });
    const token = created.body.instance.token as string;
    tokens.set(name, token);
    await stack.call('GET', `/api/instance/connect/${name}`, { token });
    return waitFor(() => hooks.find((hook) => hook.body.instanceData.instance === name && hook.body.event === 'instance.state' && hook.body.data.state === 'connected'), `${name} connected`);
  };

  beforeAll(async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'conversion-e2e-'));
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=3', '-y', join(scratch, 'tone.mp3')]);
    mp3 = await readFile(join(scratch, 'tone.mp3'));
    await rm(scratch, { recursive: true, force: true });
    const blue = await sharp({ create: { width: 300, height: 150, channels: 4, background: { r: 0, g: 0, b: 255, alpha: 1 } } }).png().toBuffer();
    png = await sharp({ create: { width: 300, height: 300, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .composite([{ input: blue, left: 0, top: 75 }])
      .png()
      .toBuffer();
    const frame = (r: number, g: number) => Buffer.alloc(40 * 40 * 4).fill(Buffer.from([r, g, 0, 255]));
    animatedGif = await sharp(Buffer.concat([frame(255, 0), frame(0, 255)]), { raw: { width: 40, height: 80, channels: 4, pageHeight: 40 } }).gif({ delay: [200, 200], loop: 0 }).toBuffer();
    served.set('/sticker.png', png).set('/voice.mp3', mp3).set('/notes.txt', Buffer.from('just some text, not an image\n'));

    files = createServer((req, res) => {
      const body = served.get(req.url ?? '');
      if (body) res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(body);
      else res.writeHead(404).end('not found');
    });
    await new Promise<void>((resolve) => files.listen(0, '127.0.0.1', resolve));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
    receiver = await startHookReceiver();
    hooks = receiver.hooks;
    stack = await startTestStack({ ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' }, { defaultRateLimits: { global: 100_000 } });
    const hookUrl = receiver.url;
    await Promise.all([connect('converter', hookUrl), connect('converter-refusals', hookUrl)]);
    const listed = await stack.call('GET', '/api/instance/list', { token: tokens.get('converter') });
    selfNumber = (listed.body.instances[0].numberJid as string).split('@')[0] as string;
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
    await new Promise((resolve) => files?.close(resolve));
  });

  it('sends a PNG by URL as a 512×512 WebP sticker that keeps its transparency', async () => {
    // Act
    const response = await send('converter', 'sticker', { number: '5511944450001', imageUrl: `${filesUrl}/sticker.png`, source: 'crm' });

    // Assess: the answer
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      success: true,
      message: 'Message sent successfully',
      status: 'sent',
      data: { messageType: 'sticker', content: '', direction: 'outgoing', chat: { jid: '5511944450001@s.whatsapp.net', type: 'private' }, mediaMimeType: 'image/webp', source: 'crm' },
    });
    expect(response.body.data.mediaUrl).toMatch(/^https?:\/\/[^/]+\/.+/);
    const messageId = response.body.data.messageId as string;
    // What the contact downloads and decrypts.
    expect(receivedBy('5511944450001').map((message) => message.id)).toEqual([messageId]);
    const got = await stack.sandbox?.outboundMedia(messageId);
    expect(got?.type).toBe('sticker');
    expect(got?.media).toMatchObject({ mimetype: 'image/webp', width: 512, height: 512 });
    const webp = got?.data as Buffer;
    expect(response.body.data.mediaSize).toBe(webp.length);
    expect(await sharp(webp).metadata()).toMatchObject({ format: 'webp', width: 512, height: 512, hasAlpha: true });
    expect((await pixelAt(webp, 256, 40)).alpha).toBe(0);
    const centre = await pixelAt(webp, 256, 256);
    expect(centre.alpha).toBe(255);
    expect(centre.b).toBeGreaterThan(200);
    // The outgoing event.
    const hook = await exchangeOf(messageId);
    expect(hook.body.data.message).toMatchObject({
      id: messageId,
      type: 'sticker',
      direction: 'outgoing',
      fromMe: true,
      content: {},
      media: { type: 'sticker', mimetype: 'image/webp', size: webp.length, width: 512, height: 512 },
      source: 'crm',
    });
  });

  it('sends the first frame of an animated GIF given as a data: URL as a static sticker', async () => {
    // Act
    const response = await send('converter', 'sticker', { number: '5511944450002', imageUrl: `data:image/gif;base64,${animatedGif.toString('base64')}` });

    // Assess
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'sticker', content: '', mediaMimeType: 'image/webp' } });
    const got = await stack.sandbox?.outboundMedia(response.body.data.messageId as string);
    const webp = got?.data as Buffer;
    const metadata = await sharp(webp).metadata();
    expect(metadata).toMatchObject({ format: 'webp', width: 512, height: 512 });
    expect(metadata.pages ?? 1).toBe(1);
    const centre = await pixelAt(webp, 256, 256);
    expect(centre.r).toBeGreaterThan(200);
    expect(centre.g).toBeLessThan(50);
  });

  it('sends audio as an OGG/Opus voice note by default, with its duration and a waveform', async () => {
    // Act
    const response = await send('converter', 'media', { number: '5511944450003', mediaType: 'audio', mediaUrl: `${filesUrl}/voice.mp3` });

    // Assess: the answer
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      success: true,
      status: 'sent',
      data: { messageType: 'audio', content: '', mediaMimeType: 'audio/ogg; codecs=opus', mediaDuration: 3 },
    });
    const messageId = response.body.data.messageId as string;
    // What the contact plays.
    const got = await stack.sandbox?.outboundMedia(messageId);
    expect(got?.type).toBe('audio');
    expect(got?.media).toMatchObject({ ptt: true, mimetype: 'audio/ogg; codecs=opus', seconds: 3 });
    expect(got?.media.waveform).toHaveLength(64);
    const ogg = got?.data as Buffer;
    expect(response.body.data.mediaSize).toBe(ogg.length);
    expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS');
    expect(ogg.subarray(28, 36).toString('latin1')).toBe('OpusHead');
    expect(ogg[37]).toBe(1);
    // The outgoing event.
    const hook = await exchangeOf(messageId);
    expect(hook.body.data.message).toMatchObject({ id: messageId, type: 'audio', direction: 'outgoing', content: {}, media: { type: 'ptt', mimetype: 'audio/ogg; codecs=opus', size: ogg.length, duration: 3 } });
  });

  it('sends audio with isVoice false as the original file, not a voice note', async () => {
    // Act
    const response = await send('converter', 'media', { number: '5511944450004', mediaType: 'audio', mediaBase64: mp3.toString('base64'), isVoice: false });

    // Assess
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'audio', mediaMimeType: 'audio/mpeg', mediaSize: mp3.length } });
    const got = await stack.sandbox?.outboundMedia(response.body.data.messageId as string);
    expect(got?.media).toMatchObject({ mimetype: 'audio/mpeg' });
    expect(got?.media.ptt).toBeFalsy();
    expect(got?.data.equals(mp3)).toBe(true);
  });

  describe('refusals', () => {
    const failedAndSent = async () => {
      const answer = await stack.call('GET', '/api/instance/metrics/converter-refusals', { token: tokens.get('converter-refusals') });
      return { failed: answer.body.metrics.messagesByStatus.failed as number, sent: answer.body.metrics.messagesSent - answer.body.metrics.messagesByStatus.failed };
    };

    it.each([
      ['a sticker whose URL is not an image', '5511944460001', 'sticker', () => ({ imageUrl: `${filesUrl}/notes.txt` }), 'Invalid sticker image: use a PNG, JPEG, GIF or WebP image'],
      ['a sticker whose image is cut off', '5511944460002', 'sticker', () => ({ imageUrl: `data:image/png;base64,${png.subarray(0, 60).toString('base64')}` }), 'Invalid sticker image: the image could not be decoded'],
      ['a sticker whose URL answers 404', '5511944460003', 'sticker', () => ({ imageUrl: `${filesUrl}/missing.png` }), 'Failed to download media: HTTP 404'],
      ['a voice note whose file is not audio', '5511944460004', 'media', () => ({ mediaType: 'audio', mediaUrl: `${filesUrl}/notes.txt` }), 'Invalid audio: could not be converted to a voice note'],
      ['a voice note whose file is an image', '5511944460005', 'media', () => ({ mediaType: 'audio', mediaBase64: png.toString('base64') }), 'Invalid audio: could not be converted to a voice note'],
    ])('answers 400 for %s, sends nothing and records the message as failed, not sent', async (_case, number, kind, body, message) => {
      // Prepare
      const before = await failedAndSent();

      // Act
      const response = await send('converter-refusals', kind, { number, ...body() });

      // Assess
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ success: false, error: { message } });
      expect(receivedBy(number)).toEqual([]);
      const after = await waitFor(async () => {
        const counts = await failedAndSent();
        return counts.failed > before.failed ? counts : null;
      }, 'the refused send to be recorded as failed');
      expect(after).toEqual({ failed: before.failed + 1, sent: 0 });
    });

    it('answers 400 for a sticker without imageUrl, before anything is stored', async () => {
      // Act
      const response = await send('converter-refusals', 'sticker', { number: '5511944460006' });

      // Assess
      expect(response.status).toBe(400);
      expect(response.body).toEqual({ success: false, error: { message: 'imageUrl is required' } });
    });
  });
});
