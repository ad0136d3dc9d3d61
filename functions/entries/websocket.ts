import type { APIGatewayProxyResult } from 'aws-lambda';
import { awsContext } from '../aws.ts';
import {
  websocketConnectHandler,
  websocketDefaultHandler,
  websocketDisconnectHandler,
  type WebsocketAwsDeps,
  type WebsocketEvent,
} from '../events/websocket-aws.handlers.ts';
import { lazyManagement } from './lazy-clients.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';

/**
 * The WebSocket API's routes in one function, chosen by `routeKey`.
 *
 * `$connect` does its own authentication (token in the `token` header, `Authorization: Bearer`
 * or `?token=`) and admission, like the embedded hub, and answers refusals with the contract's
 * status and body. The instance name travels as `?instance=<name>` because WebSocket routes have
 * no path parameters: clients connect to `wss://<api>/<stage>?instance=<name>&token=<token>`.
 */
export const handler = lazy(async () => {
  // These three routes render no event envelope, so `<BASE_URL>` is unused here; the shared
  // configuration requires one (the dispatcher's envelopes carry it), hence this stand-in.
  const { deps, dynamo, baseUrl } = await awsContext({ ZAPFLEET_BASE_URL: 'https://websocket.invalid', ...lambdaEnv() });
  const wsDeps: WebsocketAwsDeps = {
    ...deps,
    doc: dynamo.doc,
    tableName: dynamo.tableName,
    // Only `$default` (the `pong`) uses it: loaded on the first ping.
    management: lazyManagement(process.env.ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT),
    baseUrl,
  };
  const routes: Record<string, (event: WebsocketEvent) => Promise<APIGatewayProxyResult>> = {
    $connect: websocketConnectHandler(wsDeps),
    $disconnect: websocketDisconnectHandler(wsDeps),
    $default: websocketDefaultHandler(wsDeps),
  };
  return async (event: WebsocketEvent): Promise<APIGatewayProxyResult> => {
    const route = routes[event.requestContext.routeKey] ?? routes.$default;
    return (route as (typeof routes)[string])(event);
  };
});
