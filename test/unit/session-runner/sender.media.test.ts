import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { MediaSend } from '../../../shared/domain/messages/send.schemas.ts';
import { createMessageSender, type SendCommand } from '../../../session-runner/messaging/sender.ts';
import { requestFieldsTo, sendCommandOf } from '../../support/send-commands.ts';
import { fileReadingConnection, senderFakes, useTemporaryDirectory } from '../../support/sender-fakes.ts';

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
  useTemporaryDirectory('sender-media-test-', (path) => (directory = path));

  const setup = () => {
    const { outcomes, events, deps } = senderFakes();
    const { connection, sent } = fileReadingConnection('document', 'image');
    const sender = createMessageSender(
      deps({
        newEventId: () => 'e-1',
        outbound: { check: async (url) => (url.includes('10.0.0.1') ? { allowed: false, reason: 'private address' } : { allowed: true }) },
        mediaDirectory: directory,
      }),
    );
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
