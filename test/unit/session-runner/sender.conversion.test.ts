import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseSendRequest, type SendRequest } from '../../../shared/domain/messages/send.schemas.ts';
import { createMessageSender, type SendCommand } from '../../../session-runner/messaging/sender.ts';
import { sendCommandOf } from '../../support/send-commands.ts';
import { fileReadingConnection, senderFakes, useTemporaryDirectory } from '../../support/sender-fakes.ts';

/**
 * The sender's side of stickers (spec §2.3 #21) and voice notes (#20, `isVoice` true), with the
 * real sharp and ffmpeg: Baileys gets the converted file and the fields WhatsApp needs, the
 * outcome and the outgoing exchange describe the converted file, temporary files are gone
 * afterwards, and an input that cannot be converted is an `invalid_media` failure (a 400).
 */

const run = promisify(execFile);
const number = '5511944440001';

const commandOf = (messageId: string, request: SendRequest): SendCommand => sendCommandOf(messageId, `${number}@s.whatsapp.net`, request);

describe('sticker and voice-note sends', () => {
  let directory = '';
  let wav = Buffer.alloc(0);
  let png = Buffer.alloc(0);

  beforeAll(async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'sender-conversion-fixtures-'));
    const path = join(scratch, 'tone.wav');
    await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440:duration=2', '-y', path]);
    wav = await readFile(path);
    await rm(scratch, { recursive: true, force: true });
    png = await sharp({ create: { width: 200, height: 100, channels: 4, background: { r: 0, g: 128, b: 255, alpha: 0.5 } } }).png().toBuffer();
  });
  useTemporaryDirectory('sender-conversion-test-', (path) => (directory = path));

  const setup = () => {
    const { outcomes, events, deps } = senderFakes();
    const { connection, sent } = fileReadingConnection('sticker', 'audio');
    const sender = createMessageSender(deps({ newEventId: () => 'e-1', mediaDirectory: directory }));
    const send = async (command: SendCommand) => {
      await sender.accept(command, () => connection);
      await sender.idle();
    };
    const exchangeOf = (messageId: string) => events.find((event) => event.event === 'message.exchange' && event.data.id === messageId)?.data.message;
    return { send, outcomes, sent, exchangeOf };
  };

  it('sends a sticker as a 512×512 WebP and describes it in the outcome and the exchange', async () => {
    // Prepare
    const { send, outcomes, sent, exchangeOf } = setup();
    const request = parseSendRequest('sticker', { number, imageUrl: `data:image/png;base64,${png.toString('base64')}` });

    // Act
    await send(commandOf('S1', request));

    // Assess
    expect(sent).toHaveLength(1);
    expect(sent[0]?.content).toMatchObject({ mimetype: 'image/webp', width: 512, height: 512, isAnimated: false });
    const webp = sent[0]?.bytes as Buffer;
    expect(await sharp(webp).metadata()).toMatchObject({ format: 'webp', width: 512, height: 512, hasAlpha: true });
    expect(outcomes.get('S1')).toMatchObject({ state: 'sent', media: { mimeType: 'image/webp', size: webp.length } });
    expect(exchangeOf('S1')).toMatchObject({ type: 'sticker', content: {}, media: { type: 'sticker', mimetype: 'image/webp', size: webp.length, width: 512, height: 512 } });
    expect(await readdir(directory)).toEqual([]);
  });

  it('sends a voice note as OGG/Opus with ptt, its computed duration and waveform', async () => {
    // Prepare
    const { send, outcomes, sent, exchangeOf } = setup();
    const request = parseSendRequest('media', { number, mediaType: 'audio', mediaBase64: wav.toString('base64') });

    // Act
    await send(commandOf('V1', request));

    // Assess
    expect(sent).toHaveLength(1);
    const content = sent[0]?.content as { ptt: boolean; mimetype: string; seconds: number; waveform: Uint8Array };
    expect(content).toMatchObject({ ptt: true, mimetype: 'audio/ogg; codecs=opus', seconds: 2 });
    expect(content.waveform).toBeInstanceOf(Uint8Array);
    expect(content.waveform).toHaveLength(64);
    const ogg = sent[0]?.bytes as Buffer;
    expect(ogg.subarray(0, 4).toString('latin1')).toBe('OggS');
    expect(ogg.subarray(28, 36).toString('latin1')).toBe('OpusHead');
    expect(outcomes.get('V1')).toMatchObject({ state: 'sent', media: { mimeType: 'audio/ogg; codecs=opus', size: ogg.length, seconds: 2 } });
    expect(exchangeOf('V1')).toMatchObject({ type: 'audio', media: { type: 'ptt', mimetype: 'audio/ogg; codecs=opus', size: ogg.length, duration: 2 } });
    expect(await readdir(directory)).toEqual([]);
  });

  it('keeps the duration and waveform the caller gave for a voice note', async () => {
    // Prepare
    const { send, sent } = setup();
    const waveform = Array.from({ length: 64 }, (_, i) => i);
    const request = parseSendRequest('media', { number, mediaType: 'audio', mediaBase64: wav.toString('base64'), duration: 7, waveform });

    // Act
    await send(commandOf('V2', request));

    // Assess
    expect(sent[0]?.content).toMatchObject({ ptt: true, seconds: 7, waveform: Uint8Array.from(waveform) });
  });

  it('sends audio with isVoice false as the file it is, without ptt', async () => {
    // Prepare
    const { send, sent } = setup();
    const request = parseSendRequest('media', { number, mediaType: 'audio', mediaBase64: wav.toString('base64'), isVoice: false });

    // Act
    await send(commandOf('A1', request));

    // Assess
    expect(sent[0]?.content).toMatchObject({ ptt: false, mimetype: 'audio/wav' });
    expect(sent[0]?.bytes.equals(wav)).toBe(true);
  });

  it.each([
    ['a sticker whose image is a PDF', parseSendRequest('sticker', { number, imageUrl: `data:application/pdf;base64,${Buffer.from('%PDF-1.4\n%%EOF\n').toString('base64')}` }), 'Invalid sticker image: use a PNG, JPEG, GIF or WebP image'],
    ['a voice note whose audio is text', parseSendRequest('media', { number, mediaType: 'audio', mediaBase64: Buffer.from('not audio at all\n'.repeat(40)).toString('base64') }), 'Invalid audio: could not be converted to a voice note'],
  ])('fails %s with invalid_media, sends nothing and leaves no file', async (_case, request, reason) => {
    // Prepare
    const { send, outcomes, sent } = setup();

    // Act
    await send(commandOf('X1', request));

    // Assess
    expect(sent).toEqual([]);
    expect(outcomes.get('X1')).toMatchObject({ state: 'failed', code: 'invalid_media', reason });
    expect(await readdir(directory)).toEqual([]);
  });
});
