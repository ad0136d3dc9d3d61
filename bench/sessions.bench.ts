/**
 * `npm run bench:sessions` — session density of ONE runner process (issue 3, ARCHITECTURE §6).
 *
 * N sessions (BENCH_SESSIONS, default 1000) are linked through real Baileys (the lean adapter the
 * Fargate runner uses, with the DynamoDB auth state) against the WhatsApp sandbox; then the runner
 * is stopped gracefully and a new one restores them. Printed:
 *
 * - RSS and V8 heap per idle session: (after all N are open and idle, after a forced GC) minus the
 *   baseline taken before opening any, divided by N; for the runner that linked them and for the
 *   runner that restored them.
 * - CPU per session of the link phase (API create + connect with QR PNG, key generation, Noise,
 *   the sandbox phone's scan, 515 → login, the ~812 first pre-keys generated, uploaded and written)
 *   and of the restore phase (login from the stored auth state only).
 * - The time to restore all N after the restart.
 *
 * Processes, so that only the runner is measured:
 * - this one, the driver: calls the HTTP API and the sandbox's control API, counts, prints;
 * - the runner (this file again, BENCH_ROLE=runner): the embedded stack as local/stack.ts composes
 *   it (HTTP API + handlers, fauxqs in-process, the session runner with
 *   `createBaileysConnectionFactory({ lean: true })`); it reports its own memory (after
 *   `global.gc()`, hence `--expose-gc`), CPU and socket opens over IPC;
 * - the WhatsApp sandbox (`local/sandbox/serve.ts`), whose simulated phone scans the QR codes the
 *   API returned (POST /control/scan);
 * - DynamoDB Local (java, in memory), shared by both runners.
 * "Restart" means what a deployment does: the first runner process drains on request (stop
 * consuming, close sockets keeping the auth state, release the leases) and exits; a new process
 * starts the stack, then its runner, which acquires the shards and restores every session.
 *
 * It is a measurement, not a test: it exits 0 whether or not a target is met, and non-zero only
 * when the benchmark itself failed.
 *
 * Environment: BENCH_SESSIONS (default 1000), BENCH_CONCURRENCY (links in flight, default 20),
 * BENCH_IDLE_SECONDS (idle time before measuring memory, default 10), BENCH_RESTORE_TIMEOUT
 * (seconds, default 600), BENCH_VERBOSE=1 (the runners' warnings and errors as they happen),
 * BENCH_HEAP_SNAPSHOTS=<dir> (heap snapshots of both runners at their baseline and when idle),
 * BENCH_RUNNER_NODE_FLAGS (more node flags for the runner processes, e.g. `--cpu-prof`).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SQSClient } from '@aws-sdk/client-sqs';
import { startFauxqs } from 'fauxqs';
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeHeapSnapshot } from 'node:v8';
import { adminModule } from '../functions/admin/admin.handlers.ts';
import { authorizerHandler } from '../functions/authorizer/authorizer.handler.ts';
import { createAppDeps } from '../functions/deps.ts';
import { instanceModule } from '../functions/instance/instance.handlers.ts';
import { localCredentials, startDynamoDbLocal } from '../local/emulators/dynamodb-local.ts';
import { createApiServer } from '../local/http-server.ts';
import { trustSandboxRoot } from '../local/sandbox/whatsapp-sandbox.ts';
import { embeddedResources } from '../local/stack.ts';
import { createBaileysConnectionFactory } from '../session-runner/baileys/baileys-connection.ts';
import { createRunner } from '../session-runner/runner.ts';
import { documentClient } from '../shared/adapters/dynamodb/document-client.ts';
import { ensureTable } from '../shared/adapters/dynamodb/table.ts';
import { LocalKeyring } from '../shared/adapters/keys/keyring.local.ts';
import { loadOrCreateLocalKeyMaterial } from '../shared/adapters/keys/local-key-file.ts';
import { createSqsCommandBus } from '../shared/adapters/sqs/command-bus.sqs.ts';
import type { Logger } from '../shared/domain/ports/runtime.port.ts';
import type { WaConnectionFactory } from '../shared/domain/ports/wa-connection.port.ts';
import { routes } from '../shared/http/routes.ts';
import { childCpuSeconds } from './cpu.ts';

const MiB = 1024 * 1024;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const log = (line: string) => process.stderr.write(`[bench:sessions] ${line}\n`);
const fmt = (value: number, digits = 2) => value.toFixed(digits);
const mib = (bytes: number) => bytes / MiB;
const verbose = process.env.BENCH_VERBOSE === '1';

// ---- what the driver and a runner process say to each other -------------------------------------

interface MemoryMark {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
}
interface Usage {
  /** CPU seconds (user + system) of the runner process since it started. */
  cpuSeconds: number;
  dynamoCalls: Record<string, number>;
  dynamoErrors: Record<string, number>;
  errorCount: number;
  errors: string[];
}
type Request = { type: 'memory'; snapshot?: string } | { type: 'usage' } | { type: 'start-runner' } | { type: 'stop' };
type Message =
  | { type: 'ready'; apiUrl: string }
  | { type: 'open'; instanceId: string }
  | { type: 'close'; instanceId: string; code: number }
  | { type: 'reply'; id: number; value: unknown };

interface RunnerConfig {
  dynamodbEndpoint: string;
  tableName: string;
  dataDir: string;
  adminKey: string;
  waWebSocketUrl: string;
  rootPublicKey: string;
  /** The first runner starts at once; the second reports a baseline before it starts restoring. */
  startRunnerAtBoot: boolean;
}

// ---- the runner process --------------------------------------------------------------------------

const runnerProcess = async (config: RunnerConfig) => {
  const send = (message: Message) => process.send?.(message);
  // The driver went away (killed, crashed): nothing here may outlive it.
  process.on('disconnect', () => process.exit(1));
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the runner process needs --expose-gc');

  let errorCount = 0;
  const errors: string[] = [];
  const logger: Logger = {
    info: () => undefined,
    warn: (message, fields) => {
      if (verbose) log(`runner WARN ${message} ${JSON.stringify(fields ?? {})}`);
    },
    error: (message, fields) => {
      errorCount += 1;
      if (errors.length < 10) errors.push(`${message} ${JSON.stringify(fields ?? {})}`);
      if (verbose) log(`runner ERROR ${message} ${JSON.stringify(fields ?? {})}`);
    },
  };
  // A Baileys callback that rejects must not end the process (local/main.ts does the same).
  process.on('unhandledRejection', (reason: unknown) => logger.error('unhandled rejection', { error: String(reason) }));

  trustSandboxRoot(Buffer.from(config.rootPublicKey, 'base64'));
  const dynamo = new DynamoDBClient({ endpoint: config.dynamodbEndpoint, region: 'local', credentials: localCredentials });
  const dynamoCalls: Record<string, number> = {};
  const dynamoErrors: Record<string, number> = {};
  dynamo.middlewareStack.add(
    (next, context) => async (args) => {
      const command = context.commandName ?? 'unknown';
      dynamoCalls[command] = (dynamoCalls[command] ?? 0) + 1;
      try {
        return await next(args);
      } catch (error) {
        const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
        const name = reasons ? `${(error as Error).name}(${[...new Set(reasons.map((reason) => reason.Code))].join(',')})` : (error as Error).name;
        dynamoErrors[name] = (dynamoErrors[name] ?? 0) + 1;
        throw error;
      }
    },
    { step: 'initialize', name: 'benchCountCalls' },
  );
  const fauxqs = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
  const queueUrls = Array.from(
    { length: embeddedResources.shards },
    (_, shard) => fauxqs.createQueue(embeddedResources.commandQueue(shard), { attributes: { FifoQueue: 'true' } }).queueUrl,
  );
  const sqs = new SQSClient({ endpoint: fauxqs.address, region: 'us-east-1', credentials: localCredentials });
  const material = await loadOrCreateLocalKeyMaterial(config.dataDir);
  const unlimited = 1_000_000;
  const deps = createAppDeps({
    dynamo,
    tableName: config.tableName,
    keyring: new LocalKeyring(material),
    pepper: material.pepper,
    logger,
    cors: { allowedOrigins: [] },
    adminKey: config.adminKey,
    defaults: { instanceQuota: 10, rateLimits: { global: unlimited, create: unlimited } },
    limits: { ip: unlimited, admin: unlimited },
    outbound: { allowPrivate: false, allowLoopback: true },
    bus: createSqsCommandBus({ sqs, queueUrlOf: (shard) => queueUrls[shard] as string, shards: embeddedResources.shards }),
    connectWaitMs: 60_000,
    health: {},
  });

  // The driver waits on socket opens instead of polling the API: one IPC message per open and close.
  const baileys = createBaileysConnectionFactory({ logger, waWebSocketUrl: config.waWebSocketUrl, lean: true });
  const factory: WaConnectionFactory = {
    open: (options) =>
      baileys.open({
        ...options,
        onEvent: (event) => {
          if (event.type === 'open') send({ type: 'open', instanceId: options.instanceId });
          if (event.type === 'close') send({ type: 'close', instanceId: options.instanceId, code: event.code });
          options.onEvent(event);
        },
      }),
  };
  const runner = createRunner({
    dynamo: { doc: documentClient(dynamo), tableName: config.tableName },
    sqs,
    queueUrlOf: (shard) => queueUrls[shard] as string,
    shards: embeddedResources.shards,
    factory,
    instances: deps.instances,
    vault: deps.vault,
    logger,
    clock: deps.clock,
    runnerId: `bench-${randomBytes(4).toString('hex')}`,
    waitTimeSeconds: 1,
  });
  const notFound = async () => ({ statusCode: 404, headers: {}, body: JSON.stringify({ success: false, error: { message: 'Route not found' } }) });
  const server = createApiServer({
    deps,
    routes: routes.filter((route) => route.module !== 'sandbox'),
    modules: { instance: instanceModule(deps), admin: adminModule(deps), system: notFound, sandbox: notFound },
    authorizer: authorizerHandler(deps),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  if (config.startRunnerAtBoot) await runner.start();

  const answer = async (request: Request): Promise<unknown> => {
    switch (request.type) {
      case 'memory': {
        for (let i = 0; i < 3; i++) {
          gc();
          await sleep(200);
        }
        const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage();
        if (request.snapshot) writeHeapSnapshot(request.snapshot);
        return { rss, heapUsed, heapTotal, external, arrayBuffers } satisfies MemoryMark;
      }
      case 'usage': {
        const cpu = process.cpuUsage();
        return { cpuSeconds: (cpu.user + cpu.system) / 1e6, dynamoCalls: { ...dynamoCalls }, dynamoErrors: { ...dynamoErrors }, errorCount, errors } satisfies Usage;
      }
      case 'start-runner':
        await runner.start();
        return null;
      case 'stop': {
        const started = performance.now();
        await runner.stop();
        const seconds = (performance.now() - started) / 1000;
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await fauxqs.stop();
        sqs.destroy();
        dynamo.destroy();
        return seconds;
      }
    }
  };
  process.on('message', (raw: { id: number; request: Request }) => {
    void answer(raw.request).then(
      (value) => {
        send({ type: 'reply', id: raw.id, value });
        // Baileys keeps timers of its own: a drained runner leaves as soon as it has answered.
        if (raw.request.type === 'stop') setTimeout(() => process.exit(0), 100);
      },
      (error: unknown) => {
        log(`runner: ${raw.request.type} failed: ${String(error)}`);
        process.exit(1);
      },
    );
  });
  send({ type: 'ready', apiUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
};

// ---- child processes of the driver -------------------------------------------------------------

interface RunnerHandle {
  apiUrl: string;
  /** Instances whose socket is open now. */
  open: Set<string>;
  closes: Map<number, number>;
  ask<T>(request: Request): Promise<T>;
  onOpen?: (instanceId: string) => void;
  exited: Promise<void>;
  kill(): void;
}

const startRunnerProcess = async (config: RunnerConfig): Promise<RunnerHandle> => {
  const child = fork(fileURLToPath(import.meta.url), [], {
    cwd: root,
    execArgv: ['--expose-gc', ...(process.env.BENCH_RUNNER_NODE_FLAGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx'],
    env: { ...process.env, NODE_OPTIONS: '', BENCH_ROLE: 'runner', BENCH_RUNNER_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pending = new Map<number, (value: unknown) => void>();
  let nextId = 0;
  let ready: (apiUrl: string) => void = () => undefined;
  const readyUrl = new Promise<string>((resolve, reject) => {
    ready = resolve;
    child.once('exit', (code) => reject(new Error(`runner process exited with code ${code} before it was ready`)));
  });
  const handle: RunnerHandle = {
    apiUrl: '',
    open: new Set(),
    closes: new Map(),
    ask: <T>(request: Request) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, resolve as (value: unknown) => void);
        child.send({ id, request }, (error) => error && reject(error));
        void exited.then(() => pending.has(id) && reject(new Error(`runner process exited during '${request.type}'`)));
      }),
    exited,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
  child.on('message', (message: Message) => {
    switch (message.type) {
      case 'ready':
        return ready(message.apiUrl);
      case 'open':
        handle.open.add(message.instanceId);
        return handle.onOpen?.(message.instanceId);
      case 'close':
        handle.open.delete(message.instanceId);
        handle.closes.set(message.code, (handle.closes.get(message.code) ?? 0) + 1);
        return;
      case 'reply': {
        const resolve = pending.get(message.id);
        pending.delete(message.id);
        return resolve?.(message.value);
      }
    }
  });
  handle.apiUrl = await readyUrl;
  return handle;
};

/** Like DynamoDB Local's wrapper: the sandbox dies when our stdin pipe closes, even if we are killed. */
const watchdogScript = 'exec 3<&0; "$0" "$@" </dev/null & pid=$!; { read _ <&3; kill $pid 2>/dev/null; } & wait $pid';

const startSandboxProcess = async () => {
  const child: ChildProcess = spawn('sh', ['-c', watchdogScript, process.execPath, '--import', 'tsx', join(root, 'local/sandbox/serve.ts')], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, NODE_OPTIONS: '', ZAPFLEET_SANDBOX_SCAN_MS: 'off', SANDBOX_HOST: '127.0.0.1', SANDBOX_PORT: '0' },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.stdin?.end();
    const timer = setTimeout(() => {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    }, 5_000);
    await exited;
    clearTimeout(timer);
  };
  try {
    const first = await new Promise<string>((resolve, reject) => {
      let buffered = '';
      const timer = setTimeout(() => reject(new Error('sandbox did not start within 30 s')), 30_000);
      child.stdout?.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const newline = buffered.indexOf('\n');
        if (newline >= 0) {
          clearTimeout(timer);
          resolve(buffered.slice(0, newline));
        }
      });
      child.once('exit', (code) => reject(new Error(`sandbox exited with code ${code}`)));
    });
    const info = JSON.parse(first) as { url: string; controlUrl: string; rootPublicKey: string };
    return { ...info, stop };
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}${stderr ? `\n${stderr}` : ''}`);
  }
};

const helperCpu = () => ({ sandbox: childCpuSeconds('serve.ts'), java: childCpuSeconds('DynamoDBLocal') });
const minus = (a: number | null, b: number | null) => (a === null || b === null ? null : a - b);
const countsSince = (now: Record<string, number>, then: Record<string, number>) =>
  Object.fromEntries(Object.entries(now).flatMap(([key, value]) => (value - (then[key] ?? 0) > 0 ? [[key, value - (then[key] ?? 0)]] : [])));

// ---- the driver ------------------------------------------------------------------------------------

const positiveInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`${name} must be a positive whole number`);
  return Number(raw);
};

const driver = async () => {
  const sessionsWanted = positiveInt('BENCH_SESSIONS', 1000);
  const concurrency = positiveInt('BENCH_CONCURRENCY', 20);
  const idleSeconds = positiveInt('BENCH_IDLE_SECONDS', 10);
  const restoreTimeoutMs = positiveInt('BENCH_RESTORE_TIMEOUT', 600) * 1000;
  const heapSnapshots = process.env.BENCH_HEAP_SNAPSHOTS || null;
  const snapshot = (name: string) => (heapSnapshots ? { snapshot: join(heapSnapshots, `${name}.heapsnapshot`) } : {});
  const target = { rssPerSessionMiB: 1, restoreSeconds: 120, atSessions: 1000 };

  const cleanups: (() => Promise<void> | void)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) {
      try {
        await step();
      } catch (error) {
        log(`cleanup step failed: ${String(error)}`);
      }
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void cleanup().then(() => process.exit(130));
    });
  }

  try {
    const [load1 = 0, load5 = 0] = loadavg();
    log(`machine: ${cpus().length} cores, load ${fmt(load1)} / ${fmt(load5)} (1 / 5 min), node ${process.version}`);
    const dataDir = await mkdtemp(join(tmpdir(), 'zapfleet-bench-sessions-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const sandbox = await startSandboxProcess();
    cleanups.push(() => sandbox.stop());
    const dynamoLocal = await startDynamoDbLocal();
    cleanups.push(() => dynamoLocal.stop());
    const tableName = 'zapfleet_bench_sessions';
    const client = new DynamoDBClient({ endpoint: dynamoLocal.endpoint, region: 'local', credentials: localCredentials });
    await ensureTable(client, tableName);
    client.destroy();
    const adminKey = randomBytes(32).toString('hex');
    const config: RunnerConfig = {
      dynamodbEndpoint: dynamoLocal.endpoint,
      tableName,
      dataDir,
      adminKey,
      waWebSocketUrl: sandbox.url,
      rootPublicKey: sandbox.rootPublicKey,
      startRunnerAtBoot: true,
    };

    // ---- runner A: link N sessions over the HTTP API, `concurrency` at a time ----
    const a = await startRunnerProcess(config);
    cleanups.push(() => a.kill());
    const call = async (method: string, path: string, headers: Record<string, string>, body?: unknown) => {
      const response = await fetch(`${a.apiUrl}${path}`, {
        method,
        headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: (text ? JSON.parse(text) : null) as Record<string, unknown> };
    };
    const created = await call('POST', '/admin/accounts', { 'x-admin-key': adminKey }, { name: 'bench', instanceQuota: sessionsWanted + 10 });
    if (created.status !== 201) throw new Error(`account creation failed: ${created.status} ${JSON.stringify(created.body)}`);
    const token = created.body.token as string;
    const accountId = (created.body.account as { id: string }).id;
    const unlimited = { rateLimits: { global: 1_000_000, create: 1_000_000 } };
    const patched = await call('PATCH', `/admin/accounts/${accountId}`, { 'x-admin-key': adminKey }, unlimited);
    if (patched.status !== 200) throw new Error(`account update failed: ${patched.status} ${JSON.stringify(patched.body)}`);

    const baselineA = await a.ask<MemoryMark>({ type: 'memory', ...snapshot('a-baseline') });
    log(`runner A baseline: rss ${fmt(mib(baselineA.rss), 1)} MiB, heapUsed ${fmt(mib(baselineA.heapUsed), 1)} MiB`);

    const waiters = new Map<string, () => void>();
    a.onOpen = (instanceId) => {
      waiters.get(instanceId)?.();
      waiters.delete(instanceId);
    };
    const waitOpen = (instanceId: string, timeoutMs: number) =>
      new Promise<void>((resolve, reject) => {
        if (a.open.has(instanceId)) return resolve();
        const timer = setTimeout(() => {
          waiters.delete(instanceId);
          reject(new Error('not connected in time'));
        }, timeoutMs);
        waiters.set(instanceId, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    const failures = new Map<string, number>();
    const fail = (why: string) => failures.set(why, (failures.get(why) ?? 0) + 1);
    let linked = 0;
    const linkOne = async (index: number) => {
      const name = `bench-${String(index).padStart(5, '0')}`;
      const made = await call('POST', '/api/instance/new', { token }, { name });
      if (made.status !== 201) return fail(`create ${made.status}`);
      const instanceId = (made.body.instance as { id: string }).id;
      const connect = await call('GET', `/api/instance/connect/${name}`, { token });
      if (connect.status !== 200 || typeof connect.body.qrCode !== 'string') return fail(`connect ${connect.status}`);
      const opened = waitOpen(instanceId, 120_000);
      opened.catch(() => undefined);
      const scanned = await fetch(`${sandbox.controlUrl}/scan`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ qr: connect.body.qrCode }) });
      if (!scanned.ok) return fail(`scan ${scanned.status}: ${(await scanned.text()).slice(0, 60)}`);
      try {
        await opened;
      } catch {
        return fail('not connected within 120 s of the scan');
      }
      linked += 1;
      if (linked % 100 === 0) log(`linked ${linked} in ${fmt((performance.now() - linkStarted) / 1000, 1)} s`);
    };
    const linkUsage0 = await a.ask<Usage>({ type: 'usage' });
    const linkHelpers0 = helperCpu();
    const linkStarted = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < sessionsWanted) {
        const index = next++;
        await linkOne(index).catch((error: unknown) => fail(String(error).slice(0, 80)));
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, sessionsWanted) }, worker));
    const linkSeconds = (performance.now() - linkStarted) / 1000;
    const linkUsage = await a.ask<Usage>({ type: 'usage' });
    const linkHelpers = helperCpu();
    const n = linked;
    log(`linked ${n}/${sessionsWanted} in ${fmt(linkSeconds, 1)} s`);
    if (n === 0) throw new Error(`no session linked: ${JSON.stringify(Object.fromEntries(failures))}; ${linkUsage.errors.join(' | ')}`);

    await sleep(idleSeconds * 1000);
    const idleOpenA = a.open.size;
    const idleA = await a.ask<MemoryMark>({ type: 'memory', ...snapshot('a-idle') });
    const idleCpu0 = await a.ask<Usage>({ type: 'usage' });
    await sleep(10_000);
    const idleCpu = (await a.ask<Usage>({ type: 'usage' })).cpuSeconds - idleCpu0.cpuSeconds;
    const closesA = Object.fromEntries([...a.closes].sort(([x], [y]) => x - y));

    // ---- restart: A drains and exits, B boots, then its runner restores every session ----
    const stopSeconds = await a.ask<number>({ type: 'stop' });
    await a.exited;
    const bootStarted = performance.now();
    const b = await startRunnerProcess({ ...config, startRunnerAtBoot: false });
    cleanups.push(() => b.kill());
    const bootSeconds = (performance.now() - bootStarted) / 1000;
    const baselineB = await b.ask<MemoryMark>({ type: 'memory', ...snapshot('b-baseline') });
    const restoreUsage0 = await b.ask<Usage>({ type: 'usage' });
    const restoreHelpers0 = helperCpu();
    const restoreStarted = performance.now();
    const marks = new Map<number, number>();
    b.onOpen = () => {
      for (const fraction of [0.5, 0.9, 1]) {
        if (b.open.size >= Math.ceil(n * fraction) && !marks.has(fraction)) marks.set(fraction, (performance.now() - restoreStarted) / 1000);
      }
    };
    await b.ask({ type: 'start-runner' });
    while (b.open.size < n && performance.now() - restoreStarted < restoreTimeoutMs) await sleep(100);
    const restoreWall = (performance.now() - restoreStarted) / 1000;
    const restoreUsage = await b.ask<Usage>({ type: 'usage' });
    const restoreHelpers = helperCpu();
    const restored = b.open.size;
    const closesB = Object.fromEntries([...b.closes].sort(([x], [y]) => x - y));
    await sleep(idleSeconds * 1000);
    const idleB = await b.ask<MemoryMark>({ type: 'memory', ...snapshot('b-idle') });
    const stats = (await fetch(`${sandbox.controlUrl}/stats`).then((response) => response.json())) as { maxConcurrentLogins: number };
    await b.ask<number>({ type: 'stop' });
    await b.exited;

    // ---- report ----
    const perSession = (after: number, before: number, count: number) => mib(after - before) / count;
    const msPer = (seconds: number | null, count: number) => (seconds === null ? 'n/a' : `${fmt((seconds * 1000) / count, 1)} ms`);
    const rssA = perSession(idleA.rss, baselineA.rss, n);
    const rssB = perSession(idleB.rss, baselineB.rss, restored);
    const restoreSeconds = marks.get(1) ?? null;
    const atTarget = n >= target.atSessions;
    const verdict = (met: boolean) => `${met ? 'PASS' : 'MISS'}${atTarget ? '' : ` at N=${n} (the target is at N=${target.atSessions})`}`;
    const memoryLines = (label: string, before: MemoryMark, after: MemoryMark, count: number) => [
      `${label}`,
      `  rss        ${fmt(mib(before.rss), 1)} → ${fmt(mib(after.rss), 1)} MiB  = ${fmt(perSession(after.rss, before.rss, count), 3)} MiB per session`,
      `  heapUsed   ${fmt(mib(before.heapUsed), 1)} → ${fmt(mib(after.heapUsed), 1)} MiB  = ${fmt(perSession(after.heapUsed, before.heapUsed, count), 3)} MiB per session`,
      `  heapTotal  ${fmt(mib(before.heapTotal), 1)} → ${fmt(mib(after.heapTotal), 1)} MiB; external ${fmt(mib(before.external), 1)} → ${fmt(mib(after.external), 1)} MiB (arrayBuffers ${fmt(mib(before.arrayBuffers), 1)} → ${fmt(mib(after.arrayBuffers), 1)})`,
    ];
    const lines = [
      '',
      `bench:sessions — N = ${n} sessions (${sessionsWanted} asked, link concurrency ${concurrency}), one runner process, real Baileys (lean adapter) against the WhatsApp sandbox`,
      `machine: ${cpus().length} cores, load at start ${fmt(load1)} (1 min) / ${fmt(load5)} (5 min), node ${process.version}`,
      '',
      ...memoryLines(`runner A, all ${idleOpenA} sessions open and idle for ${idleSeconds} s (forced GC), against its baseline before the first link:`, baselineA, idleA, n),
      `  idle CPU: ${fmt((idleCpu / 10) * 100, 1)} % of one core (10 s)`,
      ...memoryLines(`runner B (new process), all ${restored} sessions restored and idle for ${idleSeconds} s (forced GC), against its baseline before restoring:`, baselineB, idleB, restored),
      '',
      `link: ${fmt(linkSeconds, 1)} s wall, ${fmt(n / linkSeconds, 2)} sessions/s (create + connect + QR + scan + 515 + login + 812 pre-keys)`,
      `  CPU per session: runner ${msPer(linkUsage.cpuSeconds - linkUsage0.cpuSeconds, n)} (includes pairing), sandbox ${msPer(minus(linkHelpers.sandbox, linkHelpers0.sandbox), n)}, DynamoDB Local ${msPer(minus(linkHelpers.java, linkHelpers0.java), n)}`,
      `  DynamoDB calls: ${JSON.stringify(countsSince(linkUsage.dynamoCalls, linkUsage0.dynamoCalls))}; errors: ${JSON.stringify(countsSince(linkUsage.dynamoErrors, linkUsage0.dynamoErrors))}`,
      `  close codes: ${JSON.stringify(closesA)}; link failures: ${JSON.stringify(Object.fromEntries(failures))}`,
      '',
      `restart: runner A drained in ${fmt(stopSeconds, 2)} s (sockets closed, auth kept, leases released); runner B booted in ${fmt(bootSeconds, 1)} s`,
      `restore: ${restored}/${n} connected ${restoreSeconds === null ? `(not all within ${fmt(restoreTimeoutMs / 1000, 0)} s)` : `in ${fmt(restoreSeconds, 1)} s`} after runner B's start (50 % at ${fmt(marks.get(0.5) ?? NaN, 1)} s, 90 % at ${fmt(marks.get(0.9) ?? NaN, 1)} s)`,
      `  CPU per session: runner ${msPer(restoreUsage.cpuSeconds - restoreUsage0.cpuSeconds, restored || 1)} (login only, no pairing), sandbox ${msPer(minus(restoreHelpers.sandbox, restoreHelpers0.sandbox), restored || 1)}, DynamoDB Local ${msPer(minus(restoreHelpers.java, restoreHelpers0.java), restored || 1)} over ${fmt(restoreWall, 1)} s`,
      `  DynamoDB calls: ${JSON.stringify(countsSince(restoreUsage.dynamoCalls, restoreUsage0.dynamoCalls))}; errors: ${JSON.stringify(countsSince(restoreUsage.dynamoErrors, restoreUsage0.dynamoErrors))}`,
      `  close codes: ${JSON.stringify(closesB)}; sandbox: at most ${stats.maxConcurrentLogins} concurrent login(s) per device`,
      '',
      `errors logged: runner A ${linkUsage.errorCount}, runner B ${restoreUsage.errorCount}${[...linkUsage.errors, ...restoreUsage.errors].map((line) => `\n  ${line}`).join('')}`,
      '',
      `target ≤ ${target.rssPerSessionMiB} MiB RSS per idle session at N=${target.atSessions}: ${fmt(rssA, 3)} MiB (runner A; ${fmt(rssB, 3)} MiB restored in runner B) → ${verdict(rssA <= target.rssPerSessionMiB)}`,
      `target all ${target.atSessions} restored within ${target.restoreSeconds} s: ${restoreSeconds === null ? 'not all restored' : `${fmt(restoreSeconds, 1)} s from the runner's start (${fmt(restoreSeconds + bootSeconds, 1)} s with the process boot)`} → ${verdict(restoreSeconds !== null && restoreSeconds <= target.restoreSeconds)}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await cleanup();
  }
};

if (process.env.BENCH_ROLE === 'runner') {
  runnerProcess(JSON.parse(process.env.BENCH_RUNNER_CONFIG ?? '{}') as RunnerConfig).catch((error: unknown) => {
    log(`runner process failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  });
} else {
  driver().then(
    () => process.exit(0),
    (error: unknown) => {
      log(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      process.exit(1);
    },
  );
}
