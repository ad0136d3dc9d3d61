/**
 * Helpers shared by the benchmarks that drive the embedded stack (bench/api.bench.ts,
 * bench/events.bench.ts, bench/send.bench.ts): environment parsing, output, the process's lifecycle
 * (signals, unhandled rejections), starting the stack with a load process, calls to the stack's
 * HTTP API, waiting, percentiles and the hook into the AWS SDK clients' `send`.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEmbeddedConfig } from '../local/config.ts';
import { trustSandboxRoot } from '../local/sandbox/whatsapp-sandbox.ts';
import { startStack, type RunningStack, type StackOptions } from '../local/stack.ts';
import { startLoadProcess, type LoadProcess } from './load-process.ts';

// ---- environment and output ----------------------------------------------------------------------

/** A positive whole number from the environment, `fallback` when unset; exits with code 2 when invalid. */
export const positiveInt = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    console.error(`bench: ${name} must be a positive whole number`);
    process.exit(2);
  }
  return Number(raw);
};

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
export const log = (line: string) => process.stdout.write(`${line}\n`);
/** The 1-minute load average, two decimals. */
export const load = () => (loadavg()[0] ?? 0).toFixed(2);
/** Milliseconds, whole, or `n/a` (no sample). */
export const ms = (value: number) => (Number.isFinite(value) ? value.toFixed(0) : 'n/a');

// ---- the process ---------------------------------------------------------------------------------

/** On SIGINT or SIGTERM: `stop()`, then exit with code 130. */
export const stopOnSignal = (stop: () => Promise<void>): void => {
  const interrupted = () => void stop().finally(() => process.exit(130));
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
};

/**
 * Counts unhandled rejections instead of letting them end the process (Baileys may reject in a
 * callback; local/main.ts does not let that end the process either); prints the first 5.
 */
export const countUnhandledRejections = (): { count: number } => {
  const unhandled = { count: 0 };
  process.on('unhandledRejection', (reason: unknown) => {
    unhandled.count += 1;
    if (unhandled.count <= 5) console.error('bench: unhandled rejection', reason);
  });
  return unhandled;
};

// ---- the stack and its load process -------------------------------------------------------------

/** What a load process answers to `{ type: 'start' }`: its WhatsApp sandbox's URL and root key. */
export interface SandboxEdge {
  url: string;
  rootPublicKey: string;
}

/**
 * The two processes of a bench with a load process (bench/events.bench.ts, bench/send.bench.ts).
 * Makes a throw-away data directory (`dataDirPrefix` under the temp dir); `start` forks the load
 * process (`script`, see load-process.ts), has it start its WhatsApp sandbox (request
 * `{ type: 'start' }`), trusts the sandbox's root and starts the embedded stack (driver baileys,
 * pacing off, log level warn) connecting to it. `stop` stops both and removes the data directory;
 * SIGINT and SIGTERM call it, then exit 130.
 */
export const prepareStackWithLoad = async <Request extends { type: string }>(dataDirPrefix: string) => {
  const dataDir = await mkdtemp(join(tmpdir(), dataDirPrefix));
  let stack: RunningStack | null = null;
  let loader: LoadProcess<Request> | null = null;
  const stop = async () => {
    const running = stack;
    stack = null;
    await running?.stop().catch((error: unknown) => console.error('bench: stop failed', error));
    await loader?.stop();
    loader = null;
    await rm(dataDir, { recursive: true, force: true });
  };
  stopOnSignal(stop);
  const start = async <Edge extends SandboxEdge>(script: URL, stackOptions: Omit<StackOptions, 'waWebSocketUrl'> = {}) => {
    loader = await startLoadProcess<Request>(script);
    const edgeSide = loader;
    const edge = await edgeSide.ask<Edge>({ type: 'start' } as Request);
    trustSandboxRoot(Buffer.from(edge.rootPublicKey, 'base64'));
    stack = await startStack(
      loadEmbeddedConfig({ PORT: '0', ZAPFLEET_DATA_DIR: dataDir, ZAPFLEET_DRIVER: 'baileys', ZAPFLEET_PACING_ENABLED: 'false', ZAPFLEET_LOG_LEVEL: 'warn' }),
      { waWebSocketUrl: edge.url, ...stackOptions },
    );
    return { stack, loader: edgeSide, edge };
  };
  return { start, stop };
};

// ---- the API -------------------------------------------------------------------------------------

export type Json = Record<string, unknown>;

/** One HTTP request to the stack, with an instance or account `token` and/or the admin key. */
export const call = async (stack: RunningStack, method: string, path: string, options: { token?: string; admin?: boolean; body?: unknown } = {}): Promise<{ status: number; body: Json }> => {
  const headers: Record<string, string> = {};
  if (options.token) headers.token = options.token;
  if (options.admin) headers['x-admin-key'] = stack.adminKey;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${stack.url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as Json };
};

export const expectStatus = (what: string, response: { status: number; body: Json }, status: number) => {
  if (response.status !== status) throw new Error(`${what}: HTTP ${response.status} ${JSON.stringify(response.body)}`);
};

/** Polls `probe` every 200 ms until it returns something other than `null`; throws after `timeoutMs`. */
export const waitUntil = async <T>(probe: () => Promise<T | null> | T | null, what: string, timeoutMs: number): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== null) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
};

/** Creates an account named `name` (admin API) whose rate limits never say no; its token and id. */
export const createAccount = async (stack: RunningStack, name: string, instanceQuota: number): Promise<{ accountToken: string; accountId: string }> => {
  const account = await call(stack, 'POST', '/admin/accounts', { admin: true, body: { name, instanceQuota } });
  expectStatus('account creation', account, 201);
  const accountToken = account.body.token as string;
  const accountId = (account.body.account as Json).id as string;
  expectStatus('rate limits', await call(stack, 'PATCH', `/admin/accounts/${accountId}`, { admin: true, body: { rateLimits: { global: 10_000_000, create: 10_000_000 } } }), 200);
  return { accountToken, accountId };
};

/**
 * Creates the instances `names` (with `settings` in each creation body), then links each: `scan`
 * gets the QR `connect` returned (the sandbox phone scans it). Their tokens by name; it does not
 * wait until they are connected.
 */
export const createAndLinkInstances = async (
  stack: RunningStack,
  accountToken: string,
  names: string[],
  settings: Json,
  scan: (qr: string) => Promise<unknown>,
): Promise<Map<string, string>> => {
  const tokens = new Map<string, string>();
  for (const name of names) {
    const created = await call(stack, 'POST', '/api/instance/new', { token: accountToken, body: { name, ...settings } });
    expectStatus(`create ${name}`, created, 201);
    tokens.set(name, (created.body.instance as Json).token as string);
  }
  for (const name of names) {
    const connect = await call(stack, 'GET', `/api/instance/connect/${name}`, { token: tokens.get(name) as string });
    expectStatus(`connect ${name}`, connect, 200);
    if (typeof connect.body.qrCode !== 'string') throw new Error(`connect ${name}: no qrCode`);
    await scan(connect.body.qrCode);
  }
  return tokens;
};

// ---- figures -------------------------------------------------------------------------------------

/** The `p`th percentile (nearest rank) of ascending `sorted`; NaN when empty. */
export const percentile = (sorted: number[], p: number): number => {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] as number;
};

export const summary = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((sum, value) => sum + value, 0) / (sorted.length || 1);
  return { n: sorted.length, p50: percentile(sorted, 50), p90: percentile(sorted, 90), p99: percentile(sorted, 99), max: sorted.at(-1) ?? NaN, mean };
};

// ---- the AWS SDK ---------------------------------------------------------------------------------

export type SdkSend = (this: object, command: object, ...rest: unknown[]) => Promise<unknown>;

/**
 * Replaces the `send` of every AWS SDK client with `wrap(original)`: the stack builds its clients
 * inside startStack, so the smithy base `send` they all share (DynamoDBClient's prototype's
 * prototype) is wrapped. Call before starting the stack.
 */
export const wrapSdkSend = (wrap: (original: SdkSend) => SdkSend): void => {
  const base = Object.getPrototypeOf(DynamoDBClient.prototype) as { send: SdkSend };
  base.send = wrap(base.send);
};
