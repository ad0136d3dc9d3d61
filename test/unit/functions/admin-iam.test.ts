import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { asIamAdmin } from '../../../functions/entries/admin.ts';
import { httpHandler } from '../../../shared/http/http-handler.ts';
import { ok } from '../../../shared/http/responses.ts';
import { routes } from '../../../shared/http/routes.ts';
import { testHttpEnv } from '../../support/http-env.ts';

// On AWS every /admin/* method is AWS_IAM (test/infra/api-stack.test.ts): API Gateway checks the
// SigV4 signature and execute-api:Invoke, runs no Lambda authorizer, and puts the signer in
// `requestContext.identity`. The admin entry turns that into the admin verdict the shared handler
// checks (shared/http/http-handler.ts `credentials`); these run the two together.
const listAccounts = routes.find((route) => route.method === 'GET' && route.path === '/admin/accounts') as (typeof routes)[number];
const env = testHttpEnv;

const adminEvent = (identity: Record<string, unknown>): APIGatewayProxyEvent =>
  ({
    httpMethod: 'GET',
    resource: '/admin/accounts',
    path: '/admin/accounts',
    headers: {},
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'req-1', identity: { sourceIp: '203.0.113.7', ...identity } },
  }) as unknown as APIGatewayProxyEvent;

const call = async (event: APIGatewayProxyEvent) => {
  const handler = httpHandler(env, listAccounts, {}, async () => ok({ accounts: [] })) as (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
  const result = await handler(asIamAdmin(event), {} as Context);
  return { status: result.statusCode, body: JSON.parse(result.body) as unknown };
};

describe('admin routes behind IAM authorization (admin entry + shared handler)', () => {
  it('serves a call API Gateway authorised with a SigV4 signature', async () => {
    // Act
    const response = await call(adminEvent({ userArn: 'arn:aws:iam::123456789012:user/ops', caller: 'AIDAEXAMPLE' }));

    // Assess
    expect(response).toEqual({ status: 200, body: { success: true, accounts: [] } });
  });

  it('serves a call signed with an assumed role (caller only, no user ARN)', async () => {
    // Act
    const response = await call(adminEvent({ caller: 'AROAEXAMPLE:ops-session' }));

    // Assess
    expect(response.status).toBe(200);
  });

  it('refuses a call without an IAM identity with 401 Invalid admin key', async () => {
    // Act
    const response = await call(adminEvent({}));

    // Assess
    expect(response).toEqual({ status: 401, body: { success: false, error: { message: 'Invalid admin key' } } });
  });
});
