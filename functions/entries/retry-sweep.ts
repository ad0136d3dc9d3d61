import { S3Client } from '@aws-sdk/client-s3';
import { awsContext } from '../aws.ts';
import { createEventDispatcher } from '../events/dispatcher.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';
import { webhookMetrics } from './webhook-metrics.ts';

/**
 * Invoked on a schedule (EventBridge, every minute): attempts the webhook deliveries that are due
 * (retries with backoff, replays, first attempts whose dispatcher died), then waits for them and
 * flushes their metrics, because a Lambda is frozen once its handler returns.
 */
export const handler = lazy(async () => {
  const { deps, dynamo, baseUrl } = await awsContext(lambdaEnv());
  const { metrics, sender } = webhookMetrics(deps);
  const dispatcher = createEventDispatcher({ deps, dynamo, s3: new S3Client({}), baseUrl, sender });
  return async (): Promise<{ started: number }> => {
    try {
      const started = await dispatcher.runDue();
      await dispatcher.drain();
      return { started };
    } finally {
      metrics.flush();
    }
  };
});
