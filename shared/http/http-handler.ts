import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { z } from 'zod';
import type { TokenEntry } from '../domain/auth/principal.ts';
import { DomainError, isDomainError } from '../domain/errors/domain-error.ts';
import type { InstanceAggregate } from '../domain/instance/instance.ts';
import type { InstanceRepository } from '../domain/ports/repositories.port.ts';
import type { Clock, IdGenerator, Logger } from '../domain/ports/runtime.port.ts';
import type { AuthOutcome } from '../domain/use-cases/authorize.use-case.ts';
import { parseOrThrow } from '../domain/validation.ts';
import { fromAuthorizerContext } from './auth-context.ts';
import { renderError } from './error-map.ts';
import { corsHeaders, errorBody, rateHeaders, toProxyResult, type CorsConfig, type HttpResult } from './responses.ts';
import type { RouteDef } from './routes.ts';

export const maxBodyBytes = 5 * 1024 * 1024;

export interface HttpEnv {
  instances: InstanceRepository;
  logger: Logger;
  cors: CorsConfig;
  clock: Clock;
  ids: IdGenerator;
}

export interface HttpRequest<B> {
  event: APIGatewayProxyEvent;
  requestId: string;
  route: RouteDef;
  principal: TokenEntry | null;
  /** Resolved and ownership-checked, for routes with `{instance}`. */
  instance: InstanceAggregate | null;
  params: Record<string, string>;
  query: Record<string, string | undefined>;
  body: B;
}

interface State {
  requestId: string;
  auth: AuthOutcome;
  principal: TokenEntry | null;
  instance: InstanceAggregate | null;
  body: unknown;
}

type Request = middy.Request<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context, { state: State }>;

const ulidPattern = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const header = (event: APIGatewayProxyEvent, name: string): string | undefined => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === wanted) return value ?? undefined;
  return undefined;
};

/**
 * The one HTTP wrapper of every handler. Middlewares run in the contract's order of checks
 * (spec §0.6): the authorizer already did credentials and rate limit (steps 2–3) →
 * `credentials` (its verdict, then the TokenAccount-only permission, step 4) → `instanceScope`
 * (empty name, ownership, steps 5–6) → `jsonBody` (parse, types, field rules, steps 7–8) → the
 * handler. `contractEnvelope` is registered first, so its `onError` (middy runs `onError` in
 * reverse) is the last word: every failure leaves in the error envelope with the
 * rate-limit, request-id and CORS headers.
 */
export const httpHandler = <S extends z.ZodType | undefined = undefined>(
  env: HttpEnv,
  route: RouteDef,
  /**
   * `instanceList`: `{instance}` is a comma-separated list of names (#13); the handler resolves
   * and checks them itself, in the same order (empty, 403, 404), instead of `instanceScope`.
   */
  options: { body?: S; instanceList?: boolean },
  handle: (request: HttpRequest<S extends z.ZodType ? z.output<S> : undefined>) => Promise<HttpResult>,
) =>
  middy<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context, { state: State }>()
    .use(contractEnvelope(env, route))
    .use(credentials(route))
    .use(instanceScope(env, route, options.instanceList === true))
    .use(jsonBody(options.body))
    .handler(async (event, context) => {
      const state = (context as unknown as { state: State }).state;
      const result = await handle({
        event,
        requestId: state.requestId,
        route,
        principal: state.principal,
        instance: state.instance,
        params: (event.pathParameters ?? {}) as Record<string, string>,
        query: (event.queryStringParameters ?? {}) as Record<string, string | undefined>,
        body: state.body as never,
      });
      return toProxyResult(result, {});
    });

const stateOf = (request: Request): State => (request.context as unknown as { state: State }).state;

const contractEnvelope = (env: HttpEnv, route: RouteDef): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> => {
  const headersFor = (request: Request): Record<string, string> => {
    const state = stateOf(request);
    return {
      'X-Request-Id': state.requestId,
      ...rateHeaders(state.auth.rate, Math.floor(env.clock.now().getTime() / 1000)),
      ...corsHeaders(env.cors, header(request.event, 'origin')),
    };
  };
  return {
    before: (request) => {
      const given = request.event.requestContext?.requestId;
      const state: State = {
        requestId: given && ulidPattern.test(given) ? given : env.ids.ulid(),
        auth: fromAuthorizerContext(request.event.requestContext?.authorizer as Record<string, unknown> | undefined),
        principal: null,
        instance: null,
        body: undefined,
      };
      (request.context as unknown as { state: State }).state = state;
    },
    after: (request) => {
      const response = request.response as APIGatewayProxyResult;
      response.headers = { ...response.headers, ...headersFor(request as Request) };
    },
    onError: (request) => {
      const error = request.error;
      let status: number;
      let message: string;
      if (isDomainError(error)) {
        ({ status, message } = renderError(error.code, error.detail));
      } else {
        status = 500;
        message = route.failure;
        env.logger.error('request failed', {
          requestId: stateOf(request as Request)?.requestId,
          route: `${route.method} ${route.path}`,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
          stack: error instanceof Error ? error.stack : undefined,
        });
      }
      if (!stateOf(request as Request)) (request.context as unknown as { state: State }).state = emptyState(env);
      request.response = toProxyResult({ status, body: errorBody(message) }, headersFor(request as Request));
    },
  };
};

const emptyState = (env: HttpEnv): State => ({
  requestId: env.ids.ulid(),
  auth: { principal: null, admin: false, error: null, rate: null },
  principal: null,
  instance: null,
  body: undefined,
});

const credentials = (route: RouteDef): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> => ({
  before: (request) => {
    const state = stateOf(request as Request);
    const { auth } = state;
    if (auth.error) throw new DomainError(auth.error);
    if (route.auth === 'none') return;
    if (route.auth === 'admin') {
      if (!auth.admin) throw new DomainError('auth.invalid_admin_key');
      return;
    }
    // Defence in depth: a handler never runs for a token route without a principal.
    if (!auth.principal) throw new DomainError('auth.missing_token');
    if (route.accountOnly && auth.principal.kind !== 'account') throw new DomainError('auth.invalid_token');
    state.principal = auth.principal;
  },
});

const instanceScope = (env: HttpEnv, route: RouteDef, list: boolean): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> => ({
  before: async (request) => {
    if (list || !route.path.includes('{instance}')) return;
    const state = stateOf(request as Request);
    const name = request.event.pathParameters?.instance ?? '';
    if (name === '') throw new DomainError('instance.name_required');
    const principal = state.principal as TokenEntry;
    // A TokenInstance never learns whether another name exists (spec D11).
    if (principal.kind === 'instance' && principal.instanceName !== name) throw new DomainError('auth.instance_mismatch');
    if (name.length > 64 || name.includes('#')) throw new DomainError('instance.not_found');
    const found = await env.instances.get(principal.accountId, name);
    if (!found) throw new DomainError('instance.not_found');
    state.instance = found;
  },
});

const jsonBody = (schema: z.ZodType | undefined): middy.MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> => ({
  before: (request) => {
    if (!schema) return;
    const { event } = request;
    const raw = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : (event.body ?? '');
    if (Buffer.byteLength(raw, 'utf8') > maxBodyBytes) throw new DomainError('request.body_too_large');
    let parsed: unknown = {};
    if (raw.trim() !== '') {
      try {
        parsed = JSON.parse(raw);
      } catch {
        throw new DomainError('request.invalid_body');
      }
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DomainError('request.invalid_body');
    stateOf(request as Request).body = parseOrThrow(schema, parsed);
  },
});

/** Dispatches a module Lambda's events to its per-route handlers by API Gateway resource. */
export const moduleHandler =
  (handlers: ReadonlyMap<string, (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>>) =>
  async (event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> => {
    const handler = handlers.get(`${event.httpMethod} ${event.resource}`);
    if (!handler) return toProxyResult({ status: 404, body: errorBody('Route not found') }, {});
    return handler(event, context);
  };
