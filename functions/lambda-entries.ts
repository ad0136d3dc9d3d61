import type { APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { adminModule } from './admin/admin.handlers.ts';
import { authorizerHandler } from './authorizer/authorizer.handler.ts';
import type { SQSEvent } from 'aws-lambda';
import { moduleHandler } from '../shared/http/http-handler.ts';
import { awsContext, awsDeps } from './aws.ts';
import { createEventDispatcher, sqsHandler } from './events/dispatcher.ts';
import { webhookHandlers } from './events/webhook.handlers.ts';
import { websocketHandlers } from './events/websocket.handlers.ts';
import { instanceHandlers } from './instance/instance.handlers.ts';
import { metricsHandlers } from './instance/metrics.handler.ts';
import { messageModule } from './message/message.handlers.ts';

/**
 * The Lambda handlers `infra/` points at (one function per route group). Dependencies are built
 * on the first invocation of an execution environment and reused afterwards.
 */
const lazy = <E, R>(build: () => Promise<(event: E, context: Context) => Promise<R>>) => {
  let handler: Promise<(event: E, context: Context) => Promise<R>> | undefined;
  return async (event: E, context: Context): Promise<R> => (await (handler ??= build()))(event, context);
};

export const authorizer = lazy(async () => {
  const handler = authorizerHandler(await awsDeps());
  return (event: APIGatewayRequestAuthorizerEvent) => handler(event);
});
export const instance = lazy(async () => {
  const { deps, dynamo } = await awsContext();
  return moduleHandler(new Map([...instanceHandlers(deps), ...metricsHandlers(deps, { dynamo })]));
});
export const events = lazy(async () => {
  const { deps, dynamo } = await awsContext();
  return moduleHandler(new Map([...webhookHandlers(deps, { dynamo }), ...websocketHandlers(deps)]));
});
/** The events queue's SQS-triggered dispatcher (partial batch failures reported). */
export const dispatcher = lazy(async () => {
  const { deps, dynamo, s3, baseUrl } = await awsContext();
  const handler = sqsHandler(createEventDispatcher({ deps, dynamo, s3, baseUrl }));
  return (event: SQSEvent) => handler(event);
});
/** The 13 send routes (spec §2.3). */
export const message = lazy(async () => messageModule((await awsContext()).deps));
export const admin = lazy(async () => adminModule(await awsDeps()));

