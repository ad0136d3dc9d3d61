import { fileURLToPath } from 'node:url';
import { Duration, Size, Stack, type StackProps } from 'aws-cdk-lib';
import { AdjustmentType } from 'aws-cdk-lib/aws-applicationautoscaling';
import { Metric, Stats } from 'aws-cdk-lib/aws-cloudwatch';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import {
  FlowLogDestination,
  FlowLogTrafficType,
  GatewayVpcEndpointAwsService,
  IpAddresses,
  SecurityGroup,
  SubnetType,
  Vpc,
  type SubnetConfiguration,
} from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  AwsLogDriverMode,
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargatePlatformVersion,
  FargateService,
  FargateTaskDefinition,
  LinuxParameters,
  LogDrivers,
  OperatingSystemFamily,
  PropagatedTagSource,
} from 'aws-cdk-lib/aws-ecs';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { FilterPattern, LogGroup, MetricFilter, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { healthCheckCommand } from '../../session-runner/health/health-file.ts';
import { tableSchema } from '../../shared/adapters/dynamodb/table.ts';
import { defaultPacingConfig } from '../../shared/domain/messages/pacing.ts';
import { metricNames, metricServices, sessionAlarmMetric } from '../../shared/observability/metrics.emf.ts';

/** The repository root: the runner image's build context (`.dockerignore` keeps it to what the build needs). */
const repositoryRoot = fileURLToPath(new URL('../../', import.meta.url));

/** How the session fleet is sized and connected; one value set per stage (infra/config.ts). */
export interface FleetSettings {
  /** Fargate task size: vCPU units (1024 = 1 vCPU) and memory (MiB), a valid Fargate pair. */
  cpu: number;
  memoryMiB: number;
  minRunners: number;
  /** Capped at the number of shards: a runner beyond that would hold no shard. */
  maxRunners: number;
  /** Target of the sessions-per-runner scaling policy (idle sessions cost ~0.2–0.75 MiB each; real ones more). */
  sessionsPerRunner: number;
  /** Add runners when the p90 of command lag (issue → handled) stays above this. */
  commandLagScaleOutMs: number;
  /** Graviton (`arm64`, cheaper) unless the deploy machine cannot build arm64 images. */
  cpuArchitecture: 'arm64' | 'x86_64';
  /**
   * 0 (default): runners in public subnets with a public IP and no inbound rule: no NAT gateway to
   * pay for, and runners need the internet (WhatsApp) anyway (AWS-NOTES §7). Above 0: runners in
   * private subnets behind that many NAT gateways (one per AZ for AZ-independent egress).
   */
  natGateways: number;
  maxAzs: number;
  logRetention: RetentionDays;
  logLevel: 'info' | 'warn' | 'error';
  /** WhatsApp Web client version `major.minor.patch`; unset: Baileys' built-in one. */
  waVersion?: string;
  /** Anti-ban pacing of API sends (README "Sending messages"); unset: the built-in defaults. */
  pacing?: { enabled: boolean; minGapMs: number; maxGapMs: number; dailyNewContacts: number };
  /** How long stored messages are kept (days); unset: the runner's default (30). */
  messageRetentionDays?: number;
}

export interface FleetStackProps extends StackProps {
  table: ITable;
  /** Wraps the per-instance data keys; the runner only ever unwraps them (kms:Decrypt). */
  dataKey: IKey;
  /** The shard command queues, in shard order (shard n consumes `commandQueues[n]`). */
  commandQueues: readonly IQueue[];
  eventsQueue: IQueue;
  mediaBucket: IBucket;
  /** CloudWatch namespace of zapfleet's EMF metrics for this stage (the observability stack reads the same). */
  metricsNamespace: string;
  settings: FleetSettings;
  /** The runner image; default: built from `session-runner/Dockerfile` at deploy time (synthesis needs no Docker). */
  image?: ContainerImage;
}

/** What ECS allows at most between SIGTERM and SIGKILL on Fargate (AWS-NOTES §7). */
export const runnerStopTimeout = Duration.seconds(120);

/**
 * The session fleet: the VPC, the ECS cluster and the session-runner Fargate service.
 *
 * Deployments keep every shard owned: new tasks start before old ones stop (100 % / 200 %); the
 * newcomers' heartbeats lower every runner's fair share, so the old runners hand surplus shards
 * back, and on SIGTERM they close sockets (auth kept) and release the rest at once, well inside
 * the 120 s stop timeout. A deployment whose tasks never turn healthy rolls back.
 */
export class FleetStack extends Stack {
  readonly vpc: Vpc;
  readonly cluster: Cluster;
  readonly service: FargateService;
  readonly taskRole: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: FleetStackProps) {
    super(scope, id, props);
    const { settings } = props;
    if (props.commandQueues.length === 0) throw new Error('FleetStack needs at least one command queue');
    const publicOnly = settings.natGateways === 0;

    const subnets: SubnetConfiguration[] = publicOnly
      ? [{ name: 'Runners', subnetType: SubnetType.PUBLIC, cidrMask: 20, mapPublicIpOnLaunch: false }]
      : [
          { name: 'Public', subnetType: SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
          { name: 'Runners', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 20 },
        ];
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr('10.42.0.0/16'),
      maxAzs: settings.maxAzs,
      natGateways: settings.natGateways,
      subnetConfiguration: subnets,
      // Free, and keep DynamoDB and S3 traffic (auth state, media) off the internet path and any NAT.
      gatewayEndpoints: {
        DynamoDb: { service: GatewayVpcEndpointAwsService.DYNAMODB },
        S3: { service: GatewayVpcEndpointAwsService.S3 },
      },
    });
    // Rejected traffic only: enough to investigate, cheap at the runners' volume.
    this.vpc.addFlowLog('RejectedTraffic', {
      trafficType: FlowLogTrafficType.REJECT,
      destination: FlowLogDestination.toCloudWatchLogs(new LogGroup(this, 'FlowLogs', { retention: settings.logRetention })),
    });

    this.cluster = new Cluster(this, 'Cluster', { vpc: this.vpc, containerInsightsV2: ContainerInsights.ENABLED });

    this.taskRole = new Role(this, 'TaskRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'zapfleet session runner: its table, data key, shard queues, events queue and media bucket',
    });
    this.grantRunnerAccess(props);

    const arm = settings.cpuArchitecture === 'arm64';
    const taskDefinition = new FargateTaskDefinition(this, 'Task', {
      cpu: settings.cpu,
      memoryLimitMiB: settings.memoryMiB,
      taskRole: this.taskRole,
      runtimePlatform: { cpuArchitecture: arm ? CpuArchitecture.ARM64 : CpuArchitecture.X86_64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });

    this.logGroup = new LogGroup(this, 'RunnerLogs', { retention: settings.logRetention });
    // Close codes 405, 440 and 403 are already logged by the runner as `alarm:` lines with a
    // `metric` field; this counts them (the observability stack alarms on 405 and 440).
    new MetricFilter(this, 'SessionAlarms', {
      logGroup: this.logGroup,
      filterPattern: FilterPattern.stringValue(`$.${sessionAlarmMetric.logField}`, '=', 'zapfleet.*'),
      metricNamespace: props.metricsNamespace,
      metricName: sessionAlarmMetric.name,
      metricValue: '1',
      dimensions: { [sessionAlarmMetric.dimension]: `$.${sessionAlarmMetric.logField}` },
    });
    const pacing = settings.pacing ?? {
      enabled: defaultPacingConfig.enabled,
      minGapMs: defaultPacingConfig.minGapMs,
      maxGapMs: defaultPacingConfig.minGapMs + defaultPacingConfig.jitterMs,
      dailyNewContacts: defaultPacingConfig.firstContactsPerDay,
    };
    taskDefinition.addContainer('Runner', {
      image:
        props.image ??
        ContainerImage.fromAsset(repositoryRoot, { file: 'session-runner/Dockerfile', platform: arm ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64 }),
      // The image's own `node` user (uid 1000); said here too so the task never runs as root.
      user: '1000:1000',
      // An init process as PID 1 forwards SIGTERM to node and reaps children (AWS-NOTES §7); node
      // then drains: stop consuming, close sockets (auth kept), release the leases.
      linuxParameters: new LinuxParameters(this, 'RunnerLinux', { initProcessEnabled: true }),
      stopTimeout: runnerStopTimeout,
      essential: true,
      environment: {
        ZAPFLEET_TABLE_NAME: props.table.tableName,
        ZAPFLEET_KMS_KEY_ID: props.dataKey.keyArn,
        ZAPFLEET_COMMAND_QUEUE_URLS: props.commandQueues.map((queue) => queue.queueUrl).join(','),
        // The queue the runner publishes events to (large payloads go to the media bucket's `events/`).
        ZAPFLEET_EVENTS_QUEUE_URL: props.eventsQueue.queueUrl,
        ZAPFLEET_MEDIA_BUCKET: props.mediaBucket.bucketName,
        ZAPFLEET_METRICS_NAMESPACE: props.metricsNamespace,
        ZAPFLEET_LOG_LEVEL: settings.logLevel,
        ZAPFLEET_ALLOW_PRIVATE_TARGETS: 'false',
        ZAPFLEET_PACING_ENABLED: String(pacing.enabled),
        ZAPFLEET_PACING_MIN_GAP_MS: String(pacing.minGapMs),
        ZAPFLEET_PACING_MAX_GAP_MS: String(pacing.maxGapMs),
        ZAPFLEET_PACING_DAILY_NEW_CONTACTS: String(pacing.dailyNewContacts),
        ...(settings.waVersion ? { ZAPFLEET_WA_VERSION: settings.waVersion } : {}),
        ...(settings.messageRetentionDays ? { ZAPFLEET_MESSAGE_RETENTION_DAYS: String(settings.messageRetentionDays) } : {}),
        // Node 20+ on Fargate: keep source maps of the bundle for readable stack traces.
        NODE_OPTIONS: '--enable-source-maps',
      },
      healthCheck: {
        command: healthCheckCommand(),
        interval: Duration.seconds(30),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(60),
      },
      logging: LogDrivers.awsLogs({
        logGroup: this.logGroup,
        streamPrefix: 'runner',
        // Non-blocking: a slow log pipe must never stall the event loop that keeps the sockets alive.
        // Set explicitly (AWS-NOTES §7): the account default changed in 2025.
        mode: AwsLogDriverMode.NON_BLOCKING,
        maxBufferSize: Size.mebibytes(25),
      }),
    });
    const securityGroup = new SecurityGroup(this, 'RunnerSecurityGroup', {
      vpc: this.vpc,
      description: 'zapfleet session runners: no inbound traffic; outbound to WhatsApp, AWS APIs, media and proxy hosts',
      // Outbound stays open: instance proxies and media URLs may use any port.
      allowAllOutbound: true,
    });

    this.service = new FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition,
      platformVersion: FargatePlatformVersion.LATEST,
      securityGroups: [securityGroup],
      vpcSubnets: { subnetType: publicOnly ? SubnetType.PUBLIC : SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: publicOnly,
      // No desiredCount: auto scaling owns it, and a deployment must not reset the fleet's size.
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      propagateTags: PropagatedTagSource.SERVICE,
      enableECSManagedTags: true,
    });

    this.addScaling(props);

    NagSuppressions.addResourceSuppressions(taskDefinition, [
      {
        id: 'AwsSolutions-ECS2',
        reason:
          'The runner environment holds no secret: resource names, queue URLs, the data key ARN, the metrics namespace and tuning values. Instance secrets are envelope-encrypted in DynamoDB under the KMS data key, which only the task role can use.',
      },
    ]);
    NagSuppressions.addResourceSuppressions(
      this.taskRole,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason:
            'Object-level S3 actions (get, put, delete) on the objects of the one media bucket: keys are per instance and per message (<instanceId>/…, commands/…, events/…), so no narrower static prefix covers them.',
          appliesTo: [{ regex: '/^Resource::.*/\\*$/g' }],
        },
      ],
      true,
    );
    if (taskDefinition.executionRole) {
      NagSuppressions.addResourceSuppressions(
        taskDefinition.executionRole,
        [
          {
            id: 'AwsSolutions-IAM5',
            reason: 'ecr:GetAuthorizationToken (pulling the runner image) supports no resource other than "*"; every other execution-role action is scoped to the asset repository and the log group.',
            appliesTo: ['Resource::*'],
          },
        ],
        true,
      );
    }
  }

  /** Least privilege, from what session-runner/ actually calls. */
  private grantRunnerAccess(props: FleetStackProps) {
    const { table, dataKey, mediaBucket } = props;
    // Items (leases, sessions, auth state, messages) and the gsi1 index (sessions to restore per shard).
    // Transactions need the per-item actions; there is no Scan and no table management.
    this.taskRole.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: [
          'dynamodb:GetItem',
          'dynamodb:BatchGetItem',
          'dynamodb:Query',
          'dynamodb:PutItem',
          'dynamodb:UpdateItem',
          'dynamodb:DeleteItem',
          'dynamodb:BatchWriteItem',
          'dynamodb:ConditionCheckItem',
        ],
        resources: [table.tableArn, `${table.tableArn}/index/${tableSchema.gsi1.name}`],
      }),
    );
    if (table.encryptionKey) {
      // The table's own key, only through DynamoDB.
      this.taskRole.addToPolicy(
        new PolicyStatement({
          effect: Effect.ALLOW,
          actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
          resources: [table.encryptionKey.keyArn],
          conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${this.region}.amazonaws.com` } },
        }),
      );
    }
    // The runner unwraps instance data keys; creating them (GenerateDataKey) is the API's job.
    this.taskRole.addToPolicy(new PolicyStatement({ effect: Effect.ALLOW, actions: ['kms:Decrypt'], resources: [dataKey.keyArn] }));
    // One statement for every shard queue: a statement per queue (what `grantConsumeMessages` adds)
    // would pass IAM's 10,240-character limit on a role's inline policies at 64 shards.
    this.taskRole.addToPolicy(
      new PolicyStatement({
        effect: Effect.ALLOW,
        actions: ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
        resources: props.commandQueues.map((queue) => queue.queueArn),
      }),
    );
    for (const key of new Set(props.commandQueues.map((queue) => queue.encryptionMasterKey).filter((key) => key !== undefined))) key.grantDecrypt(this.taskRole);
    props.eventsQueue.grantSendMessages(this.taskRole);
    // Media objects (stored, read back, removed with their instance), commands and events too large for a queue message.
    this.taskRole.addToPolicy(
      new PolicyStatement({ effect: Effect.ALLOW, actions: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject'], resources: [mediaBucket.arnForObjects('*')] }),
    );
    // Listing finds a deleted instance's media (its key prefix).
    this.taskRole.addToPolicy(new PolicyStatement({ effect: Effect.ALLOW, actions: ['s3:ListBucket'], resources: [mediaBucket.bucketArn] }));
    if (mediaBucket.encryptionKey) mediaBucket.encryptionKey.grantEncryptDecrypt(this.taskRole);
  }

  /**
   * Sessions per runner is the main signal (memory and login CPU grow with it); CPU is a guard;
   * command lag (a shard's backlog) adds runners when commands wait. Every scale event moves
   * shards (sockets reconnect on their new owner), so scale-in is slow and conservative.
   */
  private addScaling(props: FleetStackProps) {
    const { settings } = props;
    const scaling = this.service.autoScaleTaskCount({
      minCapacity: settings.minRunners,
      maxCapacity: Math.max(settings.minRunners, Math.min(settings.maxRunners, props.commandQueues.length)),
    });
    const runnerMetric = (metricName: string, statistic: string) =>
      new Metric({ namespace: props.metricsNamespace, metricName, dimensionsMap: { Service: metricServices.runner }, statistic, period: Duration.minutes(1) });

    scaling.scaleToTrackCustomMetric('SessionsPerRunner', {
      metric: runnerMetric(metricNames.sessionsConnected, Stats.AVERAGE),
      targetValue: settings.sessionsPerRunner,
      scaleOutCooldown: Duration.minutes(3),
      scaleInCooldown: Duration.minutes(20),
    });
    scaling.scaleOnCpuUtilization('Cpu', {
      targetUtilizationPercent: 70,
      scaleOutCooldown: Duration.minutes(3),
      scaleInCooldown: Duration.minutes(20),
    });
    scaling.scaleOnMetric('CommandLag', {
      metric: runnerMetric(metricNames.commandLag, Stats.percentile(90)),
      adjustmentType: AdjustmentType.CHANGE_IN_CAPACITY,
      scalingSteps: [
        { upper: settings.commandLagScaleOutMs, change: 0 },
        { lower: settings.commandLagScaleOutMs, change: +1 },
        { lower: settings.commandLagScaleOutMs * 4, change: +2 },
      ],
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      cooldown: Duration.minutes(5),
    });
  }
}

/** Sensible defaults for a first deployment (small, public subnets, Graviton). */
export const defaultFleetSettings: FleetSettings = {
  cpu: 1024,
  memoryMiB: 2048,
  minRunners: 1,
  maxRunners: 8,
  sessionsPerRunner: 500,
  commandLagScaleOutMs: 30_000,
  cpuArchitecture: 'arm64',
  natGateways: 0,
  maxAzs: 2,
  logRetention: RetentionDays.ONE_MONTH,
  logLevel: 'info',
};
