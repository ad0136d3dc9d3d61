import { awsContext } from '../aws.ts';
import { createEventDispatcher } from '../events/dispatcher.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';

/**
 * Invoked on a schedule (EventBridge, every minute): attempts the webhook deliveries that are due
 * (retries with backoff, replays, first attempts whose dispatcher died), then waits for them,
 * because a Lambda is frozen once its handler returns.
 */
export const handler = lazy(async () => {
  const { deps, dynamo, s3, baseUrl } = await awsContext(lambdaEnv());
  const dispatcher = createEventDispatcher({ deps, dynamo, s3, baseUrl });
  return async (): Promise<{ started: number }> => {
    const started = await dispatcher.runDue();
    await dispatcher.drain();
    return { started };
  };
});
