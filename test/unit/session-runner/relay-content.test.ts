import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { proto, WAMessage, WASocket } from '@whiskeysockets/baileys';
import { describe, expect, it } from 'vitest';
import { isRelayContent, relaySend } from '../../../session-runner/baileys/relay-content.ts';
import { useTemporaryDirectory } from '../../support/sender-fakes.ts';

/** The adapter's relay path for content Baileys cannot build: uploads resolved, quote added, extra nodes sent. */

const pdf = Buffer.from('%PDF-1.4\nhello\n%%EOF\n');

describe('relaySend', () => {
  let directory = '';
  useTemporaryDirectory('relay-content-test-', (path) => (directory = path));

  const fakeSocket = () => {
    const relayed: { jid: string; message: proto.IMessage; options: Record<string, unknown> }[] = [];
    const uploads: { mediaType: string }[] = [];
    const sock = {
      user: { id: '5511999999999:3@s.whatsapp.net' },
      waUploadToServer: async (_path: string, options: { mediaType: string }) => {
        uploads.push({ mediaType: options.mediaType });
        return { mediaUrl: 'https://mmg.example/d/f/upload.enc', directPath: '/d/f/upload.enc' };
      },
      relayMessage: async (jid: string, message: proto.IMessage, options: Record<string, unknown>) => {
        relayed.push({ jid, message, options });
        return options.messageId;
      },
    } as unknown as WASocket;
    return { sock, relayed, uploads };
  };

  it('uploads each placeholder and puts the media message in its place, keeping the rest as built', async () => {
    const path = join(directory, 'report.pdf');
    await writeFile(path, pdf);
    const { sock, relayed, uploads } = fakeSocket();
    const content = {
      relay: {
        viewOnceMessage: {
          message: {
            interactiveMessage: {
              header: { title: '', hasMediaAttachment: true, __upload: { kind: 'document', path, mimetype: 'application/pdf', fileName: 'report.pdf' } },
              body: { text: 'See the report' },
            },
          },
        },
      },
      relayNodes: [{ tag: 'biz', attrs: {} }],
    };

    expect(isRelayContent(content)).toBe(true);
    await relaySend(sock, '5511988887777@s.whatsapp.net', content, { messageId: '3EB0AAAABBBBCCCCDDDD', timestamp: new Date('2026-04-28T10:30:00Z'), quoted: null });

    expect(uploads).toEqual([{ mediaType: 'document' }]);
    expect(relayed).toHaveLength(1);
    expect(relayed[0]?.options).toEqual({ messageId: '3EB0AAAABBBBCCCCDDDD', additionalNodes: [{ tag: 'biz', attrs: {} }] });
    const header = relayed[0]?.message.viewOnceMessage?.message?.interactiveMessage?.header;
    expect(header).toMatchObject({ hasMediaAttachment: true, documentMessage: { mimetype: 'application/pdf', fileName: 'report.pdf', directPath: '/d/f/upload.enc' } });
    expect(Number(header?.documentMessage?.fileLength)).toBe(pdf.length);
    expect(JSON.stringify(relayed[0]?.message)).not.toContain('__upload');
  });

  it('adds the quote context to the interactive message', async () => {
    const { sock, relayed } = fakeSocket();
    const quoted = { key: { remoteJid: '5511988887777@s.whatsapp.net', id: '3EB0QUOTED', fromMe: false }, message: { conversation: 'Menu?' } } as WAMessage;

    await relaySend(sock, '5511988887777@s.whatsapp.net', { relay: { viewOnceMessage: { message: { interactiveMessage: { body: { text: 'Here' } } } } } }, { messageId: '3EB0AAAABBBBCCCCEEEE', timestamp: new Date(), quoted });

    expect(relayed[0]?.options).toEqual({ messageId: '3EB0AAAABBBBCCCCEEEE' });
    expect(relayed[0]?.message.viewOnceMessage?.message?.interactiveMessage?.contextInfo).toMatchObject({ stanzaId: '3EB0QUOTED', participant: '5511988887777@s.whatsapp.net', quotedMessage: { conversation: 'Menu?' } });
  });

  it('tells relay content from ordinary content', () => {
    expect(isRelayContent({ text: 'hi' })).toBe(false);
    expect(isRelayContent({ relay: null })).toBe(false);
  });
});
