import { describe, expect, it } from 'vitest';
import { createInProcessSendOutcomes, pollingOutcomeWaiter } from '../../../shared/domain/messages/send-outcomes.ts';
import type { SendOutcome, SendOutcomeStore } from '../../../shared/domain/messages/send.command.ts';

/**
 * How the API waits for the runner's outcome (send-outcomes.ts): in the embedded stack the
 * runner's outcome write signals the waiting request (no reads of the outcome item); elsewhere the
 * request polls the item.
 */

/** A store double that counts reads; `elsewhere` holds outcomes written by another process. */
const countingStore = () => {
  const elsewhere = new Map<string, SendOutcome>();
  const reads: string[] = [];
  const store: SendOutcomeStore = {
    record: async (_instanceId, messageId, outcome) => void elsewhere.set(messageId, outcome),
    get: async (_instanceId, messageId) => {
      reads.push(messageId);
      return elsewhere.get(messageId) ?? null;
    },
  };
  return { store, reads, elsewhere };
};

const sent: SendOutcome = { state: 'sent', chatJid: '5511988887777@s.whatsapp.net', at: '2026-04-28T10:30:01Z' };
const checked: SendOutcome = { state: 'checked', chatJid: '5511988887777@s.whatsapp.net', at: '2026-04-28T10:30:00Z' };
const isSent = (outcome: SendOutcome) => outcome.state === 'sent';
const inAMinute = () => Date.now() + 60_000;

describe('in-process send outcomes', () => {
  it('resolves a waiting request on the runner outcome write, without reading the store', async () => {
    // Prepare: a safety-net poll far beyond the test's timeout, so only the signal can resolve it.
    const { store, reads } = countingStore();
    const outcomes = createInProcessSendOutcomes(store, { safetyPollMs: 60_000 });
    const waiting = outcomes.waiter.waitFor('inst-1', '3EB0A', isSent, inAMinute());

    // Act
    await outcomes.store.record('inst-1', '3EB0A', checked);
    await outcomes.store.record('inst-1', '3EB0A', sent);

    // Assess
    expect(await waiting).toEqual(sent);
    expect(reads).toEqual([]);
  });

  it('sees an outcome recorded before the request started waiting (a fast failure)', async () => {
    // Prepare
    const { store, reads } = countingStore();
    const outcomes = createInProcessSendOutcomes(store, { safetyPollMs: 60_000 });
    const failed: SendOutcome = { state: 'failed', code: 'not_registered', reason: 'not on WhatsApp', chatJid: '5511988887777@s.whatsapp.net', at: '2026-04-28T10:30:00Z' };
    await outcomes.store.record('inst-1', '3EB0B', failed);

    // Act
    const outcome = await outcomes.waiter.waitFor('inst-1', '3EB0B', (seen) => seen.state !== 'checked', inAMinute());

    // Assess
    expect(outcome).toEqual(failed);
    expect(reads).toEqual([]);
  });

  it('does not mix sends: an outcome of another message does not resolve the request', async () => {
    // Prepare
    const { store } = countingStore();
    const outcomes = createInProcessSendOutcomes(store, { safetyPollMs: 60_000 });
    const waiting = outcomes.waiter.waitFor('inst-1', '3EB0C', isSent, inAMinute());

    // Act
    await outcomes.store.record('inst-1', '3EB0D', sent);
    await outcomes.store.record('inst-2', '3EB0C', sent);
    await outcomes.store.record('inst-1', '3EB0C', { ...sent, at: '2026-04-28T10:30:02Z' });

    // Assess
    expect(await waiting).toEqual({ ...sent, at: '2026-04-28T10:30:02Z' });
  });

  it('falls back to reading the store when no signal comes (an outcome recorded by another process)', async () => {
    // Prepare
    const { store, elsewhere, reads } = countingStore();
    const outcomes = createInProcessSendOutcomes(store, { safetyPollMs: 5 });
    elsewhere.set('3EB0E', sent);

    // Act
    const outcome = await outcomes.waiter.waitFor('inst-1', '3EB0E', isSent, inAMinute());

    // Assess
    expect(outcome).toEqual(sent);
    expect(reads).toEqual(['3EB0E']);
  });

  it('answers the last outcome seen once the deadline passed (the send is still running)', async () => {
    // Prepare
    const { store } = countingStore();
    const outcomes = createInProcessSendOutcomes(store, { safetyPollMs: 60_000 });
    await outcomes.store.record('inst-1', '3EB0F', checked);

    // Act
    const outcome = await outcomes.waiter.waitFor('inst-1', '3EB0F', isSent, Date.now() - 1);

    // Assess
    expect(outcome).toEqual(checked);
  });
});

describe('polling outcome waiter', () => {
  it('reads the outcome item until the outcome settles', async () => {
    // Prepare
    const { store, elsewhere, reads } = countingStore();
    let now = 0;
    const waiter = pollingOutcomeWaiter({
      outcomes: store,
      clock: { now: () => new Date(now) },
      sleep: async (ms) => {
        now += ms;
        if (reads.length === 2) elsewhere.set('3EB0G', sent);
      },
    });

    // Act
    const outcome = await waiter.waitFor('inst-1', '3EB0G', isSent, 20_000);

    // Assess
    expect(outcome).toEqual(sent);
    expect(reads).toEqual(['3EB0G', '3EB0G', '3EB0G']);
  });
});
