import type { EventRecord } from '../../shared/domain/events/event.ts';
import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import type { WebhookSender } from '../../shared/domain/events/delivery.ts';
import type { Logger } from '../../shared/domain/ports/runtime.port.ts';
import { createWebhookSender } from '../../shared/adapters/http/webhook-sender.ts';
import { undiciPost } from '../../shared/adapters/http/undici-post.ts';
import { createEventDispatcher, createRetryScheduler, type EventDeliveryDeps, type EventDispatcher } from '../../functions/events/dispatcher.ts';

export interface EmbeddedEventDeliveryOptions {
  deps: EventDeliveryDeps;
  dynamo: DynamoContext;
  sqs: SQSClient;
  s3: S3Client;
  /** The events queue (`zapfleet-events`). */
  queueUrl: string;
  /** The platform bucket that holds events too large for the queue (kept for symmetry with the runner). */
  bucket: string;
  /** `instanceData.baseUrl`. */
  baseUrl: string;
  logger: Logger;
  /**
   * Long-poll loops on the queue at most (default 4). One always polls; the others join only
   * while receives come back full (a backlog) and leave at the first partial one, so a steady
   * trickle is gathered into few receives instead of one receive per event per loop.
   */
  consumers?: number;
  /** Queue messages received and not yet deleted (being fanned out) at most (default 1000). */
  maxInProgress?: number;
  /**
   * After a receive that returned fewer than 10 messages, a loop waits this long before the next
   * one (default 50 ms), so that receives (and their deletes) carry several messages each under a
   * steady trickle instead of one: a few ms of latency for a fraction of the requests.
   */
  gatherMs?: number;
  /** Long-poll wait, seconds (default 1: a stop never waits longer). */
  waitTimeSeconds?: number;
  /** Retry sweep interval (default 500 ms). */
  sweepIntervalMs?: number;
  retryDelaysMs?: readonly number[];
  sender?: WebhookSender;
  onRecord?: (record: EventRecord) => void;
}

export interface EmbeddedEventDelivery {
  dispatcher: EventDispatcher;
  stop(): Promise<void>;
}

/**
 * The embedded stack's events pipeline: long-polls the events queue into the dispatcher (what
 * the SQS trigger does on AWS) and runs the retry scheduler. Messages are deleted only after
 * their deliveries are written; everything else lives in DynamoDB, so a restart loses nothing.
 */
export const startEmbeddedEventDelivery = (options: EmbeddedEventDeliveryOptions): EmbeddedEventDelivery => {
  const { logger } = options;
  const dispatcher = createEventDispatcher({
    deps: options.deps,
    dynamo: options.dynamo,
    s3: options.s3,
    baseUrl: options.baseUrl,
    retryDelaysMs: options.retryDelaysMs,
    sender: options.sender ?? createWebhookSender({ outbound: options.deps.outbound, now: () => options.deps.clock.now(), post: undiciPost }),
    onRecord: options.onRecord,
  });
  const scheduler = createRetryScheduler({ dispatcher, logger, intervalMs: options.sweepIntervalMs });
  const abort = new AbortController();
  let stopped = false;

  /**
   * A loop does not wait for the fan-out of what it received before receiving again: fan-outs
   * (a round trip or two each, batched) overlap, up to `maxInProgress` messages. Each received
   * batch is deleted once its deliveries are written.
   */
  const maxInProgress = options.maxInProgress ?? 1000;
  const gatherMs = options.gatherMs ?? 50;
  let inProgress = 0;
  const processing = new Set<Promise<void>>();
  let roomWaiters: (() => void)[] = [];
  const room = () =>
    inProgress < maxInProgress ? Promise.resolve() : new Promise<void>((resolve) => roomWaiters.push(resolve));

  const fanOutAndDelete = async (messages: { id: string; body: string; receipt: string }[]) => {
    try {
      const { failedIds } = await dispatcher.handleQueueMessages(messages);
      const done = messages.filter((message) => !failedIds.includes(message.id));
      if (done.length) {
        await options.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: options.queueUrl,
            Entries: done.map((message, index) => ({ Id: String(index), ReceiptHandle: message.receipt })),
          }),
        );
      }
    } catch (error) {
      // Not deleted: the messages come back after their visibility timeout (deliveries are idempotent).
      logger.error('events queue batch not completed', { error: error instanceof Error ? error.message : String(error) });
    }
  };

  /** Set by a full receive (a backlog), cleared by a partial one; the extra loops poll only while it is set. */
  let backlog = false;
  let backlogWaiters: (() => void)[] = [];
  const noteBacklog = (full: boolean) => {
    backlog = full;
    if (!full) return;
    const waiters = backlogWaiters;
    backlogWaiters = [];
    for (const resolve of waiters) resolve();
  };
  const inBacklog = () => (backlog ? Promise.resolve() : new Promise<void>((resolve) => backlogWaiters.push(resolve)));

  const consume = async (extra: boolean) => {
    while (!stopped) {
      try {
        if (extra) await inBacklog();
        await room();
        if (stopped) return;
        const out = await options.sqs.send(
          new ReceiveMessageCommand({ QueueUrl: options.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: options.waitTimeSeconds ?? 1 }),
          { abortSignal: abort.signal },
        );
        const messages = (out.Messages ?? []).map((message) => ({ id: message.MessageId as string, body: message.Body ?? '', receipt: message.ReceiptHandle as string }));
        noteBacklog(messages.length === 10);
        if (messages.length === 0) continue;
        const gather = messages.length < 10 && gatherMs > 0 ? new Promise((resolve) => setTimeout(resolve, gatherMs)) : null;
        inProgress += messages.length;
        const work = fanOutAndDelete(messages).finally(() => {
          inProgress -= messages.length;
          processing.delete(work);
          const waiters = roomWaiters;
          roomWaiters = [];
          for (const resolve of waiters) resolve();
        });
        processing.add(work);
        await gather;
      } catch (error) {
        if (stopped) return;
        logger.error('events queue poll failed', { error: error instanceof Error ? error.message : String(error) });
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  };

  const loops = Array.from({ length: options.consumers ?? 4 }, (_, index) => consume(index > 0));
  scheduler.start();

  return {
    dispatcher,
    async stop() {
      stopped = true;
      abort.abort();
      for (const resolve of [...roomWaiters, ...backlogWaiters]) resolve();
      roomWaiters = [];
      backlogWaiters = [];
      await Promise.allSettled(loops);
      await Promise.allSettled([...processing]);
      await scheduler.stop();
      // Attempts in flight finish (at most the 10 s send timeout); unfinished ones are retried after a restart.
      await dispatcher.drain();
    },
  };
};
