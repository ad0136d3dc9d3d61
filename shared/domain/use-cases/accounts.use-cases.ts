import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { accountView, type AccountRecord, type RateLimits } from '../account/account.ts';
import { DomainError } from '../errors/domain-error.ts';
import type { TokenHasher } from '../ports/keyring.port.ts';
import type { AccountRepository } from '../ports/repositories.port.ts';
import { rfc3339, type Clock, type IdGenerator, type Logger } from '../ports/runtime.port.ts';
import type { StreamControl } from '../ports/stream-control.port.ts';
import { fail } from '../validation.ts';

export interface AccountDeps {
  accounts: AccountRepository;
  tokens: TokenHasher;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  defaults: { instanceQuota: number; rateLimits: RateLimits };
}

const quotaMessage = 'instanceQuota must be a non-negative integer';
const rateLimitsMessage = 'rateLimits values must be positive integers';

const nameCheck = (ctx: z.RefinementCtx, name: string | null | undefined, required: boolean): void => {
  if (name === undefined || name === null) {
    if (required) fail(ctx, "The 'name' field is required");
    return;
  }
  const trimmed = name.trim();
  if (trimmed === '') fail(ctx, "The 'name' field is required");
  else if (trimmed.length > 128) fail(ctx, "Invalid request body: 'name' must be at most 128 characters");
};

const isNonNegativeInteger = (value: unknown) => Number.isInteger(value) && (value as number) >= 0;
const isPositiveInteger = (value: unknown) => Number.isInteger(value) && (value as number) >= 1;

export const CreateAccountBody = z
  .object({ name: z.string().nullish(), instanceQuota: z.unknown().optional() })
  .superRefine((body, ctx) => {
    nameCheck(ctx, body.name, true);
    if (body.instanceQuota !== undefined && body.instanceQuota !== null && !isNonNegativeInteger(body.instanceQuota)) fail(ctx, quotaMessage);
  });
export type CreateAccountBody = z.output<typeof CreateAccountBody>;

export const UpdateAccountBody = z
  .object({
    instanceQuota: z.unknown().optional(),
    name: z.string().nullish(),
    rateLimits: z.object({ global: z.unknown().optional(), create: z.unknown().optional() }).nullish(),
  })
  .superRefine((body, ctx) => {
    const present = (value: unknown) => value !== undefined && value !== null;
    if (!present(body.instanceQuota) && !present(body.name) && !present(body.rateLimits)) return fail(ctx, 'At least one field must be provided');
    if (present(body.instanceQuota) && !isNonNegativeInteger(body.instanceQuota)) return fail(ctx, quotaMessage);
    nameCheck(ctx, body.name, false);
    const limits = body.rateLimits;
    if (limits && [limits.global, limits.create].some((value) => present(value) && !isPositiveInteger(value))) fail(ctx, rateLimitsMessage);
  });
export type UpdateAccountBody = z.output<typeof UpdateAccountBody>;

/** A TokenAccount: 64 lower-case hex characters (256 bits), shown once. */
const newAccountToken = (): string => randomBytes(32).toString('hex');

/** `POST /admin/accounts`: the token is returned here and never again. */
export const createAccount = async (deps: AccountDeps, body: { name: string; instanceQuota?: number | null }) => {
  const token = newAccountToken();
  const now = rfc3339(deps.clock.now());
  const account: AccountRecord = {
    id: deps.ids.uuid(),
    name: body.name.trim(),
    instanceQuota: body.instanceQuota ?? deps.defaults.instanceQuota,
    instanceCount: 0,
    rateLimits: { ...deps.defaults.rateLimits },
    tokenHash: deps.tokens.hash(token),
    createdAt: now,
    updatedAt: now,
  };
  await deps.accounts.create(account);
  deps.logger.info('account created', { accountId: account.id });
  return { account: { id: account.id, name: account.name, instanceQuota: account.instanceQuota, createdAt: account.createdAt }, token };
};

export const listAccounts = async (deps: Pick<AccountDeps, 'accounts'>) => (await deps.accounts.list()).map(accountView);

export const updateAccount = async (deps: AccountDeps, id: string, body: UpdateAccountBody) => {
  const current = await deps.accounts.get(id);
  if (!current) throw new DomainError('account.not_found');
  const limits = body.rateLimits;
  const updated = await deps.accounts.update(id, {
    name: typeof body.name === 'string' ? body.name.trim() : undefined,
    instanceQuota: typeof body.instanceQuota === 'number' ? body.instanceQuota : undefined,
    rateLimits: limits
      ? {
          global: typeof limits.global === 'number' ? limits.global : current.rateLimits.global,
          create: typeof limits.create === 'number' ? limits.create : current.rateLimits.create,
        }
      : undefined,
    updatedAt: rfc3339(deps.clock.now()),
  });
  if (!updated) throw new DomainError('account.not_found');
  return accountView(updated);
};

/**
 * `POST /admin/accounts/:id/rotate-token` (spec Z8): the old token stops working at once, and the
 * WebSocket connections opened with it are closed with 1008 `Token revoked`. The rotation stands
 * even when closing them fails (logged): the old token can no longer open anything.
 */
export const rotateAccountToken = async (deps: AccountDeps & { streams: Pick<StreamControl, 'accountTokenRotated'> }, id: string) => {
  const token = newAccountToken();
  const tokenHash = deps.tokens.hash(token);
  if (!(await deps.accounts.rotateToken(id, tokenHash, rfc3339(deps.clock.now())))) throw new DomainError('account.not_found');
  deps.logger.info('account token rotated', { accountId: id });
  try {
    await deps.streams.accountTokenRotated({ accountId: id, currentTokenHash: tokenHash });
  } catch (error) {
    deps.logger.error('closing the streams of a rotated token failed', { accountId: id, error: error instanceof Error ? error.message : String(error) });
  }
  return token;
};

export const deleteAccount = async (deps: Pick<AccountDeps, 'accounts'>, id: string): Promise<void> => {
  const outcome = await deps.accounts.delete(id);
  if (outcome === 'not_found') throw new DomainError('account.not_found');
  if (outcome === 'has_instances') throw new DomainError('account.has_instances');
};
