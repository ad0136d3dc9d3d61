import type { RateLimits } from '../account/account.ts';

/** Who a token belongs to. TokenAccount: every instance of the account; TokenInstance: one. */
export type Principal =
  | { kind: 'account'; accountId: string }
  | { kind: 'instance'; accountId: string; instanceId: string; instanceName: string };

/** What the token lookup item holds (never the token itself). */
export type TokenEntry = Principal & { limits: RateLimits };

export type Bucket = 'global' | 'create' | 'ip' | 'admin';

export interface RateWindow {
  limit: number;
  /** Requests left in the window after this one (never below 0). */
  remaining: number;
  /** Unix seconds at which the window resets. */
  reset: number;
  exceeded: boolean;
}

/** Fixed 60-second windows aligned to the UTC minute (spec §0.10). */
export const windowStart = (nowMs: number): number => Math.floor(nowMs / 60_000) * 60;

export const rateWindow = (count: number, limit: number, start: number): RateWindow => ({
  limit,
  remaining: Math.max(0, limit - count),
  reset: start + 60,
  exceeded: count > limit,
});
