import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { EventPublisher, EventRecord } from '../../domain/events/event.ts';
import { createSqsSendBatcher } from './send-batcher.ts';
import { sqsSafeJson } from './sqs-json.ts';

/** SQS takes 256 KiB per message; events above this go to S3 and the queue carries a pointer. */
export const inlineEventLimitBytes = 200 * 1024;

export interface QueuedEvent {
  record?: EventRecord;
  /** Key of the event's JSON in the platform bucket, for events too large for a queue message. */
  pointer?: { bucket: string; key: string };
}

/**
 * Publishes to the events queue; concurrent publishes share `SendMessageBatch` requests (10 per
 * request) and each resolves once SQS accepted its own message.
 */
export const createSqsEventPublisher = (options: { sqs: SQSClient; queueUrl: string; s3: S3Client; bucket: string }): EventPublisher => {
  const batcher = createSqsSendBatcher({ sqs: options.sqs, queueUrl: options.queueUrl });
  return {
    async publish(record) {
      const json = sqsSafeJson(record);
      if (Buffer.byteLength(json) <= inlineEventLimitBytes) {
        // The QueuedEvent `{ record }`, without serialising the record twice.
        await batcher.send(`{"record":${json}}`);
        return;
      }
      const key = `events/${record.instanceId}/${record.id}.json`;
      await options.s3.send(new PutObjectCommand({ Bucket: options.bucket, Key: key, Body: json, ContentType: 'application/json' }));
      const body: QueuedEvent = { pointer: { bucket: options.bucket, key } };
      await batcher.send(sqsSafeJson(body));
    },
  };
};

/** Reads a queued event back, following an S3 pointer when there is one. */
export const readQueuedEvent = async (s3: S3Client, body: string): Promise<EventRecord> => {
  const queued = JSON.parse(body) as QueuedEvent;
  if (queued.record) return queued.record;
  if (!queued.pointer) throw new Error('queued event has neither a record nor a pointer');
  const object = await s3.send(new GetObjectCommand({ Bucket: queued.pointer.bucket, Key: queued.pointer.key }));
  return JSON.parse(await (object.Body as { transformToString(): Promise<string> }).transformToString()) as EventRecord;
};
