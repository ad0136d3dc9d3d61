import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppDeps } from '../../../functions/deps.ts';
import { createApiServer } from '../../../local/http-server.ts';
import { httpHandler, moduleHandler } from '../../../shared/http/http-handler.ts';
import { ok } from '../../../shared/http/responses.ts';
import { routes } from '../../../shared/http/routes.ts';
import { testHttpEnv } from '../../support/http-env.ts';

const health = routes.find((route) => route.path === '/health') as (typeof routes)[number];
const env = testHttpEnv;

/** The embedded HTTP front serving `GET /health` with a handler that takes `handlerMs`. */
const serve = async (handlerMs: number, requestBudgetMs?: number) => {
  const handler = httpHandler(env, health, {}, async () => {
    await new Promise((resolve) => setTimeout(resolve, handlerMs));
    return ok({ status: 'ok' });
  });
  const server = createApiServer({
    deps: env as unknown as AppDeps,
    routes: [health],
    modules: { system: moduleHandler(new Map([['GET /health', handler as (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>]])) },
    authorizer: async () => {
      throw new Error('no authorizer for an open route');
    },
    ...(requestBudgetMs === undefined ? {} : { requestBudgetMs }),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  const response = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/health`);
  return { status: response.status, body: await response.json() };
};
const servers: ReturnType<typeof createApiServer>[] = [];

describe('embedded HTTP front: the handlers’ time budget', () => {
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  });

  it('lets a handler run past the budget API Gateway would impose when its own budget allows', async () => {
    // Act: a 300 ms handler with a 2 s budget.
    const answer = await serve(300, 2_000);
    // Assess
    expect(answer).toEqual({ status: 200, body: { success: true, status: 'ok' } });
  });

  it('cuts a handler that outlives its budget with a 500 in the envelope', async () => {
    // Act: a 1 s handler with a 100 ms budget.
    const answer = await serve(1_000, 100);
    // Assess
    expect(answer.status).toBe(500);
    expect(answer.body).toMatchObject({ success: false, error: { message: expect.any(String) } });
  });
});
