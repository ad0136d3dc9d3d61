export interface RateLimits {
  /** Requests per minute per token on every `/api/...` route except instance creation. */
  global: number;
  /** `POST /api/instance/new` per minute per TokenAccount. */
  create: number;
}

export const defaultRateLimits: Readonly<RateLimits> = Object.freeze({ global: 100, create: 20 });

export interface AccountRecord {
  id: string;
  name: string;
  instanceQuota: number;
  instanceCount: number;
  rateLimits: RateLimits;
  tokenHash: string;
  createdAt: string;
  updatedAt: string;
}

export const accountView = (account: AccountRecord) => ({
  id: account.id,
  name: account.name,
  instanceQuota: account.instanceQuota,
  instanceCount: account.instanceCount,
  rateLimits: { ...account.rateLimits },
  createdAt: account.createdAt,
  updatedAt: account.updatedAt,
});
