import { moduleHandler } from '../../shared/http/http-handler.ts';
import { awsContext } from '../aws.ts';
import { webhookHandlers } from '../events/webhook.handlers.ts';
import { websocketHandlers } from '../events/websocket.handlers.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';

/** `/api/events/*`: webhook and WebSocket configuration, deliveries, replay. */
export const handler = lazy(async () => {
  const { deps, dynamo } = await awsContext(lambdaEnv());
  return moduleHandler(new Map([...webhookHandlers(deps, { dynamo }), ...websocketHandlers(deps)]));
});
