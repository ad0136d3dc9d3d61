import { describe, expect, it } from 'vitest';
import type { EventRecord } from '../../../shared/domain/events/event.ts';
import type { MessageStatus } from '../../../shared/domain/messages/message.ts';
import { createPacer } from '../../../shared/domain/messages/pacing.ts';
import type { SendJournal, SendJournalEntry } from '../../../shared/domain/messages/send-journal.ts';
import type { SendOutcome } from '../../../shared/domain/messages/send.command.ts';
import { parseRecipient } from '../../../shared/domain/numbers.ts';
import type { WaConnection } from '../../../shared/domain/ports/wa-connection.port.ts';
import { createMessageSender, type SendCommand } from '../../../session-runner/messaging/sender.ts';

/**
 * Sends left behind by a stopped runner (send-journal.ts): every accepted send is journaled, a
 * redelivered command is not sent twice, and the runner that acquires the shard next reports the
 * abandoned sends failed — "not sent" before the send started, "may or may not have reached
 * WhatsApp" after — without ever sending them again.
 */

const SHARD = 2;
const jidOf = (digits: string) => `${digits}@s.whatsapp.net`;

const commandTo = (digits: string, messageId: string, delay = 0): SendCommand => ({
  type: 'send',
  commandId: `c-${messageId}`,
  instanceId: 'i-1',
  accountId: 'a-1',
  instanceName: 'sales',
  issuedAt: '2026-04-28T10:30:00Z',
  send: {
    messageId,
    timestamp: '2026-04-28T10:30:00Z',
    chatJid: jidOf(digits),
    request: {
      kind: 'text',
      message: 'hello',
      linkPreview: false,
      source: 'api',
      idempotencyKey: null,
      number: digits,
      to: parseRecipient(digits),
      delay,
      replyTo: null,
      replyPrivate: false,
      mention: [],
      mentionAll: false,
    } as SendCommand['send']['request'],
    quoted: null,
    exchange: { id: messageId, type: 'text', direction: 'outgoing', fromMe: true, timestamp: '2026-04-28T10:30:00Z', chat: { jid: jidOf(digits), type: 'private' }, content: { text: 'hello' } },
  },
});

/** The journal's contract, in memory: conditional on the runner (and the phase for a claim). */
const memoryJournal = () => {
  const entries = new Map<string, SendJournalEntry>();
  const id = (key: { shard: number; instanceId: string; messageId: string }) => `${key.shard}/${key.instanceId}/${key.messageId}`;
  const journal: SendJournal = {
    open: async (entry) => (entries.has(id(entry)) ? false : (entries.set(id(entry), { ...entry }), true)),
    markSending: async (key) => {
      const entry = entries.get(id(key));
      if (entry?.runnerId !== key.runnerId) return false;
      entry.phase = 'sending';
      return true;
    },
    close: async (key) => (entries.get(id(key))?.runnerId === key.runnerId ? entries.delete(id(key)) : false),
    list: async (shard) => [...entries.values()].filter((entry) => entry.shard === shard).map((entry) => ({ ...entry })),
    claim: async (entry) => {
      const current = entries.get(id(entry));
      return current?.runnerId === entry.runnerId && current.phase === entry.phase ? entries.delete(id(entry)) : false;
    },
  };
  return { journal, entries };
};

/** A runner's sender over fakes sharing one journal, outcome store and message store. */
function setup() {
  const { journal, entries } = memoryJournal();
  const outcomes = new Map<string, SendOutcome>();
  const statuses = new Map<string, MessageStatus>();
  const events: EventRecord[] = [];
  const sentIds: string[] = [];
  const connection: WaConnection = {
    requestPairingCode: async () => '',
    sendPresence: async () => undefined,
    rejectCall: async () => undefined,
    sendText: async () => '',
    markRead: async () => undefined,
    logout: async () => undefined,
    stop: () => undefined,
    onWhatsApp: async (jids) => jids.map((jid) => ({ jid, exists: true })),
    sendChatPresence: async () => undefined,
    send: async (_to, _content, options) => void sentIds.push(options?.messageId ?? ''),
  };
  let ids = 0;
  const clock = { now: () => new Date('2026-04-28T10:30:00Z') };
  const runner = (runnerId: string, sleep: (ms: number) => Promise<void> = async () => undefined) =>
    createMessageSender({
      messages: {
        save: async () => undefined,
        updateStatus: async (_instanceId, messageId, status) => (statuses.set(messageId, status), true),
        summaries: async () => [],
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
      sleep,
      journal: { store: journal, runnerId, shardOf: () => SHARD },
    });
  const statusEvents = () => events.filter((event) => event.event === 'message.status').map((event) => event.data);
  return { runner, entries, outcomes, statuses, statusEvents, sentIds, connection };
}

/** A sleep that never ends: the send stays in its typing delay until the runner is halted. */
const forever = () => new Promise<void>(() => undefined);

describe('sends journaled against a runner stopping mid-send', () => {
  it('journals an accepted send and removes the entry once it is sent', async () => {
    // Prepare
    const { runner, entries, outcomes, sentIds, connection } = setup();
    const sender = runner('runner-a');

    // Act
    await sender.accept(commandTo('4915112340001', 'M1'), () => connection);
    const journaledAtAccept = [...entries.values()].map(({ messageId, phase, runnerId }) => ({ messageId, phase, runnerId }));
    await sender.idle();

    // Assess
    expect(journaledAtAccept).toEqual([{ messageId: 'M1', phase: 'accepted', runnerId: 'runner-a' }]);
    expect(sentIds).toEqual(['M1']);
    expect(outcomes.get('M1')).toMatchObject({ state: 'sent' });
    expect(entries.size).toBe(0);
  });

  it('does not send a redelivered command twice, whether its send is still journaled or already finished', async () => {
    // Prepare
    const { runner, sentIds, connection } = setup();
    const a = runner('runner-a');
    await a.accept(commandTo('4915112340002', 'M2'), () => connection);
    await a.idle();
    const b = runner('runner-b', forever);
    await b.accept(commandTo('4915112340003', 'M3', 5), () => connection);

    // Act
    await a.accept({ ...commandTo('4915112340002', 'M2'), commandId: 'again-1' }, () => connection);
    await a.accept({ ...commandTo('4915112340003', 'M3', 5), commandId: 'again-2' }, () => connection);
    await a.idle();

    // Assess
    expect(sentIds).toEqual(['M2']);
  });

  it('reports the sends of a stopped runner failed on takeover, with a reason per phase, and never sends them', async () => {
    // Prepare: runner A holds M4 in its typing delay, and stopped after starting to send M5.
    const { runner, entries, outcomes, statuses, statusEvents, sentIds, connection } = setup();
    const a = runner('runner-a', forever);
    await a.accept(commandTo('4915112340004', 'M4', 5), () => connection);
    await new Promise((resolve) => setTimeout(resolve, 0));
    entries.set(`${SHARD}/i-1/M5`, { shard: SHARD, instanceId: 'i-1', accountId: 'a-1', instanceName: 'sales', messageId: 'M5', chatJid: jidOf('4915112340005'), runnerId: 'runner-a', phase: 'sending', acceptedAt: '2026-04-28T10:30:00Z' });
    a.halt();
    const b = runner('runner-b');

    // Act
    await b.recover(SHARD);

    // Assess
    expect(outcomes.get('M4')).toMatchObject({ state: 'failed', code: 'failed', reason: 'not sent: the worker stopped before sending it; send it again' });
    expect(outcomes.get('M5')).toMatchObject({
      state: 'failed',
      code: 'failed',
      reason: 'the worker stopped while sending it; it may or may not have reached WhatsApp (not retried, to avoid a duplicate)',
    });
    expect([statuses.get('M4'), statuses.get('M5')]).toEqual(['error', 'error']);
    expect(statusEvents()).toEqual([
      expect.objectContaining({ messageId: 'M4', chat: jidOf('4915112340004'), status: 'server_error', reason: expect.stringContaining('not sent') }),
      expect.objectContaining({ messageId: 'M5', chat: jidOf('4915112340005'), status: 'server_error', reason: expect.stringContaining('may or may not') }),
    ]);
    expect(entries.size).toBe(0);
    expect(sentIds).toEqual([]);
  });

  it('leaves its own entries and the finished sends alone on takeover: no second outcome, no event', async () => {
    // Prepare: M6 is runner B's own (still in its lane); M7 was sent by A, which stopped before closing its entry.
    const { runner, entries, outcomes, statusEvents, connection } = setup();
    const b = runner('runner-b', forever);
    await b.accept(commandTo('4915112340006', 'M6', 5), () => connection);
    entries.set(`${SHARD}/i-1/M7`, { shard: SHARD, instanceId: 'i-1', accountId: 'a-1', instanceName: 'sales', messageId: 'M7', chatJid: jidOf('4915112340007'), runnerId: 'runner-a', phase: 'sending', acceptedAt: '2026-04-28T10:30:00Z' });
    outcomes.set('M7', { state: 'sent', chatJid: jidOf('4915112340007'), at: '2026-04-28T10:30:01Z' });

    // Act
    await b.recover(SHARD);

    // Assess
    expect([...entries.values()].map((entry) => entry.messageId)).toEqual(['M6']);
    expect(outcomes.get('M7')).toMatchObject({ state: 'sent' });
    expect(statusEvents()).toEqual([]);
  });

  it('does not send when another runner resolved the send while it waited, and reports nothing itself', async () => {
    // Prepare: runner A is in M8's typing delay; runner B takes the shard over and resolves it.
    const { runner, outcomes, statusEvents, sentIds, connection } = setup();
    let wake = () => undefined as void;
    const a = runner('runner-a', () => new Promise<void>((resolve) => (wake = resolve)));
    await a.accept(commandTo('4915112340008', 'M8', 5), () => connection);
    await new Promise((resolve) => setTimeout(resolve, 0));
    await runner('runner-b').recover(SHARD);

    // Act: A wakes up (it was only slow, not dead).
    wake();
    await a.idle();

    // Assess
    expect(sentIds).toEqual([]);
    expect(outcomes.get('M8')).toMatchObject({ state: 'failed', reason: expect.stringContaining('not sent') });
    expect(statusEvents()).toHaveLength(1);
  });
});
