import type { S3Client } from '@aws-sdk/client-s3';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { createDeliveryRepository } from '../../shared/adapters/dynamodb/delivery-repository.dynamodb.ts';
import type { DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import { createWebhookSender } from '../../shared/adapters/http/webhook-sender.ts';
import type { QueuedEvent } from '../../shared/adapters/sqs/event-publisher.sqs.ts';
import { createS3MediaObjects } from '../../shared/adapters/s3/media-objects.s3.ts';
import { createMediaDelivery } from '../../shared/domain/events/media.ts';
import type { AttemptResult, Delivery, DeliveryRepository, WebhookSender } from '../../shared/domain/events/delivery.ts';
import type { EventRecord } from '../../shared/domain/events/event.ts';
import type { InstanceAggregate } from '../../shared/domain/instance/instance.ts';
import type { SecretVault } from '../../shared/domain/ports/keyring.port.ts';
import type { OutboundTargetPolicy } from '../../shared/domain/ports/outbound-target.port.ts';
import type { InstanceRepository } from '../../shared/domain/ports/repositories.port.ts';
import type { Clock, Logger } from '../../shared/domain/ports/runtime.port.ts';
import { attemptDue, attemptOutcome, planFanOut, settledDelivery, type DeliveryDeps } from '../../shared/domain/use-cases/webhooks.use-cases.ts';

/** What the dispatcher needs from the process (`AppDeps` satisfies it). */
export interface EventDeliveryDeps {
  instances: InstanceRepository;
  vault: SecretVault;
  outbound: OutboundTargetPolicy;
  clock: Clock;
  logger: Logger;
}

export interface EventDispatcherOptions {
  deps: EventDeliveryDeps;
  dynamo: DynamoContext;
  /** Reads events that came as S3 pointers. */
  s3: S3Client;
  /** `instanceData.baseUrl` (spec §0.1). */
  baseUrl: string;
  /** Live channels (the WebSocket) get each event once it is fanned out to the webhooks. */
  onRecord?: (record: EventRecord) => void;
  /** Delays before attempts 2…10; the contract's schedule by default (tests shorten it). */
  retryDelaysMs?: readonly number[];
  sender?: WebhookSender;
  /** Attempts in flight in this process (default 256). */
  concurrency?: number;
  /** Attempts in flight per webhook (default 16): a slow receiver only ever holds this many slots. */
  perWebhookConcurrency?: number;
  /** A fan-out reuses an instance read that started after its event and at most this long ago (default 2 s). */
  aggregateMaxAgeMs?: number;
  /** How long a new delivery's entry waits for its first attempt's outcome before it is written holding the attempt (default 1 s). */
  firstAttemptWaitMs?: number;
}

export interface QueueMessage {
  id: string;
  body: string;
}

export interface EventDispatcher {
  /**
   * Fans each queued event out and makes its first attempts; resolves once every delivery entry is
   * written (with the first attempt's outcome, or holding the attempt when it takes longer than
   * `firstAttemptWaitMs`). Returns the ids of messages that could not be processed (keep them on
   * the queue).
   */
  handleQueueMessages(messages: readonly QueueMessage[]): Promise<{ failedIds: string[] }>;
  /** One sweep of the due index: starts the attempts that are due. Returns how many were started. */
  runDue(): Promise<number>;
  /** Resolves when no attempt is in flight or waiting in this process. */
  drain(): Promise<void>;
  readonly deliveries: DeliveryRepository;
}

type Task = () => Promise<void>;

/**
 * Bounded concurrency that is fair between webhooks: each key (instance + label) holds at most
 * `perKey` slots, and free slots go round-robin to keys with waiting work, so a receiver that
 * times out after 10 s never delays the others.
 */
export class FairPool {
  private running = 0;
  private readonly runningByKey = new Map<string, number>();
  private readonly waiting = new Map<string, Task[]>();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly limit: number,
    private readonly perKey: number,
  ) {}

  submit(key: string, task: Task): void {
    const queue = this.waiting.get(key) ?? [];
    queue.push(task);
    this.waiting.set(key, queue);
    this.pump();
  }

  size(): number {
    let waiting = 0;
    for (const queue of this.waiting.values()) waiting += queue.length;
    return this.running + waiting;
  }

  idle(): Promise<void> {
    if (this.size() === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    let progressed = true;
    while (this.running < this.limit && progressed) {
      progressed = false;
      for (const [key, queue] of this.waiting) {
        if (this.running >= this.limit) break;
        const busy = this.runningByKey.get(key) ?? 0;
        if (busy >= this.perKey) continue;
        const task = queue.shift() as Task;
        if (queue.length === 0) this.waiting.delete(key);
        else {
          // Move the key to the back: round-robin between keys.
          this.waiting.delete(key);
          this.waiting.set(key, queue);
        }
        this.start(key, task);
        progressed = true;
      }
    }
    if (this.size() === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private start(key: string, task: Task): void {
    this.running += 1;
    this.runningByKey.set(key, (this.runningByKey.get(key) ?? 0) + 1);
    void task()
      .catch(() => undefined)
      .finally(() => {
        this.running -= 1;
        const left = (this.runningByKey.get(key) ?? 1) - 1;
        if (left === 0) this.runningByKey.delete(key);
        else this.runningByKey.set(key, left);
        this.pump();
      });
  }
}

const deliveryKey = (delivery: Pick<Delivery, 'instanceId' | 'eventId' | 'label'>) => `${delivery.instanceId}#${delivery.eventId}#${delivery.label}`;
const webhookKey = (delivery: Pick<Delivery, 'instanceId' | 'label'>) => `${delivery.instanceId}#${delivery.label}`;

const readPointer = async (s3: S3Client, pointer: { bucket: string; key: string }): Promise<EventRecord> => {
  const object = await s3.send(new GetObjectCommand({ Bucket: pointer.bucket, Key: pointer.key }));
  return JSON.parse(await (object.Body as { transformToString(): Promise<string> }).transformToString()) as EventRecord;
};

/**
 * The events queue consumer (spec §3.4): the same code runs as an SQS-triggered Lambda
 * (`sqsHandler`) and in the embedded stack's poller (`local/events/event-poller.ts`).
 * Deliveries live in DynamoDB, so a restart loses nothing: attempts that were in flight are
 * retried when their claim expires.
 */
export const createEventDispatcher = (options: EventDispatcherOptions): EventDispatcher => {
  const { deps } = options;
  const deliveries = createDeliveryRepository(options.dynamo);
  const sender = options.sender ?? createWebhookSender({ outbound: deps.outbound, now: () => deps.clock.now() });
  const useCaseDeps: DeliveryDeps = {
    instances: deps.instances,
    vault: deps.vault,
    clock: deps.clock,
    logger: deps.logger,
    deliveries,
    sender,
    baseUrl: options.baseUrl,
    retryDelaysMs: options.retryDelaysMs,
    loadPointer: (pointer) => readPointer(options.s3, pointer),
  };
  const pool = new FairPool(options.concurrency ?? 256, options.perWebhookConcurrency ?? 16);
  /** Media gets its presigned `s3Url` (and `base64`) at each attempt, not when queued (shared/domain/events/media.ts). */
  const media = createMediaDelivery({ objects: createS3MediaObjects({ platform: options.s3 }), instances: deps.instances, vault: deps.vault, outbound: deps.outbound, logger: deps.logger });
  const depsFor = (delivery: Delivery, aggregate?: InstanceAggregate | null): DeliveryDeps => ({ ...useCaseDeps, sender: media.webhookSender(sender, delivery, aggregate) });

  /**
   * Instance reads for the fan-out, shared between events. An event uses a read only if that read
   * started after the event's own timestamp (and less than `aggregateMaxAgeMs` ago), so the webhook
   * configuration an event is fanned out with is never older than the event: a webhook enabled or
   * disabled before the event happened is seen, as with a read per event. At most one read per
   * instance is in flight: events that need a newer one meanwhile all wait for the single read that
   * starts when it ends, so a burst costs about one read per round trip instead of one per event.
   */
  const aggregateMaxAgeMs = options.aggregateMaxAgeMs ?? 2_000;
  const firstAttemptWaitMs = options.firstAttemptWaitMs ?? 1_000;
  interface Reads {
    latest: { startedAt: number; value: Promise<InstanceAggregate | null> } | null;
    inFlight: Promise<void> | null;
    next: Promise<InstanceAggregate | null> | null;
  }
  const reads = new Map<string, Reads>();
  const startRead = (state: Reads, accountId: string, name: string): Promise<InstanceAggregate | null> => {
    const read = { startedAt: Date.now(), value: deps.instances.get(accountId, name) };
    state.latest = read;
    const settled = read.value.then(
      () => undefined,
      () => {
        if (state.latest === read) state.latest = null;
      },
    );
    state.inFlight = settled;
    void settled.then(() => {
      if (state.inFlight === settled) state.inFlight = null;
    });
    return read.value;
  };
  const readFor = (record: EventRecord): Pick<InstanceRepository, 'get'> => ({
    get: (accountId: string, name: string) => {
      const key = `${accountId}#${name}`;
      const eventAt = Date.parse(record.timestamp);
      let state = reads.get(key);
      if (!state) {
        if (reads.size >= 10_000) reads.clear();
        state = { latest: null, inFlight: null, next: null };
        reads.set(key, state);
      }
      const { latest } = state;
      if (latest && latest.startedAt > eventAt && Date.now() - latest.startedAt < aggregateMaxAgeMs) return latest.value;
      // Queued behind the read in flight: it starts after this event arrived, so after its timestamp.
      if (state.next) return state.next;
      if (state.inFlight) {
        const current = state;
        state.next = state.inFlight.then(() => {
          current.next = null;
          return startRead(current, accountId, name);
        });
        return state.next;
      }
      return startRead(state, accountId, name);
    },
  });
  /** Deliveries with an attempt in flight or waiting here (or its outcome being written): a sweep never starts them twice. */
  const inFlight = new Set<string>();
  /** Outcome writes of attempts whose slot was freed (`drain` waits for them too). */
  const writes = new Set<Promise<unknown>>();

  /**
   * Runs `attempt` in a slot of the delivery's webhook. An attempt may hand back the write of its
   * outcome (`{ writing }`): the slot is freed as soon as the receiver answered, so the webhook's
   * slots measure the receiver only (a slow table does not cap a webhook at slots ÷ write time),
   * while the delivery stays in flight here until the write settles.
   */
  const run = (delivery: Delivery, attempt: () => Promise<unknown>) => {
    const key = deliveryKey(delivery);
    if (inFlight.has(key)) return false;
    inFlight.add(key);
    pool.submit(webhookKey(delivery), async () => {
      let writing: Promise<unknown> | null = null;
      try {
        const outcome = await attempt();
        writing = (outcome as { writing?: Promise<unknown> } | undefined)?.writing ?? null;
      } catch (error) {
        deps.logger.error('webhook attempt failed', {
          instanceId: delivery.instanceId,
          eventId: delivery.eventId,
          label: delivery.label,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      } finally {
        if (writing) {
          const tracked: Promise<unknown> = writing
            .catch((error: unknown) =>
              deps.logger.error('webhook attempt outcome not written', {
                instanceId: delivery.instanceId,
                eventId: delivery.eventId,
                label: delivery.label,
                error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
              }),
            )
            .finally(() => {
              inFlight.delete(key);
              writes.delete(tracked);
            });
          writes.add(tracked);
        } else inFlight.delete(key);
      }
    });
    return true;
  };

  /**
   * The first attempt of a new delivery runs before its entry is written. When it ends within
   * `firstAttemptWaitMs`, the entry is written once, with its outcome (delivered, or pending with
   * its next attempt): one write instead of a create and a completion. Otherwise (a slow receiver,
   * a busy pool) the entry is written holding the attempt, which completes it later, as before.
   * Either way this resolves only once the entry is durable, and the queue message is deleted only
   * after that: a crash before loses nothing (the message comes back and the attempt is made
   * again, a duplicate at worst).
   */
  const firstAttempt = (delivery: Delivery, aggregate: InstanceAggregate): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      let written: Promise<boolean> | null = null;
      const writeClaim = () => (written ??= deliveries.create(delivery));
      const settle = (write: Promise<boolean>) => write.then(() => resolve(), reject);
      const timer = setTimeout(() => settle(writeClaim()), firstAttemptWaitMs);
      const started = run(delivery, async () => {
        let result: AttemptResult;
        try {
          result = await attemptOutcome(depsFor(delivery, aggregate), delivery, aggregate);
        } catch (error) {
          // The claim expires and the retry scheduler makes the attempt again.
          clearTimeout(timer);
          settle(writeClaim());
          throw error;
        }
        clearTimeout(timer);
        if (written === null) {
          written = deliveries.create(settledDelivery(delivery, result));
          settle(written);
          // The receiver has answered: its slot is free; the delivery stays in flight until written.
          return { writing: written };
        }
        const claimed = written;
        return {
          writing: (async () => {
            if ((await claimed) && !(await deliveries.complete(delivery, result))) {
              deps.logger.warn('delivery moved on during an attempt', { instanceId: delivery.instanceId, eventId: delivery.eventId, label: delivery.label });
            }
          })(),
        };
      });
      // The same delivery is already in flight here (a redelivered queue message): that copy writes it.
      if (!started) {
        clearTimeout(timer);
        resolve();
      }
    });

  const handleOne = async (message: QueueMessage): Promise<void> => {
    const queued = JSON.parse(message.body) as QueuedEvent;
    const record = queued.record ?? (queued.pointer ? await readPointer(options.s3, queued.pointer) : null);
    if (!record) throw new Error('queued event has neither a record nor a pointer');
    const fanOutDeps: DeliveryDeps = { ...useCaseDeps, instances: { ...deps.instances, get: readFor(record).get } };
    const { aggregate, planned } = await planFanOut(fanOutDeps, record, queued.record ? null : (queued.pointer ?? null));
    if (!aggregate) return;
    options.onRecord?.(record);
    await Promise.all(planned.map((delivery) => firstAttempt(delivery, aggregate)));
  };

  return {
    deliveries,
    async handleQueueMessages(messages) {
      const failedIds: string[] = [];
      await Promise.all(
        messages.map(async (message) => {
          try {
            await handleOne(message);
          } catch (error) {
            failedIds.push(message.id);
            deps.logger.error('event could not be dispatched', {
              messageId: message.id,
              error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
            });
          }
        }),
      );
      return { failedIds };
    },
    async runDue() {
      const due = await deliveries.due(deps.clock.now());
      let started = 0;
      for (const delivery of due) if (run(delivery, () => attemptDue(depsFor(delivery), delivery))) started += 1;
      return started;
    },
    async drain() {
      await pool.idle();
      while (writes.size > 0) await Promise.allSettled([...writes]);
    },
  };
};

/** The SQS-triggered Lambda: partial batch failures keep undelivered messages on the queue. */
export const sqsHandler =
  (dispatcher: EventDispatcher) =>
  async (event: SQSEvent): Promise<SQSBatchResponse> => {
    const { failedIds } = await dispatcher.handleQueueMessages(event.Records.map((record) => ({ id: record.messageId, body: record.body })));
    // A Lambda is frozen after it returns: finish the first attempts first.
    await dispatcher.drain();
    return { batchItemFailures: failedIds.map((itemIdentifier) => ({ itemIdentifier })) };
  };

export interface RetryScheduler {
  /** Sweeps every `intervalMs` until stopped. */
  start(): void;
  /** Stops sweeping and waits for the sweep in progress (attempts in flight keep running). */
  stop(): Promise<void>;
  runOnce(): Promise<number>;
}

/**
 * Attempts due deliveries (retries, replays, and first attempts whose process died). In AWS a
 * scheduled Lambda calls `runOnce` then `drain`; embedded, the poller runs it every ~500 ms.
 */
export const createRetryScheduler = (options: { dispatcher: EventDispatcher; logger: Logger; intervalMs?: number }): RetryScheduler => {
  const intervalMs = options.intervalMs ?? 500;
  let timer: NodeJS.Timeout | null = null;
  let sweeping: Promise<unknown> | null = null;
  const runOnce = () => options.dispatcher.runDue();
  const tick = () => {
    if (sweeping) return;
    sweeping = runOnce()
      .catch((error: unknown) => options.logger.error('retry sweep failed', { error: error instanceof Error ? error.message : String(error) }))
      .finally(() => {
        sweeping = null;
      });
  };
  return {
    start() {
      if (timer) return;
      timer = setInterval(tick, intervalMs);
      timer.unref?.();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      await sweeping;
    },
    runOnce,
  };
};
