import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { documentClient } from '../shared/adapters/dynamodb/document-client.ts';
import { createInstanceRepository } from '../shared/adapters/dynamodb/instance-repository.dynamodb.ts';
import { KmsKeyring } from '../shared/adapters/keys/keyring.kms.ts';
import { createSecretVault } from '../shared/adapters/keys/secret-vault.ts';
import { createOutboundTargetPolicy } from '../shared/adapters/net/outbound-target-policy.ts';
import { createSqsEventPublisher } from '../shared/adapters/sqs/event-publisher.sqs.ts';
import { createS3MediaObjects } from '../shared/adapters/s3/media-objects.s3.ts';
import { messageRetentionSeconds } from '../shared/domain/messages/message.ts';
import { defaultPacingConfig } from '../shared/domain/messages/pacing.ts';
import { createMediaEraser, createMediaIngest } from '../shared/domain/use-cases/media.use-cases.ts';
import { createLogger } from '../shared/observability/logger.ts';
import { createEmfMetrics, defaultMetricsNamespace, metricServices, startRunnerMetrics } from '../shared/observability/metrics.emf.ts';
import { spoolMediaToFile } from './baileys/media-download.ts';
import { createBaileysConnectionFactory } from './baileys/baileys-connection.ts';
import { assertWhatsAppCertificateUntouched } from './baileys/wa-certificate.ts';
import { startHealthFile } from './health/health-file.ts';
import { createRunner } from './runner.ts';

/** A whole number 0–`max` given as text; a bad value names the variable. */
const wholeNumber = (name: string, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: `${name} must be a whole number` })
    .transform(Number)
    .refine((value) => value <= max, { error: `${name} must be between 0 and ${max}` });

/** The Fargate task's configuration, set by `infra/`; a bad value stops the task at start. */
const RunnerConfig = z.object({
  ZAPFLEET_TABLE_NAME: z.string().min(3),
  ZAPFLEET_KMS_KEY_ID: z.string().min(1),
  /** The shard command queues, comma-separated, in shard order (AWS default: 64 shards). */
  ZAPFLEET_COMMAND_QUEUE_URLS: z.string().min(1),
  /** The events queue: every `message.*`, `instance.state`… event the runner builds goes there for the dispatcher. */
  ZAPFLEET_EVENTS_QUEUE_URL: z.url(),
  ZAPFLEET_LOG_LEVEL: z.enum(['info', 'warn', 'error', 'silent']).default('info'),
  /** CloudWatch namespace of the runner's EMF metrics (shared/observability/metrics.emf.ts); infra sets one per stage. */
  ZAPFLEET_METRICS_NAMESPACE: z.string().min(1).default(defaultMetricsNamespace),
  /** WhatsApp Web client version `major.minor.patch`: WhatsApp may reject an old one (405). */
  ZAPFLEET_WA_VERSION: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/)
    .optional(),
  /** The platform bucket: media of instances without their own S3 configuration, and events too large for a queue message. */
  ZAPFLEET_MEDIA_BUCKET: z.string().min(3),
  /** As for the API: customer S3 endpoints may be private addresses (self-hosted operators only). */
  ZAPFLEET_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false']).default('false'),
  /** Anti-ban pacing of API sends (shared/domain/messages/pacing.ts; README "Sending messages"). */
  ZAPFLEET_PACING_ENABLED: z.enum(['true', 'false'], { error: "ZAPFLEET_PACING_ENABLED must be 'true' or 'false'" }).default('true'),
  ZAPFLEET_PACING_MIN_GAP_MS: wholeNumber('ZAPFLEET_PACING_MIN_GAP_MS', 3_600_000).default(defaultPacingConfig.minGapMs),
  ZAPFLEET_PACING_MAX_GAP_MS: wholeNumber('ZAPFLEET_PACING_MAX_GAP_MS', 3_600_000).default(defaultPacingConfig.minGapMs + defaultPacingConfig.jitterMs),
  ZAPFLEET_PACING_DAILY_NEW_CONTACTS: wholeNumber('ZAPFLEET_PACING_DAILY_NEW_CONTACTS', 1_000_000).default(defaultPacingConfig.firstContactsPerDay),
  /** How long sent and received messages stay in the message store (days; expire by DynamoDB TTL). */
  ZAPFLEET_MESSAGE_RETENTION_DAYS: wholeNumber('ZAPFLEET_MESSAGE_RETENTION_DAYS', 3650).refine((days) => days >= 1, { error: 'ZAPFLEET_MESSAGE_RETENTION_DAYS must be between 1 and 3650' }).default(messageRetentionSeconds / 86_400),
}).superRefine((config, context) => {
  if (config.ZAPFLEET_PACING_MAX_GAP_MS < config.ZAPFLEET_PACING_MIN_GAP_MS) {
    context.addIssue({ code: 'custom', path: ['ZAPFLEET_PACING_MAX_GAP_MS'], message: 'ZAPFLEET_PACING_MAX_GAP_MS must not be less than ZAPFLEET_PACING_MIN_GAP_MS' });
  }
});

/**
 * The session runner on ECS Fargate: one composition root, AWS clients created once.
 * SIGTERM (a deployment or scale-in) drains: stop consuming, close sockets keeping their auth
 * state, release the leases so another task takes the shards at once.
 */
const main = async () => {
  const config = RunnerConfig.parse(process.env);
  assertWhatsAppCertificateUntouched();
  const logger = createLogger({ level: config.ZAPFLEET_LOG_LEVEL, base: { component: 'session-runner' } });
  const dynamo = { doc: documentClient(new DynamoDBClient({})), tableName: config.ZAPFLEET_TABLE_NAME };
  const queueUrls = config.ZAPFLEET_COMMAND_QUEUE_URLS.split(',').map((url) => url.trim());
  const instances = createInstanceRepository(dynamo);
  const vault = createSecretVault(new KmsKeyring(new KMSClient({}), config.ZAPFLEET_KMS_KEY_ID));
  // Incoming media: the instance's own bucket (custom endpoints follow the outbound-target rules), else the platform bucket.
  const sqs = new SQSClient({});
  const s3 = new S3Client({});
  const mediaObjects = createS3MediaObjects({ platform: s3 });
  const forgetMedia = createMediaEraser({ objects: mediaObjects, platformBucket: config.ZAPFLEET_MEDIA_BUCKET, logger });
  const media = createMediaIngest({
    instances,
    vault,
    outbound: createOutboundTargetPolicy({ allowPrivate: config.ZAPFLEET_ALLOW_PRIVATE_TARGETS === 'true', allowLoopback: false }),
    objects: mediaObjects,
    spool: spoolMediaToFile(),
    logger,
    platformBucket: config.ZAPFLEET_MEDIA_BUCKET,
  });
  // One metrics object: the runner records into it, the gauges tick flushes it every minute.
  const metrics = createEmfMetrics({ namespace: config.ZAPFLEET_METRICS_NAMESPACE, service: metricServices.runner });
  const runner = createRunner({
    dynamo,
    sqs,
    queueUrlOf: (shard) => queueUrls[shard] as string,
    shards: queueUrls.length,
    factory: createBaileysConnectionFactory({
      logger,
      lean: true,
      version: config.ZAPFLEET_WA_VERSION ? (config.ZAPFLEET_WA_VERSION.split('.').map(Number) as [number, number, number]) : undefined,
    }),
    instances,
    vault,
    logger,
    clock: { now: () => new Date() },
    media,
    s3,
    journalBucket: config.ZAPFLEET_MEDIA_BUCKET,
    forgetMedia,
    messageRetentionSeconds: config.ZAPFLEET_MESSAGE_RETENTION_DAYS * 86_400,
    events: createSqsEventPublisher({ sqs, queueUrl: config.ZAPFLEET_EVENTS_QUEUE_URL, s3, bucket: config.ZAPFLEET_MEDIA_BUCKET }),
    pacing: {
      enabled: config.ZAPFLEET_PACING_ENABLED === 'true',
      minGapMs: config.ZAPFLEET_PACING_MIN_GAP_MS,
      jitterMs: config.ZAPFLEET_PACING_MAX_GAP_MS - config.ZAPFLEET_PACING_MIN_GAP_MS,
      firstContactsPerDay: config.ZAPFLEET_PACING_DAILY_NEW_CONTACTS,
    },
    metrics,
  });
  process.on('unhandledRejection', (reason: unknown) => logger.error('unhandled rejection', { error: String(reason) }));
  /** Started once the runner runs; the drain stops them (health first, metrics after a last flush). */
  const monitors: { health?: { stop(): void }; metrics?: { stop(): void } } = {};
  const drain = (signal: string) => {
    logger.info('draining', { signal });
    monitors.health?.stop();
    runner.stop().finally(() => monitors.metrics?.stop()).then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('drain failed', { error: String(error) });
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => drain('SIGTERM'));
  process.once('SIGINT', () => drain('SIGINT'));
  await runner.start();
  // The container health check reads this file (session-runner/health/health-file.ts).
  monitors.health = startHealthFile({ dynamo, runnerId: runner.runnerId, logger });
  monitors.metrics = startRunnerMetrics(metrics, {
    sessionsConnected: () => runner.supervisor.open().length,
    shardsHeld: () => runner.held().length,
  });
  logger.info('session runner started', { runnerId: runner.runnerId, shards: queueUrls.length });
};

main().catch((error: unknown) => {
  process.stderr.write(`session runner failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
