import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { ulid } from 'ulid';
import { inject } from 'vitest';
import { createBaileysConnectionFactory, type BaileysFactoryOptions } from '../../session-runner/baileys/baileys-connection.ts';
import { createDynamoAuthState, type DynamoAuthState } from '../../session-runner/baileys/auth-state.dynamodb.ts';
import { createLeaseStore } from '../../session-runner/leases/lease-store.dynamodb.ts';
import { createRunner, type Runner, type RunnerOptions } from '../../session-runner/runner.ts';
import { createAccountRepository } from '../../shared/adapters/dynamodb/account-repository.dynamodb.ts';
import { documentClient, type DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import { createInstanceRepository } from '../../shared/adapters/dynamodb/instance-repository.dynamodb.ts';
import { createSessionRepository } from '../../shared/adapters/dynamodb/session-repository.dynamodb.ts';
import { ensureTable, keys } from '../../shared/adapters/dynamodb/table.ts';
import { LocalKeyring } from '../../shared/adapters/keys/keyring.local.ts';
import { createSecretVault } from '../../shared/adapters/keys/secret-vault.ts';
import { createSqsCommandBus } from '../../shared/adapters/sqs/command-bus.sqs.ts';
import type { CommandBus } from '../../shared/domain/fleet/commands.ts';
import { shardOf, type Fence, type Lease } from '../../shared/domain/fleet/fleet.ts';
import { defaultSettings, emptyProfile, sealedFields, type InstanceRecord, type ProxyConfig } from '../../shared/domain/instance/instance.ts';
import type { SecretVault } from '../../shared/domain/ports/keyring.port.ts';
import type { InstanceRepository } from '../../shared/domain/ports/repositories.port.ts';
import type { Logger } from '../../shared/domain/ports/runtime.port.ts';
import type { SessionRepository } from '../../shared/domain/ports/session-repository.port.ts';
import type { WaConnectionFactory } from '../../shared/domain/ports/wa-connection.port.ts';
import { connectInstance, reconnectInstance } from '../../shared/domain/use-cases/session.use-cases.ts';
import { startWhatsAppSandbox, trustSandboxRoot, type SandboxOptions, type WhatsAppSandbox } from '../../local/sandbox/whatsapp-sandbox.ts';
import { withSimulatedPhone } from '../../local/sandbox-mode/simulated-phone.ts';

/**
 * A session fleet in this process, for integration tests (ARCHITECTURE §4, §6): the run's
 * DynamoDB Local (a table of its own), an in-process fauxqs with one FIFO queue per shard, the
 * WhatsApp sandbox, and as many runners as a test starts, with short lease timings. Instances are
 * created and connected the way the API does it (instance repository + vault, `connectInstance`
 * over the SQS command bus), without the HTTP layer.
 */

export const FLEET_SHARDS = 4;

/** FLEET_DEBUG=1 prints the runners' and the sandbox's logs. */
const debug = process.env.FLEET_DEBUG !== undefined;
export const testLogger: Logger = debug
  ? {
      info: (message, fields) => console.log('[fleet]', message, fields ?? ''),
      warn: (message, fields) => console.warn('[fleet] WARN', message, fields ?? ''),
      error: (message, fields) => console.error('[fleet] ERROR', message, fields ?? ''),
    }
  : { info: () => undefined, warn: () => undefined, error: () => undefined };

export interface FleetOptions {
  /** The simulated phone scans a shown QR after this; null = only the test scans (`sandbox.scan`). */
  scanDelayMs?: number | null;
  /** More sandbox options (pairing delay, QR lifetimes…). */
  sandbox?: Omit<SandboxOptions, 'scanDelayMs'>;
  /** Options of the Baileys adapter the runners use (watchdog, keep-alive…). */
  baileys?: Omit<BaileysFactoryOptions, 'logger' | 'waWebSocketUrl'>;
}

export interface RunnerTimings {
  leaseTtlMs?: number;
  renewEveryMs?: number;
  restoreStaggerMs?: number;
  /** Anti-ban pacing (default: the production defaults, a 2 s gap plus jitter). */
  pacing?: RunnerOptions['pacing'];
}

export interface Fleet {
  sandbox: WhatsAppSandbox;
  dynamo: DynamoContext;
  sqs: SQSClient;
  queueUrls: string[];
  accountId: string;
  instances: InstanceRepository;
  sessions: SessionRepository;
  vault: SecretVault;
  bus: CommandBus;
  /** The Baileys adapter against the sandbox, wrapped with the simulated phone: what runners use. */
  factory: WaConnectionFactory;
  /**
   * Starts a runner with short lease timings: TTL 6 s, renewal every 1 s, 1 s long polls. (With 3 s,
   * DynamoDB Local calls of 300–600 ms on a loaded 2-core machine make runners self-fence.)
   */
  startRunner(runnerId: string, timings?: RunnerTimings): Promise<Runner>;
  /** Creates an instance (its own data key), optionally with an id that lands on `shard`. */
  createInstance(name: string, options?: { shard?: number; proxy?: { protocol: ProxyConfig['protocol']; host: string; port: string; username?: string; password?: string } }): Promise<InstanceRecord>;
  /** `GET /api/instance/connect`: records a linking attempt, sends `connect`, waits for the QR or pairing code. */
  connect(instance: InstanceRecord, query?: { number?: string }): ReturnType<typeof connectInstance>;
  /** `POST /api/instance/reconnect`. */
  reconnect(instance: InstanceRecord): Promise<void>;
  /** The instance item as stored now. */
  instance(instance: InstanceRecord): Promise<InstanceRecord>;
  /** Current shard leases (owner, epoch, expiry) as stored. */
  leases(): Promise<Lease[]>;
  /** Writes a lease item for a shard no runner uses, to fence auth-state writes of adapter-level tests. */
  fence(shard: number): Promise<Fence>;
  /** A DynamoDB auth state for an instance id, sealed with a fresh data key, fenced by `fence`. */
  authState(instanceId: string, fence: Fence): Promise<DynamoAuthState>;
  stop(): Promise<void>;
}

/** Polls `probe` until it returns something truthy; fails with `what` after `timeoutMs`. */
export const waitFor = async <T>(probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, what: string, timeoutMs = 20_000, everyMs = 100): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
};

/** A fresh instance id whose shard (of `FLEET_SHARDS`) is `shard`. */
export const instanceIdOnShard = (shard: number): string => {
  for (;;) {
    const id = randomUUID();
    if (shardOf(id, FLEET_SHARDS) === shard) return id;
  }
};

let tableCounter = 0;

export const startFleet = async (options: FleetOptions = {}): Promise<Fleet> => {
  const cleanups: (() => Promise<void> | void)[] = [];
  const stop = async () => {
    for (const cleanup of cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        testLogger.warn('fleet cleanup failed', { error: String(error) });
      }
    }
  };
  try {
    const client = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    cleanups.push(() => client.destroy());
    const tableName = `fleet_${process.pid}_${Date.now()}_${tableCounter++}`;
    await ensureTable(client, tableName);
    const dynamo: DynamoContext = { doc: documentClient(client), tableName };

    const fauxqs: FauxqsServer = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    cleanups.push(() => fauxqs.stop());
    const queueUrls = Array.from({ length: FLEET_SHARDS }, (_, shard) => fauxqs.createQueue(`fleet-commands-${shard}.fifo`, { attributes: { FifoQueue: 'true' } }).queueUrl);
    const sqs = new SQSClient({ endpoint: fauxqs.address, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    cleanups.push(() => sqs.destroy());

    const sandbox = await startWhatsAppSandbox({
      scanDelayMs: options.scanDelayMs === undefined ? 100 : options.scanDelayMs,
      pairingDelayMs: 0,
      ...(debug ? {} : { logger: { debug: () => undefined, warn: () => undefined } }),
      ...options.sandbox,
    });
    cleanups.push(() => sandbox.stop());
    trustSandboxRoot(sandbox.rootPublicKey);

    const vault = createSecretVault(new LocalKeyring({ masterKeys: [{ id: 'k1', key: randomBytes(32) }] }));
    const instances = createInstanceRepository(dynamo);
    const sessions = createSessionRepository(dynamo);
    const clock = { now: () => new Date() };
    const bus = createSqsCommandBus({ sqs, queueUrlOf: (shard) => queueUrls[shard] as string, shards: FLEET_SHARDS });
    const accountId = randomUUID();
    const createdAt = new Date().toISOString().slice(0, 19) + 'Z';
    await createAccountRepository(dynamo).create({
      id: accountId,
      name: 'fleet',
      instanceQuota: 100,
      instanceCount: 0,
      rateLimits: { global: 1000, create: 100 },
      tokenHash: randomBytes(32).toString('hex'),
      createdAt,
      updatedAt: createdAt,
    });

    const factory = withSimulatedPhone(createBaileysConnectionFactory({ logger: testLogger, waWebSocketUrl: sandbox.url, ...options.baileys }), sandbox);
    const running = new Set<Runner>();
    /** Data keys of adapter-level auth states (no instance item holds them). */
    const adapterKeys = new Map<string, string>();
    const sessionDeps = {
      instances,
      bus,
      clock,
      ids: { uuid: randomUUID, ulid: () => ulid() },
      connectWaitMs: 20_000,
      pollEveryMs: 100,
      qrToDataUrl: async () => '',
    };
    const current = async (instance: InstanceRecord) => {
      const aggregate = await instances.get(instance.accountId, instance.name);
      if (!aggregate) throw new Error(`instance ${instance.name} is gone`);
      return aggregate;
    };
    // Runners still running at the end drain like a SIGTERM; crashed ones have nothing left to stop.
    cleanups.push(async () => {
      await Promise.all([...running].map((runner) => runner.stop()));
    });

    return {
      sandbox,
      dynamo,
      sqs,
      queueUrls,
      accountId,
      instances,
      sessions,
      vault,
      bus,
      factory,
      async startRunner(runnerId, timings = {}) {
        const runner = createRunner({
          dynamo,
          sqs,
          queueUrlOf: (shard) => queueUrls[shard] as string,
          shards: FLEET_SHARDS,
          factory,
          instances,
          vault,
          logger: testLogger,
          clock,
          runnerId,
          leaseTtlMs: timings.leaseTtlMs ?? 6_000,
          renewEveryMs: timings.renewEveryMs ?? 1_000,
          waitTimeSeconds: 1,
          restoreStaggerMs: timings.restoreStaggerMs ?? 10,
          ...(timings.pacing ? { pacing: timings.pacing } : {}),
        });
        const { crash, stop: drain } = runner;
        runner.crash = async () => {
          running.delete(runner);
          await crash();
        };
        runner.stop = async () => {
          running.delete(runner);
          await drain();
        };
        running.add(runner);
        await runner.start();
        return runner;
      },
      async createInstance(name, { shard, proxy } = {}) {
        const id = shard === undefined ? randomUUID() : instanceIdOnShard(shard);
        const cipher = await vault.newInstanceCipher(id);
        const now = new Date().toISOString().slice(0, 19) + 'Z';
        const instance: InstanceRecord = {
          id,
          accountId,
          name,
          wrappedKey: cipher.wrappedKey,
          tokenHash: randomBytes(32).toString('hex'),
          tokenSealed: cipher.seal(sealedFields.token, randomUUID()),
          status: 'disconnected',
          numberJid: null,
          profile: { ...emptyProfile },
          settings: { ...defaultSettings },
          proxy: proxy
            ? {
                protocol: proxy.protocol,
                host: proxy.host,
                port: proxy.port,
                username: proxy.username ?? null,
                passwordSealed: proxy.password ? cipher.seal(sealedFields.proxyPassword, proxy.password) : null,
              }
            : null,
          s3: null,
          websocket: null,
          createdAt: now,
          updatedAt: now,
        };
        await instances.create({
          instance,
          webhooks: [],
          chatwootRequest: null,
          token: { kind: 'instance', accountId, instanceId: id, instanceName: name, limits: { global: 1000, create: 100 } },
        });
        return instance;
      },
      connect: async (instance, query = {}) => connectInstance(sessionDeps, await current(instance), query),
      reconnect: async (instance) => reconnectInstance(sessionDeps, await current(instance)),
      instance: async (instance) => (await current(instance)).instance,
      leases: () => createLeaseStore(dynamo).list(FLEET_SHARDS),
      async fence(shard) {
        const fence = { shard, owner: `test-${randomUUID().slice(0, 8)}`, epoch: 1 };
        await dynamo.doc.send(new PutCommand({ TableName: tableName, Item: { ...keys.lease(shard), entity: 'lease', owner: fence.owner, epoch: fence.epoch, shard, expiresAt: Date.now() + 3_600_000 } }));
        return fence;
      },
      async authState(instanceId, fence) {
        let wrappedKey = adapterKeys.get(instanceId);
        if (wrappedKey === undefined) {
          wrappedKey = (await vault.newInstanceCipher(instanceId)).wrappedKey;
          adapterKeys.set(instanceId, wrappedKey);
        }
        const cipher = await vault.instanceCipher(instanceId, wrappedKey);
        return createDynamoAuthState(dynamo, { instanceId, cipher, fence: () => fence, logger: testLogger });
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
};
