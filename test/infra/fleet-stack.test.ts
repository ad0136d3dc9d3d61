import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Aspects, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AttributeType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultFleetSettings, FleetStack, type FleetSettings } from '../../infra/stacks/fleet-stack.ts';
import { healthCheckCommand } from '../../session-runner/health/health-file.ts';
import { tableSchema } from '../../shared/adapters/dynamodb/table.ts';
import { metricNames, sessionAlarmMetric } from '../../shared/observability/metrics.emf.ts';

type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: unknown };
type Resource = { Type: string; Properties: Record<string, unknown> };

const shards = 4;
const namespace = 'Zapfleet/test';

/** The stateful resources the fleet gets from the stateful stack, built here from interfaces only. */
const buildFleet = (settings: Partial<FleetSettings> = {}, options: { nag?: boolean; shards?: number } = {}) => {
  const app = new App();
  if (options.nag) Aspects.of(app).add(new AwsSolutionsChecks({ verbose: true }));
  const stateful = new Stack(app, 'TestStateful');
  const table = new Table(stateful, 'Table', {
    partitionKey: { name: tableSchema.partitionKey, type: AttributeType.STRING },
    sortKey: { name: tableSchema.sortKey, type: AttributeType.STRING },
    encryption: TableEncryption.CUSTOMER_MANAGED,
  });
  const dataKey = new Key(stateful, 'DataKey');
  const commandQueues = Array.from({ length: options.shards ?? shards }, (_, shard) => new Queue(stateful, `Shard${shard}`, { fifo: true }));
  const eventsQueue = new Queue(stateful, 'Events');
  const mediaBucket = new Bucket(stateful, 'Media');
  const fleet = new FleetStack(app, 'TestFleet', {
    table,
    dataKey,
    commandQueues,
    eventsQueue,
    mediaBucket,
    metricsNamespace: namespace,
    settings: { ...defaultFleetSettings, ...settings },
  });
  return { app, stateful, fleet, template: Template.fromStack(fleet), table, dataKey, commandQueues, eventsQueue, mediaBucket };
};

const asList = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/** The environment variable names the runner's config schema reads (session-runner/main.ts `RunnerConfig`). */
const runnerConfigKeys = (): { all: string[]; required: string[] } => {
  const source = readFileSync(join(import.meta.dirname, '../../session-runner/main.ts'), 'utf8');
  const schema = source.slice(source.indexOf('const RunnerConfig = z.object({'), source.indexOf('}).superRefine('));
  const entries = [...schema.matchAll(/^ {2}(ZAPFLEET_[A-Z_]+): ([^\n]+(?:\n {4}[^\n]+)*)/gm)];
  return {
    all: entries.map((match) => match[1] as string),
    required: entries.filter((match) => !/\.(default|optional)\(/.test(match[2] as string)).map((match) => match[1] as string),
  };
};

describe('FleetStack', () => {
  let built: ReturnType<typeof buildFleet>;
  let template: Template;

  // Synthesis takes seconds on a busy machine.
  beforeAll(() => {
    built = buildFleet();
    template = built.template;
  }, 120_000);

  const taskRoleStatements = (): Statement[] => {
    const roles = template.findResources('AWS::IAM::Role', {
      Properties: { AssumeRolePolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Principal: { Service: 'ecs-tasks.amazonaws.com' } })]) } },
    });
    const taskRoleId = built.fleet.resolve(built.fleet.taskRole.roleArn)['Fn::GetAtt'][0] as string;
    expect(Object.keys(roles)).toContain(taskRoleId);
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as Resource[];
    return policies
      .filter((policy) => asList(policy.Properties.Roles as unknown[]).some((role) => JSON.stringify(role) === JSON.stringify({ Ref: taskRoleId })))
      .flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
  };

  const runnerContainer = () => {
    const definition = Object.values(template.findResources('AWS::ECS::TaskDefinition'))[0] as Resource;
    return (definition.Properties.ContainerDefinitions as Record<string, unknown>[])[0] as Record<string, unknown>;
  };

  describe('task role', () => {
    it('allows only named actions on named resources: no wildcard action, no Resource "*"', () => {
      // Act
      const statements = taskRoleStatements();

      // Assess
      expect(statements.length).toBeGreaterThan(0);
      for (const statement of statements) {
        expect(statement.Effect).toBe('Allow');
        for (const action of asList(statement.Action)) expect(action).not.toMatch(/\*/);
        for (const resource of asList(statement.Resource)) expect(resource).not.toBe('*');
      }
    });

    it('reaches the table and its gsi1 index with item operations only (no Scan, no table management)', () => {
      // Prepare
      const tableArn = built.fleet.resolve(built.table.tableArn) as unknown;

      // Act
      const dynamo = taskRoleStatements().filter((statement) => asList(statement.Action).some((action) => action.startsWith('dynamodb:')));

      // Assess
      expect(dynamo).toHaveLength(1);
      expect(asList(dynamo[0]?.Action as string[]).sort()).toEqual(
        ['dynamodb:BatchGetItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem', 'dynamodb:DeleteItem', 'dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'].sort(),
      );
      expect(dynamo[0]?.Resource).toEqual([tableArn, { 'Fn::Join': ['', [tableArn, `/index/${tableSchema.gsi1.name}`]] }]);
    });

    it('may only decrypt with the data key, and use the table key only through DynamoDB', () => {
      // Prepare
      const dataKeyArn = JSON.stringify(built.fleet.resolve(built.dataKey.keyArn));
      const tableKeyArn = JSON.stringify(built.fleet.resolve(built.table.encryptionKey?.keyArn));

      // Act
      const kms = taskRoleStatements().filter((statement) => asList(statement.Action).some((action) => action.startsWith('kms:')));
      const onDataKey = kms.filter((statement) => JSON.stringify(statement.Resource) === dataKeyArn);
      const onTableKey = kms.filter((statement) => JSON.stringify(statement.Resource) === tableKeyArn);

      // Assess
      expect(kms).toHaveLength(2);
      expect(onDataKey.map((statement) => statement.Action)).toEqual(['kms:Decrypt']);
      expect(onTableKey).toHaveLength(1);
      expect(onTableKey[0]?.Condition).toEqual({ StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['dynamodb.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } });
    });

    it('consumes every shard queue, in one statement, and may only send to the events queue', () => {
      // Act
      const sqs = taskRoleStatements().filter((statement) => asList(statement.Action).some((action) => action.startsWith('sqs:')));
      const consumers = sqs.filter((statement) => asList(statement.Action).includes('sqs:ReceiveMessage'));
      const senders = sqs.filter((statement) => asList(statement.Action).includes('sqs:SendMessage'));

      // Assess
      expect(consumers).toHaveLength(1);
      expect(consumers[0]?.Resource).toEqual(built.commandQueues.map((queue) => built.fleet.resolve(queue.queueArn)));
      expect(asList(consumers[0]?.Action as string[]).sort()).toEqual(['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage']);
      expect(senders).toHaveLength(1);
      expect(senders[0]?.Resource).toEqual(built.fleet.resolve(built.eventsQueue.queueArn));
      expect(asList(senders[0]?.Action as string[])).not.toContain('sqs:ReceiveMessage');
    });

    it("stays under IAM's 10,240-character limit on a role's inline policies with 64 shards", () => {
      // Prepare: 64 shard queues whose ARNs, once deployed, are about 100 characters long.
      const large = buildFleet({}, { shards: 64 });
      const policies = Object.values(large.template.findResources('AWS::IAM::Policy')) as Resource[];
      const roleId = large.fleet.resolve(large.fleet.taskRole.roleArn)['Fn::GetAtt'][0] as string;

      // Act
      const documents = policies
        .filter((policy) => JSON.stringify(policy.Properties.Roles).includes(roleId))
        .map((policy) => JSON.stringify(policy.Properties.PolicyDocument).replace(/\{"Fn::ImportValue":"[^"]+"\}|\{"Fn::GetAtt":\[[^\]]+\]\}|\{"Ref":"[^"]+"\}/g, `"${'x'.repeat(100)}"`));

      // Assess
      expect(documents.join('').length).toBeLessThan(10_240);
    });

    it('reads, writes and deletes media objects and lists the media bucket, nothing else in S3', () => {
      // Act
      const s3 = taskRoleStatements().filter((statement) => asList(statement.Action).some((action) => action.startsWith('s3:')));

      // Assess
      expect(s3.map((statement) => asList(statement.Action).sort())).toEqual([['s3:DeleteObject', 's3:GetObject', 's3:PutObject'], ['s3:ListBucket']]);
      expect(JSON.stringify(s3[0]?.Resource)).toContain('/*');
      expect(JSON.stringify(s3[1]?.Resource)).toBe(JSON.stringify(built.fleet.resolve(built.mediaBucket.bucketArn)));
    });

    it('grants no CloudWatch or logs rights: metrics travel as EMF log lines through the awslogs driver', () => {
      const actions = taskRoleStatements().flatMap((statement) => asList(statement.Action));
      expect(actions.filter((action) => action.startsWith('cloudwatch:') || action.startsWith('logs:'))).toEqual([]);
    });
  });

  describe('runner container', () => {
    it('runs as a non-root user with an init process and the 120 s stop timeout', () => {
      const container = runnerContainer();
      expect(container.User).toBe('1000:1000');
      expect(container.StopTimeout).toBe(120);
      expect(container.LinuxParameters).toMatchObject({ InitProcessEnabled: true });
      expect(container.Essential).toBe(true);
    });

    it('has a health check on the runner heartbeat file that fails fast enough for the circuit breaker', () => {
      expect(runnerContainer().HealthCheck).toEqual({ Command: healthCheckCommand(), Interval: 30, Timeout: 5, Retries: 3, StartPeriod: 60 });
    });

    it('logs through awslogs, non-blocking, to a log group with a retention', () => {
      // Act
      const logConfiguration = runnerContainer().LogConfiguration as { LogDriver: string; Options: Record<string, unknown> };
      const logGroupId = (logConfiguration.Options['awslogs-group'] as { Ref: string }).Ref;
      const logGroup = template.toJSON().Resources[logGroupId] as Resource;

      // Assess
      expect(logConfiguration.LogDriver).toBe('awslogs');
      expect(logConfiguration.Options.mode).toBe('non-blocking');
      expect(logConfiguration.Options['max-buffer-size']).toBeDefined();
      expect(logGroup.Type).toBe('AWS::Logs::LogGroup');
      expect(logGroup.Properties.RetentionInDays).toBe(30);
    });

    it("sets every variable the runner's config requires and none it does not read", () => {
      // Prepare
      const { all, required } = runnerConfigKeys();

      // Act
      const environment = (runnerContainer().Environment as { Name: string; Value: unknown }[]).map((variable) => variable.Name);

      // Assess
      expect(required).toEqual(expect.arrayContaining(['ZAPFLEET_TABLE_NAME', 'ZAPFLEET_KMS_KEY_ID', 'ZAPFLEET_COMMAND_QUEUE_URLS', 'ZAPFLEET_EVENTS_QUEUE_URL', 'ZAPFLEET_MEDIA_BUCKET']));
      for (const name of required) expect(environment).toContain(name);
      for (const name of environment.filter((variable) => variable.startsWith('ZAPFLEET_'))) expect(all).toContain(name);
      expect(environment).toEqual(expect.arrayContaining(['ZAPFLEET_MEDIA_BUCKET', 'ZAPFLEET_METRICS_NAMESPACE', 'ZAPFLEET_PACING_ENABLED', 'ZAPFLEET_PACING_MIN_GAP_MS', 'ZAPFLEET_PACING_MAX_GAP_MS', 'ZAPFLEET_PACING_DAILY_NEW_CONTACTS']));
    });

    it('lists the shard queue URLs in shard order, the data key and the stage namespace', () => {
      // Prepare
      const value = (name: string) => (runnerContainer().Environment as { Name: string; Value: unknown }[]).find((variable) => variable.Name === name)?.Value;

      // Act
      const queueUrls = value('ZAPFLEET_COMMAND_QUEUE_URLS') as { 'Fn::Join': [string, unknown[]] };

      // Assess
      expect(queueUrls['Fn::Join'][0]).toBe('');
      const parts = queueUrls['Fn::Join'][1].filter((part) => part !== ',');
      expect(parts).toEqual(built.commandQueues.map((queue) => built.fleet.resolve(queue.queueUrl)));
      expect(value('ZAPFLEET_KMS_KEY_ID')).toEqual(built.fleet.resolve(built.dataKey.keyArn));
      expect(value('ZAPFLEET_METRICS_NAMESPACE')).toBe(namespace);
      expect(value('ZAPFLEET_ALLOW_PRIVATE_TARGETS')).toBe('false');
    });

    it('builds an image that runs node directly as the non-root node user, with the task definition\'s health check', () => {
      // Prepare
      const dockerfile = readFileSync(join(import.meta.dirname, '../../session-runner/Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
      const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));

      // Act
      const users = [...finalStage.matchAll(/^USER (\S+)/gm)].map((match) => match[1]);
      const healthCheck = /^HEALTHCHECK .*? CMD (\[.*\])$/m.exec(finalStage)?.[1];

      // Assess
      expect(users).toEqual(['node']);
      expect(finalStage).toMatch(/^CMD \["node", "runner\.mjs"\]$/m);
      expect(JSON.parse(healthCheck ?? 'null')).toEqual(healthCheckCommand().slice(1));
    });

    it('runs on Graviton from an image asset built from session-runner/Dockerfile, synthesised without Docker', () => {
      // Act
      const assembly = built.app.synth();
      const manifest = JSON.parse(readFileSync(join(assembly.directory, `${built.fleet.artifactId}.assets.json`), 'utf8')) as {
        dockerImages: Record<string, { source: { directory: string; dockerFile: string; platform?: string } }>;
      };
      const images = Object.values(manifest.dockerImages);
      const context = join(assembly.directory, images[0]?.source.directory ?? '');

      // Assess
      expect(images).toHaveLength(1);
      expect(images[0]?.source).toMatchObject({ dockerFile: 'session-runner/Dockerfile', platform: 'linux/arm64' });
      template.hasResourceProperties('AWS::ECS::TaskDefinition', { RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' } });
      // .dockerignore keeps the build context to what the image is built from.
      expect(existsSync(join(context, 'session-runner/Dockerfile'))).toBe(true);
      expect(existsSync(join(context, 'shared'))).toBe(true);
      expect(existsSync(join(context, 'package-lock.json'))).toBe(true);
      for (const excluded of ['node_modules', 'cdk.out', 'test', 'functions', 'infra', '.zapfleet']) expect(existsSync(join(context, excluded))).toBe(false);
    });
  });

  describe('service', () => {
    it('starts new runners before stopping old ones and rolls back a deployment that never gets healthy', () => {
      template.hasResourceProperties('AWS::ECS::Service', {
        LaunchType: 'FARGATE',
        DeploymentConfiguration: Match.objectLike({
          MinimumHealthyPercent: 100,
          MaximumPercent: 200,
          DeploymentCircuitBreaker: { Enable: true, Rollback: true },
        }),
      });
    });

    it('leaves the task count to auto scaling, so a deployment never resets the fleet size', () => {
      const service = Object.values(template.findResources('AWS::ECS::Service'))[0] as Resource;
      expect(service.Properties).not.toHaveProperty('DesiredCount');
    });

    it('runs in public subnets with a public IP and no NAT gateway by default, accepting no inbound traffic', () => {
      // Act
      const groups = Object.values(template.findResources('AWS::EC2::SecurityGroup')) as Resource[];

      // Assess
      template.resourceCountIs('AWS::EC2::NatGateway', 0);
      template.hasResourceProperties('AWS::ECS::Service', { NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'ENABLED' }) } });
      template.resourceCountIs('AWS::EC2::SecurityGroupIngress', 0);
      expect(groups).toHaveLength(1);
      expect(groups[0]?.Properties.SecurityGroupIngress).toBeUndefined();
    });

    it('moves the runners to private subnets without public IPs when NAT gateways are configured', () => {
      // Act
      const withNat = buildFleet({ natGateways: 1 }).template;

      // Assess
      withNat.resourceCountIs('AWS::EC2::NatGateway', 1);
      withNat.hasResourceProperties('AWS::ECS::Service', { NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) } });
    });

    it('has free gateway endpoints for DynamoDB and S3 and logs rejected traffic', () => {
      // Act
      const endpoints = Object.values(template.findResources('AWS::EC2::VPCEndpoint')) as Resource[];

      // Assess
      expect(endpoints.map((endpoint) => endpoint.Properties.VpcEndpointType ?? 'Gateway')).toEqual(['Gateway', 'Gateway']);
      expect(JSON.stringify(endpoints.map((endpoint) => endpoint.Properties.ServiceName))).toMatch(/dynamodb[\s\S]*s3|s3[\s\S]*dynamodb/);
      template.hasResourceProperties('AWS::EC2::FlowLog', { TrafficType: 'REJECT', LogDestinationType: 'cloud-watch-logs' });
    });

    it('turns Container Insights on for the cluster', () => {
      template.hasResourceProperties('AWS::ECS::Cluster', { ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }] });
    });
  });

  describe('scaling', () => {
    it('never runs more runners than shards', () => {
      // Act
      const larger = buildFleet({ minRunners: 2, maxRunners: 50 }).template;

      // Assess
      larger.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 2, MaxCapacity: shards });
    });

    it('tracks sessions per runner from the EMF gauge, and scales in slowly', () => {
      template.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
        PolicyType: 'TargetTrackingScaling',
        TargetTrackingScalingPolicyConfiguration: Match.objectLike({
          CustomizedMetricSpecification: { MetricName: metricNames.sessionsConnected, Namespace: namespace, Statistic: 'Average', Dimensions: [{ Name: 'Service', Value: 'session-runner' }] },
          TargetValue: defaultFleetSettings.sessionsPerRunner,
          ScaleInCooldown: 1200,
        }),
      });
    });

    it('adds runners when the shards’ command lag stays high, and never removes any on it', () => {
      // Act
      const alarms = Object.values(template.findResources('AWS::CloudWatch::Alarm')) as Resource[];

      // Assess
      expect(alarms).toHaveLength(1);
      expect(alarms[0]?.Properties).toMatchObject({ MetricName: metricNames.commandLag, Namespace: namespace, ExtendedStatistic: 'p90', Threshold: defaultFleetSettings.commandLagScaleOutMs, ComparisonOperator: 'GreaterThanOrEqualToThreshold' });
    });
  });

  it('passes the cdk-nag AwsSolutions checks, every suppression scoped to a rule', () => {
    // Act
    const { fleet } = buildFleet({}, { nag: true });
    const annotations = Annotations.fromStack(fleet);

    // Assess
    const findings = [...annotations.findError('*', Match.stringLikeRegexp('AwsSolutions-')), ...annotations.findWarning('*', Match.stringLikeRegexp('AwsSolutions-'))];
    expect(findings.map((finding) => `${finding.id}: ${String(finding.entry.data).slice(0, 120)}`)).toEqual([]);
  });

  it('counts the close-code alarms the runner logs as SessionAlarms by their metric field', () => {
    template.hasResourceProperties('AWS::Logs::MetricFilter', {
      FilterPattern: '{ $.metric = "zapfleet.*" }',
      MetricTransformations: [
        { MetricNamespace: namespace, MetricName: sessionAlarmMetric.name, MetricValue: '1', Dimensions: [{ Key: sessionAlarmMetric.dimension, Value: '$.metric' }] },
      ],
    });
  });
});
