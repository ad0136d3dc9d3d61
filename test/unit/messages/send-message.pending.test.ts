import { describe, expect, it } from 'vitest';
import type { InstanceAggregate } from '../../../shared/domain/instance/instance.ts';
import type { ClaimOutcome, IdempotencyStore } from '../../../shared/domain/messages/idempotency.ts';
import type { SendOutcome } from '../../../shared/domain/messages/send.command.ts';
import { parseSendRequest } from '../../../shared/domain/messages/send.schemas.ts';
import { sendMessage, type SendMessageDeps } from '../../../shared/domain/use-cases/send-message.use-cases.ts';

/**
 * An API stopping between storing a send as `pending` and enqueuing it used to leave the message
 * `pending` forever (nothing would ever resolve it). The command is now enqueued first: the runner
 * carries the send out and stores its result itself, and nothing is stored for a send that was
 * never enqueued.
 */

const noKeys: IdempotencyStore = {
  claim: async (): Promise<ClaimOutcome> => ({ kind: 'new', claimId: 'c' }),
  complete: async () => true,
  release: async () => undefined,
};

const aggregate = { instance: { id: 'inst-1', accountId: 'acc-1', name: 'sales', status: 'connected', numberJid: '5511999999999@s.whatsapp.net', profile: null } } as unknown as InstanceAggregate;
const origin = { route: 'POST /api/message/text/{instance}', body: {} };
const text = parseSendRequest('text', { number: '5511988887777', message: 'Hi' });

const setup = (overrides: { enqueue?: () => Promise<void>; save?: () => Promise<void> } = {}) => {
  const steps: string[] = [];
  const storeErrors: unknown[] = [];
  const outcomes = new Map<string, SendOutcome>();
  let now = Date.parse('2026-04-28T10:30:00Z');
  const deps: SendMessageDeps = {
    bus: {
      send: async (command) => {
        await overrides.enqueue?.();
        steps.push('enqueued');
        if (command.type === 'send') outcomes.set(command.send.messageId, { state: 'sent', chatJid: command.send.chatJid, at: '2026-04-28T10:30:01Z' });
      },
    },
    clock: { now: () => new Date(now) },
    ids: { uuid: () => 'uuid', ulid: () => '01JSX3A8B2C4D6E8F0G2H4J6K8' },
    messages: {
      save: async (message) => {
        await overrides.save?.();
        steps.push(`stored ${message.status}`);
      },
    },
    outcomes: { record: async () => undefined, get: async (_instanceId, messageId) => outcomes.get(messageId) ?? null },
    findQuoted: async () => null,
    idempotency: noKeys,
    randomHex: () => 'c767d26a1d8e5f12',
    sleep: async (ms) => void (now += ms),
    onStoreError: (error) => void storeErrors.push(error),
  };
  return { deps, steps, storeErrors };
};

describe('sendMessage: the pending message and the command', () => {
  it('enqueues the send before it stores the message as pending', async () => {
    // Prepare
    const { deps, steps } = setup();

    // Act
    const { response } = await sendMessage(deps, aggregate, text, origin);

    // Assess
    expect(response.body).toMatchObject({ success: true, status: 'sent' });
    expect(steps).toEqual(['enqueued', 'stored pending']);
  });

  it('stores nothing when the command cannot be enqueued, so no message is left pending', async () => {
    // Prepare
    const { deps, steps } = setup({ enqueue: () => Promise.reject(new Error('queue unavailable')) });

    // Act
    const sending = sendMessage(deps, aggregate, text, origin);

    // Assess
    await expect(sending).rejects.toThrow('queue unavailable');
    expect(steps).toEqual([]);
  });

  it('still answers when the pending write fails after the enqueue (the send is on its way), and reports the failure', async () => {
    // Prepare
    const { deps, storeErrors } = setup({ save: () => Promise.reject(new Error('store throttled')) });

    // Act
    const { response } = await sendMessage(deps, aggregate, text, origin);

    // Assess
    expect(response).toMatchObject({ status: 200, body: { success: true, status: 'sent', data: { messageId: '3EB0C767D26A1D8E5F12' } } });
    expect(storeErrors.map(String)).toEqual(['Error: store throttled']);
  });
});
