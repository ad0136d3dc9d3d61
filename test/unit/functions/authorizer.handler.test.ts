import { readFileSync } from 'node:fs';
import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { authorizerHandler } from '../../../functions/authorizer/authorizer.handler.ts';
import type { TokenEntry } from '../../../shared/domain/auth/principal.ts';
import type { CountedPrincipal, TokenDirectory } from '../../../shared/domain/ports/repositories.port.ts';
import type { AuthorizeDeps, AuthOutcome } from '../../../shared/domain/use-cases/authorize.use-case.ts';
import { fromAuthorizerContext } from '../../../shared/http/auth-context.ts';

const FIXTURE = new URL('../../fixtures/apigateway/authorizer-request.json', import.meta.url);
const FIXTURE_TOKEN = '3f6c1d2e-8a4b-4c5d-9e7f-0a1b2c3d4e5f';
const ADMIN_KEY = 'adm_0123456789abcdef0123456789abcdef';
/** The fixture's request time, 2026-04-28T10:30:25.500Z; its window resets at 10:31:00. */
const NOW = new Date(1_777_372_225_500);
const RESET = Date.parse('2026-04-28T10:31:00Z') / 1000;

const account: TokenEntry = { kind: 'account', accountId: '5e1d3c9a-7f2b-4d8e-9a61-0c4b2e7f1a33', limits: { global: 100, create: 20 } };
const instance: TokenEntry = {
  kind: 'instance',
  accountId: '5e1d3c9a-7f2b-4d8e-9a61-0c4b2e7f1a33',
  instanceId: '0c4b2e7f-1a33-4d8e-9a61-5e1d3c9a7f2b',
  instanceName: 'orion',
  limits: { global: 100, create: 20 },
};

function fixture(): APIGatewayRequestAuthorizerEvent {
  return JSON.parse(readFileSync(FIXTURE, 'utf8')) as APIGatewayRequestAuthorizerEvent;
}

function deps(): AuthorizeDeps & { ipKeys: string[] } {
  const entries = new Map<string, TokenEntry>([
    [`h:${FIXTURE_TOKEN}`, account],
    ['h:instance-token-0123456789', instance],
  ]);
  const counts = new Map<string, number>();
  const ipKeys: string[] = [];
  const bump = (key: string) => {
    counts.set(key, (counts.get(key) ?? 0) + 1);
    return counts.get(key) as number;
  };
  const directory: TokenDirectory = {
    async authenticate(hash, bucket, windowStart): Promise<CountedPrincipal | null> {
      const entry = entries.get(hash);
      return entry ? { entry, count: bump(`${hash}:${bucket}:${windowStart}`) } : null;
    },
    async count(key, windowStart) {
      ipKeys.push(key);
      return bump(`${key}:${windowStart}`);
    },
  };
  return { directory, tokens: { hash: (token) => `h:${token}` }, clock: { now: () => NOW }, adminKey: ADMIN_KEY, limits: { ip: 100, admin: 100 }, ipKeys };
}

function isFlat(context: Record<string, unknown>): boolean {
  return Object.values(context).every((value) => ['string', 'number', 'boolean'].includes(typeof value));
}

describe('authorizer handler', () => {
  it('allows the method ARN and passes the principal and create-bucket window in a flat context', async () => {
    // Prepare
    const event = fixture();
    const handler = authorizerHandler(deps());

    // Act
    const result = await handler(event);

    // Assess
    expect(result.principalId).toBe(account.accountId);
    expect(result.policyDocument).toEqual({
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    });
    expect(isFlat(result.context ?? {})).toBe(true);
    expect(fromAuthorizerContext(result.context)).toEqual<AuthOutcome>({
      principal: account,
      admin: false,
      error: null,
      rate: { limit: 20, remaining: 19, reset: RESET, exceeded: false },
    });
  });

  it('gives the same outcome after API Gateway turns every context value into a string', async () => {
    // Prepare
    const event = fixture();
    const result = await authorizerHandler(deps())(event);

    // Act
    const stringified = Object.fromEntries(Object.entries(result.context ?? {}).map(([key, value]) => [key, String(value)]));

    // Assess
    expect(fromAuthorizerContext(stringified)).toEqual(fromAuthorizerContext(result.context));
    expect(fromAuthorizerContext(stringified).rate).toEqual({ limit: 20, remaining: 19, reset: RESET, exceeded: false });
  });

  it('reads header names in any case, and uses the global bucket on other routes', async () => {
    // Prepare
    const event = fixture();
    event.resource = '/api/instance/getSettings/{instance}';
    event.httpMethod = 'GET';
    event.methodArn = 'arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/api/instance/getSettings/orion';
    event.headers = { TOKEN: 'instance-token-0123456789' };

    // Act
    const result = await authorizerHandler(deps())(event);

    // Assess
    expect(result.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }]);
    expect(isFlat(result.context ?? {})).toBe(true);
    expect(fromAuthorizerContext(result.context)).toEqual<AuthOutcome>({
      principal: instance,
      admin: false,
      error: null,
      rate: { limit: 100, remaining: 99, reset: RESET, exceeded: false },
    });
  });

  it('still allows a request without a token, carrying the refusal and the IP window for the handler', async () => {
    // Prepare
    const event = fixture();
    event.headers = { Accept: 'application/json' };
    event.multiValueHeaders = { Accept: ['application/json'] };
    const authorizerDeps = deps();

    // Act
    const result = await authorizerHandler(authorizerDeps)(event);

    // Assess
    expect(result.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }]);
    expect(isFlat(result.context ?? {})).toBe(true);
    expect(fromAuthorizerContext(result.context)).toEqual<AuthOutcome>({
      principal: null,
      admin: false,
      error: 'auth.missing_token',
      rate: { limit: 100, remaining: 99, reset: RESET, exceeded: false },
    });
    expect(authorizerDeps.ipKeys).toEqual(['ip#203.0.113.42']);
  });

  it('reads the token from the query string when no header carries one', async () => {
    // Prepare
    const event = fixture();
    event.headers = {};
    event.queryStringParameters = { token: 'unknown-token' };

    // Act
    const result = await authorizerHandler(deps())(event);

    // Assess
    expect(fromAuthorizerContext(result.context)).toMatchObject({ principal: null, error: 'auth.invalid_token' });
  });

  it('checks the admin key on admin routes', async () => {
    // Prepare
    const event = fixture();
    event.resource = '/admin/accounts';
    event.httpMethod = 'GET';
    event.methodArn = 'arn:aws:execute-api:us-east-1:123456789012:a1b2c3d4e5/prod/GET/admin/accounts';
    event.headers = { 'X-Admin-Key': ADMIN_KEY, Authorization: `Bearer ${FIXTURE_TOKEN}` };

    // Act
    const result = await authorizerHandler(deps())(event);

    // Assess
    expect(result.principalId).toBe('admin');
    expect(isFlat(result.context ?? {})).toBe(true);
    expect(fromAuthorizerContext(result.context)).toEqual<AuthOutcome>({
      principal: null,
      admin: true,
      error: null,
      rate: { limit: 100, remaining: 99, reset: RESET, exceeded: false },
    });
  });
});
