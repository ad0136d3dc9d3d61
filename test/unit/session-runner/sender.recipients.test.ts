import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseSendRequest, type SendKind } from '../../../shared/domain/messages/send.schemas.ts';
import type { WaGroupInfo, WaOutgoingContent, WaSendOptions } from '../../../shared/domain/ports/wa-connection.port.ts';
import { createMessageSender, type SendCommand } from '../../../session-runner/messaging/sender.ts';
import { sendCommandOf } from '../../support/send-commands.ts';
import { fakeConnection, senderFakes, useTemporaryDirectory } from '../../support/sender-fakes.ts';

/**
 * The sender with group recipients, mentions, interactive kinds and statuses: refusals are outcomes
 * the API turns into the contract's errors (nothing is sent), `mentionAll` is resolved from the
 * group, interactive kinds go to the adapter as relay content, statuses with their audience.
 */

const self = '5511999999999@s.whatsapp.net';
const group = '120363025246125486@g.us';

const command = (messageId: string, kind: SendKind, body: Record<string, unknown>, chatJid: string): SendCommand =>
  sendCommandOf(messageId, chatJid, parseSendRequest(kind, body), { type: kind, chat: { jid: chatJid, type: 'group' }, sender: { jid: self } });

const sales: WaGroupInfo = {
  jid: group,
  subject: 'Sales',
  announce: false,
  participants: [
    { jid: self, isAdmin: true, isSelf: true },
    { jid: '5511988887777@s.whatsapp.net', isAdmin: false, isSelf: false },
    { jid: '5511977776666@s.whatsapp.net', isAdmin: false, isSelf: false },
  ],
};

describe('sender: groups, mentions, interactive kinds and statuses', () => {
  let directory = '';
  useTemporaryDirectory('sender-recipients-test-', (path) => (directory = path));

  const setup = (groups: Record<string, WaGroupInfo>) => {
    const { outcomes, events, deps } = senderFakes({ messages: { summaries: async () => [{ chatJid: '5511911110001@s.whatsapp.net' }] as never } });
    const sent: { to: string; content: WaOutgoingContent; options: WaSendOptions }[] = [];
    const connection = fakeConnection({
      groupMetadata: async (jid) => groups[jid] ?? null,
      send: async (to, content, options) => void sent.push({ to, content, options }),
    });
    const sender = createMessageSender(deps({ newEventId: () => 'e-1', outbound: { check: async () => ({ allowed: true }) }, mediaDirectory: directory }));
    const run = async (cmd: SendCommand) => {
      await sender.accept(cmd, () => connection);
      await sender.idle();
    };
    return { run, outcomes, events, sent };
  };

  it('refuses a group this account is not in: failed outcome, nothing sent, a server_error status', async () => {
    const { run, outcomes, events, sent } = setup({});

    await run(command('G1', 'text', { number: group, message: 'hi' }, group));

    expect(sent).toEqual([]);
    expect(outcomes.get('G1')).toMatchObject({ state: 'failed', code: 'group_not_found', reason: 'Group not found or you are not a member of this group' });
    expect(events.find((event) => event.event === 'message.status')?.data).toMatchObject({ messageId: 'G1', status: 'server_error' });
  });

  it('mentions every other participant with mentionAll: in the content, the outcome and the exchange', async () => {
    const { run, outcomes, events, sent } = setup({ [group]: sales });
    const everyone = ['5511988887777@s.whatsapp.net', '5511977776666@s.whatsapp.net'];

    await run(command('G2', 'text', { number: group, message: 'all hands', mentionAll: true }, group));

    expect(sent[0]?.content).toEqual({ text: 'all hands', linkPreview: null, mentions: everyone });
    expect(outcomes.get('G2')).toMatchObject({ state: 'sent', mentions: everyone });
    expect(events.find((event) => event.event === 'message.exchange')?.data).toMatchObject({ message: { mentions: everyone, chat: { jid: group, type: 'group', name: 'Sales' } } });
    expect(outcomes.get('G2')).toMatchObject({ groupName: 'Sales' });
  });

  it('hands an interactive kind to the adapter as relay content with its biz node', async () => {
    const { run, sent } = setup({});
    const chat = '5511988887777@s.whatsapp.net';

    await run(command('B1', 'button', { number: chat, contentText: 'Pick', buttons: [{ id: 'a', displayText: 'A' }] }, chat));

    expect(sent[0]?.content).toMatchObject({ relay: { viewOnceMessage: { message: { interactiveMessage: { body: { text: 'Pick' } } } } }, relayNodes: [{ tag: 'biz' }] });
  });

  it('posts a status to its audience with the text look', async () => {
    const { run, sent, outcomes } = setup({});

    await run(command('S1', 'status', { type: 'text', message: 'Open', backgroundColor: '#00FF00' }, 'status@broadcast'));

    expect(outcomes.get('S1')).toMatchObject({ state: 'sent', chatJid: 'status@broadcast' });
    expect(sent[0]).toMatchObject({ to: 'status@broadcast', content: { text: 'Open' }, options: { statusJidList: ['5511911110001@s.whatsapp.net', self], backgroundColor: '#00FF00', font: 0 } });
  });

  it('fails a status whose media cannot be downloaded with invalid_media, leaving no file behind', async () => {
    const { run, sent, outcomes } = setup({});

    // Port 1 on loopback: nothing listens there.
    await run(command('S2', 'status', { type: 'image', mediaUrl: 'http://127.0.0.1:1/photo.png' }, 'status@broadcast'));

    expect(sent).toEqual([]);
    expect(outcomes.get('S2')).toMatchObject({ state: 'failed', code: 'invalid_media', reason: expect.stringMatching(/^Failed to download media: /) });
    expect(await readdir(directory)).toEqual([]);
  });
});
