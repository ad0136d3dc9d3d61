import { describe, expect, it } from 'vitest';
import type { MessageStatus, StoredMessage } from '../../../shared/domain/messages/message.ts';
import type { SendJournal, SendJournalEntry } from '../../../shared/domain/messages/send-journal.ts';
import type { WaConnection } from '../../../shared/domain/ports/wa-connection.port.ts';
import { createMessageSender, type SendCommand } from '../../../session-runner/messaging/sender.ts';
import { journalEntryOf } from '../../support/journal-entries.ts';
import { requestFieldsTo, sendCommandOf } from '../../support/send-commands.ts';
import { fakeConnection, handClock, senderFakes } from '../../support/sender-fakes.ts';

/**
 * Sends left behind by a stopped runner (send-journal.ts): every accepted send is journaled with
 * its command, a redelivered command is not sent twice, and the runner that acquires the shard
 * next sends the sends that had not started (in their acceptance order, the rest of a typing
 * delay only) and reports the ones that had ("may or may not have reached WhatsApp") failed,
 * never sending those again.
 */

const SHARD = 2;
const jidOf = (digits: string) => `${digits}@s.whatsapp.net`;

const commandTo = (digits: string, messageId: string, delay = 0): SendCommand =>
  sendCommandOf(messageId, jidOf(digits), { kind: 'text', message: 'hello', linkPreview: false, ...requestFieldsTo(digits, delay) } as SendCommand['send']['request'], {
    content: { text: 'hello' },
  });

/** The journal's contract, in memory: conditional on the runner (and the phase for a claim). */
const memoryJournal = () => {
  const entries = new Map<string, SendJournalEntry>();
  const id = (key: { shard: number; instanceId: string; messageId: string }) => `${key.shard}/${key.instanceId}/${key.messageId}`;
  const journal: SendJournal = {
    open: async (entry) => (entries.has(id(entry)) ? false : (entries.set(id(entry), { ...entry }), true)),
    markTyping: async (key, at) => {
      const entry = entries.get(id(key));
      if (entry?.runnerId !== key.runnerId || entry.phase !== 'accepted') return false;
      entry.typingFrom ??= at;
      return true;
    },
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
    adopt: async (entry, runnerId) => {
      const current = entries.get(id(entry));
      if (current?.runnerId !== entry.runnerId || current.phase !== 'accepted') return false;
      current.runnerId = runnerId;
      return true;
    },
  };
  return { journal, entries };
};

/** A runner's sender over fakes sharing one journal, outcome store and message store. */
function setup() {
  const { journal, entries } = memoryJournal();
  const statuses = new Map<string, MessageStatus>();
  const saved: StoredMessage[] = [];
  const unstored = new Set<string>();
  const sentIds: string[] = [];
  const connection = fakeConnection({
    sendChatPresence: async () => undefined,
    send: async (_to, _content, options) => void sentIds.push(options?.messageId ?? ''),
  });
  const { clock, advance } = handClock();
  const { outcomes, events, deps } = senderFakes({
    clock,
    messages: {
      save: async (message) => void saved.push(message),
      // `unstored`: messages the API has not stored yet (it stores them after enqueuing).
      updateStatus: async (_instanceId, messageId, status) => (unstored.has(messageId) ? false : (statuses.set(messageId, status), true)),
    },
  });
  const connectionOf = () => connection;
  const runner = (runnerId: string, sleep: (ms: number) => Promise<void> = async () => undefined) =>
    createMessageSender(deps({ sleep, journal: { store: journal, runnerId, shardOf: () => SHARD } }));
  const statusEvents = () => events.filter((event) => event.event === 'message.status').map((event) => event.data);
  return { runner, entries, outcomes, statuses, saved, unstored, statusEvents, sentIds, connection, connectionOf, advance };
}

/** A journal entry of runner A as it would have written it. */
const entryOf = (messageId: string, digits: string, phase: SendJournalEntry['phase'], seq: number, command: SendCommand | null = commandTo(digits, messageId)): SendJournalEntry =>
  journalEntryOf({ shard: SHARD, messageId, chatJid: jidOf(digits), phase, seq, command });

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

  it('waits for a session that is being opened (restored after a shard move) and sends once it is connected', async () => {
    // Prepare: the socket connects after the send has waited a second.
    const { runner, outcomes, sentIds, connection } = setup();
    let live: WaConnection | null = null;
    let waitedMs = 0;
    const sender = runner('runner-a', async (ms) => {
      waitedMs += ms;
      if (waitedMs >= 1_000) live = connection;
    });

    // Act
    await sender.accept(commandTo('4915112340010', 'W1'), () => live, () => live === null);
    await sender.idle();

    // Assess
    expect(sentIds).toEqual(['W1']);
    expect(outcomes.get('W1')).toMatchObject({ state: 'sent' });
  });

  it('fails a send as not connected at once when no socket is being opened, and after 15 s when one never connects', async () => {
    // Prepare
    const { runner, outcomes, sentIds } = setup();
    let waitedMs = 0;
    const sender = runner('runner-a', async (ms) => void (waitedMs += ms));

    // Act
    await sender.accept(commandTo('4915112340011', 'W2'), () => null, () => false);
    await sender.idle();
    const waitedWithoutSocket = waitedMs;
    await sender.accept(commandTo('4915112340012', 'W3'), () => null, () => true);
    await sender.idle();

    // Assess
    expect(sentIds).toEqual([]);
    expect(outcomes.get('W2')).toMatchObject({ state: 'failed', code: 'not_connected' });
    expect(outcomes.get('W3')).toMatchObject({ state: 'failed', code: 'not_connected' });
    expect(waitedWithoutSocket).toBe(0);
    expect(waitedMs).toBe(15_000);
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

  it('reports failed on takeover the sends it cannot send again, with a reason per phase, and never sends them', async () => {
    // Prepare: runner A stopped with M4 accepted but its command not kept, and after starting to send M5.
    const { runner, entries, outcomes, statuses, statusEvents, sentIds, connectionOf } = setup();
    entries.set(`${SHARD}/i-1/M4`, entryOf('M4', '4915112340004', 'accepted', 1, null));
    entries.set(`${SHARD}/i-1/M5`, entryOf('M5', '4915112340005', 'sending', 2));
    const b = runner('runner-b');

    // Act
    await b.recover(SHARD, connectionOf);
    await b.idle();

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

  it('leaves its own entries and the finished sends alone on takeover: no second outcome, no event, the store caught up', async () => {
    // Prepare: M6 is runner B's own (still in its lane); M7 was sent by A, which stopped before closing its entry.
    const { runner, entries, outcomes, statuses, statusEvents, connection, connectionOf } = setup();
    const b = runner('runner-b', forever);
    await b.accept(commandTo('4915112340006', 'M6', 5), () => connection);
    entries.set(`${SHARD}/i-1/M7`, entryOf('M7', '4915112340007', 'sending', 1));
    outcomes.set('M7', { state: 'sent', chatJid: jidOf('4915112340007'), at: '2026-04-28T10:30:01Z' });

    // Act
    await b.recover(SHARD, connectionOf);

    // Assess
    expect([...entries.values()].map((entry) => entry.messageId)).toEqual(['M6']);
    expect(outcomes.get('M7')).toMatchObject({ state: 'sent' });
    expect(statuses.get('M7')).toBe('sent');
    expect(statusEvents()).toEqual([]);
  });

  it('does not send a send another runner adopted while it waited, and writes nothing itself', async () => {
    // Prepare: runner A is in M8's typing delay; runner B takes the shard over and sends M8.
    const { runner, outcomes, statusEvents, sentIds, connection, connectionOf } = setup();
    let wake = () => undefined as void;
    const a = runner('runner-a', () => new Promise<void>((resolve) => (wake = resolve)));
    await a.accept(commandTo('4915112340008', 'M8', 5), () => connection);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const b = runner('runner-b');
    await b.recover(SHARD, connectionOf);
    await b.idle();

    // Act: A wakes up (it was only slow, not dead).
    wake();
    await a.idle();

    // Assess
    expect(sentIds).toEqual(['M8']);
    expect(outcomes.get('M8')).toMatchObject({ state: 'sent' });
    expect(statusEvents()).toEqual([]);
  });

  it('sends the not-yet-started sends of a stopped runner on takeover, in their acceptance order, with the same message ids', async () => {
    // Prepare: runner A holds M10 in its typing delay and M11, M12 behind it in the lane, then dies.
    const { runner, entries, outcomes, statuses, statusEvents, sentIds, connection, connectionOf } = setup();
    const a = runner('runner-a', forever);
    for (const id of ['M10', 'M11', 'M12']) await a.accept(commandTo('4915112340010', id, 5), () => connection);
    await new Promise((resolve) => setTimeout(resolve, 0));
    a.halt();
    const b = runner('runner-b');

    // Act
    await b.recover(SHARD, connectionOf);
    await b.idle();

    // Assess
    expect(sentIds).toEqual(['M10', 'M11', 'M12']);
    expect(['M10', 'M11', 'M12'].map((id) => [outcomes.get(id)?.state, statuses.get(id)])).toEqual([
      ['sent', 'sent'],
      ['sent', 'sent'],
      ['sent', 'sent'],
    ]);
    expect(statusEvents()).toEqual([]);
    expect(entries.size).toBe(0);
  });

  it('orders adopted sends by their first acceptance, not by their message ids', async () => {
    // Prepare: three entries of runner A, listed (like the table, by message id) the other way round.
    const { runner, entries, sentIds, connectionOf } = setup();
    entries.set(`${SHARD}/i-1/X3`, entryOf('X3', '4915112340013', 'accepted', 3));
    entries.set(`${SHARD}/i-1/Y2`, entryOf('Y2', '4915112340013', 'accepted', 2));
    entries.set(`${SHARD}/i-1/Z1`, entryOf('Z1', '4915112340013', 'accepted', 1));
    const b = runner('runner-b');

    // Act
    await b.recover(SHARD, connectionOf);
    await b.idle();

    // Assess
    expect(sentIds).toEqual(['Z1', 'Y2', 'X3']);
  });

  it('does not send an adopted send twice when its command is delivered again, before or after it was sent', async () => {
    // Prepare: runner B adopted M14 and holds it in its typing delay.
    const { runner, entries, sentIds, connection, connectionOf } = setup();
    entries.set(`${SHARD}/i-1/M14`, entryOf('M14', '4915112340014', 'accepted', 1, commandTo('4915112340014', 'M14', 5)));
    let wake = () => undefined as void;
    const b = runner('runner-b', () => new Promise<void>((resolve) => (wake = resolve)));
    await b.recover(SHARD, connectionOf);
    await new Promise((resolve) => setTimeout(resolve, 0));

    // Act: the queue delivers M14's command again while it waits, and once more after it was sent.
    await b.accept({ ...commandTo('4915112340014', 'M14', 5), commandId: 'again-1' }, () => connection);
    wake();
    await b.idle();
    await b.accept({ ...commandTo('4915112340014', 'M14', 5), commandId: 'again-2' }, () => connection);
    await b.idle();

    // Assess
    expect(sentIds).toEqual(['M14']);
    expect(entries.size).toBe(0);
  });

  it('shows only the rest of a typing delay that had started, and the whole delay of a send that had not', async () => {
    // Prepare: runner A started M15's 5 s typing delay (M16, 5 s too, waits behind it); it dies 3 s later.
    const { runner, entries, connection, connectionOf, advance } = setup();
    const a = runner('runner-a', forever);
    await a.accept(commandTo('4915112340015', 'M15', 5), () => connection);
    await a.accept(commandTo('4915112340015', 'M16', 5), () => connection);
    await new Promise((resolve) => setTimeout(resolve, 0));
    const typingStarted = entries.get(`${SHARD}/i-1/M15`)?.typingFrom;
    advance(3_000);
    a.halt();
    const waits: number[] = [];
    const b = runner('runner-b', async (ms) => void waits.push(ms));

    // Act
    await b.recover(SHARD, connectionOf);
    await b.idle();

    // Assess
    expect(typingStarted).toBe('2026-04-28T10:30:00.000Z');
    expect(waits).toEqual([2_000, 5_000]);
  });

  it('leaves the unstarted sends of a shard it releases to the next owner, writing nothing for them', async () => {
    // Prepare: runner A is in M17's typing delay when the shard leaves it (a deploy or a rebalance).
    const { runner, entries, outcomes, statusEvents, sentIds, connection, connectionOf } = setup();
    let wake = () => undefined as void;
    const a = runner('runner-a', () => new Promise<void>((resolve) => (wake = resolve)));
    await a.accept(commandTo('4915112340017', 'M17', 5), () => connection);
    await new Promise((resolve) => setTimeout(resolve, 0));

    // Act: A lets the shard go; its typing delay ends afterwards; B takes the shard.
    a.release(SHARD);
    wake();
    await a.idle();
    const left = [...entries.values()].map(({ messageId, runnerId, phase }) => ({ messageId, runnerId, phase }));
    const outcomeBeforeTakeover = outcomes.get('M17')?.state;
    const b = runner('runner-b');
    await b.recover(SHARD, connectionOf);
    await b.idle();

    // Assess
    expect(left).toEqual([{ messageId: 'M17', runnerId: 'runner-a', phase: 'accepted' }]);
    expect(outcomeBeforeTakeover).toBe('checked');
    expect(sentIds).toEqual(['M17']);
    expect(statusEvents()).toEqual([]);
  });

  it('stores a failed send as error when the API had not stored it as pending yet (it stores it after enqueuing)', async () => {
    // Prepare: the instance is not connected on this runner; M18 is not in the message store.
    const { runner, unstored, saved, outcomes } = setup();
    unstored.add('M18');
    const a = runner('runner-a');

    // Act
    await a.accept(commandTo('4915112340018', 'M18'), () => null);
    await a.idle();

    // Assess
    expect(outcomes.get('M18')).toMatchObject({ state: 'failed', code: 'not_connected' });
    expect(saved.map(({ messageId, status, direction, chatJid }) => ({ messageId, status, direction, chatJid }))).toEqual([
      { messageId: 'M18', status: 'error', direction: 'outgoing', chatJid: jidOf('4915112340018') },
    ]);
  });

  it('journals a send command handled after its shard was released and leaves it to the next owner', async () => {
    // Prepare: runner A let the shard go while M19's command was still being handled.
    const { runner, entries, outcomes, sentIds, connection, connectionOf } = setup();
    const a = runner('runner-a');
    a.release(SHARD);

    // Act
    await a.accept(commandTo('4915112340019', 'M19'), () => connection);
    await a.idle();
    const left = [...entries.values()].map(({ messageId, runnerId, phase }) => ({ messageId, runnerId, phase }));
    const b = runner('runner-b');
    await b.recover(SHARD, connectionOf);
    await b.idle();

    // Assess
    expect(left).toEqual([{ messageId: 'M19', runnerId: 'runner-a', phase: 'accepted' }]);
    expect(sentIds).toEqual(['M19']);
    expect(outcomes.get('M19')).toMatchObject({ state: 'sent' });
  });
});
