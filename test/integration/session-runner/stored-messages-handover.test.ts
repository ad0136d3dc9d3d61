import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import type { Runner } from '../../../session-runner/runner.ts';
import { FLEET_SHARDS, startFleet, waitFor, type Fleet } from '../../support/fleet.ts';
import { connectedInstance, sendThroughApi } from '../../support/fleet-send.ts';

/**
 * Baileys' `getMessage` is served by the message store, not by the memory of the runner that
 * sent (issue 5): after a handover, the new owner of the session re-sends a message runner A sent
 * when the recipient asks for it with a retry receipt, and reads a vote on a poll runner A sent.
 */

const LEASE_TTL_MS = 6_000;

describe('messages another runner sent, served from the store after a handover', () => {
  let fleet: Fleet;
  let a: Runner;
  let instance: InstanceRecord;
  let selfNumber = '';

  /** The stored message (its `message.exchange` form), by id. */
  const storedExchange = async (messageId: string) => {
    const out = await fleet.dynamo.doc.send(
      new QueryCommand({ TableName: fleet.dynamo.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `MSG#${instance.id}` } }),
    );
    return (out.Items ?? []).find((item) => item.messageId === messageId)?.exchange as Record<string, unknown> | undefined;
  };

  beforeAll(async () => {
    fleet = await startFleet({ scanDelayMs: 100 });
    a = await fleet.startRunner('runner-a', { leaseTtlMs: LEASE_TTL_MS });
    await waitFor(() => a.held().length === FLEET_SHARDS, 'runner A to hold every shard', 15_000);
    ({ instance, number: selfNumber } = await connectedInstance(fleet, 'handover-store'));
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
  });

  it('re-sends on a retry receipt and reads poll votes with what runner A stored', async () => {
    // Prepare: runner A sends a text and a poll, then stops (a deploy); runner B takes the session over.
    const contact = '5511966660001';
    const text = await sendThroughApi(fleet, instance, { number: contact, message: 'Invoice 42 is ready' });
    const poll = await sendThroughApi(fleet, instance, { number: contact, question: 'Pay by?', options: ['Pix', 'Card'] }, { kind: 'poll' });
    expect([text.status, poll.status]).toEqual(['sent', 'sent']);
    await waitFor(async () => (await storedExchange(poll.data.messageId)) ?? null, 'the poll to be stored');
    await a.stop();
    const b = await fleet.startRunner('runner-b', { leaseTtlMs: LEASE_TTL_MS });
    await waitFor(async () => b.supervisor.open().includes(instance.id) && (await fleet.instance(instance)).status === 'connected', 'runner B to hold the session', 30_000);

    // Act
    const again = await fleet.sandbox.requestRetry({ fromNumber: contact, toNumber: selfNumber, messageId: text.data.messageId });
    const voteId = await fleet.sandbox.votePoll({ fromNumber: contact, toNumber: selfNumber, pollMessageId: poll.data.messageId, options: ['Card'] });

    // Assess
    expect(again.conversation ?? again.extendedTextMessage?.text).toBe('Invoice 42 is ready');
    const vote = await waitFor(async () => (await storedExchange(voteId)) ?? null, 'the vote to be stored');
    expect(vote).toMatchObject({ type: 'poll_vote', direction: 'incoming', content: { pollMessageId: poll.data.messageId, selectedOptions: ['Card'] } });
  }, 90_000);
});
