/**
 * `npm run bench:send` — text sends through the HTTP API to WhatsApp sandbox contacts (issue 5),
 * in the embedded stack. Two processes:
 * - this one: the embedded stack (`startStack`: DynamoDB Local as a java child process, fauxqs,
 *   the API, the session runner with real Baileys, the events poller), pacing off, which connects
 *   to the sandbox below through `waWebSocketUrl` (ZAPFLEET_DRIVER=baileys, as it would to
 *   WhatsApp; no sandbox of its own);
 * - the load process (`send-load.ts`, forked, IPC): what runs elsewhere in a deployment — the
 *   WhatsApp sandbox, whose simulated contacts decrypt every message before WhatsApp's ack goes
 *   back, and the customer's HTTP client, which issues every send request of the bench.
 *
 * 1. Starts both, with a throw-away data directory; creates an account with high rate limits,
 *    BENCH_INSTANCES instances, links them (the sandbox phone scans the QR `connect` returned) and
 *    waits until connected.
 * 2. Warm-up: one message from every instance to every one of BENCH_CONTACTS contacts, so that
 *    every Signal session and every registration check (USync, cached 24 h) exists beforehand.
 * 3. Paced phase (latency): the load process calls `POST /api/message/text/:instance` at
 *    BENCH_RATE requests/s in total, round-robin over instances and contacts, for BENCH_DURATION
 *    seconds, at most 500 in flight.
 * 4. Closed-loop phase (capacity): BENCH_CONCURRENCY clients in the load process, each sending its
 *    next text as soon as the previous one is answered, for BENCH_CAPACITY_DURATION seconds.
 *
 * What is timed, per send, from the moment the load process issued the HTTP request (every
 * timestamp, in both processes, is epoch ms with sub-ms precision:
 * `performance.timeOrigin + performance.now()`):
 * - **accept**: until the API has stored the message as `pending` and put the `send` command on
 *   the shard queue (the SQS SendMessage carrying its message id has returned, in this process) —
 *   the point where the send is durably accepted. The contract (§2.3.1) has the API then wait for
 *   WhatsApp's ack, so the HTTP answer itself comes later; it is printed as "API response"
 *   (measured in the load process).
 * - **send→sent**: until the runner records the outcome `sent` (its DynamoDB write of the outcome
 *   item has returned), i.e. after WhatsApp (the sandbox) acknowledged the message.
 * Both are observed by wrapping the AWS SDK client `send` (as bench/events.bench.ts does).
 *
 * Prints p50/p90/p99/max of each, the HTTP statuses and answer statuses (`sent`/`queued`),
 * messages sent per second by the (single, in-process) runner, DynamoDB and AWS SDK calls per
 * send, the stack's event loop delay and GC pauses, CPU of the stack's node, DynamoDB Local's java
 * and the load process, and MET / NOT MET for the targets (pacing off): accept p99 ≤ 50 ms,
 * send→sent p50 ≤ 150 ms, both in the paced phase. A measurement, not a test: exit 0 either way;
 * non-zero only when the benchmark itself failed (the stack did not start, an instance did not
 * connect).
 *
 * Environment: BENCH_DURATION (s, paced phase, default 20), BENCH_RATE (req/s, default 20),
 * BENCH_CAPACITY_DURATION (s, closed loop, default 10), BENCH_CONCURRENCY (default 16),
 * BENCH_INSTANCES (default 4), BENCH_CONTACTS (default 10).
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { cpus } from 'node:os';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { javaCpuSeconds, nodeCpuSeconds } from './cpu.ts';
import { call, countUnhandledRejections, createAccount, createAndLinkInstances, load, log, ms, positiveInt, prepareStackWithLoad, sleep, summary, waitUntil, wrapSdkSend } from './kit.ts';
import type { PhaseResult, Sample, SendLoadRequest } from './send-load.ts';

const duration = positiveInt('BENCH_DURATION', 20);
const rate = positiveInt('BENCH_RATE', 20);
const capacityDuration = positiveInt('BENCH_CAPACITY_DURATION', 10);
const concurrency = positiveInt('BENCH_CONCURRENCY', 16);
const instanceCount = positiveInt('BENCH_INSTANCES', 4);
const contactCount = positiveInt('BENCH_CONTACTS', 10);
const target = { acceptP99Ms: 50, sentP50Ms: 150 };

/** Epoch milliseconds, sub-millisecond precision: comparable with the load process's timestamps. */
const epochNow = () => performance.timeOrigin + performance.now();

// ---- observation through the AWS SDK -----------------------------------------------------------

/** Per WhatsApp message id: when the command was enqueued and when the outcome `sent` was recorded (epoch ms). */
const enqueuedAt = new Map<string, number>();
const sentAt = new Map<string, number>();
const counting = { on: false, dynamo: 0 };
/** AWS SDK calls by command while counting (count, total ms), e.g. `DynamoDBDocument.Get`. */
const byCommand = new Map<string, { count: number; ms: number; all: number[] }>();
// The stack builds its clients inside startStack: the smithy base `send` they all share is wrapped.
wrapSdkSend((original) =>
  function (this: object, command: object, ...rest: unknown[]) {
    const input = (command as { input?: Record<string, unknown> }).input ?? {};
    const name = command.constructor.name;
    let onDone: (() => void) | null = null;
    if (name === 'SendMessageCommand' && typeof input.MessageBody === 'string') {
      const id = /"type":"send".*?"messageId":"(3EB0[0-9A-F]{16})"/.exec(input.MessageBody)?.[1];
      if (id) onDone = () => enqueuedAt.set(id, epochNow());
    } else if (name === 'PutCommand') {
      const item = input.Item as { entity?: string; pk?: string; outcome?: { state?: string } } | undefined;
      if (item?.entity === 'send_outcome' && item.outcome?.state === 'sent') {
        const id = item.pk?.split('#').at(-1);
        if (id) onDone = () => sentAt.set(id, epochNow());
      }
    }
    if (counting.on && this.constructor.name.startsWith('DynamoDB')) counting.dynamo += 1;
    const started = performance.now();
    const result = original.call(this, command, ...rest) as Promise<unknown>;
    if (onDone) void result.then(onDone, () => undefined);
    if (counting.on) {
      // DynamoDB calls by the kind of item they touch (the prefix of its `pk`), e.g. Put[SENDOUT].
      const values = input.ExpressionAttributeValues as Record<string, unknown> | undefined;
      const pk = (input.Key as { pk?: unknown } | undefined)?.pk ?? (input.Item as { pk?: unknown } | undefined)?.pk ?? values?.[':pk'];
      const kind = typeof pk === 'string' ? `[${pk.split('#')[0]}]` : '';
      const key = `${this.constructor.name.replace(/Client$/, '').replace(/^DynamoDBDocument$/, 'DynamoDB')}.${name.replace(/Command$/, '')}${kind}`;
      const done = () => {
        const entry = byCommand.get(key) ?? { count: 0, ms: 0, all: [] };
        const took = performance.now() - started;
        entry.count += 1;
        entry.ms += took;
        entry.all.push(took);
        byCommand.set(key, entry);
      };
      void result.then(done, done);
    }
    return result;
  },
);

// ---- main --------------------------------------------------------------------------------------

const main = async (): Promise<number> => {
  log(`bench:send — ${cpus().length} CPUs, node ${process.version}, load average ${load()} at start`);
  log(`paced ${rate}/s for ${duration} s, then closed loop with ${concurrency} clients for ${capacityDuration} s; ${instanceCount} instances, ${contactCount} contacts each`);
  const processes = await prepareStackWithLoad<SendLoadRequest>('zapfleet-bench-send-');
  const unhandled = countUnhandledRejections();

  try {
    const startedAt = Date.now();
    // The load side (WhatsApp sandbox, HTTP client) in its own process, like WhatsApp and the
    // customer's client in a deployment; the stack connects to that sandbox's URL (driver baileys:
    // no sandbox of its own; text sends need only the WebSocket, not the sandbox's media origin).
    const { stack: running, loader: client } = await processes.start(new URL('./send-load.ts', import.meta.url));
    log(`stack up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s at ${running.url}; sandbox and HTTP client in process ${client.pid}`);

    const { accountToken } = await createAccount(running, 'bench-send', instanceCount + 10);
    const names = Array.from({ length: instanceCount }, (_, index) => `bench-send-${index + 1}`);
    const tokens = await createAndLinkInstances(running, accountToken, names, {}, (qr) => client.ask({ type: 'scan', qr }));
    await waitUntil(
      async () => {
        const list = await call(running, 'GET', '/api/instance/list', { token: accountToken });
        const instances = (list.body.instances ?? []) as { name: string; status: string }[];
        return instances.filter((instance) => names.includes(instance.name) && instance.status === 'connected').length === names.length ? true : null;
      },
      'the instances to connect',
      120_000,
    );
    log(`${names.length} instances connected`);

    const contacts = Array.from({ length: contactCount }, (_, index) => `55119${String(80_000_000 + index).padStart(8, '0')}`);
    await client.ask({ type: 'target', url: running.url, names, tokens: Object.fromEntries(tokens), contacts });

    // Warm-up: every (instance, contact) pair once; one send at a time per instance.
    const warmStart = Date.now();
    const warm = await client.ask<Sample[]>({ type: 'warmup' });
    const warmFailed = warm.filter((sample) => sample.httpStatus !== 200);
    if (warmFailed.length > 0) throw new Error(`warm-up: ${warmFailed.length} sends failed, first: ${warmFailed[0]?.httpStatus} ${warmFailed[0]?.status}`);
    log(`warm-up: ${warm.length} sends in ${((Date.now() - warmStart) / 1000).toFixed(1)} s`);

    const measure = async (label: string, run: () => Promise<PhaseResult>) => {
      await sleep(1_000);
      log(`${label}: load average ${load()} before`);
      counting.dynamo = 0;
      byCommand.clear();
      counting.on = true;
      const loopDelay = monitorEventLoopDelay({ resolution: 5 });
      loopDelay.enable();
      const gcPauses: number[] = [];
      const gcObserver = new PerformanceObserver((list) => list.getEntries().forEach((entry) => gcPauses.push(entry.duration)));
      gcObserver.observe({ entryTypes: ['gc'] });
      const nodeBefore = nodeCpuSeconds();
      const javaBefore = javaCpuSeconds();
      const loadBefore = await client.ask<number>({ type: 'cpu' });
      // t0 and the end: the load process's first request issued and last answer read (epoch ms).
      const { samples, t0, endedAt } = await run();
      const wall = (endedAt - t0) / 1000;
      // Sends answered `queued` are still in the runner's lanes: wait for their outcome (at most 30 s).
      const drainUntil = performance.now() + 30_000;
      while (performance.now() < drainUntil && samples.some((sample) => sample.messageId !== null && !sentAt.has(sample.messageId))) await sleep(200);
      counting.on = false;
      loopDelay.disable();
      gcObserver.disconnect();
      const nodeCpu = nodeCpuSeconds() - nodeBefore;
      const javaAfter = javaCpuSeconds();
      const javaCpu = javaBefore === null || javaAfter === null ? null : javaAfter - javaBefore;
      const loadCpu = (await client.ask<number>({ type: 'cpu' })) - loadBefore;
      const withId = samples.filter((sample) => sample.messageId !== null);
      const accept = summary(withId.flatMap((sample) => (enqueuedAt.has(sample.messageId as string) ? [(enqueuedAt.get(sample.messageId as string) as number) - sample.startedAt] : [])));
      const sent = summary(withId.flatMap((sample) => (sentAt.has(sample.messageId as string) ? [(sentAt.get(sample.messageId as string) as number) - sample.startedAt] : [])));
      const response = summary(samples.map((sample) => sample.answeredAt - sample.startedAt));
      const statuses = new Map<string, number>();
      for (const sample of samples) statuses.set(`${sample.httpStatus} ${sample.status}`, (statuses.get(`${sample.httpStatus} ${sample.status}`) ?? 0) + 1);
      const sentTimes = withId.flatMap((sample) => (sentAt.has(sample.messageId as string) ? [sentAt.get(sample.messageId as string) as number] : []));
      const sentCount = sentTimes.length;
      // From the first request to the last outcome `sent`: the runner's own pace, backlog included.
      const sendingSeconds = sentCount === 0 ? wall : (Math.max(...sentTimes) - t0) / 1000;
      log(`${label}: ${samples.length} sends in ${wall.toFixed(1)} s (load average ${load()} after)`);
      log(`  answers: ${[...statuses].map(([status, count]) => `${status} ×${count}`).join(', ')}`);
      log(`  accept (request → pending stored + command enqueued) ms: p50 ${ms(accept.p50)}, p90 ${ms(accept.p90)}, p99 ${ms(accept.p99)}, max ${ms(accept.max)} (n ${accept.n})`);
      log(`  send→sent (request → outcome sent recorded)       ms: p50 ${ms(sent.p50)}, p90 ${ms(sent.p90)}, p99 ${ms(sent.p99)}, max ${ms(sent.max)} (n ${sent.n})`);
      log(`  API response (waits for sent, §2.3.1)             ms: p50 ${ms(response.p50)}, p90 ${ms(response.p90)}, p99 ${ms(response.p99)}, max ${ms(response.max)}`);
      log(`  messages sent/s by the runner: ${(sentCount / sendingSeconds).toFixed(1)} (${sentCount} sent in ${sendingSeconds.toFixed(1)} s); DynamoDB calls per send ${(counting.dynamo / (samples.length || 1)).toFixed(1)}`);
      log(
        `  AWS SDK calls per send (mean ms): ${[...byCommand]
          .sort((a, b) => b[1].count - a[1].count)
          .map(([command, { count, ms: total }]) => `${command} ${(count / (samples.length || 1)).toFixed(1)} (${(total / count).toFixed(0)})`)
          .join(', ')}`,
      );
      log(`  accept path calls (p50/p99 ms): ${['DynamoDB.Update[TOKEN]', 'DynamoDB.Get[TOKEN]', 'SQS.SendMessage'].map((command) => {
        const timing = summary(byCommand.get(command)?.all ?? []);
        return `${command} ${ms(timing.p50)}/${ms(timing.p99)}`;
      }).join(', ')}`);
      const gc = summary(gcPauses);
      log(`  node event loop delay ms: p50 ${ms(loopDelay.percentile(50) / 1e6)}, p99 ${ms(loopDelay.percentile(99) / 1e6)}, max ${ms(loopDelay.max / 1e6)}; GC pauses: ${gc.n}, p99 ${ms(gc.p99)} ms, max ${ms(gc.max)} ms, total ${ms(gcPauses.reduce((sum, pause) => sum + pause, 0))} ms`);
      const cpu = (seconds: number) => `${((seconds / wall) * 100).toFixed(0)} % of a core, ${((seconds * 1000) / (samples.length || 1)).toFixed(1)} ms/send`;
      log(`  CPU: stack node (API + runner + poller + fauxqs) ${cpu(nodeCpu)}; java ${javaCpu === null ? 'n/a' : cpu(javaCpu)}; load process (sandbox decrypting + HTTP client) ${cpu(loadCpu)}`);
      return { accept, sent, sentPerSecond: sentCount / sendingSeconds, offered: samples.length / wall };
    };

    // Paced: one request every 1000/rate ms, whatever the answers; at most 500 in flight.
    const paced = await measure(`paced phase (${rate}/s for ${duration} s)`, () => client.ask<PhaseResult>({ type: 'paced', rate, duration, maxInFlight: 500 }));
    // Closed loop: each client sends its next text as soon as the previous one is answered.
    const capacity = await measure(`closed loop (${concurrency} clients for ${capacityDuration} s)`, () =>
      client.ask<PhaseResult>({ type: 'closed', concurrency, duration: capacityDuration }),
    );

    log('');
    const acceptMet = paced.accept.p99 <= target.acceptP99Ms;
    const sentMet = paced.sent.p50 <= target.sentP50Ms;
    log(`Target accept p99 ≤ ${target.acceptP99Ms} ms (paced phase): ${acceptMet ? 'MET' : 'NOT MET'} — ${ms(paced.accept.p99)} ms`);
    log(`Target send→sent p50 ≤ ${target.sentP50Ms} ms (paced phase): ${sentMet ? 'MET' : 'NOT MET'} — ${ms(paced.sent.p50)} ms`);
    log(`Messages/s per runner: ${capacity.sentPerSecond.toFixed(1)} closed loop with ${concurrency} clients over ${instanceCount} instances (${paced.sentPerSecond.toFixed(1)} at the paced ${rate}/s)`);
    if (paced.offered < rate * 0.95) log(`  note: only ${paced.offered.toFixed(1)}/s were offered in the paced phase (asked ${rate}/s)`);
    if (unhandled.count) log(`  unhandled rejections: ${unhandled.count}`);
    return 0;
  } finally {
    await processes.stop();
  }
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench:send failed:', error);
    process.exit(1);
  },
);
