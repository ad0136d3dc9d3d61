import type { WAMessage } from '@whiskeysockets/baileys';
import { describe, expect, it } from 'vitest';
import { statusName, toMessageExchange } from '../../../session-runner/baileys/message-mapper.ts';

const base = (message: WAMessage['message'], key: Partial<WAMessage['key']> = {}, extra: Partial<WAMessage> = {}): WAMessage =>
  ({ key: { remoteJid: '5511988887777@s.whatsapp.net', id: '3EB0AAA', fromMe: false, ...key }, message, messageTimestamp: 1_777_370_000, pushName: 'João', ...extra }) as WAMessage;

describe('Baileys message → message.exchange', () => {
  it('maps an incoming text with sender, chat and second-precision timestamp', () => {
    expect(toMessageExchange(base({ conversation: 'oi' }), '5511900000000@s.whatsapp.net')).toEqual({
      id: '3EB0AAA',
      type: 'text',
      direction: 'incoming',
      fromMe: false,
      timestamp: '2026-04-28T09:53:20Z',
      chat: { jid: '5511988887777@s.whatsapp.net', type: 'private' },
      sender: { jid: '5511988887777@s.whatsapp.net', name: 'João' },
      content: { text: 'oi' },
    });
  });

  it('marks outgoing messages with the instance as sender and source device', () => {
    const mapped = toMessageExchange(base({ conversation: 'hello' }, { fromMe: true }), '5511900000000@s.whatsapp.net');
    expect(mapped).toMatchObject({ direction: 'outgoing', fromMe: true, sender: { jid: '5511900000000@s.whatsapp.net' }, source: 'device' });
  });

  it('uses the participant as sender in groups and keeps the LID when the alternate address is known', () => {
    const mapped = toMessageExchange(
      base({ conversation: 'group hi' }, { remoteJid: '120363025246125486@g.us', participant: '123456789012345@lid', participantAlt: '5511977776666@s.whatsapp.net' }),
      null,
    );
    expect(mapped).toMatchObject({ chat: { jid: '120363025246125486@g.us', type: 'group' }, sender: { jid: '5511977776666@s.whatsapp.net', lid: '123456789012345@lid' } });
  });

  it('describes media with caption, mimetype and size', () => {
    const mapped = toMessageExchange(base({ imageMessage: { caption: 'look', mimetype: 'image/jpeg', fileLength: 48213, width: 1280, height: 960, url: 'https://mmg.example/x' } }), null);
    expect(mapped).toMatchObject({
      type: 'image',
      content: { text: 'look' },
      media: { type: 'image', mimetype: 'image/jpeg', size: 48213, width: 1280, height: 960, url: 'https://mmg.example/x' },
    });
  });

  it('maps reactions, revokes and edits to their contract types', () => {
    expect(toMessageExchange(base({ reactionMessage: { text: '👍', key: { id: 'TARGET' } } }), null)).toMatchObject({ type: 'reaction', content: { emoji: '👍', targetMessageId: 'TARGET' } });
    expect(toMessageExchange(base({ protocolMessage: { type: 0, key: { id: 'GONE' } } }), null)).toMatchObject({ type: 'message_revoke', revoke: { targetMessageId: 'GONE' } });
    expect(toMessageExchange(base({ protocolMessage: { type: 14, key: { id: 'OLD' }, editedMessage: { conversation: 'fixed' } } }), null)).toMatchObject({
      type: 'message_edit',
      content: { text: 'fixed' },
      isEdit: true,
      edit: { targetMessageId: 'OLD' },
    });
  });

  it('ignores protocol-only messages and keys without ids', () => {
    expect(toMessageExchange(base({ senderKeyDistributionMessage: { groupId: 'x' } }), null)).toBeNull();
    expect(toMessageExchange(base({ conversation: 'x' }, { id: undefined }), null)).toBeNull();
  });

  it('maps receipt codes to message.status values', () => {
    expect([0, 1, 2, 3, 4, 5].map(statusName)).toEqual(['server_error', null, null, 'delivered', 'read', 'played']);
  });
});
