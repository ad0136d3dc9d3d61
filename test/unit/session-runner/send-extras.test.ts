import { describe, expect, it } from 'vitest';
import type { OutboundSend } from '../../../shared/domain/messages/send.command.ts';
import type { MessageSummary } from '../../../shared/domain/messages/message.ts';
import { parseSendRequest, type SendKind } from '../../../shared/domain/messages/send.schemas.ts';
import type { WaConnection, WaGroupInfo } from '../../../shared/domain/ports/wa-connection.port.ts';
import { ChatRefused, prepareSendExtras, type ExtrasDeps } from '../../../session-runner/messaging/send-extras.ts';

/** Recipient checks for groups and channels, mentions and status audiences, as the runner resolves them before `checked`. */

const self = '5511999999999@s.whatsapp.net';
const group = '120363025246125486@g.us';
const channel = '120363422585881117@newsletter';

const sendOf = (kind: SendKind, body: Record<string, unknown>, chatJid: string, mentions: string[] = []): OutboundSend => ({
  messageId: '3EB0AAAABBBBCCCCDDDD',
  timestamp: '2026-04-28T10:30:00Z',
  chatJid,
  request: parseSendRequest(kind, body),
  quoted: null,
  exchange: { sender: { jid: self }, ...(mentions.length > 0 ? { mentions } : {}) },
});

const connection = (groups: Record<string, WaGroupInfo | null>, roles: Record<string, 'owner' | 'admin' | 'subscriber' | 'guest' | null> = {}): WaConnection =>
  ({
    groupMetadata: async (jid: string) => groups[jid] ?? null,
    newsletterRole: async (jid: string) => roles[jid] ?? null,
  }) as unknown as WaConnection;

const summaries: Partial<MessageSummary>[] = [
  { chatJid: '5511911110001@s.whatsapp.net' },
  { chatJid: group },
  { chatJid: '5511911110001@s.whatsapp.net' },
  { chatJid: '5511911110002@s.whatsapp.net' },
];
const deps: ExtrasDeps = { instanceId: 'i1', outbound: { check: async () => ({ allowed: false, reason: 'no network in unit tests' }) }, messages: { summaries: async () => summaries as MessageSummary[] } };

const members = (announce: boolean, selfAdmin: boolean): WaGroupInfo => ({
  jid: group,
  subject: 'Sales',
  announce,
  participants: [
    { jid: self, isAdmin: selfAdmin, isSelf: true },
    { jid: '5511988887777@s.whatsapp.net', isAdmin: true, isSelf: false },
    { jid: '5511977776666@s.whatsapp.net', isAdmin: false, isSelf: false },
  ],
});

const refusal = async (promise: Promise<unknown>) => {
  const error = await promise.then(
    () => null,
    (thrown: unknown) => thrown,
  );
  return error instanceof ChatRefused ? { code: error.code, message: error.message } : error;
};

describe('group recipients', () => {
  it.each([
    ['an unknown group (or one this account is not in)', {}, 'group_not_found', 'Group not found or you are not a member of this group'],
    ['a group listing other members only', { [group]: { ...members(false, false), participants: [{ jid: '5511988887777@s.whatsapp.net', isAdmin: true, isSelf: false }] } }, 'group_not_found', 'Group not found or you are not a member of this group'],
    ['an announcement-only group where this account is not an admin', { [group]: members(true, false) }, 'group_admins_only', 'Only admins can send messages to this group'],
  ])('refuses %s', async (_case, groups, code, message) => {
    const send = sendOf('text', { number: group, message: 'hi' }, group);

    expect(await refusal(prepareSendExtras(send, connection(groups), group, deps))).toEqual({ code, message });
  });

  it('sends to an announcement-only group where this account is an admin', async () => {
    const extras = await prepareSendExtras(sendOf('text', { number: group, message: 'hi' }, group), connection({ [group]: members(true, true) }), group, deps);

    expect(await extras.content()).toEqual({ text: 'hi', linkPreview: null });
  });

  it('mentions the given numbers, and with mentionAll every participant but this account, without duplicates', async () => {
    const send = sendOf('text', { number: group, message: 'all', mention: ['5511988887777'], mentionAll: true }, group, ['5511988887777@s.whatsapp.net']);

    const extras = await prepareSendExtras(send, connection({ [group]: members(false, false) }), group, deps);

    expect(extras.mentions).toEqual(['5511988887777@s.whatsapp.net', '5511977776666@s.whatsapp.net']);
    expect(await extras.content()).toEqual({ text: 'all', linkPreview: null, mentions: ['5511988887777@s.whatsapp.net', '5511977776666@s.whatsapp.net'] });
  });

  it('leaves mentions out of private chats, mentionAll included', async () => {
    const chat = '5511988887777@s.whatsapp.net';

    const extras = await prepareSendExtras(sendOf('text', { number: chat, message: 'hi', mentionAll: true }, chat), connection({}), chat, deps);

    expect(extras.mentions).toEqual([]);
    expect(await extras.content()).toEqual({ text: 'hi', linkPreview: null });
  });

  it('sends the text without a preview when the preview is refused (never fails the send)', async () => {
    const chat = '5511988887777@s.whatsapp.net';

    const extras = await prepareSendExtras(sendOf('text', { number: chat, message: 'see http://10.0.0.1/x', linkPreview: true }, chat), connection({}), chat, deps);

    expect(await extras.content()).toEqual({ text: 'see http://10.0.0.1/x', linkPreview: null });
  });
});

describe('channel recipients', () => {
  it.each([
    ['owner', null],
    ['admin', null],
    ['subscriber', { code: 'channel_forbidden', message: 'Not authorized to post in this channel' }],
    ['guest', { code: 'channel_forbidden', message: 'Not authorized to post in this channel' }],
    [null, { code: 'channel_forbidden', message: 'Not authorized to post in this channel' }],
  ] as const)('role %s → %j', async (role, expected) => {
    const send = sendOf('text', { number: channel, message: 'news' }, channel);

    const outcome = await refusal(prepareSendExtras(send, connection({}, { [channel]: role }), channel, deps));

    expect(outcome).toEqual(expected);
  });
});

describe('status audience', () => {
  it('is every private chat with stored messages, once, plus this account', async () => {
    const send = sendOf('status', { type: 'text', message: 'Open' }, 'status@broadcast');

    const extras = await prepareSendExtras(send, connection({}), 'status@broadcast', deps);

    expect(extras.options.statusJidList).toEqual(['5511911110001@s.whatsapp.net', '5511911110002@s.whatsapp.net', self]);
    expect(await extras.content()).toEqual({ text: 'Open' });
  });
});
