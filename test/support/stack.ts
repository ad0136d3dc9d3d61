import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { loadEmbeddedConfig } from '../../local/config.ts';
import { startStack, type RunningStack } from '../../local/stack.ts';
import type { Logger } from '../../shared/domain/ports/runtime.port.ts';
import { createLogger } from '../../shared/observability/logger.ts';

export interface TestStack extends RunningStack {
  dataDir: string;
  tableName: string;
  /** The `default` account's TokenAccount. */
  accountToken: string;
  /** fetch against the stack, JSON in and out. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- response JSON is asserted field by field in tests
  call(method: string, path: string, options?: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; body: any }>;
  halt(): Promise<void>;
  /** Creates an account through the admin API; returns its id and TokenAccount. */
  createAccount(input?: { name?: string; instanceQuota?: number; rateLimits?: { global?: number; create?: number } }): Promise<{ id: string; token: string }>;
}

let tableCounter = 0;

/**
 * The embedded stack, started in this process against the run's shared DynamoDB Local
 * (its own table), with fauxqs and the HTTP API on a free port. Logs are silenced unless
 * `env.ZAPFLEET_LOG_LEVEL` says otherwise, or `stackOptions.logger` (e.g. one that captures lines) is given.
 */
export const startTestStack = async (
  env: Record<string, string> = {},
  stackOptions: {
    logger?: Logger;
    /** Start again on a stopped stack's data (restart tests). */
    reuse?: { dataDir: string; tableName: string; accountToken: string };
    /** Raises the `default` account's per-minute limits (for tests that poll the API). */
    defaultRateLimits?: { global?: number; create?: number };
    /** Webhook retry schedule of the stack's own event delivery. */
    retryDelaysMs?: readonly number[];
  } = {},
): Promise<TestStack> => {
  const dataDir = stackOptions.reuse?.dataDir ?? (await mkdtemp(join(tmpdir(), 'zapfleet-test-')));
  const tableName = stackOptions.reuse?.tableName ?? `t${process.pid}_${Date.now()}_${tableCounter++}`;
  const config = loadEmbeddedConfig({
    PORT: '0',
    ZAPFLEET_DATA_DIR: dataDir,
    ZAPFLEET_DYNAMODB_ENDPOINT: inject('dynamodbEndpoint'),
    ZAPFLEET_TABLE_NAME: tableName,
    ZAPFLEET_LOG_LEVEL: 'silent',
    ...env,
  });
  const stack = await startStack(config, {
    logger: stackOptions.logger ?? createLogger({ level: config.logLevel }),
    ...(stackOptions.retryDelaysMs ? { retryDelaysMs: stackOptions.retryDelaysMs } : {}),
  });
  const call: TestStack['call'] = async (method, path, options = {}) => {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.token = options.token;
    const body = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    if (body !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(`${stack.url}${path}`, { method, headers, body });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = text;
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };
  const createAccount: TestStack['createAccount'] = async (input = {}) => {
    const created = await call('POST', '/admin/accounts', {
      headers: { 'x-admin-key': stack.adminKey },
      body: { name: input.name ?? 'test', instanceQuota: input.instanceQuota ?? 10 },
    });
    if (created.status !== 201) throw new Error(`account creation failed: ${created.status} ${JSON.stringify(created.body)}`);
    const id = created.body.account.id as string;
    if (input.rateLimits) {
      const patched = await call('PATCH', `/admin/accounts/${id}`, { headers: { 'x-admin-key': stack.adminKey }, body: { rateLimits: input.rateLimits } });
      if (patched.status !== 200) throw new Error(`account update failed: ${patched.status}`);
    }
    return { id, token: created.body.token as string };
  };
  if (stackOptions.defaultRateLimits) {
    const admin = { 'x-admin-key': stack.adminKey };
    const listed = await call('GET', '/admin/accounts', { headers: admin });
    const account = (listed.body?.accounts as { id: string; name: string }[] | undefined)?.find((item) => item.name === 'default');
    if (!account) throw new Error(`no default account to raise the limits of: ${listed.status}`);
    const patched = await call('PATCH', `/admin/accounts/${account.id}`, { headers: admin, body: { rateLimits: stackOptions.defaultRateLimits } });
    if (patched.status !== 200) throw new Error(`default account update failed: ${patched.status}`);
  }
  return {
    ...stack,
    dataDir,
    tableName,
    accountToken: stackOptions.reuse?.accountToken ?? (stack.defaultAccountToken as string),
    call,
    createAccount,
    stop: async () => {
      await stack.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
    /** Stops the stack and keeps its data for a restart with `reuse`. */
    halt: async () => {
      await stack.stop();
    },
  };
};
