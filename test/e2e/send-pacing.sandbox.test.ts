import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * Anti-ban pacing through the API (issue 5): consecutive sends of an instance are spaced by the
 * minimum gap, the daily cap on first contacts refuses new chats with WhatsApp's 429 while known
 * chats still get their messages, and a restart of the stack (a new runner) keeps the day's count.
 */

const GAP_MS = 3_000;
const pacingEnv = {
  ZAPFLEET_DRIVER: 'sandbox',
  ZAPFLEET_SANDBOX_SCAN_MS: '200',
  ZAPFLEET_PACING_ENABLED: 'true',
  ZAPFLEET_PACING_MIN_GAP_MS: String(GAP_MS),
  ZAPFLEET_PACING_MAX_GAP_MS: String(GAP_MS),
  ZAPFLEET_PACING_DAILY_NEW_CONTACTS: '2',
};

describe('pacing of sends', () => {
  let stack: TestStack;
  const tokens = new Map<string, string>();
  const numbers = new Map<string, string>();

  const send = (instance: string, number: string, message: string) =>
    stack.call('POST', `/api/message/text/${instance}`, { token: tokens.get(instance) as string, body: { number, message } });
  const receivedBy = (instance: string, contact: string) =>
    (stack.sandbox?.outbound(numbers.get(instance) as string) ?? []).filter((message) => message.to === `${contact}@s.whatsapp.net`).map((message) => message.text);
  const connected = (instance: string) =>
    waitFor(async () => {
      const listed = await stack.call('GET', '/api/instance/list', { token: tokens.get(instance) as string });
      const found = listed.body.instances?.[0];
      return found?.status === 'connected' ? found : null;
    }, `${instance} to connect`);
  const link = async (name: string) => {
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name } });
    tokens.set(name, created.body.instance.token as string);
    await stack.call('GET', `/api/instance/connect/${name}`, { token: tokens.get(name) as string });
    numbers.set(name, ((await connected(name)).numberJid as string).split('@')[0] as string);
  };

  beforeAll(async () => {
    stack = await startTestStack(pacingEnv, { defaultRateLimits: { global: 100_000 } });
    await Promise.all([link('paced'), link('capped')]);
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
  });

  it('spaces two sends of an instance by the minimum gap: when the first is acknowledged, the second has not gone out', async () => {
    // Prepare: the chat exists, so only the gap applies (not the first-contact cap).
    expect((await send('paced', '5511966660001', 'opening')).body.status).toBe('sent');
    await new Promise((resolve) => setTimeout(resolve, GAP_MS));

    // Act
    const answers = [send('paced', '5511966660001', 'one'), send('paced', '5511966660001', 'two')];
    await Promise.race(answers);
    const seenAtFirstAnswer = receivedBy('paced', '5511966660001');
    const [one, two] = await Promise.all(answers);

    // Assess: whichever went first (the two requests race to the queue), the other waited for the gap.
    expect(seenAtFirstAnswer).toHaveLength(2);
    expect([one?.status, one?.body.status, two?.status, two?.body.status]).toEqual([200, 'sent', 200, 'sent']);
    expect(receivedBy('paced', '5511966660001').sort()).toEqual(['one', 'opening', 'two']);
  });

  it('refuses a third new contact of the day with 429, still sends to known chats, and keeps the count across a restart', async () => {
    // Prepare: the day's two first contacts.
    const firstContacts = await Promise.all([send('capped', '5511977770001', 'hello A'), send('capped', '5511977770002', 'hello B')]);
    expect(firstContacts.map((answer) => answer.body.status)).toEqual(['sent', 'sent']);

    // Act
    const beyondCap = await send('capped', '5511977770003', 'hello C');
    const seenByC = receivedBy('capped', '5511977770003');
    const reuse = { dataDir: stack.dataDir, tableName: stack.tableName, accountToken: stack.accountToken };
    await stack.halt();
    stack = await startTestStack({ ...pacingEnv, ZAPFLEET_SANDBOX_SCAN_MS: '600000' }, { reuse, defaultRateLimits: { global: 100_000 } });
    // The stored status still says `connected` while the new runner restores the session (a crash
    // leaves it so): until then a send answers 503, so the known chat is retried until it goes out.
    await connected('capped');
    const knownChat = await waitFor(async () => {
      const answer = await send('capped', '5511977770001', 'again A');
      return answer.status === 503 ? null : answer;
    }, 'the restored session to send');
    const afterRestart = await send('capped', '5511977770004', 'hello D');

    // Assess
    const refused = { success: false, error: { message: 'WhatsApp rate limit reached. Try again later.' } };
    expect([beyondCap.status, beyondCap.body]).toEqual([429, refused]);
    expect(seenByC).toEqual([]);
    expect([afterRestart.status, afterRestart.body]).toEqual([429, refused]);
    expect([knownChat.status, knownChat.body.status]).toEqual([200, 'sent']);
    expect(receivedBy('capped', '5511977770001')).toEqual(['again A']);
    expect(receivedBy('capped', '5511977770004')).toEqual([]);
  }, 90_000);
});
