import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { webhookMetrics } from '../../functions/entries/webhook-metrics.ts';
import type { SessionRepository } from '../../shared/domain/ports/session-repository.port.ts';
import {
  createEmfMetrics,
  metricServices,
  recordCommandMetrics,
  sessionAlarmMetric,
  startRunnerMetrics,
  withSessionMetrics,
  type MetricService,
} from '../../shared/observability/metrics.emf.ts';
import { buildTestApp, type BuiltApp, type CfnResource } from './app.ts';

/** One metric as CloudWatch stores it: namespace, name and the full dimension set. */
interface MetricId {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}

const keyOf = (metric: MetricId) => `${metric.namespace} ${metric.name} ${JSON.stringify(Object.entries(metric.dimensions).sort(([a], [b]) => a.localeCompare(b)))}`;

/** The metrics an EMF line defines (every dimension set of every directive). */
const metricsOfEmfLine = (line: string): MetricId[] => {
  const document = JSON.parse(line) as { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] } } & Record<string, unknown>;
  return document._aws.CloudWatchMetrics.flatMap((directive) =>
    directive.Dimensions.flatMap((keys) =>
      directive.Metrics.map((metric) => ({ namespace: directive.Namespace, name: metric.Name, dimensions: Object.fromEntries(keys.map((key) => [key, String(document[key])])) })),
    ),
  );
};

/** Every metric a dashboard body references: arrays `[namespace, name, dimName, dimValue, …, {options}?]`. */
const metricsOfDashboard = (body: string, namespace: string): MetricId[] => {
  const widgets = (JSON.parse(body) as { widgets: { properties: { metrics?: unknown[][] } }[] }).widgets;
  return widgets
    .flatMap((widget) => widget.properties.metrics ?? [])
    .filter((row) => row[0] === namespace)
    .map((row) => {
      const parts = row.filter((part) => typeof part === 'string') as string[];
      const [ns, name, ...dims] = parts as [string, string, ...string[]];
      const dimensions: Record<string, string> = {};
      for (let index = 0; index + 1 < dims.length; index += 2) dimensions[dims[index] as string] = dims[index + 1] as string;
      return { namespace: ns, name, dimensions };
    });
};

type AlarmProperties = { Namespace?: string; MetricName?: string; Dimensions?: { Name: string; Value: unknown }[]; Metrics?: { MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions?: { Name: string; Value: unknown }[] } } }[] };

/** Every metric an alarm watches, directly or inside its metric math. */
const metricsOfAlarm = (properties: AlarmProperties): MetricId[] => {
  const dims = (list: { Name: string; Value: unknown }[] = []) => Object.fromEntries(list.map((d) => [d.Name, String(d.Value)]));
  if (properties.MetricName) return [{ namespace: properties.Namespace as string, name: properties.MetricName, dimensions: dims(properties.Dimensions) }];
  return (properties.Metrics ?? []).flatMap((query) => (query.MetricStat ? [{ namespace: query.MetricStat.Metric.Namespace, name: query.MetricStat.Metric.MetricName, dimensions: dims(query.MetricStat.Metric.Dimensions) }] : []));
};

/** The dashboard body with tokens written out (its only tokens are resource references). */
const dashboardBody = (built: BuiltApp): string => {
  const [dashboard] = Object.values(built.template(built.observability).findResources('AWS::CloudWatch::Dashboard')) as CfnResource[];
  const [, parts] = (dashboard?.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return parts.map((part) => (typeof part === 'string' ? part : 'TOKEN')).join('');
};

const environmentOf = (resource: CfnResource): Record<string, unknown> =>
  resource.Type === 'AWS::Lambda::Function'
    ? (resource.Properties.Environment as { Variables: Record<string, unknown> }).Variables
    : Object.fromEntries(((resource.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[])[0]?.Environment ?? []).map((v) => [v.Name, v.Value]));

describe('metrics: what the emitters write is what the dashboard, alarms and scaling read', () => {
  let built: BuiltApp;
  let emitted: Set<string>;
  let referenced: MetricId[];
  let namespace: string;

  beforeAll(async () => {
    built = buildTestApp();

    // The namespaces the deployed processes get (both sides must agree with the observability stack).
    const fns = Object.values(built.template(built.events).findResources('AWS::Lambda::Function')) as CfnResource[];
    const [task] = Object.values(built.template(built.fleet).findResources('AWS::ECS::TaskDefinition')) as CfnResource[];
    const namespaces = new Set([...fns.map((fn) => environmentOf(fn).ZAPFLEET_METRICS_NAMESPACE), environmentOf(task as CfnResource).ZAPFLEET_METRICS_NAMESPACE]);
    expect(namespaces.size).toBe(1);
    namespace = [...namespaces][0] as string;

    // Emitters, as the functions and the runner compose them, writing into `lines`.
    const lines: string[] = [];
    const write = (line: string) => lines.push(line);
    const runnerMetrics = (service: MetricService) => createEmfMetrics({ namespace, service, write });

    // Dispatcher / retry sweep (functions/entries/webhook-metrics.ts): one delivered, one failed attempt.
    const outcomes = [
      { delivered: true, status: 200, latencyMs: 12 },
      { delivered: false, status: 500, latencyMs: 40 },
    ];
    const webhook = webhookMetrics({ outbound: {} as never, clock: { now: () => new Date() } }, { env: { ZAPFLEET_METRICS_NAMESPACE: namespace }, write, sender: { send: async () => outcomes.shift() as never } });
    await webhook.sender.send({} as never);
    await webhook.sender.send({} as never);
    webhook.metrics.flush();

    // Runner: state changes of every kind, a reconnect, commands handled and failed, the gauges.
    const metrics = runnerMetrics(metricServices.runner);
    const sessions = withSessionMetrics({ recordState: async () => null } as unknown as SessionRepository, metrics);
    const states = ['connecting', 'qr_ready', 'pairing_code_ready', 'connected', 'disconnected', 'logged_out', 'temp_banned', 'needs_relink'];
    for (const state of states) await sessions.recordState({ accountId: 'a', instanceId: 'i' } as never, { state, reason: state === 'connecting' ? 'reconnect' : 'x' } as never);
    const onEvent = recordCommandMetrics(metrics, () => Date.parse('2026-01-01T00:00:05Z'));
    onEvent({ type: 'handled', command: { issuedAt: '2026-01-01T00:00:00Z' } });
    onEvent({ type: 'failed', command: { issuedAt: '2026-01-01T00:00:00Z' } });
    vi.useFakeTimers();
    try {
      const gauges = startRunnerMetrics(metrics, { sessionsConnected: () => 3, shardsHeld: () => 2 });
      vi.advanceTimersByTime(60_000);
      gauges.stop();
    } finally {
      vi.useRealTimers();
    }

    emitted = new Set(lines.flatMap(metricsOfEmfLine).map(keyOf));

    // The close-code alarms are counted by the fleet's metric filter on the runner's log lines.
    const [filter] = Object.values(built.template(built.fleet).findResources('AWS::Logs::MetricFilter')) as CfnResource[];
    const transformation = (filter?.Properties.MetricTransformations as { MetricNamespace: string; MetricName: string; Dimensions: { Key: string; Value: string }[] }[])[0];
    for (const value of Object.values(sessionAlarmMetric.values)) {
      if (transformation?.Dimensions[0]?.Value === `$.${sessionAlarmMetric.logField}`) {
        emitted.add(keyOf({ namespace: transformation.MetricNamespace, name: transformation.MetricName, dimensions: { [transformation.Dimensions[0].Key]: value } }));
      }
    }

    const alarms = [
      ...(Object.values(built.template(built.observability).findResources('AWS::CloudWatch::Alarm')) as CfnResource[]),
      ...(Object.values(built.template(built.fleet).findResources('AWS::CloudWatch::Alarm')) as CfnResource[]),
    ];
    const policies = Object.values(built.template(built.fleet).findResources('AWS::ApplicationAutoScaling::ScalingPolicy')) as CfnResource[];
    const tracked = policies.flatMap((policy) => {
      const custom = (policy.Properties.TargetTrackingScalingPolicyConfiguration as { CustomizedMetricSpecification?: AlarmProperties & { MetricName: string } } | undefined)?.CustomizedMetricSpecification;
      return custom ? metricsOfAlarm(custom) : [];
    });
    referenced = [...metricsOfDashboard(dashboardBody(built), namespace), ...alarms.flatMap((alarm) => metricsOfAlarm(alarm.Properties as AlarmProperties)), ...tracked].filter(
      (metric) => metric.namespace === namespace,
    );
  }, 180_000);

  it('references application metrics from the dashboard, the alarms and the scaling policies', () => {
    const names = new Set(referenced.map((metric) => metric.name));
    for (const name of ['SessionsConnected', 'ShardsHeld', 'SessionStateChanges', 'Reconnects', 'CommandLag', 'Commands', 'WebhookAttempts', 'WebhookLatency', 'SessionAlarms']) expect(names, name).toContain(name);
  });

  it('has an emitter for every application metric referenced, with exactly its dimensions', () => {
    const missing = referenced.filter((metric) => !emitted.has(keyOf(metric))).map(keyOf);
    expect(missing).toEqual([]);
  });

  it('emits under the service names the dashboard filters on', () => {
    expect([...emitted].some((key) => key.includes(`"Service","${metricServices.dispatcher}"`) && key.includes('WebhookAttempts'))).toBe(true);
    expect([...emitted].some((key) => key.includes(`"Service","${metricServices.runner}"`) && key.includes('CommandLag'))).toBe(true);
  });

  it('wires the same recorders into the runner: session metrics, command events, and one metrics object in main.ts', () => {
    // The runner is exercised with these recorders above; here, that it really composes them.
    const runner = readFileSync(join(import.meta.dirname, '../../session-runner/runner.ts'), 'utf8');
    const main = readFileSync(join(import.meta.dirname, '../../session-runner/main.ts'), 'utf8');
    expect(runner).toMatch(/withSessionMetrics\(sessionStore, options\.metrics\)/);
    expect(runner).toMatch(/onEvent: recordCommandMetrics\(options\.metrics\)/);
    expect(main).toMatch(/const metrics = createEmfMetrics\(\{ namespace: config\.ZAPFLEET_METRICS_NAMESPACE, service: metricServices\.runner \}\)/);
    expect(main).toMatch(/^ {4}metrics,$/m);
    expect(main).toContain('startRunnerMetrics(metrics, {');
  });

  it("logs the close-code alarms the fleet's metric filter counts", () => {
    const runner = readFileSync(join(import.meta.dirname, '../../session-runner/runner.ts'), 'utf8');
    expect(runner).toContain(`${sessionAlarmMetric.logField}: \`zapfleet.\${name}\``);
  });
});
