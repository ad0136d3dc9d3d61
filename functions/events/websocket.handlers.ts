import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import type { InstanceAggregate } from '../../shared/domain/instance/instance.ts';
import { getWebsocket, saveWebsocket, SaveWebsocketBody, type Admission, type WebsocketRefusal } from '../../shared/domain/use-cases/websocket.use-cases.ts';
import type { ErrorCode } from '../../shared/domain/errors/domain-error.ts';
import { renderError } from '../../shared/http/error-map.ts';
import { httpHandler } from '../../shared/http/http-handler.ts';
import { errorBody, ok } from '../../shared/http/responses.ts';
import { routes, type RouteDef } from '../../shared/http/routes.ts';
import type { AppDeps } from '../deps.ts';

type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const routeOf = (operation: string): RouteDef => routes.find((route) => route.module === 'events' && route.operation === operation) as RouteDef;
const instanceOf = (instance: InstanceAggregate | null) => instance as InstanceAggregate;

/** The WebSocket routes of the events module (spec #16, #17). */
export const websocketHandlers = (deps: AppDeps): Map<string, Handler> => {
  const entries: [string, Handler][] = [
    [
      'saveWebsocket',
      httpHandler(deps, routeOf('saveWebsocket'), { body: SaveWebsocketBody }, async (req) =>
        ok({ message: 'WebSocket configuration saved', websocket: await saveWebsocket(deps, instanceOf(req.instance), req.body) }),
      ),
    ],
    [
      'getWebsocket',
      httpHandler(deps, routeOf('getWebsocket'), {}, async (req) => {
        const websocket = getWebsocket(instanceOf(req.instance));
        if (!websocket) return { status: 404, body: errorBody('WebSocket not configured for this instance') };
        return ok({ message: 'WebSocket configuration retrieved', websocket });
      }),
    ],
  ];
  return new Map(
    entries.map(([operation, handler]) => {
      const route = routeOf(operation);
      return [`${route.method} ${route.path}`, handler];
    }),
  );
};

const refusals: Record<WebsocketRefusal, (name: string) => { status: number; message: string }> = {
  'websocket.upgrade_required': () => ({ status: 426, message: 'Expected WebSocket upgrade' }),
  'websocket.origin_not_allowed': () => ({ status: 403, message: 'Origin not allowed' }),
  'websocket.not_enabled': (name) => ({
    status: 400,
    message: `WebSocket is not enabled for this instance. Configure it first using POST /api/events/websocket/${name}`,
  }),
  'websocket.too_many_connections': () => ({ status: 429, message: 'Too many WebSocket connections for this instance' }),
};

/** Status and exact message of a refused `GET /ws/:instance` (spec #18, [AUTH], [INST]). */
export const renderRefusal = (refusal: Extract<Admission, { kind: 'refused' }>): { status: number; message: string } => {
  const render = refusals[refusal.reason as WebsocketRefusal] as ((name: string) => { status: number; message: string }) | undefined;
  return render ? render(refusal.instanceName) : renderError(refusal.reason as ErrorCode);
};
