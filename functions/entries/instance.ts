import { moduleHandler } from '../../shared/http/http-handler.ts';
import { awsContext } from '../aws.ts';
import { instanceHandlers } from '../instance/instance.handlers.ts';
import { metricsHandlers } from '../instance/metrics.handler.ts';
import { sqsCommands } from './commands.ts';
import { managementStreams } from './streams.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';

/** `/api/instance/*`, metrics included. Sends shard commands; deletion closes the instance's streams. */
export const handler = lazy(async () => {
  const { deps, dynamo } = await awsContext(lambdaEnv(), { commands: sqsCommands, streams: managementStreams });
  return moduleHandler(new Map([...instanceHandlers(deps), ...metricsHandlers(deps, { dynamo })]));
});
