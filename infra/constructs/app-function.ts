import { Aws, type Duration, RemovalPolicy } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Architecture } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { bundlingOptions, lambdaEntries, lambdaRuntime, type LambdaName } from '../bundling.ts';
import type { StageConfig } from '../config.ts';
import { mediaBucketPrefixes, tokenPepperContext, type StatefulStack } from '../stacks/stateful-stack.ts';

export interface AppFunctionProps {
  name: LambdaName;
  config: StageConfig;
  timeout: Duration;
  memorySize?: number;
}

/** The item operations of the app's DynamoDB repositories (shared/adapters/dynamodb). */
export const tableItemActions = [
  'dynamodb:GetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
  'dynamodb:BatchWriteItem',
];

/** `{shard}` in `ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE` stands for the shard number (functions/entries/env.ts). */
export const shardPlaceholder = '{shard}';

/**
 * One Lambda function of the app: ARM64, a pinned Node.js runtime, bundled on the host by the local
 * esbuild, with a log group of the stage's retention. Its IAM permissions and the environment
 * variables functions/aws.ts parses are added together by the `bind*` methods, so a function never
 * gets a variable without the permission to use it (or the reverse).
 */
export class AppFunction extends NodejsFunction {
  private readonly config: StageConfig;

  constructor(scope: Construct, id: string, props: AppFunctionProps) {
    super(scope, id, {
      entry: lambdaEntries[props.name],
      handler: 'handler',
      runtime: lambdaRuntime,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout,
      bundling: bundlingOptions,
      logGroup: new LogGroup(scope, `${id}Logs`, {
        retention: props.config.logRetention,
        removalPolicy: props.config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      }),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        ZAPFLEET_LOG_LEVEL: 'info',
      },
    });
    this.config = props.config;
    NagSuppressions.addResourceSuppressions(
      this,
      [
        {
          id: 'AwsSolutions-IAM4',
          reason: 'AWSLambdaBasicExecutionRole only grants writing to CloudWatch Logs (CreateLogStream/PutLogEvents), which every function needs for its logs and EMF metrics.',
          appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'],
        },
      ],
      true,
    );
  }

  /**
   * The table (read and write: every app function writes rate-limit windows at least) and the
   * configuration every `awsContext()` needs. `dataKey`: `pepper-only` lets the function decrypt
   * the token pepper and nothing else (KMS encryption context condition); `unwrap` also unwraps
   * per-instance data keys; `unwrap-and-generate` may create them (instance creation).
   */
  bindApp(stateful: StatefulStack, dataKey: 'pepper-only' | 'unwrap' | 'unwrap-and-generate', baseUrl?: string): this {
    this.bindTable(stateful);
    const config = this.config;
    const environment: Record<string, string> = {
      ZAPFLEET_TABLE_NAME: stateful.table.tableName,
      ZAPFLEET_KMS_KEY_ID: stateful.dataKey.keyArn,
      ZAPFLEET_TOKEN_PEPPER_CIPHERTEXT: stateful.tokenPepperCiphertext,
      ZAPFLEET_CORS_ORIGINS: config.corsOrigins.join(','),
      ZAPFLEET_DEFAULT_INSTANCE_QUOTA: String(config.app.defaultInstanceQuota),
      ZAPFLEET_RATE_LIMIT_GLOBAL: String(config.app.rateLimits.global),
      ZAPFLEET_RATE_LIMIT_CREATE: String(config.app.rateLimits.create),
      ZAPFLEET_RATE_LIMIT_IP: String(config.app.rateLimits.ip),
      ZAPFLEET_RATE_LIMIT_ADMIN: String(config.app.rateLimits.admin),
      ZAPFLEET_ALLOW_PRIVATE_TARGETS: 'false',
      ZAPFLEET_MESSAGE_RETENTION_DAYS: String(config.messageRetentionDays),
      ZAPFLEET_MEDIA_BUCKET: stateful.mediaBucket.bucketName,
      // Lambda caps all variables of a function at 4 KB together: 64 queue URLs would not fit, so
      // the functions get a template and the shard count (expanded in functions/entries/env.ts).
      ZAPFLEET_COMMAND_QUEUE_URL_TEMPLATE: stateful.commandQueueUrlTemplate,
      ZAPFLEET_SHARD_COUNT: String(stateful.commandQueues.length),
    };
    if (baseUrl) environment.ZAPFLEET_BASE_URL = baseUrl;
    for (const [key, value] of Object.entries(environment)) this.addEnvironment(key, value);

    if (dataKey === 'pepper-only') {
      this.addToRolePolicy(
        new PolicyStatement({
          actions: ['kms:Decrypt'],
          resources: [stateful.dataKey.keyArn],
          conditions: { StringEquals: { 'kms:EncryptionContext:purpose': tokenPepperContext.purpose } },
        }),
      );
    } else {
      this.addToRolePolicy(new PolicyStatement({ actions: ['kms:Decrypt'], resources: [stateful.dataKey.keyArn] }));
      if (dataKey === 'unwrap-and-generate') this.addToRolePolicy(new PolicyStatement({ actions: ['kms:GenerateDataKey'], resources: [stateful.dataKey.keyArn] }));
    }
    this.suppressTableGrantWildcards();
    return this;
  }

  /**
   * Exactly the item operations the repositories use (transactions are authorised per contained
   * Put/Update/Delete/ConditionCheck); no Scan, no streams. The table key only through DynamoDB
   * (`kms:ViaService`), which calls KMS with the caller's permissions for a customer-managed key.
   */
  private bindTable(stateful: StatefulStack) {
    this.addToRolePolicy(
      new PolicyStatement({
        actions: tableItemActions,
        resources: [stateful.table.tableArn, `${stateful.table.tableArn}/index/*`],
      }),
    );
    this.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey*', 'kms:ReEncrypt*', 'kms:DescribeKey'],
        resources: [stateful.tableKey.keyArn],
        conditions: { StringEquals: { 'kms:ViaService': `dynamodb.${Aws.REGION}.${Aws.URL_SUFFIX}` } },
      }),
    );
  }

  /** Sends commands to the shard queues; commands too large for a message go to `commands/` in the media bucket. */
  bindCommandQueues(stateful: StatefulStack): this {
    this.addToRolePolicy(new PolicyStatement({ actions: ['sqs:SendMessage'], resources: [stateful.commandQueueArnPattern] }));
    this.addToRolePolicy(new PolicyStatement({ actions: ['s3:PutObject'], resources: [stateful.mediaBucket.arnForObjects(`${mediaBucketPrefixes.commandOverflow}*`)] }));
    NagSuppressions.addResourceSuppressions(
      this,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: 'Commands go to any of the stage\'s shard queues (named <stack>-shard-<n>.fifo), and overflow bodies to keys under commands/ named by instance and command id; both patterns are limited to this stage.',
          appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:sqs:(<AWS::Region>|[a-z0-9-]+):<AWS::AccountId>:.+-shard-\\*\\.fifo$/g' }, { regex: '/^Resource::.*MediaBucket[A-Za-z0-9.]*>?\\/commands\\/\\*$/g' }],
        },
      ],
      true,
    );
    return this;
  }

  /** `ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT` plus execute-api:ManageConnections on that stage's connections. */
  bindWebSocketManagement(websocket: { managementEndpoint: string; grantManagement: (fn: AppFunction) => void }): this {
    this.addEnvironment('ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT', websocket.managementEndpoint);
    websocket.grantManagement(this);
    NagSuppressions.addResourceSuppressions(
      this,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: 'Connection ids are only known at run time: the grant covers the @connections of the one WebSocket API stage of this deployment.',
          appliesTo: [{ regex: '/^Resource::arn:<AWS::Partition>:execute-api:(<AWS::Region>|[a-z0-9-]+):<AWS::AccountId>:.+\\/@connections\\/\\*$/g' }],
        },
      ],
      true,
    );
    return this;
  }

  private suppressTableGrantWildcards() {
    NagSuppressions.addResourceSuppressions(
      this,
      [
        {
          id: 'AwsSolutions-IAM5',
          reason: 'The single table\'s indexes (<Table>/index/*), and kms:GenerateDataKey*/ReEncrypt* on the table key, usable only through DynamoDB (kms:ViaService), which needs them for a customer-managed key.',
          appliesTo: [
            { regex: '/^Resource::.*Table[A-Za-z0-9.]*>?\\/index\\/\\*$/g' },
            'Action::kms:GenerateDataKey*',
            'Action::kms:ReEncrypt*',
          ],
        },
      ],
      true,
    );
  }
}
