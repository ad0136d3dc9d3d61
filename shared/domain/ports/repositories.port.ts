import type { AccountRecord, RateLimits } from '../account/account.ts';
import type { TokenEntry } from '../auth/principal.ts';
import type { ChatwootRequestRecord, InstanceAggregate, InstanceRecord, WebhookRecord } from '../instance/instance.ts';

export interface NewInstance {
  instance: InstanceRecord;
  webhooks: WebhookRecord[];
  chatwootRequest: ChatwootRequestRecord | null;
  token: TokenEntry;
}

export type InstancePatch = Partial<Pick<InstanceRecord, 'settings' | 'proxy' | 's3' | 'websocket' | 'linking' | 'status' | 'state' | 'hasSession'>> & { updatedAt?: string };

export interface InstanceRepository {
  /**
   * Writes the instance, its token lookup and sub-items, and takes a quota slot, atomically.
   * Throws `instance.conflict` (name or token taken) before `account.quota_exceeded`.
   */
  create(input: NewInstance): Promise<void>;
  get(accountId: string, name: string): Promise<InstanceAggregate | null>;
  /** Every instance of the account, ordered by `createdAt`. */
  listByAccount(accountId: string): Promise<InstanceAggregate[]>;
  /** Applies the patch; `null` when the instance no longer exists. */
  update(accountId: string, name: string, patch: InstancePatch): Promise<InstanceRecord | null>;
  /** Removes every item of the instance and frees its quota slot; false when it was already gone. */
  delete(aggregate: InstanceAggregate): Promise<boolean>;
}

export type AccountPatch = Partial<Pick<AccountRecord, 'name' | 'instanceQuota' | 'rateLimits'>> & { updatedAt: string };

export interface AccountRepository {
  /** Writes the account and its token lookup atomically. */
  create(account: AccountRecord): Promise<void>;
  get(id: string): Promise<AccountRecord | null>;
  /** Ordered by `createdAt`. */
  list(): Promise<AccountRecord[]>;
  /** `null` when the account does not exist. New rate limits reach every token of the account. */
  update(id: string, patch: AccountPatch): Promise<AccountRecord | null>;
  /** Swaps the token lookup: the old token stops working at once. `false` when no such account. */
  rotateToken(id: string, newTokenHash: string, updatedAt: string): Promise<boolean>;
  delete(id: string): Promise<'deleted' | 'not_found' | 'has_instances'>;
}

export interface CountedPrincipal {
  entry: TokenEntry;
  /** Requests counted in the current window, this one included. */
  count: number;
}

/** Token lookups and exact per-minute counters, shared by every process (DynamoDB). */
export interface TokenDirectory {
  /** Looks the token up and counts this request in its bucket, in one step; `null` for an unknown token. */
  authenticate(tokenHash: string, bucket: 'global' | 'create', windowStart: number): Promise<CountedPrincipal | null>;
  /** Counts a request in a bucket not tied to a token (client IP, admin key). */
  count(bucketKey: string, windowStart: number): Promise<number>;
}

export type RateLimitsOf = (principal: TokenEntry) => RateLimits;
