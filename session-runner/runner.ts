import type { S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { randomUUID } from 'node:crypto';
import type { DynamoContext } from '../shared/adapters/dynamodb/document-client.ts';
import { createDynamoMessageStore } from '../shared/adapters/dynamodb/message-store.dynamodb.ts';
import { createTransactBatcher } from '../shared/adapters/dynamodb/transact-batcher.ts';
import { createSessionRepository } from '../shared/adapters/dynamodb/session-repository.dynamodb.ts';
import { shardOf } from '../shared/domain/fleet/fleet.ts';
import type { EventPublisher } from '../shared/domain/events/event.ts';
import type { SendOutcomeStore } from '../shared/domain/messages/send.command.ts';
import type { OutboundTargetPolicy } from '../shared/domain/ports/outbound-target.port.ts';
import { ulid } from 'ulid';
import type { SecretVault } from '../shared/domain/ports/keyring.port.ts';
import type { InstanceRepository } from '../shared/domain/ports/repositories.port.ts';
import type { Clock, Logger } from '../shared/domain/ports/runtime.port.ts';
import type { WaConnectionFactory } from '../shared/domain/ports/wa-connection.port.ts';
import { createDynamoAuthState } from './baileys/auth-state.dynamodb.ts';
import { createShardConsumer, type ShardConsumer } from './consumer/shard-consumer.ts';
import { createLeaseManager, type LeaseManager } from './leases/lease-manager.ts';
import { createLeaseStore } from './leases/lease-store.dynamodb.ts';
import { createSessionSupervisor, type SupervisorDeps } from './supervisor/session-supervisor.ts';
import { createMessageSender } from './messaging/sender.ts';
import { createDynamoSendOutcomeStore } from '../shared/adapters/dynamodb/send-tracking.dynamodb.ts';
import { createDynamoSendJournal } from '../shared/adapters/dynamodb/send-journal.dynamodb.ts';
import { createDynamoPacingStateStore } from '../shared/adapters/dynamodb/pacing-state.dynamodb.ts';
import { createPacer, type PacingConfig } from '../shared/domain/messages/pacing.ts';
import { recordCommandMetrics, withSessionMetrics, type Metrics } from '../shared/observability/metrics.emf.ts';

export interface RunnerOptions {
  dynamo: DynamoContext;
  sqs: SQSClient;
  queueUrlOf: (shard: number) => string;
  shards: number;
  factory: WaConnectionFactory;
  instances: InstanceRepository;
  vault: SecretVault;
  logger: Logger;
  clock: Clock;
  runnerId?: string;
  leaseTtlMs?: number;
  renewEveryMs?: number;
  /** Long-poll wait of the shard consumers (20 s in production; tests shorten it). */
  waitTimeSeconds?: number;
  restoreStaggerMs?: number;
  linkTimeoutMs?: number;
  /** Reads commands the command bus kept in S3 (a send with large base64 media). */
  s3?: S3Client;
  /** With `s3`: where journaled send commands too large for their journal item are kept (the platform bucket; send-journal.dynamodb.ts). */
  journalBucket?: string;
  /** How long stored messages are kept (default `messageRetentionSeconds`, 30 days). */
  messageRetentionSeconds?: number;
  /** Where the runner's events go (the events queue). */
  events?: EventPublisher;
  /** Where send outcomes are recorded (default: the table); the embedded stack passes the API's, which signals waiting requests. */
  outcomes?: SendOutcomeStore;
  /** Stores incoming media before a message event is published (shared/domain/use-cases/media.use-cases.ts). */
  media?: SupervisorDeps['media'];
  /** Removes a deleted instance's media from the platform bucket (shared/domain/use-cases/media.use-cases.ts). */
  forgetMedia?: SupervisorDeps['forgetMedia'];
  /** Outbound-target rules for media sent by URL (default: public targets only). */
  outbound?: OutboundTargetPolicy;
  /** Anti-ban pacing of API sends (defaults: shared/domain/messages/pacing.ts). */
  pacing?: Partial<PacingConfig>;
  /**
   * Signal-key commits written behind, with the Baileys adapter holding outgoing frames until they
   * are durable (session-runner/baileys/write-behind.ts). Default true.
   */
  authWriteBehind?: boolean;
  /** EMF metrics: session state changes, reconnects, commands and their lag (shared/observability/metrics.emf.ts). */
  metrics?: Metrics;
}

/**
 * A session runner (the Fargate task on AWS, in-process in the embedded stack): it holds its
 * fair share of shard leases, consumes the command queues of the shards it holds, and keeps the
 * sockets of those shards open through the supervisor. Acquiring a shard starts its consumer and
 * restores its sessions; losing one stops the consumer and closes its sockets (auth kept).
 */
export const createRunner = (options: RunnerOptions) => {
  const runnerId = options.runnerId ?? `runner-${randomUUID()}`;
  const consumers = new Map<number, ShardConsumer>();
  const sessionStore = createSessionRepository(options.dynamo, options.clock);
  const sessions = options.metrics ? withSessionMetrics(sessionStore, options.metrics) : sessionStore;
  // Every timer of the lease manager and the supervisor goes through here, so `crash()` can stop them all.
  let crashed = false;
  const pendingTimers = new Set<NodeJS.Timeout>();
  const timers = {
    setTimeout: (callback: () => void, ms: number) => {
      const handle = setTimeout(() => {
        pendingTimers.delete(handle);
        if (!crashed) callback();
      }, ms);
      if (crashed) clearTimeout(handle);
      else pendingTimers.add(handle);
      return handle;
    },
    clearTimeout: (handle: unknown) => {
      pendingTimers.delete(handle as NodeJS.Timeout);
      clearTimeout(handle as NodeJS.Timeout);
    },
  };
  let manager: LeaseManager | null = null;
  // Baileys commits Signal keys once per decrypted message, one message at a time per socket: the
  // commits of all sessions share transactions (one at a time, so they never race on a lease item).
  const authCommits = createTransactBatcher(options.dynamo.doc, { concurrency: 1 });
  const sender = createMessageSender({
    messages: createDynamoMessageStore(options.dynamo, { clock: options.clock, retentionSeconds: options.messageRetentionSeconds }),
    outcomes: options.outcomes ?? createDynamoSendOutcomeStore(options.dynamo, { clock: options.clock }),
    events: options.events,
    newEventId: () => ulid(),
    pacer: createPacer(options.pacing, { clock: options.clock, random: Math.random }),
    clock: options.clock,
    logger: options.logger,
    ...(options.outbound ? { outbound: options.outbound } : {}),
    journal: { store: createDynamoSendJournal(options.dynamo, { clock: options.clock, ...(options.s3 && options.journalBucket ? { overflow: { s3: options.s3, bucket: options.journalBucket } } : {}) }), runnerId, shardOf: (instanceId) => shardOf(instanceId, options.shards) },
    pacingState: createDynamoPacingStateStore(options.dynamo, { clock: options.clock }),
  });

  const supervisor = createSessionSupervisor({
    factory: options.factory,
    instances: options.instances,
    sessions,
    vault: options.vault,
    loadAuthState: ({ instanceId, cipher, fence }) => createDynamoAuthState(options.dynamo, { instanceId, cipher, fence, logger: options.logger, batcher: authCommits, writeBehind: options.authWriteBehind ?? true }),
    fenceOf: (shard) => (crashed ? null : (manager?.fenceOf(shard) ?? null)),
    shardOf: (instanceId) => shardOf(instanceId, options.shards),
    clock: options.clock,
    timers,
    random: Math.random,
    logger: options.logger,
    restoreStaggerMs: options.restoreStaggerMs,
    linkTimeoutMs: options.linkTimeoutMs,
    events: options.events,
    messages: createDynamoMessageStore(options.dynamo, { clock: options.clock, retentionSeconds: options.messageRetentionSeconds }),
    newEventId: () => ulid(),
    media: options.media,
    forgetMedia: options.forgetMedia,
    alarm: (name, ref) => options.logger.error(`alarm: ${name}`, { metric: `zapfleet.${name}`, instanceId: ref.instanceId }),
    sender,
  });

  manager = createLeaseManager({
    store: createLeaseStore(options.dynamo),
    runnerId,
    shards: options.shards,
    ttlMs: options.leaseTtlMs,
    renewEveryMs: options.renewEveryMs,
    clock: options.clock,
    timers,
    logger: options.logger,
    onAcquired: async (lease) => {
      if (crashed) return;
      // Sends the shard's previous owner took off the queue and did not finish (send-journal.ts).
      // `accepted` ones are adopted and sent from this runner's lanes, before the queue's later commands.
      await sender.recover(lease.shard, (instanceId) => supervisor.connectionOf(instanceId)).catch((error: unknown) => options.logger.error('abandoned sends not resolved', { shard: lease.shard, error: String(error) }));
      const consumer = createShardConsumer({
        sqs: options.sqs,
        queueUrl: options.queueUrlOf(lease.shard),
        handle: (command) => supervisor.handle(command),
        logger: options.logger,
        ...(options.s3 ? { s3: options.s3 } : {}),
        waitTimeSeconds: options.waitTimeSeconds,
        ...(options.metrics ? { onEvent: recordCommandMetrics(options.metrics) } : {}),
      });
      consumers.set(lease.shard, consumer);
      consumer.start();
      options.logger.info('shard acquired', { runnerId, shard: lease.shard, epoch: lease.epoch });
      await supervisor.restore(lease.shard);
    },
    onLost: async (shard, reason) => {
      if (crashed) return;
      options.logger.info('shard released', { runnerId, shard, reason });
      // Sockets close at the same time as the consumer drains: on a self-fence the lease may
      // lapse soon, and a long-running command must not keep the shard's sockets open past it.
      const consumer = consumers.get(shard);
      consumers.delete(shard);
      // First: the shard's sends not yet going to WhatsApp stop where they are (journaled `accepted`,
      // the next owner adopts them) rather than fail when their socket closes.
      sender.release(shard);
      await Promise.all([consumer?.stop(), supervisor.release(shard)]);
    },
  });

  return {
    runnerId,
    supervisor,
    start: () => (manager as LeaseManager).start(),
    /** SIGTERM: stop consuming, close sockets (auth kept), release leases. */
    stop: () => (manager as LeaseManager).stop(),
    held: () => (manager as LeaseManager).held(),
    /**
     * Tests only: dies the way a killed task does. Sockets drop and every timer and consumer stops,
     * but nothing is written: leases are neither renewed nor released (they lapse after their TTL),
     * the heartbeat goes stale, and the auth state refuses writes (no fence).
     */
    async crash(): Promise<void> {
      crashed = true;
      sender.halt();
      for (const handle of pendingTimers) clearTimeout(handle);
      pendingTimers.clear();
      const stopping = [...consumers.values()].map((consumer) => consumer.stop());
      consumers.clear();
      await Promise.all([...stopping, supervisor.stopAll()]);
    },
  };
};

export type Runner = ReturnType<typeof createRunner>;
