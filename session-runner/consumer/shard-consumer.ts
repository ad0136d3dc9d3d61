import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { S3Client } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { readCommandBody } from '../../shared/adapters/sqs/command-bus.sqs.ts';
import type { SessionCommand } from '../../shared/domain/fleet/commands.ts';
import type { OutboundSend } from '../../shared/domain/messages/send.command.ts';
import type { Logger } from '../../shared/domain/ports/runtime.port.ts';
import type { Timers } from '../leases/lease-manager.ts';

const base = {
  commandId: z.string().min(1),
  instanceId: z.string().min(1),
  accountId: z.string().min(1),
  instanceName: z.string().min(1),
  issuedAt: z.string().min(1),
};

/** What a queue message must hold to be handled; anything else is poison for its FIFO group. */
const sessionCommandSchema = z.discriminatedUnion('type', [
  z.object({
    ...base,
    type: z.literal('connect'),
    attemptId: z.string().min(1),
    phoneNumber: z.string().regex(/^\d+$/).nullable(),
    historyDays: z.number().int().nonnegative().nullable(),
  }),
  z.object({ ...base, type: z.literal('reconnect') }),
  z.object({ ...base, type: z.literal('logout') }),
  z.object({ ...base, type: z.literal('delete') }),
  z.object({ ...base, type: z.literal('settings') }),
  // The request was validated by the API (send.schemas.ts); here only its envelope is checked.
  z.object({
    ...base,
    type: z.literal('send'),
    send: z.object({
      messageId: z.string().min(1),
      timestamp: z.string().min(1),
      chatJid: z.string().min(1),
      request: z.custom<OutboundSend['request']>((value) => typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string'),
      quoted: z.custom<OutboundSend['quoted']>((value) => value === null || typeof value === 'object'),
      exchange: z.record(z.string(), z.unknown()),
    }),
  }),
]) satisfies z.ZodType<SessionCommand>;

/** Lifecycle of each message, for metrics and tests; logging is already done here. */
export type ShardConsumerEvent =
  | { type: 'handled'; command: SessionCommand }
  | { type: 'failed'; command: SessionCommand; error: unknown }
  | { type: 'malformed'; messageId: string; reason: string }
  | { type: 'receive_failed'; error: unknown };

export interface ShardConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  handle(command: SessionCommand): Promise<void>;
  logger: Logger;
  /** Reads commands the bus kept in S3 (too large for a queue message). */
  s3?: S3Client;
  /** Long-poll wait, 0–20 s. */
  waitTimeSeconds?: number;
  /** Seconds a received message stays hidden; also what each heartbeat extends it to. */
  visibilityTimeout?: number;
  /** Default: a third of the visibility timeout, so two heartbeats can fail before a message reappears. */
  heartbeatEveryMs?: number;
  timers?: Timers;
  onEvent?(event: ShardConsumerEvent): void;
}

export interface ShardConsumer {
  start(): void;
  /** Stops receiving, lets the commands already running finish, returns the rest of the batch to the queue. */
  stop(): Promise<void>;
}

/** Cap on the pause between failed receives. */
const maxReceiveBackoffMs = 20_000;

/**
 * Consumes one shard's FIFO command queue (ARCHITECTURE §4), in the shape of `bbc/sqs-consumer`:
 * an injected client, long polling, a visibility heartbeat while commands run, and a drain on
 * stop.
 *
 * Within a batch, each message group (instance) is handled in order, one command at a time;
 * groups run side by side, so one slow connect never holds up another instance. A command that
 * fails stays in flight until its visibility timeout (the retry back-off; the queue's redrive
 * policy dead-letters it eventually), and the later commands of its group go back to the queue
 * behind it so they are never handled out of order.
 */
export const createShardConsumer = ({
  sqs,
  queueUrl,
  handle,
  logger,
  s3,
  waitTimeSeconds = 20,
  visibilityTimeout = 60,
  heartbeatEveryMs = (visibilityTimeout * 1000) / 3,
  timers = { setTimeout: (callback, ms) => setTimeout(callback, ms), clearTimeout: (handle) => clearTimeout(handle) },
  onEvent,
}: ShardConsumerOptions): ShardConsumer => {
  let running = false;
  let loop: Promise<void> = Promise.resolve();
  let receiving: AbortController | undefined;
  let wake: (() => void) | undefined;

  const emit = (event: ShardConsumerEvent) => onEvent?.(event);

  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = timers.setTimeout(() => {
        wake = undefined;
        resolve();
      }, ms);
      wake = () => {
        timers.clearTimeout(timer);
        wake = undefined;
        resolve();
      };
    });

  const parse = async (message: Message): Promise<{ ok: true; command: SessionCommand; done(): Promise<void> } | { ok: false; reason: string }> => {
    let body: unknown;
    try {
      body = JSON.parse(message.Body ?? '');
    } catch {
      return { ok: false, reason: 'body is not JSON' };
    }
    // A failed S3 read throws: the message stays on the queue and is retried.
    const read = await readCommandBody(body, s3);
    const parsed = sessionCommandSchema.safeParse(read.body);
    return parsed.success
      ? { ok: true, command: parsed.data, done: read.done }
      : { ok: false, reason: parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ') };
  };

  const changeVisibility = async (messages: Message[], seconds: number, why: string) => {
    if (messages.length === 0) return;
    try {
      const out = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((message, index) => ({ Id: String(index), ReceiptHandle: message.ReceiptHandle, VisibilityTimeout: seconds })),
        }),
      );
      for (const failure of out.Failed ?? []) logger.warn('consumer.visibility_failed', { queueUrl, why, code: failure.Code, reason: failure.Message });
    } catch (error) {
      // The messages reappear when their current visibility ends: later, but not lost.
      logger.warn('consumer.visibility_failed', { queueUrl, why, error: String(error) });
    }
  };

  const processBatch = async (messages: Message[]) => {
    // Messages received but not yet finished: the heartbeat keeps all of them hidden, not only the
    // running one, or a later command of a group could reappear and run twice.
    const pending = new Set(messages);
    let heartbeat: ReturnType<typeof timers.setTimeout> | undefined;
    let beating: Promise<void> = Promise.resolve();
    const beat = () => {
      heartbeat = timers.setTimeout(() => {
        beating = changeVisibility([...pending], visibilityTimeout, 'heartbeat');
        void beating.finally(() => {
          if (heartbeat !== undefined) beat();
        });
      }, heartbeatEveryMs);
    };
    beat();

    const remove = async (message: Message) => {
      pending.delete(message);
      try {
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      } catch (error) {
        // Handled but not deleted: it is delivered again, and commands are idempotent on their id.
        logger.warn('consumer.delete_failed', { queueUrl, messageId: message.MessageId, error: String(error) });
      }
    };

    const giveBack = async (rest: Message[]) => {
      for (const message of rest) pending.delete(message);
      // An extension still in flight must not hide them again after they were returned.
      await beating;
      // Last first: an emulator that puts returned messages at the head of their group (fauxqs)
      // then keeps the original order; SQS orders by sequence number either way.
      await changeVisibility([...rest].reverse(), 0, 'give back');
    };

    const runGroup = async (group: Message[]) => {
      for (const [index, message] of group.entries()) {
        if (!running) {
          await giveBack(group.slice(index));
          return;
        }
        let parsed: Awaited<ReturnType<typeof parse>>;
        try {
          parsed = await parse(message);
        } catch (error) {
          // The command kept in S3 could not be read: it and the rest of its group come back later.
          pending.delete(message);
          logger.error('consumer.command_unreadable', { queueUrl, messageId: message.MessageId, error: String(error) });
          await giveBack(group.slice(index));
          return;
        }
        if (!parsed.ok) {
          // Left in the queue it would block its whole group until dead-lettered.
          logger.error('consumer.malformed_message', { queueUrl, messageId: message.MessageId, reason: parsed.reason });
          emit({ type: 'malformed', messageId: message.MessageId ?? '', reason: parsed.reason });
          await remove(message);
          continue;
        }
        const { command } = parsed;
        try {
          await handle(command);
        } catch (error) {
          pending.delete(message);
          logger.error('consumer.command_failed', {
            queueUrl,
            commandId: command.commandId,
            instanceId: command.instanceId,
            type: command.type,
            receiveCount: message.Attributes?.ApproximateReceiveCount,
            error: String(error),
          });
          emit({ type: 'failed', command, error });
          await giveBack(group.slice(index + 1));
          return;
        }
        await remove(message);
        await parsed.done().catch((error: unknown) => logger.warn('consumer.overflow_not_deleted', { queueUrl, commandId: command.commandId, error: String(error) }));
        emit({ type: 'handled', command });
      }
    };

    const groups = new Map<string, Message[]>();
    for (const message of messages) {
      const groupId = message.Attributes?.MessageGroupId ?? '';
      groups.set(groupId, [...(groups.get(groupId) ?? []), message]);
    }
    try {
      await Promise.all([...groups.values()].map(runGroup));
    } finally {
      if (heartbeat !== undefined) timers.clearTimeout(heartbeat);
      heartbeat = undefined;
    }
  };

  const run = async () => {
    let failures = 0;
    while (running) {
      let messages: Message[];
      receiving = new AbortController();
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: waitTimeSeconds,
            VisibilityTimeout: visibilityTimeout,
            MessageSystemAttributeNames: ['MessageGroupId', 'ApproximateReceiveCount'],
          }),
          { abortSignal: receiving.signal },
        );
        messages = out.Messages ?? [];
        failures = 0;
      } catch (error) {
        if (!running) break;
        failures += 1;
        logger.warn('consumer.receive_failed', { queueUrl, failures, error: String(error) });
        emit({ type: 'receive_failed', error });
        await pause(Math.min(maxReceiveBackoffMs, 250 * 2 ** failures));
        continue;
      } finally {
        receiving = undefined;
      }
      if (messages.length > 0) await processBatch(messages);
    }
  };

  return {
    start() {
      if (running) return;
      running = true;
      logger.info('consumer.started', { queueUrl });
      loop = run();
    },

    async stop() {
      if (!running) return loop;
      running = false;
      // A pending long poll is abandoned; anything it had already taken reappears after its
      // visibility timeout.
      receiving?.abort();
      wake?.();
      await loop;
      logger.info('consumer.stopped', { queueUrl });
    },
  };
};
