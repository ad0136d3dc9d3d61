import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { MockIntegration, RestApi } from 'aws-cdk-lib/aws-apigateway';
import { Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { ObservabilityStack } from '../../infra/stacks/observability-stack.ts';
import { metricNames, sessionAlarmMetric } from '../../shared/observability/metrics.emf.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };

const namespace = 'Zapfleet/test';
const shards = 3;

const build = (alarmEmail?: string, options: { nag?: boolean } = {}) => {
  const app = new App();
  if (options.nag) Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  const upstream = new Stack(app, 'TestUpstream');
  const restApi = new RestApi(upstream, 'Api', { restApiName: 'zapfleet-test' });
  restApi.root.addMethod('GET', new MockIntegration());
  const fn = (id: string) => new LambdaFunction(upstream, id, { runtime: Runtime.NODEJS_24_X, handler: 'index.handler', code: Code.fromInline('exports.handler = async () => ({})') });
  const functions = { authorizer: fn('Authorizer'), instance: fn('Instance') };
  const dispatcher = fn('Dispatcher');
  const commandQueues = Array.from({ length: shards }, (_, shard) => new Queue(upstream, `Shard${shard}`, { fifo: true }));
  const eventsQueue = new Queue(upstream, 'Events');
  const deadLetterQueues = { Events: new Queue(upstream, 'EventsDlq'), Commands: new Queue(upstream, 'CommandsDlq', { fifo: true }) };
  const stack = new ObservabilityStack(app, 'TestObservability', {
    stage: 'test',
    metricsNamespace: namespace,
    restApi,
    functions,
    dispatcher,
    commandQueues,
    eventsQueue,
    deadLetterQueues,
    runnerService: { clusterName: 'cluster-x', serviceName: 'service-x' },
    ...(alarmEmail ? { alarmEmail } : {}),
  });
  return { stack, template: Template.fromStack(stack), deadLetterQueues, eventsQueue, functions, dispatcher };
};

describe('ObservabilityStack', () => {
  let built: ReturnType<typeof build>;
  let template: Template;
  let alarms: Resource[];
  let topicRef: unknown;

  // Synthesis takes seconds on a busy machine.
  beforeAll(() => {
    built = build('ops@example.com');
    template = built.template;
    alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];
    topicRef = built.stack.resolve(built.stack.alarmTopic.topicArn);
  }, 120_000);

  const alarmOn = (match: (properties: Record<string, unknown>) => boolean): Resource[] => alarms.filter((alarm) => match(alarm.Properties));
  const dimensionsOf = (properties: Record<string, unknown>) => Object.fromEntries(((properties.Dimensions as { Name: string; Value: unknown }[]) ?? []).map((d) => [d.Name, d.Value]));

  it('notifies the alarm topic of every alarm, when it fires and when it clears', () => {
    expect(alarms.length).toBeGreaterThan(0);
    for (const alarm of alarms) {
      expect(alarm.Properties.AlarmActions).toEqual([topicRef]);
      expect(alarm.Properties.OKActions).toEqual([topicRef]);
    }
  });

  it('encrypts the alarm topic with a rotating key CloudWatch may use, and refuses plain HTTP', () => {
    // Prepare
    const topic = Object.values(template.findResources('AWS::SNS::Topic'))[0] as Resource;
    const keyId = (topic.Properties.KmsMasterKeyId as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
    const key = template.toJSON().Resources[keyId] as Resource;

    // Act
    const keyStatements = (key.Properties.KeyPolicy as { Statement: { Principal?: { Service?: string }; Action: string | string[] }[] }).Statement;

    // Assess
    expect(key.Properties.EnableKeyRotation).toBe(true);
    expect(keyStatements.some((statement) => statement.Principal?.Service === 'cloudwatch.amazonaws.com' && [statement.Action].flat().includes('kms:GenerateDataKey*'))).toBe(true);
    template.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('subscribes the alarm e-mail when given, and nothing otherwise', () => {
    // Act
    const without = build().template;

    // Assess
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    without.resourceCountIs('AWS::SNS::Subscription', 0);
  });

  it('alarms on the first message in each dead-letter queue', () => {
    for (const queue of Object.values(built.deadLetterQueues)) {
      // Act
      const queueName = built.stack.resolve(queue.queueName);
      const found = alarmOn((p) => p.MetricName === 'ApproximateNumberOfMessagesVisible' && JSON.stringify(dimensionsOf(p).QueueName) === JSON.stringify(queueName));

      // Assess
      expect(found).toHaveLength(1);
      expect(found[0]?.Properties).toMatchObject({ Namespace: 'AWS/SQS', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold', EvaluationPeriods: 1, TreatMissingData: 'notBreaching' });
    }
  });

  it('alarms on WhatsApp close code 405 (and 440) from the metric the runner log filter produces', () => {
    // Act
    const rejected = alarmOn((p) => p.MetricName === sessionAlarmMetric.name && dimensionsOf(p)[sessionAlarmMetric.dimension] === 'zapfleet.client_version_rejected');
    const replaced = alarmOn((p) => p.MetricName === sessionAlarmMetric.name && dimensionsOf(p)[sessionAlarmMetric.dimension] === 'zapfleet.session_replaced');

    // Assess
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.Properties).toMatchObject({ Namespace: namespace, Statistic: 'Sum', Threshold: 1, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    expect(String(rejected[0]?.Properties.AlarmDescription)).toContain('405');
    expect(replaced).toHaveLength(1);
  });

  it('alarms when shards have no owner for 5 minutes, counting "no runner reports at all" as breaching', () => {
    // Act
    const found = alarms.filter((alarm) => JSON.stringify(alarm.Properties.Metrics ?? '').includes(metricNames.shardsHeld));

    // Assess
    expect(found).toHaveLength(1);
    expect(found[0]?.Properties).toMatchObject({ TreatMissingData: 'breaching', EvaluationPeriods: 5, DatapointsToAlarm: 5, Threshold: 1 });
    expect(JSON.stringify(found[0]?.Properties.Metrics)).toContain(`${shards} - FILL(held, 0)`);
  });

  it("alarms on each function's errors and throttles, the dispatcher's included", () => {
    for (const fn of [...Object.values(built.functions), built.dispatcher]) {
      const name = built.stack.resolve(fn.functionName);
      const forFunction = alarmOn((p) => p.Namespace === 'AWS/Lambda' && JSON.stringify(dimensionsOf(p).FunctionName) === JSON.stringify(name));
      expect(forFunction.map((alarm) => alarm.Properties.MetricName).sort()).toEqual(['Errors', 'Throttles']);
    }
  });

  it('alarms on API 5xx and on integration latency near the 29 s timeout, and on an events backlog', () => {
    expect(alarmOn((p) => p.Namespace === 'AWS/ApiGateway' && p.MetricName === '5XXError')).toHaveLength(1);
    expect(alarmOn((p) => p.Namespace === 'AWS/ApiGateway' && p.MetricName === 'IntegrationLatency' && (p.Threshold as number) < 29_000)).toHaveLength(1);
    const eventsName = built.stack.resolve(built.eventsQueue.queueName);
    expect(alarmOn((p) => p.MetricName === 'ApproximateAgeOfOldestMessage' && JSON.stringify(dimensionsOf(p).QueueName) === JSON.stringify(eventsName))).toHaveLength(1);
  });

  it('passes the cdk-nag AwsSolutions checks without suppressions', () => {
    // Act
    const { stack } = build('ops@example.com', { nag: true });
    const annotations = Annotations.fromStack(stack);

    // Assess
    const findings = [...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-')), ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-'))];
    expect(findings.map((finding) => `${finding.id}: ${String(finding.entry.data).slice(0, 120)}`)).toEqual([]);
  });

  it('shows API, function, queue, session and webhook metrics on the dashboard, by the names the code emits', () => {
    // Act
    const dashboard = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0] as Resource;
    const body = JSON.stringify(dashboard.Properties.DashboardBody);

    // Assess
    for (const name of ['4XXError', '5XXError', 'Latency', 'IntegrationLatency', 'Errors', 'Duration', 'Throttles', 'ApproximateNumberOfMessagesVisible', 'ApproximateAgeOfOldestMessage']) {
      expect(body).toContain(`\\"${name}\\"`);
    }
    for (const name of [metricNames.sessionsConnected, metricNames.sessionStateChanges, metricNames.reconnects, metricNames.shardsHeld, metricNames.webhookAttempts, metricNames.webhookLatency, metricNames.commandLag, sessionAlarmMetric.name]) {
      expect(body).toContain(`\\"${name}\\"`);
    }
    expect(body).toContain(namespace);
    expect(body).toContain('100 * delivered / (delivered + failed)');
  });
});
