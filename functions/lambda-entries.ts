import type { APIGatewayRequestAuthorizerEvent, Context } from 'aws-lambda';
import { adminModule } from './admin/admin.handlers.ts';
import { authorizerHandler } from './authorizer/authorizer.handler.ts';
import { awsDeps } from './aws.ts';
import { instanceModule } from './instance/instance.handlers.ts';

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
export const instance = lazy(async () => instanceModule(await awsDeps()));
export const admin = lazy(async () => adminModule(await awsDeps()));

