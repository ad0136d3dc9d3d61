import { randomUUID } from 'node:crypto';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createSqsCommandBus } from '../../../shared/adapters/sqs/command-bus.sqs.ts';
import { createShardConsumer, type ShardConsumer, type ShardConsumerEvent } from '../../../session-runner/consumer/shard-consumer.ts';
import type { SessionCommand } from '../../../shared/domain/fleet/commands.ts';
import { shardOf } from '../../../shared/domain/fleet/fleet.ts';
import type { Logger } from '../../../shared/domain/ports/runtime.port.ts';

const SHARDS = 4;
const silent: Logger = { info: () => {}, warn: () => {}, error: () => {} };

function command(instanceId: string, type: 'reconnect' | 'logout' | 'delete' | 'settings'): SessionCommand {
  return { type, commandId: randomUUID(), instanceId, accountId: 'acc-1', instanceName: `name-${instanceId.slice(0, 8)}`, issuedAt: '2026-04-28T10:30:00Z' };
}

function connect(instanceId: string): SessionCommand {
  return { ...command(instanceId, 'reconnect'), type: 'connect', attemptId: randomUUID(), phoneNumber: '5511999990000', historyDays: 7 };
}

describe('SQS command bus and shard consumer (fauxqs)', () => {
  let server: FauxqsServer;
  let sqs: SQSClient;
  const consumers: ShardConsumer[] = [];

  beforeAll(async () => {
    server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    sqs = new SQSClient({ endpoint: server.address, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  });

  afterAll(async () => {
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    sqs?.destroy();
    await server?.stop();
  });

  /** One FIFO queue per shard, named for this test only. */
  function shardQueues(): { names: string[]; urls: string[] } {
    const prefix = `cmd-${randomUUID().slice(0, 8)}`;
    const names = Array.from({ length: SHARDS }, (_, shard) => `${prefix}-${shard}.fifo`);
    const urls = names.map((name) => server.createQueue(name, { attributes: { FifoQueue: 'true' } }).queueUrl);
    return { names, urls };
  }

  function consumer(queueUrl: string, handle: (command: SessionCommand) => Promise<void>, options: { visibilityTimeout?: number; events?: ShardConsumerEvent[] } = {}): ShardConsumer {
    const created = createShardConsumer({
      sqs,
      queueUrl,
      handle,
      logger: silent,
      waitTimeSeconds: 1,
      visibilityTimeout: options.visibilityTimeout ?? 30,
      onEvent: (event) => options.events?.push(event),
    });
    consumers.push(created);
    created.start();
    return created;
  }

  function messagesIn(name: string) {
    const queue = server.inspectQueue(name)!;
    return { ready: queue.messages.ready.length, inflight: queue.messages.inflight.length, delayed: queue.messages.delayed.length };
  }

  it('delivers each command to the queue of its shard, in order per instance, once per command id', async () => {
    // Prepare
    const { names, urls } = shardQueues();
    const bus = createSqsCommandBus({ sqs, queueUrlOf: (shard) => urls[shard]!, shards: SHARDS });
    const instanceA = randomUUID();
    const instanceB = randomUUID();
    const a = [connect(instanceA), command(instanceA, 'settings'), command(instanceA, 'reconnect'), command(instanceA, 'logout')];
    const b = [connect(instanceB), command(instanceB, 'delete')];
    const handled = new Map<number, SessionCommand[]>();
    for (const [shard, url] of urls.entries()) {
      consumer(url, async (received) => {
        handled.set(shard, [...(handled.get(shard) ?? []), received]);
      });
    }

    // Act
    for (const [index, sent] of [a[0], b[0], a[1], a[2], b[1], a[3]].entries()) {
      await bus.send(sent!);
      // The same command sent again (a client retry) is deduplicated by its command id.
      if (index === 0) await bus.send(sent!);
    }

    // Assess
    const all = () => [...handled.values()].flat();
    await vi.waitFor(() => expect(all()).toHaveLength(6), { timeout: 10_000 });
    const shardA = shardOf(instanceA, SHARDS);
    const shardB = shardOf(instanceB, SHARDS);
    expect((handled.get(shardA) ?? []).filter((received) => received.instanceId === instanceA)).toEqual(a);
    expect((handled.get(shardB) ?? []).filter((received) => received.instanceId === instanceB)).toEqual(b);
    for (const [shard, commands] of handled) {
      for (const received of commands) expect(shardOf(received.instanceId, SHARDS)).toBe(shard);
    }
    await vi.waitFor(() => expect(names.map(messagesIn)).toEqual(names.map(() => ({ ready: 0, inflight: 0, delayed: 0 }))));
  });

  it('leaves a command whose handler failed on the queue, redelivers it, and keeps the instance order', async () => {
    // Prepare
    const { names, urls } = shardQueues();
    const bus = createSqsCommandBus({ sqs, queueUrlOf: (shard) => urls[shard]!, shards: SHARDS });
    const instance = randomUUID();
    const first = connect(instance);
    const second = command(instance, 'settings');
    const third = command(instance, 'logout');
    // Queued before the consumer starts (fauxqs hands out one message per group per receive;
    // the unit tests cover SQS batches holding several commands of one instance).
    for (const sent of [first, second, third]) await bus.send(sent);
    const attempts: string[] = [];
    let failuresLeft = 1;
    const events: ShardConsumerEvent[] = [];

    // Act
    consumer(
      urls[shardOf(instance, SHARDS)]!,
      async (received) => {
        attempts.push(received.commandId);
        if (received.commandId === first.commandId && failuresLeft-- > 0) throw new Error('socket not ready');
      },
      { visibilityTimeout: 1, events },
    );

    // Assess
    await vi.waitFor(() => expect(events).toHaveLength(4), { timeout: 10_000 });
    expect(attempts).toEqual([first.commandId, first.commandId, second.commandId, third.commandId]);
    expect(events.map((event) => event.type)).toEqual(['failed', 'handled', 'handled', 'handled']);
    await vi.waitFor(() => expect(messagesIn(names[shardOf(instance, SHARDS)]!)).toEqual({ ready: 0, inflight: 0, delayed: 0 }));
  });

  it('drops a malformed message instead of letting it block its instance', async () => {
    // Prepare
    const { names, urls } = shardQueues();
    const instance = randomUUID();
    const shard = shardOf(instance, SHARDS);
    const valid = command(instance, 'reconnect');
    const handled: SessionCommand[] = [];
    const events: ShardConsumerEvent[] = [];
    const raw = (body: string) =>
      sqs.send(new SendMessageCommand({ QueueUrl: urls[shard], MessageBody: body, MessageGroupId: instance, MessageDeduplicationId: randomUUID() }));

    // Act
    await raw('{not json');
    await raw(JSON.stringify({ ...valid, commandId: randomUUID(), type: 'reboot' }));
    await raw(JSON.stringify(valid));
    consumer(
      urls[shard]!,
      async (received) => {
        handled.push(received);
      },
      { events },
    );

    // Assess
    await vi.waitFor(() => expect(events).toHaveLength(3), { timeout: 10_000 });
    expect(handled).toEqual([valid]);
    expect(events.map((event) => event.type)).toEqual(['malformed', 'malformed', 'handled']);
    await vi.waitFor(() => expect(messagesIn(names[shard]!)).toEqual({ ready: 0, inflight: 0, delayed: 0 }));
  });

  it('stop() waits for the running command and leaves the later commands on the queue for the next owner', async () => {
    // Prepare
    const { names, urls } = shardQueues();
    const bus = createSqsCommandBus({ sqs, queueUrlOf: (shard) => urls[shard]!, shards: SHARDS });
    const instance = randomUUID();
    const shard = shardOf(instance, SHARDS);
    const running = connect(instance);
    const queued = command(instance, 'logout');
    await bus.send(running);
    await bus.send(queued);
    let finish!: () => void;
    const started: string[] = [];
    const finished: string[] = [];
    const shardConsumer = consumer(urls[shard]!, async (received) => {
      started.push(received.commandId);
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
      finished.push(received.commandId);
    });
    await vi.waitFor(() => expect(started).toEqual([running.commandId]), { timeout: 10_000 });

    // Act
    let stopped = false;
    const stopping = shardConsumer.stop().then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stoppedBeforeCommandEnded = stopped;
    finish();
    await stopping;

    // Assess
    expect(stoppedBeforeCommandEnded).toBe(false);
    expect(finished).toEqual([running.commandId]);
    expect(started).toEqual([running.commandId]);
    const left = server.inspectQueue(names[shard]!)!.messages;
    expect(left.inflight).toEqual([]);
    expect(left.ready.map((message) => JSON.parse(message.body) as SessionCommand)).toEqual([queued]);
  });
});
