import { moduleHandler } from '../../shared/http/http-handler.ts';
import { awsContext } from '../aws.ts';
import { instanceHandlers } from '../instance/instance.handlers.ts';
import { metricsHandlers } from '../instance/metrics.handler.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';

/** `/api/instance/*`, metrics included. */
export const handler = lazy(async () => {
  const { deps, dynamo } = await awsContext(lambdaEnv());
  return moduleHandler(new Map([...instanceHandlers(deps), ...metricsHandlers(deps, { dynamo })]));
});
