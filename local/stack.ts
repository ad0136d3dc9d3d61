import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { adminModule } from '../functions/admin/admin.handlers.ts';
import { authorizerHandler } from '../functions/authorizer/authorizer.handler.ts';
import { createAppDeps, type AppDeps } from '../functions/deps.ts';
import { instanceHandlers } from '../functions/instance/instance.handlers.ts';
import { metricsHandlers } from '../functions/instance/metrics.handler.ts';
import { messageModule } from '../functions/message/message.handlers.ts';
import { healthHandler } from '../functions/system/health.handler.ts';
import { createBaileysConnectionFactory } from '../session-runner/baileys/baileys-connection.ts';
import { createSqsCommandBus } from '../shared/adapters/sqs/command-bus.sqs.ts';
import { createSqsEventPublisher } from '../shared/adapters/sqs/event-publisher.sqs.ts';
import { createS3MediaObjects } from '../shared/adapters/s3/media-objects.s3.ts';
import { createMediaDelivery } from '../shared/domain/events/media.ts';
import { createMediaEraser, createMediaIngest } from '../shared/domain/use-cases/media.use-cases.ts';
import { spoolMediaToFile } from '../session-runner/baileys/media-download.ts';
import { createRunner, type Runner } from '../session-runner/runner.ts';
import { assertWhatsAppCertificateUntouched } from '../session-runner/baileys/wa-certificate.ts';
import { startWhatsAppSandbox, trustSandboxRoot, type WhatsAppSandbox } from './sandbox/whatsapp-sandbox.ts';
import { sandboxModule } from './sandbox-mode/sandbox.handlers.ts';
import { withSimulatedPhone } from './sandbox-mode/simulated-phone.ts';
import { websocketHandlers } from '../functions/events/websocket.handlers.ts';
import { webhookHandlers } from '../functions/events/webhook.handlers.ts';
import { startEmbeddedEventDelivery } from './events/event-poller.ts';
import { moduleHandler } from '../shared/http/http-handler.ts';
import { createWsHub, type WsHub } from './events/ws-hub.ts';
import { documentClient } from '../shared/adapters/dynamodb/document-client.ts';
import { ensureTable } from '../shared/adapters/dynamodb/table.ts';
import { LocalKeyring } from '../shared/adapters/keys/keyring.local.ts';
import { loadOrCreateLocalKeyMaterial } from '../shared/adapters/keys/local-key-file.ts';
import { defaultRateLimits } from '../shared/domain/account/account.ts';
import type { Logger } from '../shared/domain/ports/runtime.port.ts';
import { createAccount } from '../shared/domain/use-cases/accounts.use-cases.ts';
import { routes } from '../shared/http/routes.ts';
import { createLogger } from '../shared/observability/logger.ts';
import type { EmbeddedConfig } from './config.ts';
import { localCredentials, startDynamoDbLocal, type DynamoDbLocal } from './emulators/dynamodb-local.ts';
import { emulatorSigner } from './emulators/emulator-signer.ts';
import { createApiServer } from './http-server.ts';

/** Embedded defaults (ARCHITECTURE §4): 4 command shards, one events queue, one media bucket. */
export const embeddedResources = {
  shards: 4,
  commandQueue: (shard: number) => `zapfleet-commands-${shard}.fifo`,
  eventsQueue: 'zapfleet-events',
  mediaBucket: 'zapfleet-media',
} as const;

export interface RunningStack {
  url: string;
  port: number;
  deps: AppDeps;
  runner: Runner;
  wsHub: WsHub;
  /** The WhatsApp sandbox, in sandbox mode. */
  sandbox: WhatsAppSandbox | null;
  adminKey: string;
  /** Printed once, on the first start that created the `default` account. */
  defaultAccountToken: string | null;
  /** DynamoDB calls made so far (the API benchmark divides by requests). */
  dynamoCalls(): number;
  stop(): Promise<void>;
}

export interface StackOptions {
  logger?: Logger;
  /** Where Baileys connects: the WhatsApp sandbox in sandbox mode and tests. */
  waWebSocketUrl?: string;
  /** Long-poll wait of the in-process runner's queue consumers (tests shorten it). */
  consumerWaitSeconds?: number;
  /** Where the start-up banner goes (stdout for `npm start`). */
  print?: (line: string) => void;
  /** Webhook retry schedule (tests shorten the contract's minutes-to-hours one). */
  retryDelaysMs?: readonly number[];
  /** Signal keys written behind the socket's frame barrier (the runner's default: true); the events bench compares both. */
  authWriteBehind?: boolean;
}

const readOrCreateAdminKey = async (dataDir: string): Promise<{ key: string; created: boolean }> => {
  const path = join(dataDir, 'admin-key');
  try {
    const key = (await readFile(path, 'utf8')).trim();
    if (key.length >= 16) return { key, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const key = randomBytes(32).toString('hex');
  await writeFile(path, `${key}\n`, { mode: 0o600 });
  await chmod(path, 0o600);
  return { key, created: true };
};

/**
 * Starts everything `npm start` runs, in this process: DynamoDB Local (child process),
 * fauxqs (SQS + S3), the local key provider, and the HTTP API serving the Lambda handlers.
 */
export const startStack = async (config: EmbeddedConfig, options: StackOptions = {}): Promise<RunningStack> => {
  const logger = options.logger ?? createLogger({ level: config.logLevel });
  const print = options.print ?? (() => undefined);
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  };

  try {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
    const material = await loadOrCreateLocalKeyMaterial(config.dataDir);
    const admin = config.adminKey ? { key: config.adminKey, created: false } : await readOrCreateAdminKey(config.dataDir);

    let dynamoLocal: DynamoDbLocal | null = null;
    if (!config.dynamodbEndpoint) {
      dynamoLocal = await startDynamoDbLocal({ dbPath: join(config.dataDir, 'dynamodb'), port: config.dynamodbPort });
      cleanups.push(() => (dynamoLocal as DynamoDbLocal).stop());
    }
    const dynamo = new DynamoDBClient({ endpoint: config.dynamodbEndpoint ?? dynamoLocal?.endpoint, region: 'local', credentials: localCredentials, signer: emulatorSigner });
    let calls = 0;
    dynamo.middlewareStack.add((next) => (args) => ((calls += 1), next(args)), { step: 'initialize', name: 'countCalls' });
    cleanups.push(async () => dynamo.destroy());
    await ensureTable(dynamo, config.tableName);

    const fauxqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    cleanups.push(() => fauxqs.stop());
    const queueUrls = [...Array.from({ length: embeddedResources.shards }, (_, shard) => embeddedResources.commandQueue(shard)), embeddedResources.eventsQueue].map(
      (name) => fauxqs.createQueue(name, name.endsWith('.fifo') ? { attributes: { FifoQueue: 'true' } } : {}).queueUrl,
    );
    fauxqs.createBucket(embeddedResources.mediaBucket);
    const sqs = new SQSClient({ endpoint: fauxqs.address, region: 'us-east-1', credentials: localCredentials, signer: emulatorSigner });
    const s3 = new S3Client({ endpoint: fauxqs.address, region: 'us-east-1', credentials: localCredentials, forcePathStyle: true });
    cleanups.push(async () => (sqs.destroy(), s3.destroy()));

    if (config.allowPrivateTargets) logger.warn('ZAPFLEET_ALLOW_PRIVATE_TARGETS=true: webhooks, Chatwoot and S3 endpoints may point at private addresses');
    else if (config.allowLoopbackTargets) logger.warn('loopback targets (127.0.0.0/8, ::1) are allowed for webhooks, Chatwoot and S3 endpoints on this embedded stack; set ZAPFLEET_ALLOW_LOOPBACK_TARGETS=false to refuse them');

    let runnerRef: Runner | null = null;
    // The hub is built once the server exists; deletion and rotation reach it from then on.
    let hubRef: WsHub | null = null;
    const deps = createAppDeps({
      dynamo,
      tableName: config.tableName,
      keyring: new LocalKeyring(material),
      pepper: material.pepper,
      logger,
      messageRetentionSeconds: config.messageRetentionSeconds,
      cors: { allowedOrigins: config.corsOrigins },
      adminKey: admin.key,
      defaults: { instanceQuota: config.defaultInstanceQuota, rateLimits: { global: config.rateLimits.global, create: config.rateLimits.create } },
      limits: { ip: config.rateLimits.ip, admin: config.rateLimits.admin },
      outbound: { allowPrivate: config.allowPrivateTargets, allowLoopback: config.allowLoopbackTargets },
      bus: createSqsCommandBus({ sqs, queueUrlOf: (shard) => queueUrls[shard] as string, shards: embeddedResources.shards, overflow: { s3, bucket: embeddedResources.mediaBucket } }),
      connectWaitMs: 60_000,
      // One process makes every write to the table: the list may read through a cache it invalidates.
      cacheInstanceReads: true,
      // ...and serves every request: rate-limit windows are counted in memory, not written per request.
      countRatesInProcess: true,
      // The runner below records send outcomes through `deps.outcomes`: waiting requests are signalled, not polling.
      notifyOutcomes: true,
      streams: {
        instanceDeleted: async (ref) => hubRef?.instanceDeleted(ref),
        accountTokenRotated: async (ref) => hubRef?.accountTokenRotated(ref),
      },
      health: {
        store: async () => void (await dynamo.send(new DescribeTableCommand({ TableName: config.tableName }))),
        queue: async () => void (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrls.at(-1), AttributeNames: ['QueueArn'] }))),
        media: async () => void (await s3.send(new HeadBucketCommand({ Bucket: embeddedResources.mediaBucket }))),
        // The in-process runner must hold shard leases (and so consume their queues) to host sessions.
        fleet: async () => {
          if (!runnerRef) throw new Error('session runner not started');
          if (runnerRef.held().length === 0) throw new Error('no worker capacity');
        },
      },
    });

    let sandbox: WhatsAppSandbox | null = null;
    let waWebSocketUrl = options.waWebSocketUrl;
    if (config.driver === 'sandbox') {
      sandbox = await startWhatsAppSandbox({ scanDelayMs: config.sandboxScanMs });
      cleanups.push(() => (sandbox as WhatsAppSandbox).stop());
      trustSandboxRoot(sandbox.rootPublicKey);
      waWebSocketUrl = sandbox.url;
      logger.warn('ZAPFLEET_DRIVER=sandbox: sessions connect to the local WhatsApp sandbox, not to WhatsApp');
    } else if (!waWebSocketUrl) {
      assertWhatsAppCertificateUntouched();
    }
    const baileys = createBaileysConnectionFactory({ logger, waWebSocketUrl, lean: true, ...(sandbox ? { mediaOrigin: sandbox.mediaOrigin } : {}) });
    // Incoming media: stored by the runner (instance bucket, else the platform bucket), presigned at delivery.
    const mediaObjects = createS3MediaObjects({ platform: s3 });
    const mediaDeps = { instances: deps.instances, vault: deps.vault, outbound: deps.outbound, objects: mediaObjects, logger };
    const dynamoContext = { doc: documentClient(dynamo), tableName: config.tableName };
    const runner = createRunner({
      dynamo: dynamoContext,
      sqs,
      queueUrlOf: (shard) => queueUrls[shard] as string,
      shards: embeddedResources.shards,
      factory: sandbox ? withSimulatedPhone(baileys, sandbox) : baileys,
      instances: deps.instances,
      vault: deps.vault,
      logger,
      clock: deps.clock,
      runnerId: `embedded-${randomBytes(6).toString('hex')}`,
      events: createSqsEventPublisher({ sqs, queueUrl: queueUrls.at(-1) as string, s3, bucket: embeddedResources.mediaBucket }),
      outcomes: deps.outcomes,
      waitTimeSeconds: options.consumerWaitSeconds,
      s3,
      journalBucket: embeddedResources.mediaBucket,
      messageRetentionSeconds: config.messageRetentionSeconds,
      media: createMediaIngest({ ...mediaDeps, spool: spoolMediaToFile(), platformBucket: embeddedResources.mediaBucket }),
      forgetMedia: createMediaEraser({ objects: mediaObjects, platformBucket: embeddedResources.mediaBucket, logger }),
      outbound: deps.outbound,
      // ZAPFLEET_PACING_*: off by default in sandbox mode (WhatsApp's throttling pauses still apply).
      pacing: config.pacing,
      ...(options.authWriteBehind !== undefined ? { authWriteBehind: options.authWriteBehind } : {}),
    });
    await runner.start();
    runnerRef = runner;
    cleanups.push(() => runner.stop());

    let defaultAccountToken: string | null = null;
    if ((await deps.accounts.list()).length === 0) {
      const created = await createAccount({ ...deps, defaults: { instanceQuota: 10, rateLimits: { ...defaultRateLimits, ...deps.defaults.rateLimits } } }, { name: 'default' });
      defaultAccountToken = created.token;
    }

    const health = healthHandler(deps.health);
    const server = createApiServer({
      deps,
      // Connect waits up to `connectWaitMs` for a QR code, then answers 504 itself: never cut it short.
      requestBudgetMs: deps.connectWaitMs + 30_000,
      routes: sandbox ? routes : routes.filter((route) => route.module !== 'sandbox'),
      modules: {
        instance: moduleHandler(new Map([...instanceHandlers(deps), ...metricsHandlers(deps, { dynamo: dynamoContext })])),
        events: moduleHandler(new Map([...webhookHandlers(deps, { dynamo: dynamoContext }), ...websocketHandlers(deps)])),
        message: messageModule(deps),
        admin: adminModule(deps),
        system: async () => health(),
        ...(sandbox ? { sandbox: sandboxModule(deps, sandbox) } : {}),
      },
      authorizer: authorizerHandler(deps),
    });
    // The stream's `instanceData.baseUrl` is this server's own URL once it listens.
    let baseUrl = '';
    const wsHub: WsHub = createWsHub({ deps, logger, baseUrl: () => baseUrl, media: createMediaDelivery(mediaDeps) });
    wsHub.attach(server);
    hubRef = wsHub;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    cleanups.push(async () => wsHub.close());
    const port = (server.address() as AddressInfo).port;
    const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
    baseUrl = url;
    // Events: the runner's queue → webhooks (durable, retried) and the WebSocket streams (live).
    // The fan-out's instance reads go through the API's read cache: an aggregate is served only while
    // no write touched its partition since it was read (every write is made in this process), so it
    // is as fresh as a read made for the event (functions/events/dispatcher.ts).
    const cachedReads = deps.instanceReads;
    const delivery = startEmbeddedEventDelivery({
      deps: cachedReads ? { ...deps, instances: { ...deps.instances, get: (accountId: string, name: string) => cachedReads.get(accountId, name) } } : deps,
      dynamo: dynamoContext,
      sqs,
      s3,
      queueUrl: queueUrls.at(-1) as string,
      bucket: embeddedResources.mediaBucket,
      baseUrl: url,
      logger,
      onRecord: (record) => wsHub.broadcast(record),
      ...(options.retryDelaysMs ? { retryDelaysMs: options.retryDelaysMs } : {}),
    });
    cleanups.push(() => delivery.stop());

    print(`zapfleet is listening on ${url} (data in ${config.dataDir})`);
    if (admin.created) print(`Admin key (stored in ${join(config.dataDir, 'admin-key')}): ${admin.key}`);
    if (defaultAccountToken) {
      print('Created account "default" (instance quota 10). Its TokenAccount is shown only this once:');
      print(`  ${defaultAccountToken}`);
      print('Create your first instance:');
      print(`  curl -X POST "${url}/api/instance/new" -H "token: ${defaultAccountToken}" -H "Content-Type: application/json" -d '{"name":"minha-instancia"}'`);
    }
    return { url, port, deps, runner, sandbox, wsHub, adminKey: admin.key, defaultAccountToken, dynamoCalls: () => calls, stop };
  } catch (error) {
    await stop();
    throw error;
  }
};
