import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EventRecord } from '../../../shared/domain/events/event.ts';
import { createPacer } from '../../../shared/domain/messages/pacing.ts';
import type { SendOutcome } from '../../../shared/domain/messages/send.command.ts';
import type { MediaSend } from '../../../shared/domain/messages/send.schemas.ts';
import type { WaConnection, WaOutgoingContent } from '../../../shared/domain/ports/wa-connection.port.ts';
import { createMessageSender, type SendCommand } from '../../../session-runner/messaging/sender.ts';
import { requestFieldsTo, sendCommandOf } from '../../support/send-commands.ts';

/**
 * The sender's side of media sends (spec §2.3 #20): the file is spooled to a temporary file that
 * Baileys reads by path, the outcome reports its MIME type and size, the outgoing exchange carries
 * the `media` object, the file is gone afterwards, and a refused download is an `invalid_media` failure.
 */

const pdf = Buffer.from('%PDF-1.4\nhello\n%%EOF\n');

const mediaCommand = (messageId: string, media: MediaSend['media'], mediaType: MediaSend['mediaType'] = 'document'): SendCommand =>
  sendCommandOf(
    messageId,
    '5511944440001@s.whatsapp.net',
    { kind: 'media', mediaType, media, caption: 'the report', mimeType: null, fileName: 'report.pdf', isVoice: false, duration: null, waveform: null, ...requestFieldsTo('5511944440001') } as MediaSend,
    { content: { text: 'the report' } },
  );

describe('media sends', () => {
  let directory = '';

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'sender-media-test-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const setup = () => {
    const outcomes = new Map<string, SendOutcome>();
    const events: EventRecord[] = [];
    const sent: { content: WaOutgoingContent; bytes: Buffer }[] = [];
    const connection = {
      onWhatsApp: async (jids: string[]) => jids.map((jid) => ({ jid, exists: true })),
      send: async (_to: string, content: WaOutgoingContent) => {
        const file = (content.document ?? content.image) as { url: string };
        sent.push({ content, bytes: await readFile(file.url) });
      },
    } as unknown as WaConnection;
    const clock = { now: () => new Date('2026-04-28T10:30:00Z') };
    const sender = createMessageSender({
      messages: { save: async () => undefined, updateStatus: async () => true, summaries: async () => [] },
      outcomes: { record: async (_i, messageId, outcome) => void outcomes.set(messageId, outcome), get: async (_i, messageId) => outcomes.get(messageId) ?? null },
      events: { publish: async (record) => void events.push(record) },
      newEventId: () => 'e-1',
      pacer: createPacer({ enabled: false }, { clock, random: () => 0 }),
      clock,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      sleep: async () => undefined,
      outbound: { check: async (url) => (url.includes('10.0.0.1') ? { allowed: false, reason: 'private address' } : { allowed: true }) },
      mediaDirectory: directory,
    });
    const run = async (command: SendCommand) => {
      sender.accept(command, () => connection);
      await sender.idle();
    };
    return { run, outcomes, events, sent };
  };

  it('hands Baileys a temporary file with the detected MIME type, reports type and size, and removes the file', async () => {
    const { run, outcomes, events, sent } = setup();

    await run(mediaCommand('M1', { kind: 'base64', data: pdf.toString('base64'), mimeType: null }));

    expect(sent).toHaveLength(1);
    expect(sent[0]?.content).toMatchObject({ mimetype: 'application/pdf', fileName: 'report.pdf', caption: 'the report' });
    expect(sent[0]?.bytes.equals(pdf)).toBe(true);
    expect(outcomes.get('M1')).toMatchObject({ state: 'sent', media: { mimeType: 'application/pdf', size: pdf.length } });
    expect(events.find((event) => event.event === 'message.exchange')?.data).toMatchObject({
      message: { type: 'document', media: { type: 'document', mimetype: 'application/pdf', fileName: 'report.pdf', size: pdf.length } },
    });
    expect(await readdir(directory)).toEqual([]);
  });

  it('fails with invalid_media, before the recipient is marked checked, when the URL is refused', async () => {
    const { run, outcomes, sent } = setup();

    await run(mediaCommand('M2', { kind: 'url', url: 'http://10.0.0.1/a.png' }, 'image'));

    expect(sent).toEqual([]);
    expect(outcomes.get('M2')).toMatchObject({ state: 'failed', code: 'invalid_media', reason: 'Failed to download media: private address' });
    expect(await readdir(directory)).toEqual([]);
  });
});
