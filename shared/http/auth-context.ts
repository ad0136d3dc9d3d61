import type { RateWindow, TokenEntry } from '../domain/auth/principal.ts';
import type { ErrorCode } from '../domain/errors/domain-error.ts';
import type { AuthOutcome } from '../domain/use-cases/authorize.use-case.ts';

/**
 * API Gateway passes an authorizer's `context` to the integration as flat strings, numbers and
 * booleans only. The embedded server puts exactly the same object in
 * `event.requestContext.authorizer`, so the handlers read one format.
 */
export type AuthorizerContext = Record<string, string | number | boolean>;

export const toAuthorizerContext = (outcome: AuthOutcome): AuthorizerContext => ({
  principal: outcome.principal ? JSON.stringify(outcome.principal) : '',
  admin: outcome.admin,
  error: outcome.error ?? '',
  ...(outcome.rate ? { rateLimit: outcome.rate.limit, rateRemaining: outcome.rate.remaining, rateReset: outcome.rate.reset, rateExceeded: outcome.rate.exceeded } : {}),
});

export const fromAuthorizerContext = (context: Record<string, unknown> | null | undefined): AuthOutcome => {
  const value = context ?? {};
  const rate: RateWindow | null =
    value.rateLimit === undefined
      ? null
      : {
          limit: Number(value.rateLimit),
          remaining: Number(value.rateRemaining),
          reset: Number(value.rateReset),
          exceeded: value.rateExceeded === true || value.rateExceeded === 'true',
        };
  const principal = typeof value.principal === 'string' && value.principal !== '' ? (JSON.parse(value.principal) as TokenEntry) : null;
  return {
    principal,
    admin: value.admin === true || value.admin === 'true',
    error: typeof value.error === 'string' && value.error !== '' ? (value.error as ErrorCode) : null,
    rate,
  };
};
