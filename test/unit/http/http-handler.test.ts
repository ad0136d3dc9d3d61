import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { TokenEntry } from '../../../shared/domain/auth/principal.ts';
import { CreateInstanceBody, UpdateSettingsBody } from '../../../shared/domain/instance/instance.schemas.ts';
import { defaultSettings, emptyProfile, type InstanceAggregate } from '../../../shared/domain/instance/instance.ts';
import type { InstanceRepository } from '../../../shared/domain/ports/repositories.port.ts';
import type { LogFields } from '../../../shared/domain/ports/runtime.port.ts';
import type { AuthOutcome } from '../../../shared/domain/use-cases/authorize.use-case.ts';
import { toAuthorizerContext } from '../../../shared/http/auth-context.ts';
import { httpHandler, maxBodyBytes, type HttpEnv } from '../../../shared/http/http-handler.ts';
import { created, ok, type HttpResult } from '../../../shared/http/responses.ts';
import { routes, type RouteDef } from '../../../shared/http/routes.ts';

/** 2026-04-28T10:30:25Z; the window resets at 10:31:00. */
const NOW = new Date('2026-04-28T10:30:25.000Z');
const RESET = Date.parse('2026-04-28T10:31:00Z') / 1000;
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const ACCOUNT_ID = '5e1d3c9a-7f2b-4d8e-9a61-0c4b2e7f1a33';
const accountToken: TokenEntry = { kind: 'account', accountId: ACCOUNT_ID, limits: { global: 100, create: 20 } };
const orionToken: TokenEntry = { kind: 'instance', accountId: ACCOUNT_ID, instanceId: 'inst-orion', instanceName: 'orion', limits: { global: 100, create: 20 } };

const orion: InstanceAggregate = {
  instance: {
    id: 'inst-orion',
    accountId: ACCOUNT_ID,
    name: 'orion',
    wrappedKey: 'wrapped',
    tokenHash: 'hash',
    tokenSealed: 'sealed',
    status: 'disconnected',
    numberJid: null,
    profile: { ...emptyProfile },
    settings: { ...defaultSettings },
    proxy: null,
    s3: null,
    websocket: null,
    createdAt: '2026-04-28T10:00:00Z',
    updatedAt: '2026-04-28T10:00:00Z',
  },
  webhooks: [],
  chatwootRequest: null,
};

const SECRET_FAILURE = 'ProvisionedThroughputExceededException: table zapfleet-prod at 10.0.3.7, token abc123';

function routeOf(method: string, path: string): RouteDef {
  return routes.find((candidate) => candidate.method === method && candidate.path === path) as RouteDef;
}

class FakeInstances implements InstanceRepository {
  readonly gets: [string, string][] = [];
  failWith: Error | null = null;

  async get(accountId: string, name: string) {
    this.gets.push([accountId, name]);
    if (this.failWith) throw this.failWith;
    return accountId === ACCOUNT_ID && name === 'orion' ? orion : null;
  }
  async create(): Promise<void> {
    throw new Error('not used');
  }
  async listByAccount(): Promise<InstanceAggregate[]> {
    throw new Error('not used');
  }
  async update(): Promise<null> {
    throw new Error('not used');
  }
  async delete(): Promise<boolean> {
    throw new Error('not used');
  }
}

function setup(options: { allowedOrigins?: string[] } = {}) {
  const instances = new FakeInstances();
  const logs: { level: string; message: string; fields?: LogFields }[] = [];
  const log = (level: string) => (message: string, fields?: LogFields) => logs.push({ level, message, fields });
  let sequence = 0;
  const env: HttpEnv = {
    instances,
    logger: { info: log('info'), warn: log('warn'), error: log('error') },
    cors: { allowedOrigins: options.allowedOrigins ?? [] },
    clock: { now: () => NOW },
    ids: { uuid: () => '00000000-0000-4000-8000-000000000000', ulid: () => `01JSX2Q7W9R3K5M8N4P6T0V2Y${sequence++ % 10}` },
  };
  return { env, instances, logs };
}

function outcome(overrides: Partial<AuthOutcome> = {}): AuthOutcome {
  return { principal: accountToken, admin: false, error: null, rate: { limit: 100, remaining: 42, reset: RESET, exceeded: false }, ...overrides };
}

function event(options: { method: string; path: string; params?: Record<string, string>; auth?: AuthOutcome; body?: string | null; headers?: Record<string, string>; base64?: boolean }): APIGatewayProxyEvent {
  return {
    resource: options.path,
    path: options.path,
    httpMethod: options.method,
    headers: { 'Content-Type': 'application/json', ...options.headers },
    multiValueHeaders: {},
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: options.params ?? null,
    stageVariables: null,
    body: options.body ?? null,
    isBase64Encoded: options.base64 ?? false,
    requestContext: {
      requestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef',
      authorizer: toAuthorizerContext(options.auth ?? outcome()),
    } as unknown as APIGatewayProxyEvent['requestContext'],
  };
}

const context = { awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e8deadbeef', functionName: 'zapfleet-instance' } as unknown as Context;

interface Invocation {
  response: APIGatewayProxyResult;
  body: { success?: boolean; error?: { message: string } };
  handled: number;
}

async function invoke(
  env: HttpEnv,
  route: RouteDef,
  options: { body?: typeof CreateInstanceBody | typeof UpdateSettingsBody },
  request: APIGatewayProxyEvent,
  handle: () => Promise<HttpResult> = async () => ok({ message: 'done' }),
): Promise<Invocation> {
  let handled = 0;
  const handler = httpHandler(env, route, options, async () => {
    handled += 1;
    return handle();
  });
  const response = (await handler(request, context)) as APIGatewayProxyResult;
  return { response, body: JSON.parse(response.body) as Invocation['body'], handled };
}

const createRoute = routeOf('POST', '/api/instance/new');
const deleteRoute = routeOf('DELETE', '/api/instance/delete/{instance}');
const settingsRoute = routeOf('POST', '/api/instance/settings/{instance}');
const listRoute = routeOf('GET', '/api/instance/list');

describe('httpHandler: the authorizer verdict', () => {
  it('answers an exhausted bucket with 429, the rate-limit headers and Retry-After, without running the handler', async () => {
    // Prepare
    const { env } = setup();
    const auth = outcome({ principal: accountToken, error: 'rate_limit.exceeded', rate: { limit: 20, remaining: 0, reset: RESET, exceeded: true } });

    // Act
    const { response, body, handled } = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, auth, body: '{"name":"x"}' }));

    // Assess
    expect(response.statusCode).toBe(429);
    expect(body).toEqual({ success: false, error: { message: 'Rate limit exceeded. Try again later.' } });
    expect(response.headers).toMatchObject({
      'Content-Type': 'application/json; charset=utf-8',
      'X-RateLimit-Limit': '20',
      'X-RateLimit-Remaining': '0',
      'X-RateLimit-Reset': String(RESET),
      'Retry-After': '35',
    });
    expect(handled).toBe(0);
  });

  it.each([
    ['auth.missing_token', 401, 'Missing token in header, Authorization header, or query parameter'],
    ['auth.invalid_token', 401, 'Invalid token'],
  ] as const)('answers %s with %i and the IP window headers', async (code, status, message) => {
    // Prepare
    const { env, instances } = setup();
    const auth = outcome({ principal: null, error: code, rate: { limit: 100, remaining: 97, reset: RESET, exceeded: false } });

    // Act
    const { response, body, handled } = await invoke(env, settingsRoute, { body: UpdateSettingsBody }, event({ method: 'POST', path: settingsRoute.path, params: { instance: 'orion' }, auth, body: '[' }));

    // Assess
    expect(response.statusCode).toBe(status);
    expect(body).toEqual({ success: false, error: { message } });
    expect(response.headers).toMatchObject({ 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '97', 'X-RateLimit-Reset': String(RESET) });
    expect(response.headers?.['Retry-After']).toBeUndefined();
    expect(handled).toBe(0);
    expect(instances.gets).toEqual([]);
  });

  it('refuses a token route whose authorizer context has no principal', async () => {
    // Prepare
    const { env } = setup();

    // Act
    const { response, handled } = await invoke(env, listRoute, {}, event({ method: 'GET', path: listRoute.path, auth: outcome({ principal: null }) }));

    // Assess
    expect(response.statusCode).toBe(401);
    expect(handled).toBe(0);
  });

  it('answers a TokenInstance on a TokenAccount-only route with 401 Invalid token, before looking at the instance or the body', async () => {
    // Prepare
    const { env, instances } = setup();
    const auth = outcome({ principal: orionToken });

    // Act
    const remove = await invoke(env, deleteRoute, {}, event({ method: 'DELETE', path: deleteRoute.path, params: { instance: 'orion' }, auth }));
    const create = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, auth, body: 'not json' }));

    // Assess
    for (const { response, body, handled } of [remove, create]) {
      expect(response.statusCode).toBe(401);
      expect(body).toEqual({ success: false, error: { message: 'Invalid token' } });
      expect(response.headers).toMatchObject({ 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '42' });
      expect(handled).toBe(0);
    }
    expect(instances.gets).toEqual([]);
  });
});

describe('httpHandler: the instance in the path', () => {
  it('answers a TokenInstance naming another instance with 403, without touching the repository', async () => {
    // Prepare
    const { env, instances } = setup();
    const auth = outcome({ principal: orionToken });

    // Act
    const other = await invoke(env, settingsRoute, { body: UpdateSettingsBody }, event({ method: 'POST', path: settingsRoute.path, params: { instance: 'Orion' }, auth, body: '{}' }));
    const missing = await invoke(env, settingsRoute, { body: UpdateSettingsBody }, event({ method: 'POST', path: settingsRoute.path, params: { instance: 'no-such' }, auth, body: '{' }));

    // Assess
    for (const { response, body, handled } of [other, missing]) {
      expect(response.statusCode).toBe(403);
      expect(body).toEqual({ success: false, error: { message: 'Instance token does not match the requested instance' } });
      expect(handled).toBe(0);
    }
    expect(instances.gets).toEqual([]);
  });

  it('lets a TokenInstance reach its own instance', async () => {
    // Prepare
    const { env, instances } = setup();

    // Act
    const { response, handled } = await invoke(
      env,
      settingsRoute,
      { body: UpdateSettingsBody },
      event({ method: 'POST', path: settingsRoute.path, params: { instance: 'orion' }, auth: outcome({ principal: orionToken }), body: '{"ignoreStatus":true}' }),
    );

    // Assess
    expect(response.statusCode).toBe(200);
    expect(handled).toBe(1);
    expect(instances.gets).toEqual([[ACCOUNT_ID, 'orion']]);
  });

  it('answers an empty name with 400 Instance name is required', async () => {
    // Prepare
    const { env, instances } = setup();

    // Act
    const { response, body } = await invoke(env, deleteRoute, {}, event({ method: 'DELETE', path: deleteRoute.path, params: { instance: '' } }));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(body).toEqual({ success: false, error: { message: 'Instance name is required' } });
    expect(instances.gets).toEqual([]);
  });

  it("answers a name the account does not own with 404 Instance not found, before parsing the body", async () => {
    // Prepare
    const { env } = setup();

    // Act
    const { response, body, handled } = await invoke(
      env,
      settingsRoute,
      { body: UpdateSettingsBody },
      event({ method: 'POST', path: settingsRoute.path, params: { instance: 'vega' }, body: 'not json' }),
    );

    // Assess
    expect(response.statusCode).toBe(404);
    expect(body).toEqual({ success: false, error: { message: 'Instance not found' } });
    expect(handled).toBe(0);
  });
});

describe('httpHandler: the body', () => {
  it('answers a body over 5 MiB with 413 Request body too large', async () => {
    // Prepare
    const { env } = setup();
    const body = JSON.stringify({ name: 'orion', pad: 'x'.repeat(maxBodyBytes) });

    // Act
    const plain = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, body }));
    const base64 = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, body: Buffer.from(body).toString('base64'), base64: true }));

    // Assess
    expect(maxBodyBytes).toBe(5_242_880);
    for (const { response, body: answer, handled } of [plain, base64]) {
      expect(response.statusCode).toBe(413);
      expect(answer).toEqual({ success: false, error: { message: 'Request body too large' } });
      expect(response.headers).toMatchObject({ 'X-RateLimit-Limit': '100' });
      expect(handled).toBe(0);
    }
  });

  it('accepts a body of exactly 5 MiB', async () => {
    // Prepare
    const { env } = setup();
    const skeleton = JSON.stringify({ name: 'orion', pad: '' });
    const body = JSON.stringify({ name: 'orion', pad: 'x'.repeat(maxBodyBytes - Buffer.byteLength(skeleton)) });

    // Act
    const { response, handled } = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, body }), async () =>
      created({ message: 'Instance created' }),
    );

    // Assess
    expect(Buffer.byteLength(body)).toBe(maxBodyBytes);
    expect(response.statusCode).toBe(201);
    expect(handled).toBe(1);
  });

  it.each([['[]'], ['[{"name":"orion"}]'], ['"orion"'], ['42'], ['true'], ['null'], ['{"name":'], ['{name: "orion"}'], ["{'name':'orion'}"]])(
    'answers %s with 400 Invalid request body',
    async (raw) => {
      // Prepare
      const { env } = setup();

      // Act
      const { response, body, handled } = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, body: raw }));

      // Assess
      expect(response.statusCode).toBe(400);
      expect(body).toEqual({ success: false, error: { message: 'Invalid request body' } });
      expect(handled).toBe(0);
    },
  );

  it('treats an empty body as {}', async () => {
    // Prepare
    const { env } = setup();

    // Act
    const empty = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, body: '' }));
    const absent = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, body: null }));

    // Assess
    for (const { response, body } of [empty, absent]) {
      expect(response.statusCode).toBe(400);
      expect(body).toEqual({ success: false, error: { message: "The 'name' field is required" } });
    }
  });

  it('answers a wrong field type with its contract message', async () => {
    // Prepare
    const { env } = setup();

    // Act
    const { response, body } = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, body: '{"name":["orion"]}' }));

    // Assess
    expect(response.statusCode).toBe(400);
    expect(body).toEqual({ success: false, error: { message: "Invalid request body: 'name' must be a string" } });
  });
});

describe('httpHandler: responses', () => {
  it('answers an unexpected exception with the route failure message, nothing of the exception, and logs it', async () => {
    // Prepare
    const { env, logs } = setup();

    // Act
    const { response, body } = await invoke(env, createRoute, { body: CreateInstanceBody }, event({ method: 'POST', path: createRoute.path, body: '{"name":"orion"}' }), async () => {
      throw new Error(SECRET_FAILURE);
    });

    // Assess
    expect(response.statusCode).toBe(500);
    expect(body).toEqual({ success: false, error: { message: 'Failed to create instance' } });
    expect(response.body).not.toContain('Provisioned');
    expect(response.body).not.toContain('10.0.3.7');
    expect(response.headers).toMatchObject({ 'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '42' });
    expect(response.headers?.['X-Request-Id']).toMatch(ULID);
    expect(logs.filter((line) => line.level === 'error')).toHaveLength(1);
    expect(logs[0]?.fields?.requestId).toBe(response.headers?.['X-Request-Id']);
    expect(String(logs[0]?.fields?.error)).toContain('ProvisionedThroughputExceededException');
  });

  it('uses the failing route own 500 message when the repository throws', async () => {
    // Prepare
    const { env, instances } = setup();
    instances.failWith = new Error(SECRET_FAILURE);

    // Act
    const { response, body } = await invoke(env, settingsRoute, { body: UpdateSettingsBody }, event({ method: 'POST', path: settingsRoute.path, params: { instance: 'orion' }, body: '{}' }));

    // Assess
    expect(response.statusCode).toBe(500);
    expect(body).toEqual({ success: false, error: { message: 'Failed to update settings configuration' } });
  });

  it('adds the request id and rate-limit headers to a success', async () => {
    // Prepare
    const { env } = setup();

    // Act
    const { response, body } = await invoke(env, listRoute, {}, event({ method: 'GET', path: listRoute.path }), async () => ok({ message: '0 Instances found', instances: [] }));

    // Assess
    expect(response.statusCode).toBe(200);
    expect(body).toEqual({ success: true, message: '0 Instances found', instances: [] });
    expect(response.headers).toMatchObject({
      'Content-Type': 'application/json; charset=utf-8',
      'X-RateLimit-Limit': '100',
      'X-RateLimit-Remaining': '42',
      'X-RateLimit-Reset': String(RESET),
    });
    expect(response.headers?.['X-Request-Id']).toMatch(ULID);
    expect(response.headers?.['Retry-After']).toBeUndefined();
  });

  it('adds CORS headers for an allowed origin, on errors too, and none for others', async () => {
    // Prepare
    const { env } = setup({ allowedOrigins: ['https://app.example.com'] });
    const auth = outcome({ principal: null, error: 'auth.invalid_token' });

    // Act
    const allowed = await invoke(env, listRoute, {}, event({ method: 'GET', path: listRoute.path, auth, headers: { Origin: 'https://app.example.com' } }));
    const other = await invoke(env, listRoute, {}, event({ method: 'GET', path: listRoute.path, auth, headers: { origin: 'https://evil.example.com' } }));

    // Assess
    expect(allowed.response.headers).toMatchObject({
      'Access-Control-Allow-Origin': 'https://app.example.com',
      Vary: 'Origin',
      'Access-Control-Expose-Headers': 'X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Request-Id',
    });
    expect(other.response.headers?.['Access-Control-Allow-Origin']).toBeUndefined();
    expect(other.response.statusCode).toBe(401);
  });
});
