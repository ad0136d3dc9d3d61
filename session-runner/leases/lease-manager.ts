import { shardOf, type Fence, type Lease } from '../../shared/domain/fleet/fleet.ts';
import type { Clock, Logger } from '../../shared/domain/ports/runtime.port.ts';

/** Where shard leases and runner heartbeats live (DynamoDB in both AWS and the embedded stack). */
export interface LeaseStore {
  /**
   * Takes the shard when its lease is absent, expired or already ours. A new owner gets
   * epoch + 1; an owner re-acquiring its own live lease keeps its epoch. Null when another
   * runner holds it.
   */
  acquire(shard: number, owner: string, ttlMs: number, now: number): Promise<Lease | null>;
  /** Extends a lease still held with the same epoch; null when it was lost. */
  renew(lease: Lease, ttlMs: number, now: number): Promise<Lease | null>;
  /** Expires the lease at once, keeping its epoch; a no-op when it is no longer ours. */
  release(lease: Lease): Promise<void>;
  /** Every lease item of shards 0..shards-1 (shards never leased have none). */
  list(shards: number): Promise<Lease[]>;
  heartbeat(runnerId: string, ttlMs: number, now: number): Promise<void>;
  /** Ids of runners whose heartbeat has not expired at `now`. */
  liveRunners(now: number): Promise<string[]>;
  removeRunner(runnerId: string): Promise<void>;
}

export type LeaseLossReason = 'expired' | 'released' | 'stolen';

type TimerHandle = ReturnType<typeof setTimeout>;

export interface Timers {
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface LeaseManagerOptions {
  store: LeaseStore;
  runnerId: string;
  shards: number;
  ttlMs?: number;
  renewEveryMs?: number;
  /**
   * How long before expiry a lease that could not be renewed is given up, so `onLost` can stop
   * the shard's sockets while the lease still fences them. Default: half the renewal period.
   */
  fenceMarginMs?: number;
  clock: Clock;
  timers: Timers;
  /** The shard is ours: start consuming its queue and restore its sessions. */
  onAcquired(lease: Lease): Promise<void>;
  /** The shard is no longer ours (or is about to stop being ours): stop its sockets, flush auth state. */
  onLost(shard: number, reason: LeaseLossReason): Promise<void>;
  logger: Logger;
}

export interface LeaseManager {
  /** Runs the first tick (heartbeat, acquisition up to the fair share), then one every `renewEveryMs`. */
  start(): Promise<void>;
  /** Graceful drain: `onLost(shard, 'released')` for every held shard, then release, then leave the fleet. */
  stop(): Promise<void>;
  held(): Lease[];
  fenceOf(shard: number): Fence | null;
}

/**
 * Holds this runner's fair share of the shards (ARCHITECTURE §4).
 *
 * Every tick: heartbeat; renew the held leases; fair share = ceil(shards / live runners);
 * acquire free or expired shards up to it, or hand the surplus back.
 *
 * Callbacks for one shard run one after another, in order, and the tick never waits for them:
 * a slow restore or drain must not delay the renewals of the other shards. A held lease also
 * carries a fence timer at `expiresAt - fenceMarginMs`, so the runner gives a shard up before
 * its lease can lapse even when a store call hangs instead of failing.
 */
export const createLeaseManager = ({
  store,
  runnerId,
  shards,
  ttlMs = 30_000,
  renewEveryMs = 10_000,
  fenceMarginMs = renewEveryMs / 2,
  clock,
  timers,
  onAcquired,
  onLost,
  logger,
}: LeaseManagerOptions): LeaseManager => {
  const leases = new Map<number, Lease>();
  /** Leases being handed back: no longer renewed or held, but they still fence the drain's writes until released. */
  const draining = new Map<number, Lease>();
  const fenceTimers = new Map<number, TimerHandle>();
  const callbacks = new Map<number, Promise<void>>();
  let running = false;
  let tickTimer: TimerHandle | undefined;
  let ticking: Promise<void> = Promise.resolve();

  const now = () => clock.now().getTime();

  // Runners start their scan at different shards, so concurrent starts contend less.
  const firstShard = shardOf(runnerId, shards);
  const preference = Array.from({ length: shards }, (_, i) => (firstShard + i) % shards);

  /** Runs a callback after every earlier callback of the same shard. */
  const onShard = (shard: number, work: () => Promise<void>): Promise<void> => {
    const next = (callbacks.get(shard) ?? Promise.resolve())
      .then(work)
      .catch((error: unknown) => logger.error('lease.callback_failed', { runnerId, shard, error: String(error) }))
      .finally(() => {
        if (callbacks.get(shard) === next) callbacks.delete(shard);
      });
    callbacks.set(shard, next);
    return next;
  };

  const callOnLost = (shard: number, reason: LeaseLossReason) =>
    Promise.resolve()
      .then(() => onLost(shard, reason))
      .catch((error: unknown) => logger.error('lease.on_lost_failed', { runnerId, shard, reason, error: String(error) }));

  const clearFence = (shard: number) => {
    const timer = fenceTimers.get(shard);
    if (timer !== undefined) timers.clearTimeout(timer);
    fenceTimers.delete(shard);
  };

  const drop = (shard: number) => {
    clearFence(shard);
    leases.delete(shard);
  };

  /** Stops the shard's work before anyone else may take it. */
  const selfFence = (shard: number, why: string) => {
    const lease = leases.get(shard);
    if (!lease) return;
    drop(shard);
    logger.warn('lease.self_fenced', { runnerId, shard, epoch: lease.epoch, expiresAt: lease.expiresAt, why });
    void onShard(shard, () => callOnLost(shard, 'expired'));
  };

  const hold = (lease: Lease) => {
    clearFence(lease.shard);
    leases.set(lease.shard, lease);
    const delay = Math.max(0, lease.expiresAt - fenceMarginMs - now());
    fenceTimers.set(
      lease.shard,
      timers.setTimeout(() => selfFence(lease.shard, 'renewal did not complete in time'), delay),
    );
  };

  /** Hands a shard back: the owner drains while the lease still fences others out, then it is released. */
  const handBack = (lease: Lease): Promise<void> => {
    drop(lease.shard);
    draining.set(lease.shard, lease);
    return onShard(lease.shard, async () => {
      try {
        await callOnLost(lease.shard, 'released');
      } finally {
        if (draining.get(lease.shard) === lease) draining.delete(lease.shard);
      }
      await store.release(lease).catch((error: unknown) =>
        logger.warn('lease.release_failed', { runnerId, shard: lease.shard, error: String(error) }),
      );
    });
  };

  const renewAll = async () => {
    await Promise.all(
      [...leases.values()].map(async (lease) => {
        try {
          const renewed = await store.renew(lease, ttlMs, now());
          // Fenced or handed back while the call was in flight: the answer no longer matters.
          if (leases.get(lease.shard) !== lease) return;
          if (renewed) {
            hold(renewed);
            return;
          }
          drop(lease.shard);
          logger.warn('lease.stolen', { runnerId, shard: lease.shard, epoch: lease.epoch });
          void onShard(lease.shard, () => callOnLost(lease.shard, 'stolen'));
        } catch (error) {
          if (leases.get(lease.shard) !== lease) return;
          logger.warn('lease.renew_failed', { runnerId, shard: lease.shard, error: String(error) });
          // The next attempt is a full period away; give the shard up now if the lease would
          // be too close to expiry by then.
          if (lease.expiresAt - now() < renewEveryMs + fenceMarginMs) selfFence(lease.shard, 'renewal failed');
        }
      }),
    );
  };

  const rebalance = async () => {
    const at = now();
    const runners = new Set(await store.liveRunners(at));
    runners.add(runnerId);
    const fairShare = Math.ceil(shards / runners.size);

    if (leases.size > fairShare) {
      // Keep the shards earliest in this runner's order; hand back the rest.
      const surplus = preference.filter((shard) => leases.has(shard)).slice(fairShare);
      for (const shard of surplus) {
        const lease = leases.get(shard);
        if (!lease) continue;
        logger.info('lease.handback', { runnerId, shard, epoch: lease.epoch, fairShare });
        void handBack(lease);
      }
      return;
    }
    if (leases.size === fairShare) return;

    const current = new Map((await store.list(shards)).map((lease) => [lease.shard, lease]));
    for (const shard of preference) {
      if (!running || leases.size >= fairShare) break;
      if (leases.has(shard)) continue;
      const existing = current.get(shard);
      if (existing && existing.owner !== runnerId && existing.expiresAt >= now()) continue;
      const lease = await store.acquire(shard, runnerId, ttlMs, now());
      if (!lease) continue;
      if (!running) {
        await store.release(lease);
        break;
      }
      hold(lease);
      logger.info('lease.acquired', { runnerId, shard, epoch: lease.epoch, fairShare });
      void onShard(shard, async () => {
        try {
          await onAcquired(lease);
        } catch (error) {
          // A shard we cannot serve goes back to the fleet rather than sit held and idle.
          logger.error('lease.on_acquired_failed', { runnerId, shard, epoch: lease.epoch, error: String(error) });
          if (leases.get(shard) === lease) void handBack(lease);
        }
      });
    }
  };

  const tick = async () => {
    try {
      await store.heartbeat(runnerId, ttlMs, now());
    } catch (error) {
      logger.warn('lease.heartbeat_failed', { runnerId, error: String(error) });
    }
    await renewAll();
    if (!running) return;
    try {
      await rebalance();
    } catch (error) {
      logger.warn('lease.rebalance_failed', { runnerId, error: String(error) });
    }
  };

  const schedule = () => {
    if (!running) return;
    tickTimer = timers.setTimeout(() => {
      tickTimer = undefined;
      ticking = tick().finally(schedule);
    }, renewEveryMs);
  };

  return {
    async start() {
      if (running) return;
      running = true;
      logger.info('lease.manager_started', { runnerId, shards, ttlMs, renewEveryMs });
      ticking = tick();
      await ticking;
      schedule();
    },

    async stop() {
      if (!running) return;
      running = false;
      if (tickTimer !== undefined) timers.clearTimeout(tickTimer);
      tickTimer = undefined;
      await ticking;
      await Promise.all([...leases.values()].map(handBack));
      await Promise.all([...callbacks.values()]);
      await store.removeRunner(runnerId).catch((error: unknown) => logger.warn('lease.remove_runner_failed', { runnerId, error: String(error) }));
      logger.info('lease.manager_stopped', { runnerId });
    },

    held: () => [...leases.values()].sort((a, b) => a.shard - b.shard),

    fenceOf(shard) {
      const lease = leases.get(shard) ?? draining.get(shard);
      return lease ? { shard: lease.shard, owner: lease.owner, epoch: lease.epoch } : null;
    },
  };
};
