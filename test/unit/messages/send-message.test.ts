import { describe, expect, it } from 'vitest';
import type { DomainError } from '../../../shared/domain/errors/domain-error.ts';
import { renderError } from '../../../shared/http/error-map.ts';
import type { SessionCommand } from '../../../shared/domain/fleet/commands.ts';
import type { InstanceAggregate } from '../../../shared/domain/instance/instance.ts';
import type { ClaimOutcome, IdempotencyStore } from '../../../shared/domain/messages/idempotency.ts';
import type { StoredMessage } from '../../../shared/domain/messages/message.ts';
import type { QuotedMessage, SendOutcome } from '../../../shared/domain/messages/send.command.ts';
import { parseSendRequest } from '../../../shared/domain/messages/send.schemas.ts';
import { sendMessage, type SendMessageDeps } from '../../../shared/domain/use-cases/send-message.use-cases.ts';

const noKeys: IdempotencyStore = {
  claim: async (): Promise<ClaimOutcome> => ({ kind: 'new', claimId: 'c' }),
  complete: async () => true,
  release: async () => undefined,
};

const aggregate = (status = 'connected') =>
  ({
    instance: { id: 'inst-1', accountId: 'acc-1', name: 'sales', status, numberJid: '5511999999999@s.whatsapp.net', profile: { name: 'Sales Team' } },
  }) as unknown as InstanceAggregate;

/** A runner double: answers each enqueued send with the given outcome (or none: still running). */
const setup = (runner: (command: Extract<SessionCommand, { type: 'send' }>) => SendOutcome | null, stored: QuotedMessage[] = []) => {
  const commands: SessionCommand[] = [];
  const saved: StoredMessage[] = [];
  const outcomes = new Map<string, SendOutcome>();
  let now = Date.parse('2026-04-28T10:30:00Z');
  const deps: SendMessageDeps = {
    bus: {
      send: async (command) => {
        commands.push(command);
        if (command.type !== 'send') return;
        const outcome = runner(command);
        if (outcome) outcomes.set(command.send.messageId, outcome);
      },
    },
    clock: { now: () => new Date(now) },
    ids: { uuid: () => 'uuid', ulid: () => '01JSX3A8B2C4D6E8F0G2H4J6K8' },
    messages: { save: async (message) => void saved.push(message) },
    outcomes: { record: async () => undefined, get: async (_instanceId, messageId) => outcomes.get(messageId) ?? null },
    findQuoted: async (_instanceId, messageId) => stored.find((message) => message.messageId === messageId) ?? null,
    idempotency: noKeys,
    randomHex: () => 'c767d26a1d8e5f12',
    // Time passes only through the polls' sleeps.
    sleep: async (ms) => {
      now += ms;
    },
  };
  return { deps, commands, saved };
};

const origin = { route: 'POST /api/message/text/{instance}', body: {} };
const text = (body: Record<string, unknown>) => parseSendRequest('text', { number: '5511988887777', message: 'Hi', ...body });

describe('sendMessage', () => {
  it('stores the message as pending, enqueues a send and answers sent once the runner recorded it', async () => {
    const { deps, commands, saved } = setup((command) => ({ state: 'sent', chatJid: command.send.chatJid, at: '2026-04-28T10:30:01Z' }));

    const { response, replayed } = await sendMessage(deps, aggregate(), text({ source: 'crm' }), origin);

    expect(replayed).toBe(false);
    expect(response).toEqual({
      status: 200,
      body: {
        success: true,
        message: 'Message sent successfully',
        status: 'sent',
        data: {
          messageId: '3EB0C767D26A1D8E5F12',
          messageType: 'text',
          content: 'Hi',
          direction: 'outgoing',
          chat: { jid: '5511988887777@s.whatsapp.net', type: 'private' },
          sender: { jid: '5511999999999@s.whatsapp.net', name: 'Sales Team' },
          timestamp: '2026-04-28T10:30:00Z',
          source: 'crm',
        },
      },
    });
    expect(saved).toEqual([expect.objectContaining({ messageId: '3EB0C767D26A1D8E5F12', status: 'pending', direction: 'outgoing', chatJid: '5511988887777@s.whatsapp.net' })]);
    expect(commands).toEqual([expect.objectContaining({ type: 'send', instanceId: 'inst-1', send: expect.objectContaining({ messageId: '3EB0C767D26A1D8E5F12' }) })]);
  });

  it('answers queued when the runner has not sent within 20 s', async () => {
    const { deps } = setup(() => null);

    const { response } = await sendMessage(deps, aggregate(), text({}), origin);

    expect(response.body).toMatchObject({ status: 'queued', message: 'Message sent successfully' });
  });

  it('answers queued as soon as the recipient was checked when the delay is 10 s or more, with the resolved chat', async () => {
    const { deps } = setup(() => ({ state: 'checked', chatJid: '551188887777@s.whatsapp.net', at: '2026-04-28T10:30:00Z' }));

    const { response } = await sendMessage(deps, aggregate(), text({ delay: 10 }), origin);

    expect(response.body).toMatchObject({ status: 'queued', data: { chat: { jid: '551188887777@s.whatsapp.net' } } });
  });

  it.each([
    [{ state: 'failed', code: 'not_registered', reason: 'x', chatJid: 'j', at: 't' }, 'Number not registered on WhatsApp'],
    [{ state: 'failed', code: 'failed', reason: 'WhatsApp refused the message (error 479)', chatJid: 'j', at: 't' }, 'Failed to send message: WhatsApp refused the message (error 479)'],
  ] as const)('turns a failure recorded by the runner into the contract error', async (outcome, message) => {
    const { deps } = setup(() => outcome);

    const error = await sendMessage(deps, aggregate(), text({}), origin).catch((caught: unknown) => caught as DomainError);

    expect(renderError((error as DomainError).code, (error as DomainError).detail).message).toBe(message);
  });

  it('refuses a disconnected instance and an unknown quoted message before enqueuing anything', async () => {
    const { deps, commands } = setup(() => null);

    await expect(sendMessage(deps, aggregate('disconnected'), text({}), origin)).rejects.toMatchObject({ code: 'instance.not_connected' });
    await expect(sendMessage(deps, aggregate(), text({ replyTo: '3EB0FFFF' }), origin)).rejects.toMatchObject({ code: 'message.quoted_not_found' });
    expect(commands).toEqual([]);
  });

  it('replies privately to the author of a quoted group message', async () => {
    const quoted: QuotedMessage = { messageId: 'Q1', chatJid: '120363025246125486@g.us', fromMe: false, participant: '5511977776666@s.whatsapp.net', text: 'Meeting today?' };
    const { deps, commands } = setup((command) => ({ state: 'sent', chatJid: command.send.chatJid, at: 't' }), [quoted]);

    const { response } = await sendMessage(deps, aggregate(), parseSendRequest('text', { number: '120363025246125486@g.us', message: 'Yes', replyTo: 'Q1', replyPrivate: true }), origin);

    expect(response.body).toMatchObject({ data: { chat: { jid: '5511977776666@s.whatsapp.net', type: 'private' }, replyTo: { messageId: 'Q1', sender: '5511977776666@s.whatsapp.net', content: 'Meeting today?' } } });
    expect(commands[0]).toMatchObject({ send: { chatJid: '5511977776666@s.whatsapp.net', quoted } });
  });

  it('maps idempotency conflicts to the contract’s 409 codes', async () => {
    const { deps } = setup(() => null);
    deps.idempotency = { ...noKeys, claim: async () => ({ kind: 'in_progress' }) };

    await expect(sendMessage(deps, aggregate(), text({ idempotencyKey: 'k' }), origin)).rejects.toMatchObject({ code: 'idempotency.in_progress' });
  });
});
