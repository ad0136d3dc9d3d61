import { createHash } from 'node:crypto';

/**
 * Session ownership (ARCHITECTURE §4): every instance belongs to one shard; a runner holds a
 * shard through a lease whose epoch fences every auth-state write.
 */

/** `hash(instanceId) mod shards`: stable for the life of the instance. */
export const shardOf = (instanceId: string, shards: number): number =>
  createHash('sha256').update(instanceId).digest().readUInt32BE(0) % shards;

/** Proof of ownership carried by every fenced write: the lease item must still say this. */
export interface Fence {
  shard: number;
  owner: string;
  epoch: number;
}

export interface Lease extends Fence {
  /** Epoch milliseconds after which another runner may take the shard. */
  expiresAt: number;
}
