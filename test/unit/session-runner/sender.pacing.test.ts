import { describe, expect, it } from 'vitest';
import type { MessageSummary } from '../../../shared/domain/messages/message.ts';
import { createPacer } from '../../../shared/domain/messages/pacing.ts';
import { createMessageSender, type SendCommand } from '../../../session-runner/messaging/sender.ts';
import { requestFieldsTo, sendCommandOf } from '../../support/send-commands.ts';
import { fakeConnection, handClock, senderFakes } from '../../support/sender-fakes.ts';

/**
 * The sender's side of anti-ban pacing: WhatsApp's throttling pauses the instance, the pause is
 * published as an `instance.state` event (reason `sending_paused`), sends during the pause do not
 * reach WhatsApp, and the first successful send after it is announced as `sending_resumed`.
 */

const minute = 60_000;

const jidOf = (digits: string) => `${digits}@s.whatsapp.net`;

const commandTo = (digits: string, messageId: string): SendCommand =>
  sendCommandOf(messageId, jidOf(digits), { kind: 'text', message: 'hello', linkPreview: false, ...requestFieldsTo(digits) } as SendCommand['send']['request'], {
    content: { text: 'hello' },
  });

/** A sender over fakes: a hand-moved clock (sleeping moves it), WhatsApp answering with `failures` first. */
function setup(failures: Record<string, unknown>[], knownChats: string[] = []) {
  const { clock, advance } = handClock();
  const { events, outcomes, deps } = senderFakes({
    clock,
    messages: { summaries: async () => knownChats.map((chatJid) => ({ chatJid, status: 'sent' }) as unknown as MessageSummary) },
  });
  const sentTo: string[] = [];
  const pending = [...failures];
  const connection = fakeConnection({
    send: async (toJid) => {
      const failure = pending.shift();
      if (failure) throw Object.assign(new Error(String(failure.message ?? 'refused')), failure);
      sentTo.push(toJid);
    },
  });
  const sender = createMessageSender(deps({ sleep: async (ms) => advance(ms) }));
  const sendTo = async (digits: string, messageId: string) => {
    sender.accept(commandTo(digits, messageId), () => connection);
    await sender.idle();
  };
  const stateEvents = () => events.filter((event) => event.event === 'instance.state');
  return { sendTo, stateEvents, outcomes, sentTo, advance };
}

describe('pauses caused by WhatsApp throttling', () => {
  it('publishes sending_paused once on a rate limit, keeps later sends from WhatsApp until the pause ends, then publishes sending_resumed', async () => {
    // Prepare
    const { sendTo, stateEvents, outcomes, sentTo, advance } = setup([{ code: 429, message: 'rate-overlimit' }]);

    // Act
    await sendTo('4915112340001', 'M1');
    await sendTo('4915112340002', 'M2');
    advance(10 * minute);
    await sendTo('4915112340003', 'M3');
    const duringPause = stateEvents().map((event) => event.data);
    advance(5 * minute);
    await sendTo('4915112340004', 'M4');

    // Assess
    expect(duringPause).toEqual([
      {
        state: 'connected',
        previousState: 'connected',
        reason: 'sending_paused',
        pause: { cause: 'rate_limited', scope: 'all', until: '2026-04-28T10:45:00.000Z' },
      },
    ]);
    expect(stateEvents()[0]).toMatchObject({ instanceId: 'i-1', accountId: 'a-1', instanceName: 'sales' });
    expect(['M1', 'M2', 'M3'].map((id) => outcomes.get(id))).toEqual([
      expect.objectContaining({ state: 'failed', code: 'rate_limited' }),
      expect.objectContaining({ state: 'failed', code: 'rate_limited' }),
      expect.objectContaining({ state: 'failed', code: 'rate_limited' }),
    ]);
    expect(outcomes.get('M4')).toMatchObject({ state: 'sent' });
    expect(sentTo).toEqual([jidOf('4915112340004')]);
    expect(stateEvents().map((event) => event.data)).toEqual([
      expect.objectContaining({ reason: 'sending_paused' }),
      { state: 'connected', previousState: 'connected', reason: 'sending_resumed', pause: { scope: 'all' } },
    ]);
  });

  it('pauses only first contacts after a reach-out refusal: existing chats still get their messages', async () => {
    // Prepare
    const known = jidOf('4915112340010');
    const { sendTo, stateEvents, outcomes, sentTo } = setup([{ code: '463', message: 'reach-out time lock' }], [known]);

    // Act
    await sendTo('4915112340011', 'N1');
    await sendTo('4915112340012', 'N2');
    await sendTo('4915112340010', 'N3');

    // Assess
    expect(stateEvents().map((event) => event.data)).toEqual([
      {
        state: 'connected',
        previousState: 'connected',
        reason: 'sending_paused',
        pause: { cause: 'reach_out_limited', scope: 'first_contacts', until: '2026-04-29T10:30:00.000Z' },
      },
    ]);
    expect(outcomes.get('N1')).toMatchObject({ state: 'failed', code: 'failed' });
    expect(outcomes.get('N2')).toMatchObject({ state: 'failed', code: 'rate_limited' });
    expect(outcomes.get('N3')).toMatchObject({ state: 'sent' });
    expect(sentTo).toEqual([known]);
  });

  it('keeps a refused first contact a first contact: a retry to the same number is refused during the pause', async () => {
    // Prepare: WhatsApp refuses the first contact with a reach-out lock.
    const { sendTo, outcomes, sentTo } = setup([{ code: '463', message: 'reach-out time lock' }]);

    // Act
    await sendTo('4915112340021', 'R1');
    await sendTo('4915112340021', 'R2');

    // Assess: the retry did not slip through as a known chat.
    expect(outcomes.get('R1')).toMatchObject({ state: 'failed', code: 'failed' });
    expect(outcomes.get('R2')).toMatchObject({ state: 'failed', code: 'rate_limited' });
    expect(sentTo).toEqual([]);
  });

  it('counts a send as a first contact when the store cannot say, and asks the store again for the next send', async () => {
    // Prepare: one first contact a day; both chats are known, but the store's first answer is an error.
    const { clock } = handClock();
    let reads = 0;
    const { outcomes, deps } = senderFakes({
      clock,
      messages: {
        summaries: async () => {
          reads += 1;
          if (reads === 1) throw new Error('store unavailable');
          return ['4915112340009', '4915112340008'].map((digits) => ({ chatJid: jidOf(digits), status: 'sent' }) as unknown as MessageSummary);
        },
      },
    });
    const pacer = createPacer({ enabled: true, minGapMs: 0, jitterMs: 0, firstContactsPerDay: 1, rateLimitPauseMs: minute, maxPauseMs: minute, reachOutPauseMs: minute }, { clock, random: () => 0 });
    const sender = createMessageSender({ ...deps(), pacer });
    const connection = fakeConnection({ send: async () => undefined });

    // Act
    sender.accept(commandTo('4915112340009', 'K1'), () => connection);
    await sender.idle();
    sender.accept(commandTo('4915112340008', 'K2'), () => connection);
    await sender.idle();

    // Assess: the second send goes to a known chat, not refused as a second first contact over the cap.
    expect([outcomes.get('K1')?.state, outcomes.get('K2')?.state]).toEqual(['sent', 'sent']);
    expect(reads).toBe(2);
  });
});
