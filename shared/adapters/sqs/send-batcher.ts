import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

export interface SqsSendBatcherOptions {
  sqs: Pick<SQSClient, 'send'>;
  queueUrl: string;
  /** Entries per `SendMessageBatch` (SQS allows 10). */
  maxEntries?: number;
  /** Body bytes per request (SQS allows 256 KiB for the whole batch). */
  maxBytes?: number;
  /** Requests in flight at once. */
  concurrency?: number;
  /** Attempts for entries SQS reports as failed by its own fault (`SenderFault: false`). */
  attempts?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface SqsSendBatcher {
  /** Resolves once SQS accepted the message; rejects when it did not (nothing was queued then). */
  send(body: string): Promise<void>;
}

interface Pending {
  body: string;
  bytes: number;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/**
 * Group send for an SQS queue: messages wait while `concurrency` requests are in flight, then go
 * together in `SendMessageBatch` requests of up to 10. A message alone on an idle batcher is sent
 * at once (next turn of the event loop). Each caller hears about its own entry: a failed entry
 * rejects only its caller (after retries when the failure is SQS's).
 */
export const createSqsSendBatcher = (options: SqsSendBatcherOptions): SqsSendBatcher => {
  const maxEntries = options.maxEntries ?? 10;
  const maxBytes = options.maxBytes ?? 256 * 1024;
  const concurrency = options.concurrency ?? 4;
  const attempts = options.attempts ?? 5;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const queue: Pending[] = [];
  let running = 0;
  let scheduled = false;

  const take = (): Pending[] => {
    const batch: Pending[] = [];
    let bytes = 0;
    while (queue.length > 0 && batch.length < maxEntries) {
      const next = queue[0] as Pending;
      if (batch.length > 0 && bytes + next.bytes > maxBytes) break;
      queue.shift();
      batch.push(next);
      bytes += next.bytes;
    }
    return batch;
  };

  const flush = async (batch: Pending[]): Promise<void> => {
    let remaining = batch;
    for (let attempt = 1; remaining.length > 0; attempt += 1) {
      let failed: { Id?: string; SenderFault?: boolean; Code?: string; Message?: string }[];
      try {
        const out = await options.sqs.send(
          new SendMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: remaining.map((pending, index) => ({ Id: String(index), MessageBody: pending.body })) }),
        );
        failed = out.Failed ?? [];
      } catch (error) {
        for (const pending of remaining) pending.reject(error);
        return;
      }
      const byId = new Map(failed.map((entry) => [entry.Id, entry]));
      const retry: Pending[] = [];
      remaining.forEach((pending, index) => {
        const failure = byId.get(String(index));
        if (!failure) pending.resolve();
        else if (failure.SenderFault || attempt >= attempts) pending.reject(new Error(`SQS refused the message: ${failure.Code ?? 'unknown'} ${failure.Message ?? ''}`.trim()));
        else retry.push(pending);
      });
      remaining = retry;
      if (remaining.length > 0) await sleep(Math.random() * Math.min(500, 20 * 2 ** attempt));
    }
  };

  const pump = () => {
    while (running < concurrency && queue.length > 0) {
      const batch = take();
      running += 1;
      void flush(batch).finally(() => {
        running -= 1;
        pump();
      });
    }
  };

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  };

  return {
    send(body) {
      return new Promise<void>((resolve, reject) => {
        queue.push({ body, bytes: Buffer.byteLength(body), resolve, reject });
        schedule();
      });
    },
  };
};
