import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ulid } from 'ulid';
import { createDynamoMessageStore } from '../../../shared/adapters/dynamodb/message-store.dynamodb.ts';
import { createDynamoSendJournal } from '../../../shared/adapters/dynamodb/send-journal.dynamodb.ts';
import { createDynamoSendOutcomeStore } from '../../../shared/adapters/dynamodb/send-tracking.dynamodb.ts';
import type { CommandBus, SessionCommand } from '../../../shared/domain/fleet/commands.ts';
import { shardOf } from '../../../shared/domain/fleet/fleet.ts';
import type { InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import type { JournaledSendCommand } from '../../../shared/domain/messages/send-journal.ts';
import type { Runner } from '../../../session-runner/runner.ts';
import { FLEET_SHARDS, startFleet, waitFor, type Fleet } from '../../support/fleet.ts';
import { connectedInstance, sendThroughApi } from '../../support/fleet-send.ts';

/**
 * A runner that stops with sends it took off the queue (issue 5): only the send journal knows
 * them. The runner that takes the shard over sends the ones that had not started (a paced
 * backlog), each exactly once and in order, and reports the one that was going to WhatsApp
 * failed (at most once); a command delivered twice sends one message.
 *
 * The tests run in order on one fleet: runner A (crashes) → B (stops gracefully) → C.
 */

const LEASE_TTL_MS = 6_000;
/** A backlog builds up behind a 1.5 s gap between two sends of the instance. */
const PACING = { enabled: true, minGapMs: 1_500, jitterMs: 0 };
const SENDING_REASON = 'the worker stopped while sending it; it may or may not have reached WhatsApp (not retried, to avoid a duplicate)';

describe('sends of a runner that stops mid-send', () => {
  let fleet: Fleet;
  let a: Runner;
  let b: Runner;
  let instance: InstanceRecord;
  let selfNumber = '';

  const messages = () => createDynamoMessageStore(fleet.dynamo);
  const outcomes = () => createDynamoSendOutcomeStore(fleet.dynamo);
  const journal = () => createDynamoSendJournal(fleet.dynamo);
  const shard = () => shardOf(instance.id, FLEET_SHARDS);
  /** The API's send use case against the fleet's table and queues; `sentWaitMs` short: answer `queued` without waiting for pacing. */
  const send = (body: Record<string, unknown>, options: { bus?: CommandBus; sentWaitMs?: number } = {}) => sendThroughApi(fleet, instance, body, options);
  const receivedBy = (digits: string) => fleet.sandbox.outbound(selfNumber).filter((message) => message.to === `${digits}@s.whatsapp.net`);
  /** The stored message's status (the store the chat status route reads). */
  const statusOf = async (messageId: string) => (await messages().summaries(instance.id)).find((message) => message.messageId === messageId)?.status;
  const settled = async (messageId: string) => {
    const outcome = await outcomes().get(instance.id, messageId);
    return outcome?.state === 'sent' || outcome?.state === 'failed' ? outcome : null;
  };

  /**
   * Queues `count` texts to `digits` (answered `queued`), and waits until `runnerId` sent the first
   * and holds the others in its lane (journaled `accepted`). Also journals, as `runnerId`'s, a send
   * that was going to WhatsApp (`sending`) when the runner stopped.
   */
  const backlog = async (runnerId: string, digits: string, count: number) => {
    const ids: string[] = [];
    const commands: SessionCommand[] = [];
    const recording: CommandBus = { send: async (command) => (commands.push(command), fleet.bus.send(command)) };
    for (let index = 1; index <= count; index++) ids.push((await send({ number: digits, message: `backlog ${index}` }, { bus: recording, sentWaitMs: 50 })).data.messageId);
    await waitFor(async () => (await settled(ids[0] as string))?.state === 'sent', 'the first send of the backlog', 15_000);
    await waitFor(async () => {
      const entries = (await journal().list(shard())).filter((entry) => ids.includes(entry.messageId));
      return entries.length === count - 1 && entries.every((entry) => entry.runnerId === runnerId && entry.phase === 'accepted');
    }, 'the rest of the backlog to wait in the lane', 15_000);
    // The send in flight: stored `pending` by the API, its command journaled and marked `sending` by the runner.
    const captured: SessionCommand[] = [];
    const inFlight = await send({ number: digits, message: 'in flight' }, { bus: { send: async (command) => void captured.push(command) }, sentWaitMs: 50 });
    const command = captured[0] as JournaledSendCommand;
    const key = { shard: shard(), instanceId: instance.id, messageId: inFlight.data.messageId, runnerId };
    await journal().open({ ...key, accountId: command.accountId, instanceName: command.instanceName, chatJid: command.send.chatJid, phase: 'accepted', acceptedAt: command.issuedAt, seq: 0, command });
    await journal().markSending(key);
    return { ids, commands, inFlight: inFlight.data.messageId };
  };

  /** Every send of the backlog sent once, in order, the one in flight failed, nothing left in the journal. */
  const expectResolved = async (digits: string, ids: string[], inFlight: string) => {
    for (const id of [...ids, inFlight]) await waitFor(() => settled(id), `send ${id} to be resolved`, LEASE_TTL_MS + 30_000);
    expect(receivedBy(digits).map((message) => message.text)).toEqual(ids.map((_id, index) => `backlog ${index + 1}`));
    // Stored as sent (or further along: the sandbox contact's receipts may have arrived).
    expect(await Promise.all(ids.map(async (id) => [(await outcomes().get(instance.id, id))?.state, await statusOf(id)]))).toEqual(ids.map(() => ['sent', expect.stringMatching(/^(sent|delivered|read)$/)]));
    expect(await outcomes().get(instance.id, inFlight)).toMatchObject({ state: 'failed', code: 'failed', reason: SENDING_REASON });
    expect(await statusOf(inFlight)).toBe('error');
    await waitFor(async () => (await journal().list(shard())).length === 0, 'the journal to empty', 5_000);
  };

  beforeAll(async () => {
    fleet = await startFleet({ scanDelayMs: 100 });
    a = await fleet.startRunner('runner-a', { leaseTtlMs: LEASE_TTL_MS, pacing: PACING });
    await waitFor(() => a.held().length === FLEET_SHARDS, 'runner A to hold every shard', 15_000);
    ({ instance, number: selfNumber } = await connectedInstance(fleet, 'mid-send'));
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
  });

  it('sends one message when the same send command is delivered twice', async () => {
    // Prepare: a bus that delivers every command twice, as SQS does when a runner died before deleting it.
    const twice: CommandBus = {
      send: async (command) => {
        await fleet.bus.send(command);
        await fleet.bus.send({ ...command, commandId: `${command.commandId}-again` });
      },
    };

    // Act
    const answer = await send({ number: '5511955550001', message: 'exactly once' }, { bus: twice });
    // Queued behind the duplicate in the instance's FIFO group: once it arrived, the duplicate was handled.
    const marker = await send({ number: '5511955550001', message: 'marker' });

    // Assess
    expect(answer.status).toBe('sent');
    expect(marker.status).toBe('sent');
    expect(receivedBy('5511955550001').map((message) => message.text)).toEqual(['exactly once', 'marker']);
  }, 30_000);

  it('sends the paced backlog of a runner that crashed, each once and in order, and reports the send in flight failed', async () => {
    // Prepare: runner A sent the first text and holds three more waiting for their pacing gap.
    const { ids, commands, inFlight } = await backlog('runner-a', '5511955550002', 4);

    // Act: A dies; B takes the shards over once A's leases lapse.
    await a.crash();
    b = await fleet.startRunner('runner-b', { leaseTtlMs: LEASE_TTL_MS, pacing: PACING });

    // Assess
    await expectResolved('5511955550002', ids, inFlight);
    // A command of the backlog delivered again (as when A died before deleting it) sends nothing more.
    await waitFor(async () => b.supervisor.open().includes(instance.id) && (await fleet.instance(instance)).status === 'connected', 'runner B to hold the session', 15_000);
    await fleet.bus.send({ ...(commands[2] as SessionCommand), commandId: ulid() });
    const marker = await send({ number: '5511955550002', message: 'after the move' });
    expect(marker.status).toBe('sent');
    expect(receivedBy('5511955550002').map((message) => message.text)).toEqual(['backlog 1', 'backlog 2', 'backlog 3', 'backlog 4', 'after the move']);
  }, 90_000);

  it('sends the paced backlog of a runner that stops gracefully, each once and in order, and reports the send in flight failed', async () => {
    // Prepare: runner B sent the first text and holds three more waiting for their pacing gap.
    const { ids, inFlight } = await backlog('runner-b', '5511955550003', 4);

    // Act: B drains (a deploy); C takes the shards over.
    await b.stop();
    const c = await fleet.startRunner('runner-c', { leaseTtlMs: LEASE_TTL_MS, pacing: PACING });

    // Assess
    await expectResolved('5511955550003', ids, inFlight);
    await waitFor(async () => c.supervisor.open().includes(instance.id) && (await fleet.instance(instance)).status === 'connected', 'runner C to hold the session', 15_000);
    const marker = await send({ number: '5511955550003', message: 'after the deploy' });
    expect(marker.status).toBe('sent');
    expect(receivedBy('5511955550003').map((message) => message.text)).toEqual(['backlog 1', 'backlog 2', 'backlog 3', 'backlog 4', 'after the deploy']);
  }, 90_000);
});
