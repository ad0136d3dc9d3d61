import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../local/emulators/dynamodb-local.ts';

/**
 * `npm start` as a user runs it: a real process (tsx local/main.ts) with its own DynamoDB Local
 * child, stopped by a signal, started again on the same data directory.
 */

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

const start = (env: Record<string, string>): Started => {
  const child = spawn(join(process.cwd(), 'node_modules/.bin/tsx'), ['local/main.ts'], {
    env: { ...process.env, ZAPFLEET_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
};

const waitFor = async (predicate: () => boolean, what: string, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
};

/** Processes whose command line mentions the data dir: DynamoDB Local runs with `-dbPath <dataDir>/dynamodb`. */
const processesUsing = (dataDir: string): string[] => {
  try {
    return execFileSync('pgrep', ['-f', dataDir], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

describe('npm start (embedded stack process)', () => {
  let dataDir: string;
  let port: number;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'zapfleet-start-'));
    port = await freePort();
  });
  afterAll(async () => rm(dataDir, { recursive: true, force: true }));

  it('starts, prints the default account token once, stops on SIGTERM without leftovers, and keeps the data', async () => {
    const env = { PORT: String(port), ZAPFLEET_DATA_DIR: dataDir };
    const first = start(env);
    await waitFor(() => first.output().includes('Create your first instance'), 'the start-up banner');
    const token = /TokenAccount is shown only this once:\n\s+([0-9a-f]{64})/.exec(first.output())?.[1];
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    expect(first.output()).toContain(`curl -X POST "http://127.0.0.1:${port}/api/instance/new" -H "token: ${token}"`);
    expect((await stat(join(dataDir, 'keys.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'admin-key'))).mode & 0o777).toBe(0o600);

    const created = await fetch(`http://127.0.0.1:${port}/api/instance/new`, {
      method: 'POST',
      headers: { token: token as string, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'minha-instancia' }),
    });
    expect(created.status).toBe(201);
    expect(processesUsing(dataDir).length).toBeGreaterThan(0);

    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);

    const second = start(env);
    await waitFor(() => second.output().includes('zapfleet is listening'), 'the second start');
    expect(second.output()).not.toContain('shown only this once');
    const listed = await fetch(`http://127.0.0.1:${port}/api/instance/list`, { headers: { token: token as string } });
    const body = (await listed.json()) as { instances: { name: string }[] };
    expect(listed.status).toBe(200);
    expect(body.instances.map((instance) => instance.name)).toEqual(['minha-instancia']);

    second.child.kill('SIGINT');
    expect(await second.exited).toBe(0);
    expect(processesUsing(dataDir)).toEqual([]);
  });

  it('refuses a bad configuration value with a message naming the variable', async () => {
    const bad = start({ PORT: 'eighty', ZAPFLEET_DATA_DIR: dataDir });
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain('PORT: PORT must be a whole number');
  });
});
