import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { toAuthorizerContext } from '../../shared/http/auth-context.ts';
import { adminModule } from '../admin/admin.handlers.ts';
import { awsDeps } from '../aws.ts';
import { managementStreams } from './streams.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';

/**
 * Marks a call API Gateway authorised with IAM as the admin's. Every `/admin/*` method is
 * `AWS_IAM` (infra/stacks/api-stack.ts, asserted in test/infra/api-stack.test.ts), so API Gateway
 * has verified the SigV4 signature and the caller's execute-api:Invoke permission before this runs,
 * and sets `identity.userArn` (or `caller`) to the signer. No Lambda authorizer runs there, so
 * without this the shared handler, which expects the embedded admin-key verdict in the authorizer
 * context, would answer 401 `Invalid admin key`. A call without an IAM identity stays unmarked.
 */
export const asIamAdmin = (event: APIGatewayProxyEvent): APIGatewayProxyEvent => {
  const identity = event.requestContext?.identity;
  if (!identity?.userArn && !identity?.caller) return event;
  return { ...event, requestContext: { ...event.requestContext, authorizer: toAuthorizerContext({ principal: null, admin: true, error: null, rate: null }) } };
};

/** `/admin/*` (spec §2.10), authorised by IAM on AWS. */
export const handler = lazy(async () => {
  const admin = adminModule(await awsDeps(lambdaEnv(), { streams: managementStreams }));
  return (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => admin(asIamAdmin(event), context);
});
