import type { WAMessage } from '@whiskeysockets/baileys';
import { describe, expect, it } from 'vitest';
import { toMessageExchange } from '../../../session-runner/baileys/message-mapper.ts';

/** Replies to buttons, lists and forms as incoming `message.exchange` (spec §3.2, D138). */

const incoming = (message: WAMessage['message']): WAMessage =>
  ({ key: { remoteJid: '5511988887777@s.whatsapp.net', id: '3EB0REPLY', fromMe: false }, message, messageTimestamp: 1_777_370_000 }) as WAMessage;
const quoting = { stanzaId: '3EB0C767D26A1D8E5F12', participant: '5511999999999@s.whatsapp.net' };

describe('interactive replies', () => {
  it.each([
    [
      'a Native Flow quick reply',
      { interactiveResponseMessage: { body: { text: 'Yes' }, nativeFlowResponseMessage: { name: 'quick_reply', paramsJson: '{"id":"yes","display_text":"Yes"}', version: 3 }, contextInfo: quoting } },
      { type: 'text', content: { text: 'yes', buttonReply: { id: 'yes', displayText: 'Yes' } } },
    ],
    [
      'a Native Flow list choice',
      { interactiveResponseMessage: { body: { text: 'Pizza' }, nativeFlowResponseMessage: { name: 'single_select', paramsJson: '{"id":"m1","title":"Pizza","description":"Cheese"}' }, contextInfo: quoting } },
      { type: 'text', content: { text: 'm1', listReply: { id: 'm1', title: 'Pizza', description: 'Cheese' } } },
    ],
    [
      'a submitted form',
      { interactiveResponseMessage: { body: { text: 'Sent' }, nativeFlowResponseMessage: { name: 'galaxy_message', paramsJson: '{"flow_token":"01JSX3A8B2C4D6E8F0G2H4J6K8","email":"a@b.example"}' }, contextInfo: quoting } },
      { type: 'flow_reply', content: { flowReply: { flowToken: '01JSX3A8B2C4D6E8F0G2H4J6K8', name: 'galaxy_message', responseJson: '{"flow_token":"01JSX3A8B2C4D6E8F0G2H4J6K8","email":"a@b.example"}' } } },
    ],
    [
      'a legacy button reply',
      { buttonsResponseMessage: { selectedButtonId: 'no', selectedDisplayText: 'No', contextInfo: quoting } },
      { type: 'text', content: { text: 'no', buttonReply: { id: 'no', displayText: 'No' } } },
    ],
    [
      'a legacy list reply',
      { listResponseMessage: { title: 'Juice', singleSelectReply: { selectedRowId: 'd1' }, contextInfo: quoting } },
      { type: 'text', content: { text: 'd1', listReply: { id: 'd1', title: 'Juice' } } },
    ],
  ])('maps %s, replying to the interactive message', (_case, message, expected) => {
    const mapped = toMessageExchange(incoming(message as WAMessage['message']), '5511999999999@s.whatsapp.net');

    expect(mapped).toMatchObject({ ...expected, direction: 'incoming', replyTo: { messageId: '3EB0C767D26A1D8E5F12', sender: '5511999999999@s.whatsapp.net' } });
  });

  it('falls back to the body text when a Native Flow reply has no parameters', () => {
    const mapped = toMessageExchange(incoming({ interactiveResponseMessage: { body: { text: 'Go' }, nativeFlowResponseMessage: { name: 'quick_reply', paramsJson: 'not json' } } }), null);

    expect(mapped).toMatchObject({ type: 'text', content: { text: 'Go', buttonReply: { id: 'Go', displayText: 'Go' } } });
  });
});
