import type { WebhookSender } from '../domain/events/delivery.ts';
import type { SessionRepository } from '../domain/ports/session-repository.port.ts';

/**
 * zapfleet's CloudWatch metrics, written as EMF (CloudWatch Embedded Metric Format) JSON lines on
 * stdout: Lambda and the runner's `awslogs` driver ship stdout to CloudWatch Logs, which extracts
 * the metrics, so nothing here calls `PutMetricData` and no process needs `cloudwatch:*` rights
 * (AWS-NOTES §9).
 *
 * The names below are the single source for the emitters and for the dashboard and alarms in
 * `infra/stacks/observability-stack.ts`. Dimensions stay a small fixed vocabulary: never an
 * instance, account or phone number (every dimension value is a billed custom metric).
 */
export const defaultMetricsNamespace = 'Zapfleet';

/** The namespace of one deployed stage, so stages sharing an account never mix their metrics. */
export const metricsNamespaceOf = (stage: string): string => `${defaultMetricsNamespace}/${stage}`;

/** Every metric carries `Service`, the process kind that emitted it. */
export const metricServices = { runner: 'session-runner', dispatcher: 'dispatcher' } as const;
export type MetricService = (typeof metricServices)[keyof typeof metricServices];

export const metricNames = {
  /** Gauge, each minute per runner: sockets open. Its Average over runners is "sessions per runner" (the scaling metric). */
  sessionsConnected: 'SessionsConnected',
  /** Gauge, each minute per runner: shard leases held. Sum over runners = shards with an owner. */
  shardsHeld: 'ShardsHeld',
  /** Count, dimension `State` (spec §3.2 states): state changes recorded by the runners. */
  sessionStateChanges: 'SessionStateChanges',
  /** Count: automatic reconnect attempts after a dropped connection. */
  reconnects: 'Reconnects',
  /** Milliseconds from a command's `issuedAt` to the end of its handling by the runner (shard backlog). */
  commandLag: 'CommandLag',
  /** Count, dimension `Outcome` (`handled` | `failed`): shard commands handled by the runners. */
  commands: 'Commands',
  /** Count, dimension `Outcome` (`delivered` | `failed`): webhook HTTP attempts. */
  webhookAttempts: 'WebhookAttempts',
  /** Milliseconds per webhook HTTP attempt (timeouts included, at 10 s). */
  webhookLatency: 'WebhookLatency',
} as const;

/**
 * Close codes an operator must hear about (ARCHITECTURE §6) are not EMF: the runner already logs
 * them (session-runner/runner.ts, `alarm: <name>` with the field `metric: "zapfleet.<name>"`), and a
 * CloudWatch Logs metric filter on the runner's log group (infra/stacks/fleet-stack.ts) counts
 * those lines as `SessionAlarms`, dimension `Alarm` = the `metric` field.
 */
export const sessionAlarmMetric = {
  name: 'SessionAlarms',
  dimension: 'Alarm',
  /** The log field the filter matches and takes the dimension value from. */
  logField: 'metric',
  values: {
    /** 405: WhatsApp rejected the client version or platform; every new session will fail alike. */
    clientVersionRejected: 'zapfleet.client_version_rejected',
    /** 440: the session was opened elsewhere; within the fleet that means two owners (a lease bug). */
    sessionReplaced: 'zapfleet.session_replaced',
    /** 403: the number is (temporarily) banned. */
    forbidden: 'zapfleet.forbidden',
  },
} as const;

export type MetricUnit = 'Count' | 'Milliseconds';
export type Dimensions = Readonly<Record<string, string>>;

export interface Metrics {
  /** Adds to a counter; counters are summed until the next flush. */
  count(name: string, value?: number, dimensions?: Dimensions): void;
  /** Records one observation (a latency, a gauge reading); up to 100 values travel in one line. */
  observe(name: string, value: number, unit: MetricUnit, dimensions?: Dimensions): void;
  /** Writes what was recorded since the last flush (one line per metric and dimension set). */
  flush(): void;
}

export interface EmfMetricsOptions {
  namespace: string;
  service: MetricService;
  /** One EMF document per call, without the newline (default: a line on stdout). */
  write?: (line: string) => void;
  now?: () => number;
}

/** EMF takes at most 100 values per metric in one document. */
const maxValuesPerLine = 100;

interface Pending {
  name: string;
  unit: MetricUnit;
  dimensions: Record<string, string>;
  kind: 'sum' | 'values';
  sum: number;
  values: number[];
}

/**
 * Aggregates in memory and writes on `flush()`: a Lambda flushes at the end of each invocation,
 * the runner once a minute and when it drains. Each line stays far below Docker's 16 KB line
 * split, which would break a JSON document.
 */
export const createEmfMetrics = (options: EmfMetricsOptions): Metrics => {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;
  const pending = new Map<string, Pending>();

  const entry = (name: string, unit: MetricUnit, kind: Pending['kind'], dimensions: Dimensions = {}): Pending => {
    const all = { Service: options.service, ...dimensions };
    const key = `${name}\u0000${JSON.stringify(Object.entries(all).sort(([a], [b]) => a.localeCompare(b)))}`;
    let found = pending.get(key);
    if (!found) {
      found = { name, unit, dimensions: all, kind, sum: 0, values: [] };
      pending.set(key, found);
    }
    return found;
  };

  const line = (item: Pending, value: number | number[]) =>
    JSON.stringify({
      _aws: {
        Timestamp: now(),
        CloudWatchMetrics: [{ Namespace: options.namespace, Dimensions: [Object.keys(item.dimensions)], Metrics: [{ Name: item.name, Unit: item.unit }] }],
      },
      ...item.dimensions,
      [item.name]: value,
    });

  const flushValues = (item: Pending) => {
    if (item.values.length === 0) return;
    write(line(item, item.values));
    item.values = [];
  };

  return {
    count(name, value = 1, dimensions) {
      entry(name, 'Count', 'sum', dimensions).sum += value;
    },
    observe(name, value, unit, dimensions) {
      const item = entry(name, unit, 'values', dimensions);
      item.values.push(value);
      if (item.values.length >= maxValuesPerLine) flushValues(item);
    },
    flush() {
      for (const item of pending.values()) {
        if (item.kind === 'sum') write(line(item, item.sum));
        else flushValues(item);
      }
      pending.clear();
    },
  };
};

/** Records every webhook HTTP attempt: outcome and latency (the dispatcher's success rate). */
export const withWebhookMetrics = (sender: WebhookSender, metrics: Metrics): WebhookSender => ({
  async send(request) {
    const outcome = await sender.send(request);
    metrics.count(metricNames.webhookAttempts, 1, { Outcome: outcome.delivered ? 'delivered' : 'failed' });
    metrics.observe(metricNames.webhookLatency, outcome.latencyMs, 'Milliseconds');
    return outcome;
  },
});

/** Counts the state changes the runner records, and its automatic reconnects. */
export const withSessionMetrics = (sessions: SessionRepository, metrics: Metrics): SessionRepository => ({
  ...sessions,
  async recordState(ref, change) {
    const previous = await sessions.recordState(ref, change);
    if (previous !== undefined) {
      metrics.count(metricNames.sessionStateChanges, 1, { State: change.state });
      if (change.state === 'connecting' && change.reason === 'reconnect') metrics.count(metricNames.reconnects);
    }
    return previous;
  },
});

/** What `recordCommandMetrics` needs of a shard consumer's event (session-runner/consumer/shard-consumer.ts `ShardConsumerEvent`). */
export type CommandEvent = { type: 'handled' | 'failed'; command: { issuedAt: string } } | { type: 'malformed' | 'receive_failed' };

/**
 * The shard consumer's `onEvent` for the runner: counts handled and failed commands
 * (`Commands`, dimension `Outcome`) and records each one's lag from `issuedAt` to the end of its
 * handling (`CommandLag`, the shard backlog the fleet scales on). Malformed messages and failed
 * receives are logged by the consumer, not counted here.
 */
export const recordCommandMetrics =
  (metrics: Metrics, now: () => number = Date.now) =>
  (event: CommandEvent): void => {
    if (event.type !== 'handled' && event.type !== 'failed') return;
    metrics.count(metricNames.commands, 1, { Outcome: event.type });
    const issuedAt = Date.parse(event.command.issuedAt);
    if (Number.isFinite(issuedAt)) metrics.observe(metricNames.commandLag, Math.max(0, now() - issuedAt), 'Milliseconds');
  };

export interface RunnerGaugeSources {
  sessionsConnected: () => number;
  shardsHeld: () => number;
}

/**
 * Once every `intervalMs` (default 60 s): writes the runner's gauges and flushes everything else
 * recorded since. A gauge that stops arriving means the runner is gone (its alarm treats missing
 * data as breaching). `stop()` flushes one last time.
 */
export const startRunnerMetrics = (metrics: Metrics, sources: RunnerGaugeSources, intervalMs = 60_000): { stop(): void } => {
  const tick = () => {
    metrics.observe(metricNames.sessionsConnected, sources.sessionsConnected(), 'Count');
    metrics.observe(metricNames.shardsHeld, sources.shardsHeld(), 'Count');
    metrics.flush();
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      metrics.flush();
    },
  };
};
