import type { APIGatewayAuthorizerResult, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { authorize, type AuthorizeDeps } from '../../shared/domain/use-cases/authorize.use-case.ts';
import { toAuthorizerContext } from '../../shared/http/auth-context.ts';
import { routes } from '../../shared/http/routes.ts';

const lowerCaseKeys = (record: Record<string, string | undefined> | null | undefined): Record<string, string | undefined> => {
  const result: Record<string, string | undefined> = {};
  for (const [key, value] of Object.entries(record ?? {})) result[key.toLowerCase()] = value;
  return result;
};

/**
 * The Lambda REQUEST authorizer; the embedded stack calls the same function in-process.
 *
 * It always answers `Allow` and passes its verdict (principal, or the error code) and the
 * rate-limit window in `context`: API Gateway's own 401/403 answers cannot carry the contract's
 * exact messages nor the `X-RateLimit-*` headers that every response needs, so the handler's
 * wrapper renders the refusal. No handler runs business logic without a principal (see
 * `credentials` in shared/http/http-handler.ts). Result caching stays off (TTL 0): the token may
 * arrive in any of three places, which a cached authorizer cannot express.
 */
export const authorizerHandler =
  (deps: AuthorizeDeps) =>
  async (event: APIGatewayRequestAuthorizerEvent): Promise<APIGatewayAuthorizerResult> => {
    const route = routes.find((candidate) => candidate.method === event.httpMethod && candidate.path === event.resource);
    const outcome = await authorize(deps, {
      auth: route?.auth ?? 'token',
      bucket: route?.bucket ?? 'global',
      headers: lowerCaseKeys(event.headers),
      query: event.queryStringParameters ?? {},
      sourceIp: event.requestContext?.identity?.sourceIp ?? 'unknown',
    });
    return {
      principalId: outcome.principal?.accountId ?? (outcome.admin ? 'admin' : 'anonymous'),
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: toAuthorizerContext(outcome),
    };
  };
