import type { CfnElement, Stack } from 'aws-cdk-lib';
import { beforeAll, describe, expect, it } from 'vitest';
import type { CfnQueue } from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import { stages, type StageConfig } from '../../infra/config.ts';
import { metricNames, metricServices, metricsNamespaceOf } from '../../shared/observability/metrics.emf.ts';
import { buildTestApp, unsuppressedNagFindings, type BuiltApp, type CfnResource } from './app.ts';

type Env = { Name: string; Value: unknown }[];

/** The `Fn::ImportValue` a consumer stack uses for an attribute of `construct` in its producer stack. */
const importOf = (producer: Stack, construct: IConstruct) => {
  const logicalId = producer.getLogicalId(construct.node.defaultChild as CfnElement);
  return { 'Fn::ImportValue': expect.stringMatching(new RegExp(`^${producer.stackName}:ExportsOutput(Ref|FnGetAtt)${logicalId}`)) };
};

const resourcesOf = (built: BuiltApp, stack: Stack, type: string): [string, CfnResource][] =>
  Object.entries(built.template(stack).findResources(type)) as [string, CfnResource][];

/** The dashboard body with its tokens (imports, references) written out as JSON. */
const dashboardText = (built: BuiltApp): string => {
  const [[, dashboard]] = resourcesOf(built, built.observability, 'AWS::CloudWatch::Dashboard') as [[string, CfnResource]];
  const [, parts] = (dashboard.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] })['Fn::Join'];
  return parts.map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
};

const runnerEnvironment = (built: BuiltApp): Record<string, unknown> => {
  const [[, taskDefinition]] = resourcesOf(built, built.fleet, 'AWS::ECS::TaskDefinition') as [[string, CfnResource]];
  const [container] = taskDefinition.Properties.ContainerDefinitions as { Environment: Env }[];
  return Object.fromEntries((container as { Environment: Env }).Environment.map((variable) => [variable.Name, variable.Value]));
};

describe('the whole app (dev)', () => {
  let built: BuiltApp;

  // Synthesis of six stacks takes seconds on a busy machine.
  beforeAll(() => {
    built = buildTestApp();
  }, 180_000);

  it('builds the six stacks of a stage, named after it', () => {
    expect(built.app.node.children.filter((child) => 'templateFile' in child).map((stack) => (stack as Stack).stackName)).toEqual([
      'Zapfleet-dev-Stateful',
      'Zapfleet-dev-WebSocket',
      'Zapfleet-dev-Api',
      'Zapfleet-dev-Events',
      'Zapfleet-dev-Fleet',
      'Zapfleet-dev-Observability',
    ]);
  });

  it('leaves no cdk-nag AwsSolutions finding unsuppressed in the fleet and observability stacks', () => {
    expect(unsuppressedNagFindings(built.fleet)).toEqual([]);
    expect(unsuppressedNagFindings(built.observability)).toEqual([]);
  });

  it("points the runners at the stateful stack's table, key, events queue, bucket and every shard queue in shard order", () => {
    // Act
    const env = runnerEnvironment(built);

    // Assess
    const { stateful } = built;
    expect(env.ZAPFLEET_TABLE_NAME).toEqual(importOf(stateful, stateful.table));
    expect(env.ZAPFLEET_KMS_KEY_ID).toEqual(importOf(stateful, stateful.dataKey));
    expect(env.ZAPFLEET_EVENTS_QUEUE_URL).toEqual(importOf(stateful, stateful.eventsQueue));
    expect(env.ZAPFLEET_MEDIA_BUCKET).toEqual(importOf(stateful, stateful.mediaBucket));
    const urls = JSON.stringify(env.ZAPFLEET_COMMAND_QUEUE_URLS);
    const shardNames = stateful.commandQueues.map((queue) => stateful.resolve((queue.node.defaultChild as CfnQueue).queueName) as string);
    expect(shardNames).toEqual(Array.from({ length: 4 }, (_, shard) => `Zapfleet-dev-Stateful-shard-${shard}.fifo`));
    const positions = shardNames.map((name) => urls.indexOf(`/${name}`));
    expect(positions.every((position) => position > 0)).toBe(true);
    expect([...positions].sort((a, b) => a - b)).toEqual(positions);
    expect(env.ZAPFLEET_METRICS_NAMESPACE).toBe(metricsNamespaceOf('dev'));
  });

  it("lets the runners consume exactly the stage's shard queues", () => {
    // Act
    const statements = resourcesOf(built, built.fleet, 'AWS::IAM::Policy').flatMap(([, policy]) => (policy.Properties.PolicyDocument as { Statement: { Action: string | string[]; Resource: unknown }[] }).Statement);
    const consume = statements.find((statement) => [statement.Action].flat().includes('sqs:ReceiveMessage'));

    // Assess
    const resources = JSON.stringify(consume?.Resource);
    for (let shard = 0; shard < 4; shard += 1) expect(resources).toContain(`:Zapfleet-dev-Stateful-shard-${shard}.fifo`);
    expect(resources).not.toContain('shard-4');
    expect(resources).not.toContain('*');
  });

  it('sizes the fleet from the stage configuration', () => {
    // Prepare
    const fleet = (stages.dev as StageConfig).fleet;

    // Act
    const [[, taskDefinition]] = resourcesOf(built, built.fleet, 'AWS::ECS::TaskDefinition') as [[string, CfnResource]];
    const [[, target]] = resourcesOf(built, built.fleet, 'AWS::ApplicationAutoScaling::ScalableTarget') as [[string, CfnResource]];

    // Assess
    expect(taskDefinition.Properties).toMatchObject({ Cpu: String(fleet.cpu), Memory: String(fleet.memoryMiB) });
    expect(target.Properties).toMatchObject({ MinCapacity: fleet.minRunners, MaxCapacity: fleet.maxRunners });
    expect(resourcesOf(built, built.fleet, 'AWS::EC2::NatGateway')).toHaveLength(fleet.natGateways);
  });

  it('outputs the dashboard name and the alarm topic of the stage', () => {
    // Act
    const outputs = built.template(built.observability).toJSON().Outputs as Record<string, { Value: unknown }>;

    // Assess
    expect(outputs.DashboardName?.Value).toEqual({ Ref: expect.stringMatching(/^Dashboard/) });
    built.template(built.observability).hasResourceProperties('AWS::CloudWatch::Dashboard', { DashboardName: 'zapfleet-dev' });
    expect(outputs.AlarmTopicArn?.Value).toEqual({ Ref: expect.stringMatching(/^AlarmTopic/) });
  });

  it("alarms on the stateful stack's two dead-letter queues", () => {
    // Act
    const deadLetterAlarms = resourcesOf(built, built.observability, 'AWS::CloudWatch::Alarm')
      .filter(([id]) => id.startsWith('DeadLetters'))
      .map(([, alarm]) => alarm.Properties);

    // Assess
    const { stateful } = built;
    expect(deadLetterAlarms).toHaveLength(2);
    for (const queue of [stateful.commandDeadLetterQueue, stateful.eventsDeadLetterQueue]) {
      expect(deadLetterAlarms).toContainEqual(
        expect.objectContaining({ Namespace: 'AWS/SQS', MetricName: 'ApproximateNumberOfMessagesVisible', Dimensions: [{ Name: 'QueueName', Value: importOf(stateful, queue) }] }),
      );
    }
  });

  it('shows every function on the dashboard, the dispatcher, retry sweep and WebSocket handler included, with an errors alarm each', () => {
    // Act
    const body = dashboardText(built);
    const alarmIds = resourcesOf(built, built.observability, 'AWS::CloudWatch::Alarm').map(([id]) => id);

    // Assess
    const functions = { ...built.api.functions, websocket: built.webSocket.handler, dispatcher: built.events.dispatcher, retrySweep: built.events.retrySweep };
    for (const [name, fn] of Object.entries(functions)) {
      const producer = fn.stack;
      const logicalId = producer.getLogicalId(fn.node.defaultChild as CfnElement);
      expect(body, name).toContain(`${producer.stackName}:ExportsOutputRef${logicalId}`);
      expect(alarmIds.some((id) => id.toLowerCase().startsWith(`${name.toLowerCase()}errors`)), name).toBe(true);
    }
  });

  it('gives the dispatcher and the retry sweep the namespace the webhook graphs read', () => {
    // Act
    const functions = resourcesOf(built, built.events, 'AWS::Lambda::Function').map(([, fn]) => (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables);
    const body = dashboardText(built);

    // Assess
    expect(functions).toHaveLength(2);
    for (const variables of functions) expect(variables.ZAPFLEET_METRICS_NAMESPACE).toBe(metricsNamespaceOf('dev'));
    expect(body).toContain(JSON.stringify([metricsNamespaceOf('dev'), metricNames.webhookLatency, 'Service', metricServices.dispatcher]).slice(1, -1));
    expect(body).toContain(JSON.stringify([metricsNamespaceOf('dev'), metricNames.webhookAttempts, 'Outcome', 'delivered', 'Service', metricServices.dispatcher]).slice(1, -1));
  });

  it("keeps messages as long as the stage says, in the runners and in the API functions that store them", () => {
    // Act
    const functions = resourcesOf(built, built.api, 'AWS::Lambda::Function')
      .map(([, fn]) => (fn.Properties.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {})
      .filter((variables) => variables.ZAPFLEET_TOKEN_PEPPER_CIPHERTEXT !== undefined);

    // Assess
    expect(runnerEnvironment(built).ZAPFLEET_MESSAGE_RETENTION_DAYS).toBe(String(stages.dev?.messageRetentionDays));
    expect(functions.length).toBeGreaterThan(0);
    for (const variables of functions) expect(variables.ZAPFLEET_MESSAGE_RETENTION_DAYS).toBe('30');
  });

  it("graphs the stage's own REST API: its name carries the stage, so two stages in one account never share API metrics", () => {
    built.template(built.api).hasResourceProperties('AWS::ApiGateway::RestApi', { Name: 'zapfleet-dev' });
    expect(dashboardText(built)).toContain('"AWS/ApiGateway","5XXError","ApiName","zapfleet-dev"');
  });
});

describe('the whole app (prod)', () => {
  let built: BuiltApp;

  beforeAll(() => {
    built = buildTestApp({ stage: 'prod', tokenPepperCiphertext: 'AQICAHkeptFromAnEarlierDeployment==' });
  }, 180_000);

  it("keeps the stateful stack's outputs and exports far below CloudFormation's 200 with 64 shards", () => {
    // Act
    const outputs = Object.values(built.template(built.stateful).toJSON().Outputs ?? {}) as { Export?: unknown }[];

    // Assess
    expect(built.stateful.commandQueues).toHaveLength(64);
    expect(outputs.length).toBeLessThan(50);
  });

  it('leaves no cdk-nag AwsSolutions finding unsuppressed in the fleet and observability stacks', () => {
    expect(unsuppressedNagFindings(built.fleet)).toEqual([]);
    expect(unsuppressedNagFindings(built.observability)).toEqual([]);
  });

  it('sizes the prod fleet from its configuration, never above one runner per shard', () => {
    // Act
    const [[, target]] = resourcesOf(built, built.fleet, 'AWS::ApplicationAutoScaling::ScalableTarget') as [[string, CfnResource]];

    // Assess
    const fleet = (stages.prod as StageConfig).fleet;
    expect(target.Properties).toMatchObject({ MinCapacity: fleet.minRunners, MaxCapacity: fleet.maxRunners });
    expect(fleet.maxRunners).toBeLessThanOrEqual(64);
  });
});
