import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  type ChangeMessageVisibilityBatchRequestEntry,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createShardConsumer, type ShardConsumer, type ShardConsumerEvent } from '../../../session-runner/consumer/shard-consumer.ts';
import type { SessionCommand } from '../../../shared/domain/fleet/commands.ts';
import type { Logger } from '../../../shared/domain/ports/runtime.port.ts';

const QUEUE_URL = 'https://sqs.us-east-1.amazonaws.com/123456789012/zapfleet-commands-2.fifo';

/** Scripted SQS: each receive takes the next scripted batch (or an error), then long-polls until aborted. */
class FakeSqs {
  readonly script: (Message[] | Error)[] = [];
  readonly receives: ReceiveMessageCommand['input'][] = [];
  readonly deleted: string[] = [];
  readonly visibility: ChangeMessageVisibilityBatchRequestEntry[][] = [];

  async send(command: unknown, options?: { abortSignal?: AbortSignal }): Promise<unknown> {
    if (command instanceof ReceiveMessageCommand) {
      this.receives.push(command.input);
      const next = this.script.shift();
      if (next instanceof Error) throw next;
      if (next) return { Messages: next };
      return new Promise((_, reject) => options?.abortSignal?.addEventListener('abort', () => reject(new Error('Request aborted'))));
    }
    if (command instanceof DeleteMessageCommand) {
      this.deleted.push(command.input.ReceiptHandle!);
      return {};
    }
    if (command instanceof ChangeMessageVisibilityBatchCommand) {
      this.visibility.push(command.input.Entries ?? []);
      return { Successful: (command.input.Entries ?? []).map(({ Id }) => ({ Id })), Failed: [] };
    }
    throw new Error(`unexpected SQS call ${String(command)}`);
  }

  /** Visibility changes to `seconds`, as sorted receipt-handle lists, one per call. */
  changesTo(seconds: number): string[][] {
    return this.visibility.filter((entries) => entries.every((entry) => entry.VisibilityTimeout === seconds)).map((entries) => entries.map((entry) => entry.ReceiptHandle!).sort());
  }
}

const silent: Logger = { info: () => {}, warn: () => {}, error: () => {} };

let sequence = 0;
function command(instanceId: string, type: 'reconnect' | 'logout' | 'settings' = 'reconnect'): SessionCommand {
  sequence += 1;
  return { type, commandId: `cmd-${sequence}`, instanceId, accountId: 'acc-1', instanceName: `name-${instanceId}`, issuedAt: '2026-04-28T10:30:00Z' };
}

/** A received message whose receipt handle is `rh-<commandId>` (or `rh-<label>` for a raw body). */
function message(body: SessionCommand | string, group: string, label = typeof body === 'string' ? body.slice(0, 8) : body.commandId): Message {
  return {
    MessageId: `id-${label}`,
    ReceiptHandle: `rh-${label}`,
    Body: typeof body === 'string' ? body : JSON.stringify(body),
    Attributes: { MessageGroupId: group, ApproximateReceiveCount: '1' },
  };
}

/** A handler whose calls each wait until the test lets them finish. */
function controllableHandler() {
  const started: string[] = [];
  const finishers = new Map<string, { resolve(): void; reject(error: Error): void }>();
  const handle = (received: SessionCommand) =>
    new Promise<void>((resolve, reject) => {
      started.push(received.commandId);
      finishers.set(received.commandId, { resolve, reject });
    });
  return { handle, started, finish: (id: string) => finishers.get(id)!.resolve(), fail: (id: string) => finishers.get(id)!.reject(new Error('socket not ready')) };
}

describe('shard consumer', () => {
  let sqs: FakeSqs;
  let events: ShardConsumerEvent[];
  let consumer: ShardConsumer | undefined;

  beforeEach(() => {
    vi.useFakeTimers();
    sqs = new FakeSqs();
    events = [];
  });

  afterEach(async () => {
    await consumer?.stop();
    consumer = undefined;
    vi.useRealTimers();
  });

  function start(handle: (received: SessionCommand) => Promise<void>, options: { visibilityTimeout?: number; heartbeatEveryMs?: number } = {}): ShardConsumer {
    consumer = createShardConsumer({
      sqs: sqs as unknown as SQSClient,
      queueUrl: QUEUE_URL,
      handle,
      logger: silent,
      visibilityTimeout: options.visibilityTimeout ?? 30,
      heartbeatEveryMs: options.heartbeatEveryMs ?? 10_000,
      timers: { setTimeout: (callback, ms) => setTimeout(callback, ms), clearTimeout: (handle) => clearTimeout(handle) },
      onEvent: (event) => events.push(event),
    });
    consumer.start();
    return consumer;
  }

  it('long-polls for up to ten messages at a time, with the group id of each', async () => {
    // Act
    start(async () => {});
    await vi.advanceTimersByTimeAsync(0);

    // Assess
    expect(sqs.receives[0]).toMatchObject({
      QueueUrl: QUEUE_URL,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 20,
      VisibilityTimeout: 30,
      MessageSystemAttributeNames: expect.arrayContaining(['MessageGroupId']),
    });
  });

  it('handles the commands of one instance in order and deletes each once handled', async () => {
    // Prepare
    const a1 = command('inst-a');
    const a2 = command('inst-a', 'settings');
    const handled: string[] = [];
    sqs.script.push([message(a1, 'inst-a'), message(a2, 'inst-a')]);

    // Act
    start(async (received) => {
      handled.push(received.commandId);
    });
    await vi.advanceTimersByTimeAsync(0);

    // Assess
    expect(handled).toEqual([a1.commandId, a2.commandId]);
    expect(sqs.deleted).toEqual([`rh-${a1.commandId}`, `rh-${a2.commandId}`]);
  });

  it('keeps every unfinished message of the batch hidden while a long command runs, and stops once they are done', async () => {
    // Prepare
    const a1 = command('inst-a');
    const a2 = command('inst-a', 'logout');
    const handler = controllableHandler();
    sqs.script.push([message(a1, 'inst-a'), message(a2, 'inst-a')]);
    start(handler.handle, { visibilityTimeout: 30, heartbeatEveryMs: 10_000 });

    // Act
    await vi.advanceTimersByTimeAsync(35_000);
    const heartbeatsWhileRunning = sqs.changesTo(30);
    handler.finish(a1.commandId);
    await vi.advanceTimersByTimeAsync(0);
    handler.finish(a2.commandId);
    await vi.advanceTimersByTimeAsync(60_000);

    // Assess
    expect(heartbeatsWhileRunning).toEqual([
      [`rh-${a1.commandId}`, `rh-${a2.commandId}`],
      [`rh-${a1.commandId}`, `rh-${a2.commandId}`],
      [`rh-${a1.commandId}`, `rh-${a2.commandId}`],
    ]);
    expect(sqs.changesTo(30)).toEqual(heartbeatsWhileRunning);
    expect(sqs.deleted).toEqual([`rh-${a1.commandId}`, `rh-${a2.commandId}`]);
  });

  it('leaves a failed command for redelivery and returns the later commands of its instance behind it, while other instances go on', async () => {
    // Prepare
    const a1 = command('inst-a');
    const a2 = command('inst-a', 'settings');
    const b1 = command('inst-b');
    const a3 = command('inst-a', 'logout');
    const handled: string[] = [];
    sqs.script.push([message(a1, 'inst-a'), message(a2, 'inst-a'), message(b1, 'inst-b'), message(a3, 'inst-a')]);

    // Act
    start(async (received) => {
      handled.push(received.commandId);
      if (received.commandId === a1.commandId) throw new Error('socket not ready');
    });
    await vi.advanceTimersByTimeAsync(0);

    // Assess
    expect(handled.sort()).toEqual([a1.commandId, b1.commandId].sort());
    expect(sqs.deleted).toEqual([`rh-${b1.commandId}`]);
    expect(sqs.changesTo(0)).toEqual([[`rh-${a2.commandId}`, `rh-${a3.commandId}`]]);
    expect(sqs.visibility.flat().map((entry) => entry.ReceiptHandle)).not.toContain(`rh-${a1.commandId}`);
    expect(events.filter((event) => event.type === 'failed').map((event) => event.type === 'failed' && event.command.commandId)).toEqual([a1.commandId]);
  });

  it('deletes a malformed message without calling the handler, and goes on with the instance', async () => {
    // Prepare
    const valid = command('inst-a');
    const handled: SessionCommand[] = [];
    const missingFields = JSON.stringify({ type: 'connect', commandId: 'cmd-x', instanceId: 'inst-a' });
    sqs.script.push([message('{"type":', 'inst-a', 'garbage'), message(missingFields, 'inst-a', 'partial'), message(valid, 'inst-a')]);

    // Act
    start(async (received) => {
      handled.push(received);
    });
    await vi.advanceTimersByTimeAsync(0);

    // Assess
    expect(handled).toEqual([valid]);
    expect(sqs.deleted).toEqual(['rh-garbage', 'rh-partial', `rh-${valid.commandId}`]);
    expect(events.map((event) => event.type)).toEqual(['malformed', 'malformed', 'handled']);
  });

  it('stop() lets the running command finish, then returns the commands not yet started', async () => {
    // Prepare
    const a1 = command('inst-a');
    const a2 = command('inst-a', 'logout');
    const handler = controllableHandler();
    sqs.script.push([message(a1, 'inst-a'), message(a2, 'inst-a')]);
    const running = start(handler.handle);
    await vi.advanceTimersByTimeAsync(0);

    // Act
    let stopped = false;
    const stopping = running.stop().then(() => {
      stopped = true;
    });
    await vi.advanceTimersByTimeAsync(5_000);
    const stoppedWhileRunning = stopped;
    handler.finish(a1.commandId);
    await stopping;

    // Assess
    expect(stoppedWhileRunning).toBe(false);
    expect(handler.started).toEqual([a1.commandId]);
    expect(sqs.deleted).toEqual([`rh-${a1.commandId}`]);
    expect(sqs.changesTo(0)).toEqual([[`rh-${a2.commandId}`]]);
    expect(sqs.receives).toHaveLength(1);
  });

  it('stop() ends a pending long poll at once', async () => {
    // Prepare
    const idle = start(async () => {});
    await vi.advanceTimersByTimeAsync(0);

    // Act
    await idle.stop();

    // Assess
    expect(sqs.receives).toHaveLength(1);
    expect(events).toEqual([]);
  });

  it('backs off and polls again after a failed receive', async () => {
    // Prepare
    const a1 = command('inst-a');
    const handled: string[] = [];
    sqs.script.push(new Error('ServiceUnavailable'), [message(a1, 'inst-a')]);

    // Act
    start(async (received) => {
      handled.push(received.commandId);
    });
    await vi.advanceTimersByTimeAsync(0);
    const handledBeforeBackoff = [...handled];
    await vi.advanceTimersByTimeAsync(1_000);

    // Assess
    expect(handledBeforeBackoff).toEqual([]);
    expect(handled).toEqual([a1.commandId]);
    expect(events.map((event) => event.type)).toEqual(['receive_failed', 'handled']);
  });
});
