/**
 * `npm run bench:api` — load against the embedded stack (what `npm start` runs), in this process,
 * with its own DynamoDB Local child process and a throw-away data directory.
 *
 * Phase 1: GET /api/instance/list?instanceName=<one of 20 seeded instances>, closed loop (every
 *          connection sends its next request as soon as the previous is answered): capacity.
 * Phase 2: the same request paced at the target rate (300 req/s over all connections): latency
 *          at that rate.
 * Phase 3: POST /api/instance/new, a unique name per request, closed loop.
 *
 * Prints requests/s, p50, p99, non-2xx, errors, DynamoDB calls per request and the CPU time spent
 * by node (this process: autocannon + the API) and by java (DynamoDB Local) during each phase.
 * It is a measurement, not a test: it exits 0 whether or not the target is met, and non-zero only
 * when the benchmark itself failed (the stack did not start, a request failed).
 *
 * Environment: BENCH_DURATION (seconds per phase, default 15), BENCH_WARMUP (seconds, default 2),
 * BENCH_CONNECTIONS (default 32), BENCH_RATE (the paced phase's rate, default the target's 300).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadEmbeddedConfig } from '../local/config.ts';
import { startStack, type RunningStack } from '../local/stack.ts';
import { javaCpuSeconds, nodeCpuSeconds } from './cpu.ts';
import { call, positiveInt } from './kit.ts';

/** The part of autocannon's (untyped) programmatic API used here. */
interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string;
  setupRequest?: (request: AutocannonRequest) => AutocannonRequest;
}
interface AutocannonOptions {
  url: string;
  connections: number;
  duration: number;
  /** Requests per second over all connections (open-loop pacing); absent: as fast as answered. */
  overallRate?: number;
  method?: string;
  headers?: Record<string, string>;
  requests?: AutocannonRequest[];
}
interface Histogram {
  average: number;
  p50: number;
  p99: number;
  total: number;
  max: number;
}
interface AutocannonResult {
  duration: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodeStats: Record<string, { count: number }>;
  requests: Histogram;
  latency: Histogram;
}
const autocannon = createRequire(import.meta.url)('autocannon') as (options: AutocannonOptions) => Promise<AutocannonResult>;

const duration = positiveInt('BENCH_DURATION', 15);
const warmup = positiveInt('BENCH_WARMUP', 2);
const connections = positiveInt('BENCH_CONNECTIONS', 32);
/** Optional: pace the load at this many requests/s instead of as fast as the stack answers. */
const target = { listRps: 300, listP99: 50, connections: 32 };
const rate = positiveInt('BENCH_RATE', target.listRps);
const seeded = 20;

// ---- Phases ----

interface PhaseFigures {
  title: string;
  result: AutocannonResult;
  dynamoCallsPerRequest: number;
  nodeCpu: number;
  javaCpu: number | null;
  wallSeconds: number;
}

/**
 * Waits until the requests still in flight when autocannon stopped have finished: no new DynamoDB
 * call for a quiet window as long as the slowest request seen (each request makes a call at least
 * that often), so that their calls are counted and none is cut off by the stack's stop.
 */
const drain = async (stack: RunningStack, slowestMs: number): Promise<void> => {
  const quietMs = Math.min(Math.max(slowestMs * 1.5, 300), 15_000);
  for (let previous = -1, rounds = 0; stack.dynamoCalls() !== previous && rounds < 20; rounds += 1) {
    previous = stack.dynamoCalls();
    await new Promise((resolve) => setTimeout(resolve, quietMs));
  }
};

const measure = async (stack: RunningStack, title: string, options: AutocannonOptions): Promise<PhaseFigures> => {
  process.stdout.write(`  load average ${loadavg()[0]?.toFixed(2)}; warm-up ${warmup} s… `);
  const warm = await autocannon({ ...options, duration: warmup });
  await drain(stack, warm.latency.max);
  process.stdout.write(`measuring ${options.duration} s… `);
  const calls = stack.dynamoCalls();
  const node = nodeCpuSeconds();
  const java = javaCpuSeconds();
  const started = process.hrtime.bigint();
  const result = await autocannon(options);
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const nodeCpu = nodeCpuSeconds() - node;
  const javaAfter = javaCpuSeconds();
  await drain(stack, result.latency.max);
  process.stdout.write(`done (load average ${loadavg()[0]?.toFixed(2)})\n`);
  // Per completed request. The few requests (≤ connections) cut off in flight at the end still
  // make their calls (drain() waits for them): a bias of at most connections × calls / total.
  const requests = result.requests.total || 1;
  return {
    title,
    result,
    dynamoCallsPerRequest: (stack.dynamoCalls() - calls) / requests,
    nodeCpu,
    javaCpu: java === null || javaAfter === null ? null : javaAfter - java,
    wallSeconds,
  };
};

const format = (phases: PhaseFigures[]): string[] => {
  const rows: [string, (phase: PhaseFigures) => string][] = [
    ['requests/s (average)', (p) => p.result.requests.average.toFixed(1)],
    ['requests completed', (p) => String(p.result.requests.total)],
    ['latency p50 (ms)', (p) => String(p.result.latency.p50)],
    ['latency p99 (ms)', (p) => String(p.result.latency.p99)],
    ['latency max (ms)', (p) => String(p.result.latency.max)],
    ['non-2xx responses', (p) => String(p.result.non2xx)],
    ['errors (timeouts)', (p) => `${p.result.errors} (${p.result.timeouts})`],
    ['status codes', (p) => Object.entries(p.result.statusCodeStats).map(([code, { count }]) => `${code}×${count}`).join(' ')],
    ['DynamoDB calls/request', (p) => p.dynamoCallsPerRequest.toFixed(2)],
    ['CPU node (% of 1 core)', (p) => ((p.nodeCpu / p.wallSeconds) * 100).toFixed(0)],
    ['CPU java (% of 1 core)', (p) => (p.javaCpu === null ? 'n/a' : ((p.javaCpu / p.wallSeconds) * 100).toFixed(0))],
    ['CPU node (ms/request)', (p) => ((p.nodeCpu * 1000) / (p.result.requests.total || 1)).toFixed(2)],
    ['CPU java (ms/request)', (p) => (p.javaCpu === null ? 'n/a' : ((p.javaCpu * 1000) / (p.result.requests.total || 1)).toFixed(2))],
  ];
  const width = [Math.max(...rows.map(([label]) => label.length)), ...phases.map((phase) => Math.max(phase.title.length, ...rows.map(([, cell]) => cell(phase).length)))];
  const line = (cells: string[]) => cells.map((cell, index) => (index === 0 ? cell.padEnd(width[0] ?? 0) : cell.padStart(width[index] ?? 0))).join('  ');
  return [line(['', ...phases.map((phase) => phase.title)]), line(width.map((w) => '-'.repeat(w))), ...rows.map(([label, cell]) => line([label, ...phases.map(cell)]))];
};

// ---- Main ----

const main = async (): Promise<number> => {
  const dataDir = await mkdtemp(join(tmpdir(), 'zapfleet-bench-'));
  let stack: RunningStack | null = null;
  const cleanup = async () => {
    const running = stack;
    stack = null;
    if (running) await running.stop();
    await rm(dataDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    // Only what the benchmark needs: no ZAPFLEET_DYNAMODB_ENDPOINT, so the stack spawns its own
    // DynamoDB Local (on disk, under the data dir) exactly as `npm start` does.
    const config = loadEmbeddedConfig({ PORT: '0', ZAPFLEET_DATA_DIR: dataDir, ZAPFLEET_LOG_LEVEL: 'warn' });
    const startedAt = Date.now();
    try {
      stack = await startStack(config);
    } catch (error) {
      console.error(`bench: the stack did not start: ${(error as Error).message}`);
      return 1;
    }
    const running: RunningStack = stack;
    console.log(`Stack up on ${running.url} in ${Date.now() - startedAt} ms (data in ${dataDir})`);

    const created = await call(running, 'POST', '/admin/accounts', { admin: true, body: { name: 'bench', instanceQuota: 100_000 } });
    if (created.status !== 201) throw new Error(`POST /admin/accounts answered ${created.status}: ${JSON.stringify(created.body)}`);
    const accountId = (created.body.account as { id: string }).id;
    const token = created.body.token as string;
    // The limiter still counts every request (that cost is measured); it just never says no.
    const patched = await call(running, 'PATCH', `/admin/accounts/${accountId}`, { admin: true, body: { rateLimits: { global: 10_000_000, create: 10_000_000 } } });
    if (patched.status !== 200) throw new Error(`PATCH /admin/accounts/${accountId} answered ${patched.status}: ${JSON.stringify(patched.body)}`);

    for (let i = 0; i < seeded; i += 1) {
      const seed = await call(running, 'POST', '/api/instance/new', { token, body: { name: `seed-${i}` } });
      if (seed.status !== 201) throw new Error(`seeding seed-${i} answered ${seed.status}: ${JSON.stringify(seed.body)}`);
    }
    const listed = 'seed-7';
    const check = await call(running, 'GET', `/api/instance/list?instanceName=${listed}`, { token });
    if (check.status !== 200) throw new Error(`GET /api/instance/list answered ${check.status}: ${JSON.stringify(check.body)}`);
    console.log(`Account ${accountId} with ${seeded} instances; ${connections} connections, ${duration} s per phase after ${warmup} s of warm-up, ${cpus().length} CPUs, Node ${process.version}\n`);

    const listRequest = { method: 'GET', path: `/api/instance/list?instanceName=${listed}`, headers: { token } };
    console.log(`Phase 1: GET /api/instance/list?instanceName=${listed}, closed loop`);
    const list = await measure(running, 'list', { url: running.url, connections, duration, requests: [listRequest] });
    console.log(`Phase 2: the same, paced at ${rate} req/s`);
    const paced = await measure(running, `list @${rate}/s`, { url: running.url, connections, duration, overallRate: rate, requests: [listRequest] });

    console.log('Phase 3: POST /api/instance/new (a unique name per request), closed loop');
    let counter = 0;
    const create = await measure(running, 'create', {
      url: running.url,
      connections,
      duration,
      requests: [
        {
          method: 'POST',
          path: '/api/instance/new',
          headers: { token, 'content-type': 'application/json' },
          setupRequest: (request) => ({ ...request, body: JSON.stringify({ name: `bench-${process.pid}-${(counter += 1)}` }) }),
        },
      ],
    });

    console.log('');
    for (const row of format([list, paced, create])) console.log(row);
    console.log('');
    // The target reads: the list sustains 300 req/s, and at that rate 99 % of requests take ≤ 50 ms.
    // Capacity comes from the closed loop; the latency at the rate from the paced phase (which must
    // really have reached the rate: autocannon's pacing can fall short when the stack cannot keep up).
    const capacity = list.result.requests.average;
    const pacedRate = paced.result.requests.average;
    const met = capacity >= target.listRps && pacedRate >= target.listRps * 0.98 && paced.result.latency.p99 <= target.listP99 && rate >= target.listRps;
    const atTarget = connections === target.connections ? '' : ` (measured at ${connections} connections, the target is stated at ${target.connections})`;
    console.log(
      `Target for list (≥ ${target.listRps} req/s with p99 ≤ ${target.listP99} ms at ${target.connections} connections): ${met ? 'MET' : 'NOT MET'}` +
        ` — capacity ${capacity.toFixed(1)} req/s (closed loop, p99 ${list.result.latency.p99} ms); at ${pacedRate.toFixed(1)} req/s paced, p99 ${paced.result.latency.p99} ms${atTarget}`,
    );

    const failed = [list, paced, create].filter((phase) => phase.result.non2xx > 0 || phase.result.errors > 0);
    for (const phase of failed) console.error(`bench: phase ${phase.title} had ${phase.result.non2xx} non-2xx responses and ${phase.result.errors} errors: the figures are not valid`);
    return failed.length > 0 ? 1 : 0;
  } catch (error) {
    console.error(`bench: ${(error as Error).stack ?? String(error)}`);
    return 1;
  } finally {
    await cleanup();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
};

process.exitCode = await main();
