import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { z } from 'zod';
import { fromAuthorizerContext } from '../../shared/http/auth-context.ts';
import { awsDeps } from '../aws.ts';
import { authorizerHandler } from '../authorizer/authorizer.handler.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';

/**
 * The usage-plan API keys by tier, set by infra (api-stack.ts), ascending: an account goes to the
 * first tier whose `maxRatePerMinute` covers its per-minute `global` limit, else the last tier.
 * The keys only meter (API Gateway's coarse, best-effort shield); they are not credentials and
 * clients never see them. The exact per-token windows stay in DynamoDB.
 */
const UsagePlanKeys = z.array(z.object({ tier: z.string(), maxRatePerMinute: z.number().positive().nullable(), key: z.string().min(20) })).min(1);

export type UsagePlanKeys = z.infer<typeof UsagePlanKeys>;

/** The key a request is metered with; unauthenticated requests go to the smallest tier. */
export const usageKeyFor = (tiers: UsagePlanKeys, ratePerMinute: number | undefined): string => {
  if (ratePerMinute === undefined) return (tiers[0] as UsagePlanKeys[number]).key;
  const tier = tiers.find((candidate) => candidate.maxRatePerMinute === null || ratePerMinute <= candidate.maxRatePerMinute) ?? (tiers.at(-1) as UsagePlanKeys[number]);
  return tier.key;
};

/**
 * The REST API's REQUEST authorizer. The API's key source is `AUTHORIZER`, so every answer carries
 * `usageIdentifierKey`; without it API Gateway would refuse the call with 403 `INVALID_API_KEY`
 * before the handler could render the contract's own 401 (the authorizer always allows and lets
 * the handler render refusals, see authorizer.handler.ts).
 */
export const handler = lazy(async () => {
  const tiers = UsagePlanKeys.parse(JSON.parse(process.env.ZAPFLEET_USAGE_PLAN_KEYS ?? '[]'));
  const authorize = authorizerHandler(await awsDeps(lambdaEnv()));
  return async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const result = await authorize(event);
    const principal = fromAuthorizerContext(result.context).principal;
    return { ...result, usageIdentifierKey: usageKeyFor(tiers, principal?.limits.global) };
  };
});
