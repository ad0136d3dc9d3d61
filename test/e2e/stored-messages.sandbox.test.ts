import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';
import { linkSandboxInstance, startHookReceiver, type Hook } from '../support/hook-receiver.ts';

/**
 * What the stack serves to WhatsApp itself (issue 5: Baileys' `getMessage`), through the API:
 * - a message again when the recipient's phone could not decrypt it and sends a retry receipt;
 * - the poll a contact's vote answers — votes are encrypted with the poll's secret — so that votes
 *   arrive as `poll_vote` events with the options' names, even right after the poll was sent.
 * That both come from the message store (not the sending runner's memory) after a handover is
 * test/integration/session-runner/stored-messages-handover.test.ts.
 */

describe('stored messages served to WhatsApp', () => {
  let stack: TestStack;
  let receiver: Awaited<ReturnType<typeof startHookReceiver>>;
  let hooks: Hook[] = [];
  const tokens = new Map<string, string>();
  const numbers = new Map<string, string>();

  const send = (instance: string, kind: string, body: unknown) => stack.call('POST', `/api/message/${kind}/${instance}`, { token: tokens.get(instance) as string, body });
  const incoming = (instance: string, messageId: string) =>
    hooks.find((hook) => hook.body.event === 'message.exchange' && hook.body.instanceData.instance === instance && hook.body.data.id === messageId)?.body.data.message;
  const link = async (name: string, hookUrl: string) => {
    const { token, number } = await linkSandboxInstance(stack, name, hookUrl);
    tokens.set(name, token);
    numbers.set(name, number);
  };
  const vote = (instance: string, contact: string, pollMessageId: string, options: string[]) =>
    (stack.sandbox as NonNullable<TestStack['sandbox']>).votePoll({ toNumber: numbers.get(instance) as string, fromNumber: contact, pollMessageId, options });

  beforeAll(async () => {
    receiver = await startHookReceiver();
    hooks = receiver.hooks;
    stack = await startTestStack({ ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' }, { defaultRateLimits: { global: 100_000 } });
    const hookUrl = receiver.url;
    await Promise.all([link('pollster', hookUrl), link('bystander', hookUrl)]);
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  it('sends a message again when the recipient asks for it with a retry receipt', async () => {
    // Prepare
    const contact = '5511944440003';
    const sent = await send('pollster', 'text', { number: contact, message: 'Your order has shipped' });
    expect([sent.status, sent.body.status]).toEqual([200, 'sent']);

    // Act
    const again = await (stack.sandbox as NonNullable<TestStack['sandbox']>).requestRetry({ fromNumber: contact, toNumber: numbers.get('pollster') as string, messageId: sent.body.data.messageId as string });

    // Assess
    expect(again.conversation ?? again.extendedTextMessage?.text).toBe('Your order has shipped');
  });

  it('turns a contact’s votes on a poll sent through the API into poll_vote events with option names', async () => {
    // Prepare
    const contact = '5511944440001';
    const poll = await send('pollster', 'poll', { number: contact, question: 'Which days?', options: ['Monday', 'Tuesday', 'Friday'], maxAnswer: 3 });
    expect([poll.status, poll.body.status]).toEqual([200, 'sent']);
    const pollMessageId = poll.body.data.messageId as string;

    // Act: a vote, a changed vote with two options, then a withdrawal.
    const first = await vote('pollster', contact, pollMessageId, ['Tuesday']);
    const changed = await vote('pollster', contact, pollMessageId, ['Monday', 'Friday']);
    const withdrawn = await vote('pollster', contact, pollMessageId, []);

    // Assess
    const events = await waitFor(() => {
      const found = [first, changed, withdrawn].map((id) => incoming('pollster', id));
      return found.every(Boolean) ? found : null;
    }, 'the three votes’ message.exchange events');
    for (const event of events) {
      expect(event).toMatchObject({ type: 'poll_vote', direction: 'incoming', fromMe: false, chat: { jid: `${contact}@s.whatsapp.net`, type: 'private' }, sender: { jid: `${contact}@s.whatsapp.net` } });
    }
    expect(events.map((event) => event.content)).toEqual([
      { pollMessageId, selectedOptions: ['Tuesday'] },
      { pollMessageId, selectedOptions: ['Monday', 'Friday'] },
      { pollMessageId, selectedOptions: [] },
    ]);
  });

  it('reports a vote on a poll this instance never sent as a message of unknown type', async () => {
    // Prepare: the poll went out from another instance, so this one has no poll (and no secret) to read the vote with.
    const contact = '5511944440002';
    const poll = await send('bystander', 'poll', { number: contact, question: 'Tea?', options: ['Yes', 'No'] });
    expect(poll.status).toBe(200);

    // Act
    const voteId = await vote('pollster', contact, poll.body.data.messageId as string, ['Yes']);

    // Assess
    const event = await waitFor(() => incoming('pollster', voteId) ?? null, 'the vote’s message.exchange event');
    expect(event).toMatchObject({ type: 'unknown', direction: 'incoming', content: {} });
  });
});
