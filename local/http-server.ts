import type { APIGatewayAuthorizerResult, APIGatewayProxyEvent, APIGatewayProxyResult, APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AppDeps } from '../functions/deps.ts';
import { windowStart } from '../shared/domain/auth/principal.ts';
import { countAnonymous } from '../shared/domain/use-cases/authorize.use-case.ts';
import { maxBodyBytes } from '../shared/http/http-handler.ts';
import { corsHeaders, errorBody, preflightHeaders, rateHeaders } from '../shared/http/responses.ts';
import { matchRoute, type RouteDef, type RouteModule } from '../shared/http/routes.ts';

type LambdaHandler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;
type Authorizer = (event: APIGatewayRequestAuthorizerEvent) => Promise<APIGatewayAuthorizerResult>;

export interface ApiServerOptions {
  deps: AppDeps;
  routes: readonly RouteDef[];
  /** A module without a handler here answers like an unknown route. */
  modules: Partial<Record<RouteModule, LambdaHandler>>;
  authorizer: Authorizer;
  /**
   * How long a handler may run (API Gateway cuts at 29 s on AWS). The embedded stack's connect
   * waits up to 60 s for a QR code, so its budget is longer; default 90 s.
   */
  requestBudgetMs?: number;
}

class BodyTooLargeError extends Error {}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > maxBodyBytes) return reject(new BodyTooLargeError());
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) {
        req.removeAllListeners('data');
        req.resume();
        return reject(new BodyTooLargeError());
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });

const singleValued = (headers: IncomingMessage['headers']): Record<string, string> => {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) if (value !== undefined) result[key] = Array.isArray(value) ? value.join(',') : value;
  return result;
};

/** Access-log form of a URL: the `token` query parameter never reaches a log (spec D9). */
export const redactedPath = (url: URL): string => {
  if (!url.searchParams.has('token')) return url.pathname + url.search;
  const copy = new URL(url);
  copy.searchParams.set('token', 'REDACTED');
  return copy.pathname + copy.search;
};

const lambdaContext = (requestId: string, budgetMs: number): Context => {
  const deadline = Date.now() + budgetMs;
  return {
    awsRequestId: requestId,
    functionName: 'zapfleet-embedded',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  } as unknown as Context;
};

/**
 * The embedded stack's HTTP front: what API Gateway does on AWS. It matches routes, answers
 * preflights, 404/405 and 413 itself, runs the authorizer and hands the handlers the same
 * proxy events API Gateway would build, authorizer context included.
 */
export const createApiServer = ({ deps, routes, modules, authorizer, requestBudgetMs = 90_000 }: ApiServerOptions): Server => {
  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string>) => {
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string, url: URL): Promise<number> => {
    const method = req.method ?? 'GET';
    const origin = req.headers.origin;
    const sourceIp = req.socket.remoteAddress ?? 'unknown';
    if (method === 'OPTIONS') {
      res.writeHead(204, { ...preflightHeaders(deps.cors, origin), 'X-Request-Id': requestId });
      res.end();
      return 204;
    }
    const match = matchRoute(routes, method, url.pathname);
    if (match.kind !== 'route') {
      const rate = await countAnonymous(deps, sourceIp, windowStart(deps.clock.now().getTime()));
      const headers = { 'X-Request-Id': requestId, ...rateHeaders(rate, Math.floor(Date.now() / 1000)), ...corsHeaders(deps.cors, origin) };
      if (rate.exceeded) return send(res, 429, errorBody('Rate limit exceeded. Try again later.'), headers), 429;
      if (match.kind === 'method_not_allowed') return send(res, 405, errorBody('Method not allowed'), { ...headers, Allow: match.allow.join(', ') }), 405;
      return send(res, 404, errorBody('Route not found'), headers), 404;
    }
    const { route, params } = match;
    let body: string;
    try {
      body = await readBody(req);
    } catch (error) {
      if (!(error instanceof BodyTooLargeError)) throw error;
      send(res, 413, errorBody('Request body too large'), { 'X-Request-Id': requestId, Connection: 'close', ...corsHeaders(deps.cors, origin) });
      return 413;
    }
    const headers = singleValued(req.headers);
    const query: Record<string, string> = {};
    const multiQuery: Record<string, string[]> = {};
    for (const [key, value] of url.searchParams) {
      query[key] = value;
      (multiQuery[key] ??= []).push(value);
    }
    const requestContext = {
      requestId,
      resourcePath: route.path,
      httpMethod: method,
      path: url.pathname,
      stage: 'local',
      identity: { sourceIp },
    } as unknown as APIGatewayProxyEvent['requestContext'];
    const authorizerEvent = {
      type: 'REQUEST',
      methodArn: `arn:aws:execute-api:local:000000000000:zapfleet/local/${method}${route.path}`,
      resource: route.path,
      path: url.pathname,
      httpMethod: method,
      headers,
      queryStringParameters: query,
      pathParameters: params,
      requestContext,
    } as unknown as APIGatewayRequestAuthorizerEvent;
    const authorization = route.auth === 'none' ? null : await authorizer(authorizerEvent);
    const event: APIGatewayProxyEvent = {
      resource: route.path,
      path: url.pathname,
      httpMethod: method,
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([key, value]) => [key, [value]])),
      queryStringParameters: Object.keys(query).length ? query : null,
      multiValueQueryStringParameters: Object.keys(multiQuery).length ? multiQuery : null,
      pathParameters: Object.keys(params).length ? params : null,
      stageVariables: null,
      requestContext: { ...requestContext, authorizer: (authorization?.context ?? {}) as Record<string, unknown> },
      body: body === '' ? null : body,
      isBase64Encoded: false,
    };
    const moduleHandler = modules[route.module];
    if (!moduleHandler) return send(res, 404, errorBody('Route not found'), { 'X-Request-Id': requestId }), 404;
    const result = await moduleHandler(event, lambdaContext(requestId, requestBudgetMs));
    res.writeHead(result.statusCode, result.headers as Record<string, string>);
    res.end(result.body);
    return result.statusCode;
  };

  return createServer((req, res) => {
    const started = Date.now();
    const requestId = deps.ids.ulid();
    const url = new URL(req.url ?? '/', 'http://localhost');
    handle(req, res, requestId, url)
      .then((status) => deps.logger.info('request', { requestId, method: req.method, path: redactedPath(url), status, ms: Date.now() - started }))
      .catch((error: unknown) => {
        deps.logger.error('request failed', { requestId, path: redactedPath(url), error: error instanceof Error ? error.stack : String(error) });
        if (!res.headersSent) send(res, 500, errorBody('Internal server error'), { 'X-Request-Id': requestId });
        else res.destroy();
      });
  });
};
