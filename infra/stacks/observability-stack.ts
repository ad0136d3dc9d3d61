import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import type { IRestApi } from 'aws-cdk-lib/aws-apigateway';
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  Stats,
  TextWidget,
  TreatMissingData,
  type IAlarm,
  type IMetric,
  type IWidget,
} from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import { sessionStates } from '../../shared/domain/instance/instance.ts';
import { metricNames, metricServices, sessionAlarmMetric } from '../../shared/observability/metrics.emf.ts';

/** The runner service, by name (FleetStack exposes both). */
export interface RunnerServiceRef {
  clusterName: string;
  serviceName: string;
}

export interface ObservabilityStackProps extends StackProps {
  stage: string;
  /** CloudWatch namespace of zapfleet's EMF metrics for this stage (the runner and functions write to it). */
  metricsNamespace: string;
  restApi: IRestApi;
  /** Every Lambda function by route group (ApiStack `functions`, plus the dispatcher and the WebSocket handlers). */
  functions: Readonly<Record<string, IFunction>>;
  /** The events dispatcher: errors there delay every webhook, so they page. */
  dispatcher: IFunction;
  /** The shard command queues, in shard order. */
  commandQueues: readonly IQueue[];
  eventsQueue: IQueue;
  /** Any message here needs a human (a poison command, an event that could not be dispatched). */
  deadLetterQueues: Readonly<Record<string, IQueue>>;
  runnerService: RunnerServiceRef;
  /** Subscribed to the alarm topic when given (the subscriber confirms by e-mail). */
  alarmEmail?: string;
  /** Production keeps the alarm topic's key on stack deletion; other stages schedule its deletion. */
  production?: boolean;
}

const minute = Duration.minutes(1);
const fiveMinutes = Duration.minutes(5);

/** API Gateway's integration timeout is 29 s; integration latency this close to it pages. */
export const integrationLatencyAlarmMs = 25_000;

/**
 * The operator's view of one stage: a dashboard (API, functions, queues, sessions, webhooks) and
 * the alarms that need a human, all sent to one SNS topic. Application metrics are the EMF ones of
 * shared/observability/metrics.emf.ts, referenced by the same constants the emitters use.
 */
export class ObservabilityStack extends Stack {
  readonly alarmTopic: Topic;
  readonly dashboard: Dashboard;
  readonly alarms: Alarm[] = [];

  private readonly props: ObservabilityStackProps;

  constructor(scope: Construct, id: string, props: ObservabilityStackProps) {
    super(scope, id, props);
    this.props = props;

    // CloudWatch alarms can only publish to an encrypted topic whose key lets CloudWatch use it
    // (the AWS-managed SNS key does not), hence a key of its own.
    const topicKey = new Key(this, 'AlarmTopicKey', {
      description: `zapfleet ${props.stage}: encrypts alarm notifications`,
      enableKeyRotation: true,
      removalPolicy: props.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    topicKey.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.alarmTopic = new Topic(this, 'AlarmTopic', { displayName: `zapfleet ${props.stage} alarms`, masterKey: topicKey, enforceSSL: true });
    if (props.alarmEmail) this.alarmTopic.addSubscription(new EmailSubscription(props.alarmEmail));

    this.addAlarms();
    // Named after the stage, so operators find it (names are unique per account, stages are too).
    this.dashboard = new Dashboard(this, 'Dashboard', { dashboardName: `zapfleet-${props.stage}`, defaultInterval: Duration.hours(3) });
    for (const row of this.widgets()) this.dashboard.addWidgets(...row);
    new CfnOutput(this, 'DashboardName', { value: this.dashboard.dashboardName, description: 'CloudWatch dashboard of this stage' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.alarmTopic.topicArn, description: 'SNS topic every alarm notifies: subscribe e-mail, chat or paging integrations to it' });
  }

  // ---- metrics ----

  private app(metricName: string, service: string, statistic: string, dimensions: Record<string, string> = {}, label?: string): Metric {
    return new Metric({
      namespace: this.props.metricsNamespace,
      metricName,
      dimensionsMap: { Service: service, ...dimensions },
      statistic,
      period: minute,
      ...(label ? { label } : {}),
    });
  }

  /** Counted from the runner's `alarm:` log lines by the fleet stack's metric filter (no Service dimension). */
  private sessionAlarm(value: string, label?: string): Metric {
    return new Metric({
      namespace: this.props.metricsNamespace,
      metricName: sessionAlarmMetric.name,
      dimensionsMap: { [sessionAlarmMetric.dimension]: value },
      statistic: Stats.SUM,
      period: minute,
      ...(label ? { label } : {}),
    });
  }

  private api(metricName: string, statistic: string, label?: string): Metric {
    return new Metric({
      namespace: 'AWS/ApiGateway',
      metricName,
      dimensionsMap: { ApiName: this.props.restApi.restApiName },
      statistic,
      period: minute,
      ...(label ? { label } : {}),
    });
  }

  /** `SUM`/`MAX` over every shard queue: one line, whatever the shard count (graphs take ≤ 500 metrics). */
  private acrossShards(fn: 'SUM' | 'MAX', metricOf: (queue: IQueue) => IMetric, label: string): MathExpression {
    const usingMetrics = Object.fromEntries(this.props.commandQueues.map((queue, shard) => [`s${shard}`, metricOf(queue)]));
    return new MathExpression({ expression: `${fn}([${Object.keys(usingMetrics).join(',')}])`, usingMetrics, label, period: minute });
  }

  /** Shards without a live owner: shards minus the leases the runners report holding (no runner at all: every shard). */
  private unownedShards(): MathExpression {
    return new MathExpression({
      expression: `${this.props.commandQueues.length} - FILL(held, 0)`,
      usingMetrics: { held: this.app(metricNames.shardsHeld, metricServices.runner, Stats.SUM) },
      label: 'Shards without owner',
      period: minute,
    });
  }

  // ---- alarms ----

  private alarm(id: string, props: { metric: IMetric; threshold: number; description: string; evaluationPeriods?: number; datapointsToAlarm?: number; comparison?: ComparisonOperator; missing?: TreatMissingData }): Alarm {
    const alarm = new Alarm(this, id, {
      metric: props.metric,
      threshold: props.threshold,
      evaluationPeriods: props.evaluationPeriods ?? 1,
      datapointsToAlarm: props.datapointsToAlarm ?? props.evaluationPeriods ?? 1,
      comparisonOperator: props.comparison ?? ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: props.missing ?? TreatMissingData.NOT_BREACHING,
      alarmDescription: `zapfleet ${this.props.stage}: ${props.description}`,
    });
    const action = new SnsAction(this.alarmTopic);
    alarm.addAlarmAction(action);
    alarm.addOkAction(action);
    this.alarms.push(alarm);
    return alarm;
  }

  private addAlarms() {
    const { props } = this;
    for (const [name, queue] of Object.entries(props.deadLetterQueues)) {
      this.alarm(`DeadLetters${name}`, {
        metric: queue.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM, period: minute }),
        threshold: 1,
        description: `messages in the ${name} dead-letter queue: inspect them, fix the cause, then redrive`,
      });
    }
    this.alarm('ClientVersionRejected', {
      metric: this.sessionAlarm(sessionAlarmMetric.values.clientVersionRejected),
      threshold: 1,
      description: 'WhatsApp closed a session with code 405 (client version or platform rejected): set ZAPFLEET_WA_VERSION to a current WhatsApp Web version and redeploy; affected sessions need a reconnect',
    });
    this.alarm('SessionReplaced', {
      metric: this.sessionAlarm(sessionAlarmMetric.values.sessionReplaced),
      threshold: 1,
      description: 'WhatsApp closed a session with code 440 (replaced): two sockets for one number, a shard lease problem or the number used elsewhere',
    });
    this.alarm('ShardsWithoutOwner', {
      metric: this.unownedShards(),
      threshold: 1,
      evaluationPeriods: 5,
      // No runner reporting at all is the worst case, not a quiet one.
      missing: TreatMissingData.BREACHING,
      description: 'shards without a runner for 5 minutes (runners down or failing to renew leases): their sessions are offline and their commands wait',
    });
    this.alarm('EventsBacklog', {
      metric: props.eventsQueue.metricApproximateAgeOfOldestMessage({ statistic: Stats.MAXIMUM, period: minute }),
      threshold: 300,
      evaluationPeriods: 5,
      description: 'the oldest event has waited over 5 minutes: the dispatcher is failing or throttled; webhooks and WebSocket pushes are late',
    });
    this.alarm('CommandLag', {
      metric: this.app(metricNames.commandLag, metricServices.runner, Stats.percentile(90)),
      threshold: 60_000,
      evaluationPeriods: 5,
      description: 'commands wait over a minute before the runners handle them (p90), although scaling should have added runners',
    });
    this.alarm('Api5xx', {
      metric: this.api('5XXError', Stats.AVERAGE),
      threshold: 0.05,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      description: 'over 5 % of API requests answer 5xx',
    });
    this.alarm('ApiIntegrationLatency', {
      metric: this.api('IntegrationLatency', Stats.percentile(99)),
      threshold: integrationLatencyAlarmMs,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      description: 'API integration latency p99 near the 29 s API Gateway timeout: clients will get 504s',
    });
    for (const [name, fn] of Object.entries({ ...props.functions, dispatcher: props.dispatcher })) {
      this.alarm(`${pascal(name)}Errors`, {
        metric: fn.metricErrors({ statistic: Stats.SUM, period: fiveMinutes }),
        threshold: 5,
        evaluationPeriods: 2,
        description: `the ${name} function failed 5 or more times in 5 minutes, twice in a row (crashes or timeouts, not contract errors)`,
      });
      this.alarm(`${pascal(name)}Throttles`, {
        metric: fn.metricThrottles({ statistic: Stats.SUM, period: fiveMinutes }),
        threshold: 1,
        evaluationPeriods: 2,
        description: `the ${name} function is being throttled (account concurrency or its reserved concurrency)`,
      });
    }
  }

  // ---- dashboard ----

  private widgets(): IWidget[][] {
    const { props } = this;
    const runner = metricServices.runner;
    const dispatcher = metricServices.dispatcher;
    const fns = Object.entries({ ...props.functions, dispatcher: props.dispatcher });
    const wide = { width: 12, height: 6 } as const;
    const third = { width: 8, height: 6 } as const;
    const ecs = (metricName: string, namespace: string, statistic: string, label: string) =>
      new Metric({ namespace, metricName, dimensionsMap: { ClusterName: props.runnerService.clusterName, ServiceName: props.runnerService.serviceName }, statistic, period: minute, label });
    const delivered = this.app(metricNames.webhookAttempts, dispatcher, Stats.SUM, { Outcome: 'delivered' }, 'delivered');
    const failed = this.app(metricNames.webhookAttempts, dispatcher, Stats.SUM, { Outcome: 'failed' }, 'failed');

    return [
      [
        new TextWidget({
          markdown: `# zapfleet ${props.stage}\nAPI, functions, queues, the session fleet and webhooks. Every alarm below notifies the stage's alarm topic; what each one means is in its description and in the README ("Deploy to AWS").`,
          width: 24,
          height: 2,
        }),
      ],
      [new AlarmStatusWidget({ title: 'Alarms', alarms: this.alarms as IAlarm[], width: 24, height: 4 })],
      [
        new GraphWidget({ title: 'API requests and errors', left: [this.api('Count', Stats.SUM, 'requests')], right: [this.api('4XXError', Stats.SUM, '4xx'), this.api('5XXError', Stats.SUM, '5xx')], ...third }),
        new GraphWidget({
          title: 'API latency (ms)',
          left: [this.api('Latency', Stats.percentile(50), 'p50'), this.api('Latency', Stats.percentile(99), 'p99'), this.api('IntegrationLatency', Stats.percentile(99), 'integration p99')],
          leftAnnotations: [{ value: integrationLatencyAlarmMs, label: 'alarm' }],
          ...third,
        }),
        new GraphWidget({ title: 'Function throttles', left: fns.map(([name, fn]) => fn.metricThrottles({ statistic: Stats.SUM, period: minute, label: name })), ...third }),
      ],
      [
        new GraphWidget({ title: 'Function errors', left: fns.map(([name, fn]) => fn.metricErrors({ statistic: Stats.SUM, period: minute, label: name })), ...wide }),
        new GraphWidget({ title: 'Function duration p99 (ms)', left: fns.map(([name, fn]) => fn.metricDuration({ statistic: Stats.percentile(99), period: minute, label: name })), ...wide }),
      ],
      [
        new GraphWidget({
          title: 'Queue depth',
          left: [
            this.acrossShards('SUM', (queue) => queue.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM, period: minute }), 'commands (all shards)'),
            props.eventsQueue.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM, period: minute, label: 'events' }),
          ],
          ...third,
        }),
        new GraphWidget({
          title: 'Oldest message age (s)',
          left: [
            this.acrossShards('MAX', (queue) => queue.metricApproximateAgeOfOldestMessage({ statistic: Stats.MAXIMUM, period: minute }), 'commands (oldest shard)'),
            props.eventsQueue.metricApproximateAgeOfOldestMessage({ statistic: Stats.MAXIMUM, period: minute, label: 'events' }),
          ],
          ...third,
        }),
        new GraphWidget({
          title: 'Dead-letter depth',
          left: Object.entries(props.deadLetterQueues).map(([name, queue]) => queue.metricApproximateNumberOfMessagesVisible({ statistic: Stats.MAXIMUM, period: minute, label: name })),
          leftAnnotations: [{ value: 1, label: 'alarm' }],
          ...third,
        }),
      ],
      [
        new GraphWidget({
          title: 'Sessions',
          left: [this.app(metricNames.sessionsConnected, runner, Stats.SUM, {}, 'connected (fleet)')],
          right: [this.app(metricNames.sessionsConnected, runner, Stats.AVERAGE, {}, 'connected per runner')],
          ...third,
        }),
        new GraphWidget({
          title: 'Session state changes by state',
          left: sessionStates.map((state) => this.app(metricNames.sessionStateChanges, runner, Stats.SUM, { State: state }, state)),
          stacked: true,
          ...third,
        }),
        new GraphWidget({
          title: 'Reconnects and close-code alarms',
          left: [this.app(metricNames.reconnects, runner, Stats.SUM, {}, 'automatic reconnects')],
          right: Object.values(sessionAlarmMetric.values).map((value) => this.sessionAlarm(value, value.replace('zapfleet.', ''))),
          ...third,
        }),
      ],
      [
        new GraphWidget({
          title: 'Runners and shards',
          left: [ecs('RunningTaskCount', 'ECS/ContainerInsights', Stats.AVERAGE, 'runners'), this.unownedShards()],
          right: [this.app(metricNames.shardsHeld, runner, Stats.SUM, {}, 'shards held')],
          rightAnnotations: [{ value: props.commandQueues.length, label: 'shards' }],
          ...third,
        }),
        new GraphWidget({
          title: 'Runner CPU and memory (%)',
          left: [ecs('CPUUtilization', 'AWS/ECS', Stats.AVERAGE, 'CPU'), ecs('MemoryUtilization', 'AWS/ECS', Stats.AVERAGE, 'memory')],
          ...third,
        }),
        new GraphWidget({
          title: 'Commands',
          left: [
            this.app(metricNames.commands, runner, Stats.SUM, { Outcome: 'handled' }, 'handled'),
            this.app(metricNames.commands, runner, Stats.SUM, { Outcome: 'failed' }, 'failed'),
          ],
          right: [this.app(metricNames.commandLag, runner, Stats.percentile(90), {}, 'lag p90 (ms)')],
          ...third,
        }),
      ],
      [
        new GraphWidget({
          title: 'Webhook success rate (%)',
          left: [new MathExpression({ expression: '100 * delivered / (delivered + failed)', usingMetrics: { delivered, failed }, label: 'delivered / attempts', period: minute })],
          right: [delivered, failed],
          leftYAxis: { min: 0, max: 100 },
          ...wide,
        }),
        new GraphWidget({
          title: 'Webhook latency (ms)',
          left: [
            this.app(metricNames.webhookLatency, dispatcher, Stats.percentile(50), {}, 'p50'),
            this.app(metricNames.webhookLatency, dispatcher, Stats.percentile(90), {}, 'p90'),
            this.app(metricNames.webhookLatency, dispatcher, Stats.percentile(99), {}, 'p99'),
          ],
          ...wide,
        }),
      ],
    ];
  }
}

const pascal = (name: string) => name.replace(/(^|[-_\s]+)(\w)/g, (_, __: string, letter: string) => letter.toUpperCase());
