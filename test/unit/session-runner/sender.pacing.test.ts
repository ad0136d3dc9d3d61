import { describe, expect, it } from 'vitest';
import type { EventRecord } from '../../../shared/domain/events/event.ts';
import type { MessageSummary } from '../../../shared/domain/messages/message.ts';
import { createPacer } from '../../../shared/domain/messages/pacing.ts';
import type { SendOutcome } from '../../../shared/domain/messages/send.command.ts';
import type { WaConnection } from '../../../shared/domain/ports/wa-connection.port.ts';
import { createMessageSender, type SendCommand } from '../../../session-runner/messaging/sender.ts';
import { requestFieldsTo, sendCommandOf } from '../../support/send-commands.ts';

/**
 * The sender's side of anti-ban pacing: WhatsApp's throttling pauses the instance, the pause is
 * published as an `instance.state` event (reason `sending_paused`), sends during the pause do not
 * reach WhatsApp, and the first successful send after it is announced as `sending_resumed`.
 */

const START = Date.parse('2026-04-28T10:30:00Z');
const minute = 60_000;

const jidOf = (digits: string) => `${digits}@s.whatsapp.net`;

const commandTo = (digits: string, messageId: string): SendCommand =>
  sendCommandOf(messageId, jidOf(digits), { kind: 'text', message: 'hello', linkPreview: false, ...requestFieldsTo(digits) } as SendCommand['send']['request'], {
    content: { text: 'hello' },
  });

/** A sender over fakes: a hand-moved clock (sleeping moves it), WhatsApp answering with `failures` first. */
function setup(failures: Record<string, unknown>[], knownChats: string[] = []) {
  let now = START;
  const clock = { now: () => new Date(now) };
  const events: EventRecord[] = [];
  const outcomes = new Map<string, SendOutcome>();
  const sentTo: string[] = [];
  const pending = [...failures];
  const connection: WaConnection = {
    requestPairingCode: async () => '',
    sendPresence: async () => undefined,
    rejectCall: async () => undefined,
    sendText: async () => '',
    markRead: async () => undefined,
    logout: async () => undefined,
    stop: () => undefined,
    onWhatsApp: async (jids) => jids.map((jid) => ({ jid, exists: true })),
    send: async (toJid) => {
      const failure = pending.shift();
      if (failure) throw Object.assign(new Error(String(failure.message ?? 'refused')), failure);
      sentTo.push(toJid);
    },
  };
  let ids = 0;
  const sender = createMessageSender({
    messages: {
      save: async () => undefined,
      updateStatus: async () => true,
      summaries: async () => knownChats.map((chatJid) => ({ chatJid, status: 'sent' }) as unknown as MessageSummary),
    },
    outcomes: {
      record: async (_instanceId, messageId, outcome) => void outcomes.set(messageId, outcome),
      get: async (_instanceId, messageId) => outcomes.get(messageId) ?? null,
    },
    events: { publish: async (record) => void events.push(record) },
    newEventId: () => `e-${++ids}`,
    pacer: createPacer({ enabled: false }, { clock, random: () => 0 }),
    clock,
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    sleep: async (ms) => void (now += ms),
  });
  const sendTo = async (digits: string, messageId: string) => {
    sender.accept(commandTo(digits, messageId), () => connection);
    await sender.idle();
  };
  const stateEvents = () => events.filter((event) => event.event === 'instance.state');
  return { sendTo, stateEvents, outcomes, sentTo, advance: (ms: number) => (now += ms) };
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
});
