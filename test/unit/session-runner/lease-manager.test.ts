import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Lease } from '../../../shared/domain/fleet/fleet.ts';
import type { Logger } from '../../../shared/domain/ports/runtime.port.ts';
import { createLeaseManager, type LeaseLossReason, type LeaseManager, type LeaseStore, type Timers } from '../../../session-runner/leases/lease-manager.ts';

const SHARDS = 4;
const TTL_MS = 30_000;
const RENEW_EVERY_MS = 10_000;
const START = Date.parse('2026-04-28T10:30:00Z');

/** Same semantics as the DynamoDB store: conditional on owner/epoch, explicit expiry, epochs kept forever. */
class FakeLeaseStore implements LeaseStore {
  readonly leases = new Map<number, Lease>();
  readonly runners = new Map<string, number>();
  /** 'fail': every call rejects; 'hang': every call never settles. */
  mode: 'ok' | 'fail' | 'hang' = 'ok';

  async acquire(shard: number, owner: string, ttlMs: number, now: number): Promise<Lease | null> {
    await this.gate();
    const current = this.leases.get(shard);
    if (!current || current.expiresAt < now) {
      return this.put({ shard, owner, epoch: (current?.epoch ?? 0) + 1, expiresAt: now + ttlMs });
    }
    return current.owner === owner ? this.put({ ...current, expiresAt: now + ttlMs }) : null;
  }

  async renew(lease: Lease, ttlMs: number, now: number): Promise<Lease | null> {
    await this.gate();
    const current = this.leases.get(lease.shard);
    if (current?.owner !== lease.owner || current.epoch !== lease.epoch) return null;
    return this.put({ ...current, expiresAt: now + ttlMs });
  }

  async release(lease: Lease): Promise<void> {
    await this.gate();
    const current = this.leases.get(lease.shard);
    if (current?.owner === lease.owner && current.epoch === lease.epoch) this.put({ ...current, expiresAt: 0 });
  }

  async list(shards: number): Promise<Lease[]> {
    await this.gate();
    return [...this.leases.values()].filter((lease) => lease.shard < shards).map((lease) => ({ ...lease }));
  }

  async heartbeat(runnerId: string, ttlMs: number, now: number): Promise<void> {
    await this.gate();
    this.runners.set(runnerId, now + ttlMs);
  }

  async liveRunners(now: number): Promise<string[]> {
    await this.gate();
    return [...this.runners].filter(([, expiresAt]) => expiresAt > now).map(([id]) => id);
  }

  async removeRunner(runnerId: string): Promise<void> {
    await this.gate();
    this.runners.delete(runnerId);
  }

  /** Shards whose lease is live and owned by `owner`, as the store sees it. */
  liveShardsOf(owner: string): number[] {
    return [...this.leases.values()]
      .filter((lease) => lease.owner === owner && lease.expiresAt >= Date.now())
      .map((lease) => lease.shard)
      .sort();
  }

  private put(lease: Lease): Lease {
    this.leases.set(lease.shard, lease);
    return { ...lease };
  }

  private gate(): Promise<void> {
    if (this.mode === 'fail') return Promise.reject(new Error('ProvisionedThroughputExceededException'));
    if (this.mode === 'hang') return new Promise(() => {});
    return Promise.resolve();
  }
}

const silent: Logger = { info: () => {}, warn: () => {}, error: () => {} };

/** Fake-clock timers that can be cut off at once, like a process that dies without cleaning up. */
function crashableTimers(): { timers: Timers; crash(): void } {
  let crashed = false;
  const pending = new Set<ReturnType<typeof setTimeout>>();
  return {
    timers: {
      setTimeout(callback, ms) {
        const handle = setTimeout(() => {
          pending.delete(handle);
          if (!crashed) callback();
        }, ms);
        pending.add(handle);
        return handle;
      },
      clearTimeout(handle) {
        pending.delete(handle);
        clearTimeout(handle);
      },
    },
    crash() {
      crashed = true;
      for (const handle of pending) clearTimeout(handle);
      pending.clear();
    },
  };
}

interface Runner {
  manager: LeaseManager;
  acquired: { lease: Lease; at: number }[];
  lost: { shard: number; reason: LeaseLossReason; at: number }[];
  crash(): void;
  shards(): number[];
}

function runner(store: FakeLeaseStore, runnerId: string, hooks: { onLost?: (shard: number, reason: LeaseLossReason) => void } = {}): Runner {
  const acquired: Runner['acquired'] = [];
  const lost: Runner['lost'] = [];
  const { timers, crash } = crashableTimers();
  const manager = createLeaseManager({
    store,
    runnerId,
    shards: SHARDS,
    ttlMs: TTL_MS,
    renewEveryMs: RENEW_EVERY_MS,
    clock: { now: () => new Date() },
    timers,
    logger: silent,
    onAcquired: async (lease) => {
      acquired.push({ lease, at: Date.now() });
    },
    onLost: async (shard, reason) => {
      hooks.onLost?.(shard, reason);
      lost.push({ shard, reason, at: Date.now() });
    },
  });
  return { manager, acquired, lost, crash, shards: () => manager.held().map((lease) => lease.shard) };
}

/** Lets a number of renewal periods pass, running every timer and promise in between. */
const periods = (count: number) => vi.advanceTimersByTimeAsync(count * RENEW_EVERY_MS);

describe('lease manager', () => {
  let store: FakeLeaseStore;

  beforeEach(() => {
    vi.useFakeTimers({ now: START });
    store = new FakeLeaseStore();
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('acquires only its fair share of the shards when another runner is alive', async () => {
    // Prepare
    store.runners.set('runner-other', START + 60_000);
    const a = runner(store, 'runner-a');

    // Act
    await a.manager.start();
    await vi.advanceTimersByTimeAsync(0);

    // Assess
    expect(a.shards()).toHaveLength(2);
    expect(store.liveShardsOf('runner-a')).toEqual(a.shards());
    expect(a.acquired.map(({ lease }) => lease.shard).sort()).toEqual(a.shards());
    const [first] = a.manager.held();
    expect(a.manager.fenceOf(first!.shard)).toEqual({ shard: first!.shard, owner: 'runner-a', epoch: store.leases.get(first!.shard)!.epoch });
    const notHeld = [0, 1, 2, 3].find((shard) => !a.shards().includes(shard))!;
    expect(a.manager.fenceOf(notHeld)).toBeNull();
  });

  it('takes every shard when it is the only runner', async () => {
    // Prepare
    const a = runner(store, 'runner-a');

    // Act
    await a.manager.start();
    await vi.advanceTimersByTimeAsync(0);

    // Assess
    expect(a.shards()).toEqual([0, 1, 2, 3]);
    expect([...store.leases.values()].map((lease) => lease.epoch)).toEqual([1, 1, 1, 1]);
  });

  it('splits four shards two and two between two runners sharing one store', async () => {
    // Prepare
    const a = runner(store, 'runner-a');
    const b = runner(store, 'runner-b');

    // Act
    await Promise.all([a.manager.start(), b.manager.start()]);
    await periods(3);

    // Assess
    expect(a.shards()).toHaveLength(2);
    expect(b.shards()).toHaveLength(2);
    expect([...a.shards(), ...b.shards()].sort()).toEqual([0, 1, 2, 3]);
    expect(store.liveShardsOf('runner-a')).toEqual(a.shards());
    expect(store.liveShardsOf('runner-b')).toEqual(b.shards());
  });

  it('keeps the split stable once converged', async () => {
    // Prepare
    const a = runner(store, 'runner-a');
    const b = runner(store, 'runner-b');
    await Promise.all([a.manager.start(), b.manager.start()]);
    await periods(3);
    const lostBefore = a.lost.length + b.lost.length;
    const acquiredBefore = a.acquired.length + b.acquired.length;

    // Act
    await periods(10);

    // Assess
    expect(a.lost.length + b.lost.length).toBe(lostBefore);
    expect(a.acquired.length + b.acquired.length).toBe(acquiredBefore);
  });

  it('hands its surplus back gracefully when a second runner appears, draining before the release', async () => {
    // Prepare
    const stillOwnedWhileDraining: boolean[] = [];
    const fencesWhileDraining: ({ owner: string; epoch: number } | null)[] = [];
    const a: Runner = runner(store, 'runner-a', {
      onLost: (shard) => {
        const lease = store.leases.get(shard)!;
        stillOwnedWhileDraining.push(lease.owner === 'runner-a' && lease.expiresAt > Date.now());
        // The drain's writes (Signal keys, journal) are fenced with this: it must still be there.
        fencesWhileDraining.push(a.manager.fenceOf(shard));
      },
    });
    await a.manager.start();
    const epochsOfA = new Map(a.manager.held().map((lease) => [lease.shard, lease.epoch]));
    const b = runner(store, 'runner-b');

    // Act
    await b.manager.start();
    await periods(3);

    // Assess
    expect(a.shards()).toHaveLength(2);
    expect(b.shards()).toHaveLength(2);
    expect(a.lost.map(({ reason }) => reason)).toEqual(['released', 'released']);
    expect(a.lost.map(({ shard }) => shard).sort()).toEqual(b.shards());
    expect(stillOwnedWhileDraining).toEqual([true, true]);
    expect(fencesWhileDraining.map((fence) => fence?.owner)).toEqual(['runner-a', 'runner-a']);
    for (const shard of b.shards()) expect(a.manager.fenceOf(shard)).toBeNull();
    for (const lease of b.manager.held()) expect(lease.epoch).toBe(epochsOfA.get(lease.shard)! + 1);
  });

  it('lets a surviving runner take over the shards of a runner that died without stopping, only after their leases expired', async () => {
    // Prepare
    const a = runner(store, 'runner-a');
    const b = runner(store, 'runner-b');
    await Promise.all([a.manager.start(), b.manager.start()]);
    await periods(3);
    const leasesOfA = a.manager.held();
    const takenOverBefore = b.acquired.length;

    // Act
    a.crash();
    await periods(6);

    // Assess
    expect(b.shards()).toEqual([0, 1, 2, 3]);
    const takeovers = b.acquired.slice(takenOverBefore);
    expect(takeovers.map(({ lease }) => lease.shard).sort()).toEqual(leasesOfA.map((lease) => lease.shard));
    for (const { lease, at } of takeovers) {
      const old = leasesOfA.find((held) => held.shard === lease.shard)!;
      expect(lease.epoch).toBe(old.epoch + 1);
      expect(at).toBeGreaterThan(old.expiresAt);
    }
  });

  it('self-fences before its leases can lapse when the store keeps failing', async () => {
    // Prepare
    const a = runner(store, 'runner-a');
    await a.manager.start();
    const expiries = new Map([...store.leases.values()].map((lease) => [lease.shard, lease.expiresAt]));

    // Act
    store.mode = 'fail';
    await periods(4);

    // Assess
    expect(a.lost.map(({ shard }) => shard).sort()).toEqual([0, 1, 2, 3]);
    for (const { shard, reason, at } of a.lost) {
      expect(reason).toBe('expired');
      expect(at).toBeLessThan(expiries.get(shard)!);
    }
    expect(a.manager.held()).toEqual([]);
    expect(a.manager.fenceOf(0)).toBeNull();
  });

  it('self-fences before its leases can lapse when a store call hangs', async () => {
    // Prepare
    const a = runner(store, 'runner-a');
    await a.manager.start();
    const expiries = new Map([...store.leases.values()].map((lease) => [lease.shard, lease.expiresAt]));

    // Act
    store.mode = 'hang';
    await periods(4);

    // Assess
    expect(a.lost.map(({ shard }) => shard).sort()).toEqual([0, 1, 2, 3]);
    for (const { shard, reason, at } of a.lost) {
      expect(reason).toBe('expired');
      expect(at).toBeLessThan(expiries.get(shard)!);
    }
    expect(a.manager.held()).toEqual([]);
  });

  it('reports a shard as stolen when its lease was taken over under it', async () => {
    // Prepare
    const a = runner(store, 'runner-a');
    await a.manager.start();
    const lease = store.leases.get(2)!;
    store.leases.set(2, { shard: 2, owner: 'runner-intruder', epoch: lease.epoch + 1, expiresAt: Date.now() + TTL_MS });

    // Act
    await periods(1);

    // Assess
    expect(a.lost).toEqual([{ shard: 2, reason: 'stolen', at: expect.any(Number) }]);
    expect(a.manager.fenceOf(2)).toBeNull();
    expect(a.shards()).not.toContain(2);
  });

  it('stop() drains and releases every shard and leaves the fleet, so another runner takes them at once', async () => {
    // Prepare
    const a = runner(store, 'runner-a');
    await a.manager.start();
    const epochsOfA = new Map(a.manager.held().map((lease) => [lease.shard, lease.epoch]));

    // Act
    await a.manager.stop();
    const c = runner(store, 'runner-c');
    await c.manager.start();
    await vi.advanceTimersByTimeAsync(0);

    // Assess
    expect(a.lost.map(({ shard, reason }) => [shard, reason]).sort()).toEqual([
      [0, 'released'],
      [1, 'released'],
      [2, 'released'],
      [3, 'released'],
    ]);
    expect(a.manager.held()).toEqual([]);
    expect(store.runners.has('runner-a')).toBe(false);
    expect(c.shards()).toEqual([0, 1, 2, 3]);
    for (const lease of c.manager.held()) expect(lease.epoch).toBe(epochsOfA.get(lease.shard)! + 1);
  });

  it('does nothing more after stop()', async () => {
    // Prepare
    const a = runner(store, 'runner-a');
    await a.manager.start();
    await a.manager.stop();
    const acquiredBefore = a.acquired.length;

    // Act
    await periods(5);

    // Assess
    expect(a.acquired).toHaveLength(acquiredBefore);
    expect(store.liveShardsOf('runner-a')).toEqual([]);
  });
});
