/**
 * `npm run bench:events` — inbound messages → `message.exchange` webhooks, in the embedded stack
 * (issue 4). Two processes:
 * - this one: the embedded stack (`startStack`: DynamoDB Local as a java child process, fauxqs,
 *   the session runner with real Baileys, the events poller + webhook dispatcher, the API), which
 *   connects to the sandbox below through `waWebSocketUrl` (as it would to WhatsApp);
 * - the load process (`events-load.ts`, forked, IPC): what runs elsewhere in a deployment — the
 *   WhatsApp sandbox (whose contacts encrypt every injected message with libsignal), the injector,
 *   and the customer's webhook receiver (node:http on 127.0.0.1, answers 200 at once, records each
 *   envelope's `id`, `event`, message id and arrival time).
 *
 * 1. Starts both, with a throw-away data directory.
 * 2. Creates an account with high rate limits (admin API), BENCH_INSTANCES instances with a webhook
 *    to the receiver, connects them (the sandbox phone scans the QR `connect` returned).
 * 3. Warm-up: one message from each of BENCH_SENDERS contact numbers to each instance, so that
 *    every Signal session exists (pkmsg) before the measurement; waits until they are delivered.
 * 4. Measurement: the load process calls `sandbox.sendText` at BENCH_RATE messages/s in total,
 *    round-robin over the instances and senders, for BENCH_DURATION seconds; then waits up to
 *    BENCH_DRAIN seconds for the rest.
 * 5. Prints delivered events/s (during the injection window and per second), latency from the
 *    envelope `timestamp` (set by the runner when it publishes the event) to arrival at the
 *    receiver, and from the `sendText` call to arrival, lost (injected minus distinct message ids
 *    received), duplicates, AWS SDK calls per event, CPU of the stack's node, DynamoDB Local's java
 *    and the load process (during the window, and per event from the start of the injection to the
 *    end of the drain), and whether the target is met.
 *
 * A measurement, not a test: exit 0 whether or not the target is met; non-zero only when the
 * benchmark itself failed (the stack did not start, an instance did not connect).
 *
 * Environment: BENCH_RATE (messages/s in total, default 1000), BENCH_DURATION (s, default 60),
 * BENCH_DRAIN (s, default 30), BENCH_INSTANCES (default 4), BENCH_SENDERS (default 200),
 * BENCH_MAX_IN_FLIGHT (sendText calls not yet resolved, default 2000: beyond it the injector
 * falls behind rather than piling up promises; the achieved injection rate is printed).
 * BENCH_WRITE_BEHIND=0: the runner commits Signal keys before each receipt (the behaviour before
 * write-behind), for comparison.
 * BENCH_CPU_PROFILE=<file.cpuprofile>: writes a V8 CPU profile of the stack's process (runner, API,
 * dispatcher, fauxqs) covering the injection window only.
 */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { cpus } from 'node:os';
import { javaCpuSeconds, nodeCpuSeconds } from './cpu.ts';
import type { Arrival, InjectionFigures, LoadRequest } from './events-load.ts';
import { call, countUnhandledRejections, createAccount, createAndLinkInstances, load, log, ms, percentile, positiveInt, prepareStackWithLoad, type SandboxEdge, sleep, summary, waitUntil, wrapSdkSend } from './kit.ts';

const rate = positiveInt('BENCH_RATE', 1000);
const duration = positiveInt('BENCH_DURATION', 60);
const drainSeconds = positiveInt('BENCH_DRAIN', 30);
const instanceCount = positiveInt('BENCH_INSTANCES', 4);
const senderCount = positiveInt('BENCH_SENDERS', 200);
const maxInFlight = positiveInt('BENCH_MAX_IN_FLIGHT', 2000);
const target = { eventsPerSecond: 1000, seconds: 60, p99Ms: 1000 };
const profileFile = process.env.BENCH_CPU_PROFILE || null;
/** BENCH_WRITE_BEHIND=0: Signal keys committed before each receipt, as before write-behind (for comparison). */
const writeBehind = process.env.BENCH_WRITE_BEHIND !== '0';

/**
 * AWS SDK calls by client and command, timed: the stack builds its clients inside startStack, so
 * the (shared) smithy base `send` is wrapped. Only counted while `counting.on`.
 */
const counting = { on: false };
const byCommand = new Map<string, { count: number; ms: number }>();
wrapSdkSend((original) =>
  function (this: object, command: object, ...rest: unknown[]) {
    if (!counting.on) return original.call(this, command, ...rest);
    const started = performance.now();
    let name = `${this.constructor.name.replace(/Client$/, '')}.${command.constructor.name.replace(/Command$/, '')}`;
    // Queries by the kind of partition they read (the prefix of `:pk`), e.g. Query[DUE].
    const pk = (command as { input?: { ExpressionAttributeValues?: Record<string, unknown> } }).input?.ExpressionAttributeValues?.[':pk'];
    if (name.endsWith('.Query') && typeof pk === 'string') name += `[${pk.split('#')[0]}]`;
    const done = () => {
      const entry = byCommand.get(name) ?? { count: 0, ms: 0 };
      entry.count += 1;
      entry.ms += performance.now() - started;
      byCommand.set(name, entry);
    };
    const result = original.call(this, command, ...rest) as Promise<unknown> | undefined;
    if (result && typeof result.then === 'function') result.then(done, done);
    return result as Promise<unknown>;
  },
);

// ---- main --------------------------------------------------------------------------------------

const main = async (): Promise<number> => {
  log(`bench:events — ${cpus().length} CPUs, node ${process.version}, load average ${load()} at start`);
  log(`target rate ${rate}/s for ${duration} s over ${instanceCount} instances, ${senderCount} senders; drain ${drainSeconds} s; Signal keys ${writeBehind ? 'written behind the frame barrier' : 'committed before each receipt'}`);
  const processes = await prepareStackWithLoad<LoadRequest>('zapfleet-bench-events-');
  // Baileys may reject in a callback; local/main.ts does not let that end the process either.
  const unhandled = countUnhandledRejections();

  try {
    const startedAt = Date.now();
    // The load side (WhatsApp sandbox, injector, receiver) in its own process, like WhatsApp and
    // the customer's receiver in a deployment; the stack connects to that sandbox's URL.
    const {
      stack: running,
      loader: edgeSide,
      edge,
    } = await processes.start<SandboxEdge & { hookUrl: string }>(new URL('./events-load.ts', import.meta.url), { authWriteBehind: writeBehind });
    const hookUrl = edge.hookUrl;
    log(`stack up in ${((Date.now() - startedAt) / 1000).toFixed(1)} s at ${running.url}; sandbox, injector and receiver in process ${edgeSide.pid}`);

    const { accountToken } = await createAccount(running, 'bench-events', instanceCount + 10);
    const names = Array.from({ length: instanceCount }, (_, index) => `bench-events-${index + 1}`);
    await createAndLinkInstances(running, accountToken, names, { webhookEnabled: true, webhookURL: hookUrl }, (qr) => edgeSide.ask({ type: 'scan', qr }));
    const numbers = await waitUntil(
      async () => {
        const list = await call(running, 'GET', '/api/instance/list', { token: accountToken });
        const instances = (list.body.instances ?? []) as { name: string; status: string; numberJid: string | null }[];
        const connected = instances.filter((instance) => names.includes(instance.name) && instance.status === 'connected' && instance.numberJid);
        return connected.length === names.length ? connected.map((instance) => (instance.numberJid as string).split('@')[0] as string) : null;
      },
      'the instances to connect',
      120_000,
    );
    log(`${numbers.length} instances connected: ${numbers.join(', ')}`);

    const senders = Array.from({ length: senderCount }, (_, index) => `55119${String(70_000_000 + index).padStart(8, '0')}`);
    const isInbound = (arrival: Arrival) => arrival.event === 'message.exchange' && arrival.direction === 'incoming';

    // Warm-up: one message per (sender, instance) so every Signal session exists before measuring.
    const warmStart = Date.now();
    const warmIds = await edgeSide.ask<string[]>({ type: 'warmup', numbers, senders });
    await waitUntil(async () => ((await edgeSide.ask<number>({ type: 'seen', ids: warmIds })) >= warmIds.length ? true : null), 'the warm-up messages to be delivered', 180_000);
    log(`warm-up: ${warmIds.length} messages sent and delivered in ${((Date.now() - warmStart) / 1000).toFixed(1)} s`);
    await sleep(2000);
    const { arrivals: warmArrivals } = await edgeSide.ask<{ arrivals: Arrival[] }>({ type: 'results' });
    const firstArrival = warmArrivals.length;

    // Measurement.
    log(`load average ${load()} before the measurement; injecting for ${duration} s…`);
    const dynamoBefore = running.dynamoCalls();
    const profiler = profileFile ? new Session() : null;
    if (profiler) {
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.start');
    }
    counting.on = true;
    const nodeBefore = nodeCpuSeconds();
    const javaBefore = javaCpuSeconds();
    const loadCpuBefore = await edgeSide.ask<number>({ type: 'cpu' });
    const figures = await edgeSide.ask<InjectionFigures>({ type: 'inject', rate, duration, numbers, senders, maxInFlight });
    const { t0, calls, failures: sendFailures, firstFailure, maxSeenInFlight, throttled, injectedPerSecond } = figures;
    const injectEndedAt = figures.endedAt;
    const wallSeconds = (injectEndedAt - t0) / 1000;
    if (profiler && profileFile) {
      const { profile } = await profiler.post('Profiler.stop');
      writeFileSync(profileFile, JSON.stringify(profile));
      profiler.disconnect();
      log(`CPU profile of the injection window written to ${profileFile}`);
    }
    const nodeWindow = nodeCpuSeconds() - nodeBefore;
    const javaAfter = javaCpuSeconds();
    const javaWindow = javaBefore === null || javaAfter === null ? null : javaAfter - javaBefore;
    const loadAfterInjection = load();
    log(`injection done: ${calls} sendText calls in ${wallSeconds.toFixed(1)} s (${figures.resolved} resolved, ${sendFailures} failed); draining up to ${drainSeconds} s…`);

    // Drain: until every injected message arrived, or drainSeconds.
    const drainDeadline = Date.now() + drainSeconds * 1000;
    while (Date.now() < drainDeadline) {
      if ((await edgeSide.ask<number>({ type: 'progress' })) >= figures.resolved) break;
      await sleep(500);
    }
    // CPU per event over the whole run (injection + drain), where everything injected was handled.
    const drainedAt = Date.now();
    const nodeAll = nodeCpuSeconds() - nodeBefore;
    const javaAllAfter = javaCpuSeconds();
    const javaAll = javaBefore === null || javaAllAfter === null ? null : javaAllAfter - javaBefore;
    const loadAll = (await edgeSide.ask<number>({ type: 'cpu' })) - loadCpuBefore;
    // A little longer, so late duplicates (a retry of an event already received) are counted too.
    await sleep(2000);
    const dynamoCallsTotal = running.dynamoCalls() - dynamoBefore;
    counting.on = false;
    const results = await edgeSide.ask<{ arrivals: Arrival[]; injected: [string, number][] }>({ type: 'results' });
    const arrivals = results.arrivals;
    const injected = new Map(results.injected);
    const deliveredInWindow = arrivals.slice(firstArrival).filter((arrival) => isInbound(arrival) && injected.has(arrival.messageId ?? '') && arrival.arrivedAt <= injectEndedAt).length;

    // ---- figures ----
    const measured = arrivals.slice(firstArrival).filter((arrival) => isInbound(arrival) && injected.has(arrival.messageId ?? ''));
    const lastArrivalAt = measured.reduce((latest, arrival) => Math.max(latest, arrival.arrivedAt), t0);
    const byEventId = new Map<string, number>();
    for (const arrival of measured) byEventId.set(arrival.id, (byEventId.get(arrival.id) ?? 0) + 1);
    const duplicateDeliveries = [...byEventId.values()].reduce((sum, count) => sum + count - 1, 0);
    const eventsPerMessage = new Map<string, Set<string>>();
    for (const arrival of measured) {
      const set = eventsPerMessage.get(arrival.messageId as string) ?? new Set<string>();
      set.add(arrival.id);
      eventsPerMessage.set(arrival.messageId as string, set);
    }
    const duplicateEvents = [...eventsPerMessage.values()].reduce((sum, set) => sum + set.size - 1, 0);
    const distinctMessages = eventsPerMessage.size;
    const lost = injected.size - distinctMessages;
    const firstDelivery = new Map<string, Arrival>();
    for (const arrival of measured) if (!firstDelivery.has(arrival.messageId as string)) firstDelivery.set(arrival.messageId as string, arrival);
    const eventLatency = summary([...firstDelivery.values()].map((arrival) => arrival.arrivedAt - arrival.timestamp));
    const endToEnd = summary([...firstDelivery.values()].map((arrival) => arrival.arrivedAt - (injected.get(arrival.messageId as string) as number)));
    const perSecond = new Array<number>(Math.ceil((lastArrivalAt - t0) / 1000) + 1).fill(0);
    for (const arrival of firstDelivery.values()) {
      const second = Math.floor((arrival.arrivedAt - t0) / 1000);
      perSecond[second] = (perSecond[second] ?? 0) + 1;
    }
    const windowSeconds = perSecond.slice(0, duration);
    // Steady state: leave out the first 5 s (ramp-up) when the window is long enough.
    const steady = duration > 10 ? windowSeconds.slice(5) : windowSeconds;
    const deliveredRate = deliveredInWindow / wallSeconds;
    const injectionRate = injected.size / wallSeconds;
    const otherEvents = arrivals.slice(firstArrival).filter((arrival) => !isInbound(arrival));
    const otherByType = new Map<string, number>();
    for (const arrival of otherEvents) otherByType.set(arrival.event, (otherByType.get(arrival.event) ?? 0) + 1);

    log('');
    log(`Results (load average ${loadAfterInjection} at the end of the injection)`);
    log(`  injection: ${calls} sendText calls, ${injected.size} resolved, ${sendFailures} failed${firstFailure ? ` (first: ${firstFailure})` : ''}`);
    log(`  injection rate achieved: ${injectionRate.toFixed(1)}/s (target ${rate}/s); in flight max ${maxSeenInFlight}; injector behind schedule in ${throttled} loop turns`);
    log(`  injected per second (first ${Math.min(10, duration)} s): ${injectedPerSecond.slice(0, 10).join(' ')}`);
    log(`  delivered message.exchange during the ${wallSeconds.toFixed(1)} s injection window: ${deliveredInWindow} (${deliveredRate.toFixed(1)}/s)`);
    log(`  delivered per second after the first 5 s: min ${Math.min(...steady)}, median ${percentile([...steady].sort((a, b) => a - b), 50)}, max ${Math.max(...steady)}`);
    log(`  all delivered ${((lastArrivalAt - t0) / 1000).toFixed(1)} s after the injection started (${(distinctMessages / ((lastArrivalAt - t0) / 1000 || 1)).toFixed(1)}/s overall)`);
    log(`  latency envelope timestamp → receiver (ms): p50 ${ms(eventLatency.p50)}, p90 ${ms(eventLatency.p90)}, p99 ${ms(eventLatency.p99)}, max ${ms(eventLatency.max)}, mean ${ms(eventLatency.mean)}`);
    log(`  latency sendText call → receiver (ms):      p50 ${ms(endToEnd.p50)}, p90 ${ms(endToEnd.p90)}, p99 ${ms(endToEnd.p99)}, max ${ms(endToEnd.max)}, mean ${ms(endToEnd.mean)}`);
    log(`  lost: ${lost} of ${injected.size} (distinct message ids received: ${distinctMessages})`);
    log(`  duplicates: ${duplicateDeliveries} deliveries of an event id already received; ${duplicateEvents} extra event ids for a message already delivered`);
    log(`  other events received meanwhile: ${[...otherByType].map(([event, count]) => `${event}×${count}`).join(', ') || 'none'}`);
    log(`  DynamoDB calls per delivered event: ${(dynamoCallsTotal / (distinctMessages || 1)).toFixed(2)} (${dynamoCallsTotal} calls from the start of the injection to the end of the drain)`);
    log(
      `  AWS SDK calls by command (calls per delivered event, mean ms): ${[...byCommand]
        .sort((a, b) => b[1].count - a[1].count)
        .map(([command, { count, ms: total }]) => `${command.replace(/Command$/, '')} ${(count / (distinctMessages || 1)).toFixed(2)} (${(total / count).toFixed(0)} ms)`)
        .join(', ')}`,
    );
    // Per delivered event: the stack's work is done for the events delivered in the window (with a
    // backlog, offered messages cost some CPU too — frames received and queued — but most is per event).
    const per = (seconds: number) => `${((seconds / wallSeconds) * 100).toFixed(0)} % of a core, ${((seconds * 1000) / (deliveredInWindow || 1)).toFixed(2)} ms/delivered event`;
    log(`  CPU during the injection window: stack node ${per(nodeWindow)}; DynamoDB Local java ${javaWindow === null ? 'n/a' : per(javaWindow)}; load process (sandbox encrypting, injector, receiver) ${per(figures.cpuSeconds)} (${((figures.cpuSeconds * 1000) / (injected.size || 1)).toFixed(2)} ms/injected message)`);
    {
      const seconds = (drainedAt - t0) / 1000;
      const each = (cpu: number) => `${((cpu * 1000) / (distinctMessages || 1)).toFixed(2)} ms/event (${((cpu / seconds) * 100).toFixed(0)} %)`;
      log(`  CPU from the start of the injection to the end of the drain (${seconds.toFixed(1)} s, ${distinctMessages} events): stack node ${each(nodeAll)}, java ${javaAll === null ? 'n/a' : each(javaAll)}, load process ${each(loadAll)}`);
    }
    if (unhandled.count) log(`  unhandled rejections: ${unhandled.count}`);

    const sustained = duration >= target.seconds && deliveredRate >= target.eventsPerSecond && rate >= target.eventsPerSecond;
    const met = sustained && eventLatency.p99 <= target.p99Ms && lost === 0;
    log('');
    log(
      `Target (≥ ${target.eventsPerSecond} events/s sustained for ${target.seconds} s, p99 ≤ ${target.p99Ms} ms, nothing lost): ${met ? 'MET' : 'NOT MET'} — ` +
        `${deliveredRate.toFixed(1)} events/s over ${wallSeconds.toFixed(0)} s, p99 ${ms(eventLatency.p99)} ms, lost ${lost}`,
    );
    if (injectionRate < rate * 0.98) {
      log(`  note: the sandbox could only inject ${injectionRate.toFixed(1)}/s of the ${rate}/s asked, so the target rate was not offered.`);
    }
    return 0;
  } finally {
    await processes.stop();
  }
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('bench:events failed:', error);
    process.exit(1);
  },
);
