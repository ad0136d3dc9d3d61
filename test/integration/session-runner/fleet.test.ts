import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Runner } from '../../../session-runner/runner.ts';
import { shardOf } from '../../../shared/domain/fleet/fleet.ts';
import type { InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import { FLEET_SHARDS, startFleet, waitFor, type Fleet } from '../../support/fleet.ts';

/**
 * Two session runners against one WhatsApp sandbox (ARCHITECTURE §4): shards split between them,
 * a runner that dies without draining hands its numbers to the other once its leases lapse, a
 * runner that drains hands them over at once, and no number is ever logged in twice.
 */

/** Short, but with room for DynamoDB Local calls of several hundred ms on a loaded machine. */
const LEASE_TTL_MS = 6_000;

describe('a fleet of two runners', () => {
  let fleet: Fleet;
  let a: Runner;
  let b: Runner;
  const linked: { instance: InstanceRecord; number: string }[] = [];

  beforeAll(async () => {
    fleet = await startFleet({ scanDelayMs: 100 });
  });

  afterAll(async () => {
    await fleet?.stop();
  });

  const ownerOf = async (shard: number) => (await fleet.leases()).find((lease) => lease.shard === shard && lease.expiresAt > Date.now())?.owner;
  const online = (number: string) => fleet.sandbox.devices().find((device) => device.number === number)?.connected === true;
  /** Length of the instance's state log once its last entry says connected. */
  const settledLog = (instance: InstanceRecord) =>
    waitFor(async () => {
      const log = await fleet.sessions.stateLog(instance.id);
      return log.at(-1)?.state === 'connected' ? log.length : null;
    }, `${instance.name} to be recorded connected`, 5_000);
  const runnerHolding = (instance: InstanceRecord) => [a, b].find((runner) => runner.supervisor.open().includes(instance.id));

  it('splits the shards 2/2 and links an instance on each shard through the runner that holds it', async () => {
    // Prepare
    [a, b] = await Promise.all([fleet.startRunner('runner-a', { leaseTtlMs: LEASE_TTL_MS }), fleet.startRunner('runner-b', { leaseTtlMs: LEASE_TTL_MS })]);
    await waitFor(() => a.held().length === 2 && b.held().length === 2, 'the shards to split 2/2', 15_000);

    // Act: connect (as the API does), and the simulated phone scans each QR.
    const instances = await Promise.all(Array.from({ length: FLEET_SHARDS }, (_, shard) => fleet.createInstance(`fleet-${shard}`, { shard })));
    const answers = await Promise.all(instances.map((instance) => fleet.connect(instance)));
    for (const instance of instances) {
      const connected = await waitFor(async () => {
        const current = await fleet.instance(instance);
        return current.status === 'connected' && current.numberJid ? current : null;
      }, `${instance.name} to connect`);
      linked.push({ instance, number: (connected.numberJid as string).split('@')[0] as string });
    }

    // Assess
    expect(answers.map((answer) => answer.kind)).toEqual(['qr', 'qr', 'qr', 'qr']);
    expect(a.held().map((lease) => lease.shard).concat(b.held().map((lease) => lease.shard)).sort()).toEqual([0, 1, 2, 3]);
    for (const { instance, number } of linked) {
      const shard = shardOf(instance.id, FLEET_SHARDS);
      const holder = a.held().some((lease) => lease.shard === shard) ? a : b;
      expect(runnerHolding(instance)).toBe(holder);
      expect(online(number)).toBe(true);
    }
    // One scan, one linked device per instance: nothing was linked twice.
    expect(fleet.sandbox.devices().map((device) => device.number).sort()).toEqual(linked.map(({ number }) => number).sort());
    expect(a.supervisor.open()).toHaveLength(2);
    expect(b.supervisor.open()).toHaveLength(2);
    expect(fleet.sandbox.maxConcurrentLogins()).toBe(1);
  });

  it('reopens the numbers of a crashed runner on the other one once its leases lapse', async () => {
    // Prepare
    expect(linked).toHaveLength(FLEET_SHARDS);
    const lost = linked.filter(({ instance }) => a.supervisor.open().includes(instance.id));
    expect(lost).toHaveLength(2);
    const logLengths = new Map(await Promise.all(lost.map(async ({ instance }) => [instance.id, await settledLog(instance)] as const)));

    // Act: runner A dies without draining (no lease released, nothing written).
    await a.crash();

    // Assess: its sockets are gone at once, its leases still name it until they lapse.
    for (const { number } of lost) await waitFor(() => !online(number), `${number} to drop with its runner`, 5_000);
    for (const { instance } of lost) expect(await ownerOf(shardOf(instance.id, FLEET_SHARDS))).toBe('runner-a');

    // Within lease TTL + restore, every number is online again, all of them on runner B.
    await waitFor(() => linked.every(({ number }) => online(number)), 'every number to be online again', LEASE_TTL_MS + 10_000);
    await waitFor(() => b.supervisor.open().length === FLEET_SHARDS, 'runner B to hold every session', 5_000);
    for (let shard = 0; shard < FLEET_SHARDS; shard++) expect(await ownerOf(shard)).toBe('runner-b');
    for (const { instance } of linked) expect((await fleet.instance(instance)).status).toBe('connected');
    for (const { instance } of lost) {
      const moved = (await fleet.sessions.stateLog(instance.id)).slice(logLengths.get(instance.id)).map(({ state, reason }) => ({ state, reason }));
      expect(moved).toEqual([
        { state: 'connecting', reason: 'session_moved' },
        { state: 'connected', reason: 'connected' },
      ]);
    }
    expect(fleet.sandbox.maxConcurrentLogins()).toBe(1);
  });

  it('moves the shards of a runner that drains at once, without waiting for a lease to lapse', async () => {
    // Prepare: runner C joins with a lease TTL far longer than this test waits, so its shards can
    // only reach B again if C releases them; B hands C its fair share first.
    const c = await fleet.startRunner('runner-c', { leaseTtlMs: 120_000 });
    await waitFor(() => b.held().length === 2 && c.held().length === 2, 'the shards to rebalance onto runner C', 15_000);
    const onC = await waitFor(() => {
      const sessions = linked.filter(({ instance }) => c.supervisor.open().includes(instance.id));
      return sessions.length === 2 && sessions.every(({ number }) => online(number)) ? sessions : null;
    }, 'runner C to reopen its sessions', 10_000);
    const logLengths = new Map(await Promise.all(onC.map(async ({ instance }) => [instance.id, await settledLog(instance)] as const)));

    // Act
    await c.stop();

    // Assess
    for (const { instance } of onC) expect(await ownerOf(shardOf(instance.id, FLEET_SHARDS))).not.toBe('runner-c');
    await waitFor(() => b.supervisor.open().length === FLEET_SHARDS && linked.every(({ number }) => online(number)), 'runner B to reopen every session', 15_000);
    for (let shard = 0; shard < FLEET_SHARDS; shard++) expect(await ownerOf(shard)).toBe('runner-b');
    for (const { instance } of onC) {
      const moved = await waitFor(async () => {
        const entries = (await fleet.sessions.stateLog(instance.id)).slice(logLengths.get(instance.id)).map(({ state, reason }) => ({ state, reason }));
        return entries.some((entry) => entry.state === 'connected') ? entries : null;
      }, `${instance.name} to be recorded connected on runner B`, 5_000);
      expect(moved).toEqual([
        { state: 'connecting', reason: 'session_moved' },
        { state: 'connected', reason: 'connected' },
      ]);
    }
    expect(fleet.sandbox.maxConcurrentLogins()).toBe(1);
  });
});
