import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { InstanceAggregate } from '../../shared/domain/instance/instance.ts';
import { idempotencyHeader, idempotencyKeyOf, replayedHeader } from '../../shared/domain/messages/idempotency.ts';
import { sendBodySchemas, sendKinds, type SendKind, type SendRequest } from '../../shared/domain/messages/send.schemas.ts';
import { sendMessage } from '../../shared/domain/use-cases/send-message.use-cases.ts';
import { httpHandler, moduleHandler } from '../../shared/http/http-handler.ts';
import { routes, type RouteDef } from '../../shared/http/routes.ts';
import type { AppDeps } from '../deps.ts';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const routeOf = (kind: SendKind): RouteDef => routes.find((route) => route.module === 'message' && route.operation === kind) as RouteDef;

/** Header names are case-insensitive (`Idempotency-Key`, `idempotency-key`, …). */
const headerOf = (event: APIGatewayProxyEvent, name: string): string | null => {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) if (key.toLowerCase() === wanted && value !== undefined) return value;
  return null;
};

/** The JSON body as sent (already checked to be an object by the wrapper), for the idempotency fingerprint. */
const rawBodyOf = (event: APIGatewayProxyEvent): unknown => {
  const raw = event.isBase64Encoded && event.body ? Buffer.from(event.body, 'base64').toString('utf8') : (event.body ?? '');
  return raw.trim() === '' ? {} : (JSON.parse(raw) as unknown);
};

/**
 * The message module: `POST /api/message/<kind>/:instance` for the 13 kinds (spec §2.3).
 * The wrapper validates the body with the kind's schema (steps 7–8 of §0.6); the idempotency key
 * (header or body, the last field of every table) is checked next; the use case does the rest.
 */
export const messageHandlers = (deps: AppDeps): Map<string, Handler> => {
  const sendDeps = { ...deps, messages: deps.messageStore, onStoreError: (error: unknown) => deps.logger.warn('send bookkeeping write failed (idempotency record or pending message)', { error: String(error) }) };
  // The instance look-up of every send goes through the embedded stack's read cache when there is
  // one: it serves an aggregate only while no write touched its partition since it was read (this
  // process makes every write: a deletion or a disconnection is seen at once) and for at most 1 s.
  // The runner re-checks the session before it sends.
  const cached = deps.instanceReads;
  const env = cached ? { ...deps, instances: { ...deps.instances, get: (accountId: string, name: string) => cached.get(accountId, name) } } : deps;
  const entries = sendKinds.map((kind): [string, Handler] => {
    const route = routeOf(kind);
    const handler = httpHandler(env, route, { body: sendBodySchemas[kind] }, async (req) => {
      const body = req.body as SendRequest;
      const request = { ...body, idempotencyKey: idempotencyKeyOf(headerOf(req.event, idempotencyHeader), body.idempotencyKey) } as SendRequest;
      const { response, replayed } = await sendMessage(sendDeps, req.instance as InstanceAggregate, request, {
        route: `${route.method} ${route.path}`,
        body: rawBodyOf(req.event),
      });
      return { status: response.status, body: response.body, ...(replayed ? { headers: { [replayedHeader]: 'true' } } : {}) };
    });
    return [`${route.method} ${route.path}`, handler];
  });
  return new Map(entries);
};

export const messageModule = (deps: AppDeps) => moduleHandler(messageHandlers(deps));
