import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import type { Runner } from '../../../session-runner/runner.ts';
import { FLEET_SHARDS, startFleet, waitFor, type Fleet } from '../../support/fleet.ts';
import { connectedInstance, sendThroughApi } from '../../support/fleet-send.ts';

/**
 * A send accepted while no runner holds the instance's shard (its runner crashed; the stored status
 * still says `connected`) waits on the queue; the runner that takes the shard over consumes the
 * queue while it is still reopening the shard's sessions. The send waits for the session to be
 * restored and goes out, rather than failing "not connected".
 */

const LEASE_TTL_MS = 4_000;

describe('a send that reaches a runner before it restored the session', () => {
  let fleet: Fleet;
  let a: Runner;
  let instance: InstanceRecord;
  let selfNumber = '';

  beforeAll(async () => {
    fleet = await startFleet({ scanDelayMs: 100 });
    a = await fleet.startRunner('runner-a', { leaseTtlMs: LEASE_TTL_MS });
    await waitFor(() => a.held().length === FLEET_SHARDS, 'runner A to hold every shard', 15_000);
    ({ instance, number: selfNumber } = await connectedInstance(fleet, 'restored-late'));
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
  });

  it('is sent once the new owner has restored the session', async () => {
    // Prepare: runner A dies; the API still sees the instance connected and queues the send.
    const contact = '5511977770001';
    await a.crash();
    // A's last long poll (1 s) is over: a message handed to a dead poll would wait out its visibility timeout.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const answer = sendThroughApi(fleet, instance, { number: contact, message: 'sent after the move' });

    // Act: runner B takes the shards over once A's leases lapse.
    await fleet.startRunner('runner-b', { leaseTtlMs: LEASE_TTL_MS });

    // Assess
    expect((await answer).status).toBe('sent');
    const received = fleet.sandbox.outbound(selfNumber).filter((message) => message.to === `${contact}@s.whatsapp.net`);
    expect(received.map((message) => message.text)).toEqual(['sent after the move']);
  }, 60_000);
});
