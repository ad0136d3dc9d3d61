import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';
import { linkSandboxInstance, startHookReceiver, type Hook } from '../support/hook-receiver.ts';

/**
 * What the issue 5 checklist asks of every send, beyond the text cases of messages.sandbox.test.ts:
 * one outgoing `message.exchange` per send for each kind built (location, contact, poll, reaction,
 * media), one event and one message under parallel retries with an idempotency key, and 503 for
 * an instance that was connected and lost its session.
 */

/** A 1×1 PNG. */
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

describe('send events through the sandbox', () => {
  let stack: TestStack;
  let receiver: Awaited<ReturnType<typeof startHookReceiver>>;
  let hooks: Hook[] = [];
  const tokens = new Map<string, string>();
  const numbers = new Map<string, string>();

  const send = (instance: string, kind: string, body: unknown, headers?: Record<string, string>) =>
    stack.call('POST', `/api/message/${kind}/${instance}`, { token: tokens.get(instance) as string, body, ...(headers ? { headers } : {}) });
  const receivedBy = (instance: string, contact: string) => (stack.sandbox?.outbound(numbers.get(instance) as string) ?? []).filter((message) => message.to === `${contact}@s.whatsapp.net`);
  const outgoingEvents = (messageId: string) => hooks.filter((hook) => hook.body.event === 'message.exchange' && hook.body.data.id === messageId && hook.body.data.message?.direction === 'outgoing');
  /** Sends a text and waits for its event: events of earlier sends had the same time to arrive. */
  const settle = async (instance: string, contact: string) => {
    const marker = await send(instance, 'text', { number: contact, message: 'marker' });
    await waitFor(() => outgoingEvents(marker.body.data.messageId as string).length > 0, 'the marker’s message.exchange');
  };
  const statusOf = async (instance: string) => {
    const listed = await stack.call('GET', '/api/instance/list', { token: tokens.get(instance) as string });
    return listed.body.instances?.[0];
  };
  const link = async (name: string, hookUrl: string) => {
    const { token, number } = await linkSandboxInstance(stack, name, hookUrl);
    tokens.set(name, token);
    numbers.set(name, number);
  };

  beforeAll(async () => {
    receiver = await startHookReceiver();
    hooks = receiver.hooks;
    stack = await startTestStack({ ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' }, { defaultRateLimits: { global: 100_000 } });
    const hookUrl = receiver.url;
    await Promise.all([link('kinds', hookUrl), link('dropped', hookUrl)]);
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
    await receiver?.close();
  });

  it('emits exactly one outgoing message.exchange per send for a location, a contact, a poll, a reaction and an image', async () => {
    // Prepare
    const contact = '5511933330001';

    // Act
    const location = await send('kinds', 'location', { number: contact, latitude: -22.9068, longitude: -43.1729, name: 'Centro' });
    const card = await send('kinds', 'contact', { number: contact, vcard: { fullName: 'Maria Souza', phone: '+55 21 97777-6666' }, source: 'crm' });
    const poll = await send('kinds', 'poll', { number: contact, question: 'Coffee?', options: ['Yes', 'No'] });
    const reaction = await send('kinds', 'reaction', { number: contact, messageId: poll.body.data.messageId, reaction: '❤️' });
    const image = await send('kinds', 'media', { number: contact, mediaType: 'image', mediaBase64: png.toString('base64'), message: 'pixel' });
    await settle('kinds', contact);

    // Assess
    const sent = { location, card, poll, reaction, image };
    for (const answer of Object.values(sent)) expect([answer.status, answer.body.status]).toEqual([200, 'sent']);
    const eventOf = (answer: typeof location) => {
      const events = outgoingEvents(answer.body.data.messageId as string);
      expect(events).toHaveLength(1);
      return events[0]?.body.data.message;
    };
    const chat = { jid: `${contact}@s.whatsapp.net`, type: 'private' };
    expect(eventOf(location)).toMatchObject({ id: location.body.data.messageId, type: 'location', direction: 'outgoing', fromMe: true, chat, source: 'api' });
    expect(eventOf(card)).toMatchObject({ id: card.body.data.messageId, type: 'contact', direction: 'outgoing', fromMe: true, chat, source: 'crm' });
    expect(eventOf(poll)).toMatchObject({ id: poll.body.data.messageId, type: 'poll', direction: 'outgoing', fromMe: true, chat });
    expect(eventOf(reaction)).toMatchObject({ id: reaction.body.data.messageId, type: 'reaction', direction: 'outgoing', fromMe: true, chat });
    expect(eventOf(image)).toMatchObject({ id: image.body.data.messageId, type: 'image', direction: 'outgoing', content: { text: 'pixel' }, media: { type: 'image', mimetype: 'image/png', size: png.length } });
    expect(receivedBy('kinds', contact).map((message) => message.id)).toEqual([...Object.values(sent).map((answer) => answer.body.data.messageId), expect.any(String)]);
  });

  it('under parallel retries with one idempotency key: one message on the contact’s side and one message.exchange', async () => {
    // Prepare
    const contact = '5511933330002';
    const body = { number: contact, latitude: 1.5, longitude: 2.5 };

    // Act
    const answers = await Promise.all(Array.from({ length: 5 }, () => send('kinds', 'location', body, { 'Idempotency-Key': 'parallel-location' })));
    await settle('kinds', contact);

    // Assess
    const ids = new Set(answers.filter((answer) => answer.status === 200).map((answer) => answer.body.data.messageId as string));
    expect(ids.size).toBe(1);
    const [messageId] = [...ids] as [string];
    for (const answer of answers.filter((candidate) => candidate.status !== 200)) {
      expect([answer.status, answer.body]).toEqual([409, { success: false, error: { message: 'A request with this idempotency key is still in progress' } }]);
    }
    expect(outgoingEvents(messageId)).toHaveLength(1);
    expect(receivedBy('kinds', contact).map((message) => message.id)).toEqual([messageId, expect.any(String)]);
  });

  it('answers 503 once a connected instance lost its session, and nothing reaches the contact', async () => {
    // Prepare: the number was unlinked on the phone (WhatsApp closes the socket with 401).
    const contact = '5511933330003';
    await stack.sandbox?.disconnect(numbers.get('dropped') as string, 401);
    await waitFor(async () => (await statusOf('dropped'))?.status !== 'connected', 'the instance to be disconnected');

    // Act
    const response = await send('dropped', 'text', { number: contact, message: 'anyone there?' });

    // Assess
    expect(response.status).toBe(503);
    expect(response.body).toEqual({ success: false, error: { message: 'Instance is not connected to WhatsApp' } });
    expect(receivedBy('dropped', contact)).toEqual([]);
  });
});
