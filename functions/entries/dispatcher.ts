import { S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createS3MediaObjects } from '../../shared/adapters/s3/media-objects.s3.ts';
import type { EventRecord } from '../../shared/domain/events/event.ts';
import { createMediaDelivery } from '../../shared/domain/events/media.ts';
import { awsContext } from '../aws.ts';
import { createEventDispatcher, sqsHandler } from '../events/dispatcher.ts';
import { broadcastToConnections } from '../events/websocket-aws.handlers.ts';
import { lazyManagement } from './lazy-clients.ts';
import { lambdaEnv } from './env.ts';
import { lazy } from './lazy.ts';
import { webhookMetrics } from './webhook-metrics.ts';

/**
 * The events queue consumer: webhooks first attempts, then the WebSocket push. Failed messages are
 * reported as `batchItemFailures` (the event source mapping has `ReportBatchItemFailures` on).
 * WebSocket pushes run while the batch is handled and are awaited before returning, because a
 * Lambda is frozen once its handler returns; so are the webhook metrics (flushed as EMF lines).
 */
export const handler = lazy(async () => {
  const { deps, dynamo, baseUrl } = await awsContext(lambdaEnv());
  // A real client: event payloads come as S3 pointers, and media links are presigned with it.
  const s3 = new S3Client({});
  const endpoint = process.env.ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT;
  const broadcast = endpoint
    ? broadcastToConnections({
        ...deps,
        doc: dynamo.doc,
        tableName: dynamo.tableName,
        // Loaded on the first push (an instance with a connected stream).
        management: lazyManagement(endpoint),
        baseUrl,
        // Frames carry media as presigned `s3Url` (and `base64` when configured), like webhooks.
        media: createMediaDelivery({ objects: createS3MediaObjects({ platform: s3 }), instances: deps.instances, vault: deps.vault, outbound: deps.outbound, logger: deps.logger }),
      })
    : undefined;
  const pushes = new Set<Promise<unknown>>();
  const onRecord = broadcast
    ? (record: EventRecord) => {
        const push = broadcast(record)
          .catch((error: unknown) => deps.logger.warn('websocket push failed', { eventId: record.id, error: error instanceof Error ? error.message : String(error) }))
          .finally(() => pushes.delete(push));
        pushes.add(push);
      }
    : undefined;
  const { metrics, sender } = webhookMetrics(deps);
  const consume = sqsHandler(createEventDispatcher({ deps, dynamo, s3, baseUrl, sender, ...(onRecord ? { onRecord } : {}) }));
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    try {
      const response = await consume(event);
      await Promise.all([...pushes]);
      return response;
    } finally {
      metrics.flush();
    }
  };
});
