import { describe, expect, it } from 'vitest';
import { DomainError } from '../../../shared/domain/errors/domain-error.ts';
import { renderError } from '../../../shared/http/error-map.ts';
import type { InstanceAggregate } from '../../../shared/domain/instance/instance.ts';
import type { ClaimOutcome, IdempotencyStore } from '../../../shared/domain/messages/idempotency.ts';
import type { SendFailure, SendOutcome } from '../../../shared/domain/messages/send.command.ts';
import { parseSendRequest } from '../../../shared/domain/messages/send.schemas.ts';
import { sendMessage, type SendMessageDeps } from '../../../shared/domain/use-cases/send-message.use-cases.ts';

/** The API's side of group/channel refusals and `mentionAll` (spec §2.3.0, §2.3.1): what the runner reports becomes the contract's answer. */

const noKeys: IdempotencyStore = {
  claim: async (): Promise<ClaimOutcome> => ({ kind: 'new', claimId: 'c' }),
  complete: async () => true,
  release: async () => undefined,
};
const aggregate = { instance: { id: 'inst-1', accountId: 'acc-1', name: 'sales', status: 'connected', numberJid: '5511999999999@s.whatsapp.net', profile: null } } as unknown as InstanceAggregate;
const group = '120363025246125486@g.us';

const depsAnswering = (outcome: (chatJid: string) => SendOutcome): SendMessageDeps => {
  const outcomes = new Map<string, SendOutcome>();
  let now = Date.parse('2026-04-28T10:30:00Z');
  return {
    bus: {
      send: async (command) => {
        if (command.type === 'send') outcomes.set(command.send.messageId, outcome(command.send.chatJid));
      },
    },
    clock: { now: () => new Date(now) },
    ids: { uuid: () => 'uuid', ulid: () => '01JSX3A8B2C4D6E8F0G2H4J6K8' },
    messages: { save: async () => undefined },
    outcomes: { record: async () => undefined, get: async (_instanceId, messageId) => outcomes.get(messageId) ?? null },
    findQuoted: async () => null,
    idempotency: noKeys,
    randomHex: () => 'c767d26a1d8e5f12',
    sleep: async (ms) => {
      now += ms;
    },
  };
};
const origin = { route: 'POST /api/message/text/{instance}', body: {} };

describe('group and channel refusals', () => {
  it.each([
    ['group_not_found', 404, 'Group not found or you are not a member of this group'],
    ['group_admins_only', 403, 'Only admins can send messages to this group'],
    ['channel_forbidden', 403, 'Not authorized to post in this channel'],
  ] as const)('%s → %i %s', async (code: SendFailure, status, message) => {
    const deps = depsAnswering((chatJid) => ({ state: 'failed', code, reason: message, chatJid, at: '2026-04-28T10:30:01Z' }));

    const error = await sendMessage(deps, aggregate, parseSendRequest('text', { number: group, message: 'hi' }), origin).catch((thrown: unknown) => thrown);

    expect(error).toBeInstanceOf(DomainError);
    expect(renderError((error as DomainError).code, (error as DomainError).detail)).toEqual({ status, message });
  });
});

describe('mentions in the response', () => {
  it('lists the participants the runner mentioned for mentionAll', async () => {
    const everyone = ['5511988887777@s.whatsapp.net', '5511977776666@s.whatsapp.net'];
    const deps = depsAnswering((chatJid) => ({ state: 'sent', chatJid, at: '2026-04-28T10:30:01Z', mentions: everyone, groupName: 'Sales' }));

    const { response } = await sendMessage(deps, aggregate, parseSendRequest('text', { number: group, message: 'all', mentionAll: true }), origin);

    expect(response.body).toMatchObject({ status: 'sent', data: { chat: { jid: group, type: 'group', name: 'Sales', groupName: 'Sales' }, mentions: everyone } });
  });

  it('lists the given mentions in a group, and none in a private chat', async () => {
    const deps = depsAnswering((chatJid) => ({ state: 'sent', chatJid, at: '2026-04-28T10:30:01Z' }));

    const inGroup = await sendMessage(deps, aggregate, parseSendRequest('text', { number: group, message: 'hi', mention: ['5511988887777'] }), origin);
    const inPrivate = await sendMessage(deps, aggregate, parseSendRequest('text', { number: '5511988887777', message: 'hi', mention: ['5511988887777'] }), origin);

    expect(inGroup.response.body).toMatchObject({ data: { mentions: ['5511988887777@s.whatsapp.net'] } });
    expect((inPrivate.response.body as { data: Record<string, unknown> }).data.mentions).toBeUndefined();
  });
});

describe('status posts', () => {
  it('go to status@broadcast and answer with the status chat', async () => {
    const deps = depsAnswering((chatJid) => ({ state: 'sent', chatJid, at: '2026-04-28T10:30:01Z' }));

    const { response } = await sendMessage(deps, aggregate, parseSendRequest('status', { type: 'text', message: 'Open' }), { route: 'POST /api/message/status/{instance}', body: {} });

    expect(response.body).toMatchObject({ success: true, message: 'Message sent successfully', status: 'sent', data: { messageType: 'text', content: 'Open', chat: { jid: 'status@broadcast', type: 'status' } } });
  });
});
