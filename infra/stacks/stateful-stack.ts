import { Aws, CfnOutput, CustomResource, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Architecture, Code, Function as LambdaFunction } from 'aws-cdk-lib/aws-lambda';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { DeduplicationScope, FifoThroughputLimit, Queue, QueueEncryption, type IQueue } from 'aws-cdk-lib/aws-sqs';
import { Provider } from 'aws-cdk-lib/custom-resources';
import { NagSuppressions } from 'cdk-nag';
import type { Construct } from 'constructs';
import { tableSchema } from '../../shared/adapters/dynamodb/table.ts';
import { lambdaRuntime } from '../bundling.ts';
import type { StageConfig } from '../config.ts';

export interface StatefulStackProps extends StackProps {
  config: StageConfig;
}

/** The KMS encryption context of the token pepper; functions/aws.ts decrypts with the same one. */
export const tokenPepperContext = { purpose: 'token-pepper' } as const;

/** Object prefixes in the media bucket, by who writes them (shared/adapters/sqs/*, media use cases). */
export const mediaBucketPrefixes = { commandOverflow: 'commands/', eventPayloads: 'events/' } as const;

/** Command queues keep messages 4 days; a dead-lettered one, like every DLQ, 14 (the maximum). */
export const commandRetention = Duration.days(4);
export const deadLetterRetention = Duration.days(14);

/**
 * Everything that holds data and must outlive a redeploy: the single table, the keys, the queues
 * and the media bucket. Later stacks receive them as typed props (../shared/STYLE.md "CDK").
 * No physical names: CloudFormation generates them, so stages and accounts never collide.
 */
export class StatefulStack extends Stack {
  readonly table: Table;
  /** Encrypts the table at rest (separate from `dataKey`, see below). */
  readonly tableKey: Key;
  /** Wraps the per-instance data keys (envelope encryption, see `KmsKeyring`) and the token pepper. */
  readonly dataKey: Key;
  /** One FIFO queue per shard, index = shard number (ARCHITECTURE §4). */
  readonly commandQueues: Queue[];
  readonly commandDeadLetterQueue: Queue;
  /** Runner → dispatcher events (standard queue: order comes from event ids and timestamps). */
  readonly eventsQueue: Queue;
  readonly eventsDeadLetterQueue: Queue;
  /** Platform media, command overflow (`commands/`) and large event payloads (`events/`). */
  readonly mediaBucket: Bucket;
  /** Every shard queue's URL with `{shard}` for the shard number (see AppFunction.bindApp). */
  readonly commandQueueUrlTemplate: string;
  /** IAM resource pattern matching exactly this stage's shard queues. */
  readonly commandQueueArnPattern: string;
  /** `ZAPFLEET_TOKEN_PEPPER_CIPHERTEXT`: base64 KMS ciphertext of the token pepper (not a secret without kms:Decrypt). */
  readonly tokenPepperCiphertext: string;
  private readonly queueName: (shard: number | '*' | '{shard}') => string;
  private queueRefs?: readonly IQueue[];

  constructor(scope: Construct, id: string, props: StatefulStackProps) {
    super(scope, id, props);
    const { config } = props;
    // Production keeps data when the stack or a resource goes away; dev stages tear down cleanly.
    const removalPolicy = config.production ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    // Two keys rather than one: `grantReadData`/`grantReadWriteData` on a table hand the grantee
    // kms:Decrypt on the table's key. Were that the data key too, every role that can read the
    // table could unwrap every instance's data key directly. Apart, unwrapping stays limited to
    // the roles that really need instance secrets, and CloudTrail tells the two uses apart.
    const tableKey = (this.tableKey = new Key(this, 'TableKey', {
      description: `zapfleet ${config.stage}: encrypts the DynamoDB table at rest`,
      enableKeyRotation: true,
      removalPolicy,
    }));

    this.dataKey = new Key(this, 'DataKey', {
      description: `zapfleet ${config.stage}: wraps per-instance data keys and the token pepper`,
      // Rotation keeps old key material, so data keys wrapped before a rotation still unwrap.
      enableKeyRotation: true,
      // Losing this key makes every stored instance secret and every token unusable.
      removalPolicy,
    });

    this.table = new Table(this, 'Table', {
      partitionKey: { name: tableSchema.partitionKey, type: AttributeType.STRING },
      sortKey: { name: tableSchema.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: tableSchema.ttlAttribute,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: tableKey,
      deletionProtection: config.production,
      removalPolicy,
    });

    this.table.addGlobalSecondaryIndex({
      indexName: tableSchema.gsi1.name,
      partitionKey: { name: tableSchema.gsi1.partitionKey, type: AttributeType.STRING },
      sortKey: { name: tableSchema.gsi1.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });

    this.commandQueues = [];
    // One dead-letter queue for every shard: a redrive allow policy `byQueue` takes at most 10
    // sources and a stage may have 64 shards, so it stays `allowAll` (same account and Region only).
    // AWS warns that a DLQ breaks FIFO order: runners fail poison commands themselves, and the
    // generous maxReceiveCount below only catches what they cannot (a crash loop on one command).
    this.commandDeadLetterQueue = new Queue(this, 'CommandDeadLetterQueue', {
      fifo: true,
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: deadLetterRetention,
      removalPolicy,
    });
    // Physical names, unlike everything else here: Lambda caps a function's environment at 4 KB,
    // too small for 64 generated queue URLs, so functions get one URL template instead.
    const queueName = (this.queueName = (shard: number | '*' | '{shard}') => `${this.stackName}-shard-${shard}.fifo`);
    this.commandQueueUrlTemplate = `https://sqs.${Aws.REGION}.${Aws.URL_SUFFIX}/${Aws.ACCOUNT_ID}/${queueName('{shard}')}`;
    this.commandQueueArnPattern = this.formatArn({ service: 'sqs', resource: queueName('*') });
    for (let shard = 0; shard < config.shardCount; shard += 1) {
      this.commandQueues.push(
        new Queue(this, `CommandQueueShard${shard}`, {
          queueName: queueName(shard),
          fifo: true,
          // The command id is the deduplication id (command-bus.sqs.ts); the body is not.
          contentBasedDeduplication: false,
          // High-throughput FIFO: the 300 TPS quota applies per message group (= instance), not per queue.
          deduplicationScope: DeduplicationScope.MESSAGE_GROUP,
          fifoThroughputLimit: FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
          // Short, so a released shard's in-flight commands return quickly; runners extend it for long commands.
          visibilityTimeout: Duration.seconds(60),
          retentionPeriod: commandRetention,
          encryption: QueueEncryption.SQS_MANAGED,
          enforceSSL: true,
          deadLetterQueue: { queue: this.commandDeadLetterQueue, maxReceiveCount: 10 },
          removalPolicy,
        }),
      );
    }

    // Its redrive allow policy stays `allowAll`: `byQueue` would name the events queue's ARN, which
    // references this queue through its own redrive policy, a dependency cycle in CloudFormation.
    this.eventsDeadLetterQueue = new Queue(this, 'EventsDeadLetterQueue', {
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: deadLetterRetention,
      removalPolicy,
    });
    this.eventsQueue = new Queue(this, 'EventsQueue', {
      // Lambda refuses an event source mapping whose function timeout exceeds the visibility
      // timeout; AWS advises 6 × the timeout so throttled retries fit (AWS-NOTES §3).
      visibilityTimeout: Duration.seconds(config.dispatcherTimeout.toSeconds() * 6),
      retentionPeriod: Duration.days(4),
      encryption: QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Webhook retries live in the delivery log, not in SQS: a message only comes back when the
      // dispatcher could not record its fan-out, so a few receives are enough.
      deadLetterQueue: { queue: this.eventsDeadLetterQueue, maxReceiveCount: 5 },
      removalPolicy,
    });
    this.mediaBucket = new Bucket(this, 'MediaBucket', {
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // SSE-S3: presigned GETs then need no kms:Decrypt on the signer's role.
      encryption: BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      // Objects are short-lived and immutable (keys carry message and command ids): versions would
      // only keep expired media around.
      versioned: false,
      lifecycleRules: [
        // Command bodies too large for a queue message (and send-journal entries' commands,
        // `commands/journal/…`): needed while the command may still be read — from its queue (4 days),
        // its dead letter (14 days) or a journal entry (7 days) — so the longest of these, plus a day.
        { id: 'command-overflow', prefix: mediaBucketPrefixes.commandOverflow, expiration: deadLetterRetention.plus(Duration.days(1)) },
        // Large event payloads: needed while the event (or its dead letter) may still be read.
        { id: 'event-payloads', prefix: mediaBucketPrefixes.eventPayloads, expiration: deadLetterRetention.plus(Duration.days(1)) },
        { id: 'media', expiration: Duration.days(30) },
        { id: 'incomplete-uploads', abortIncompleteMultipartUploadAfter: Duration.days(1) },
      ],
      // A non-empty bucket makes a dev stack's deletion fail: the lifecycle empties it within 30 days.
      removalPolicy,
    });
    NagSuppressions.addResourceSuppressions(this.mediaBucket, [
      {
        id: 'AwsSolutions-S1',
        reason: 'Objects live at most 30 days and are only read through short-lived presigned URLs issued by the API, whose requests are logged by API Gateway and the functions; server access logs would add a second bucket without adding an audit trail.',
      },
    ]);

    this.tokenPepperCiphertext = config.tokenPepperCiphertext ?? this.generatedPepper(config);
    new CfnOutput(this, 'TokenPepperCiphertext', {
      value: this.tokenPepperCiphertext,
      description: 'KMS ciphertext of the token pepper. Keep it: redeploying with -c tokenPepperCiphertext=<this> keeps every issued token valid.',
    });
  }

  /**
   * The shard queues as other stacks should reference them: imported from their fixed names (the
   * region, account and partition are pseudo parameters, resolved in the consuming stack), so no
   * CloudFormation export is needed per queue. Referenced directly, the fleet (URL and ARN of
   * each) and the dashboard (name of each) would add three exports per shard: 192 at 64 shards,
   * over CloudFormation's 200 outputs per stack with the other exports. A consumer must depend on
   * this stack explicitly (`addDependency`), since nothing in these references says so.
   */
  commandQueueRefs(): readonly IQueue[] {
    this.queueRefs ??= this.commandQueues.map((_, shard) =>
      Queue.fromQueueAttributes(this, `CommandQueueShard${shard}Ref`, {
        queueArn: this.formatArn({ service: 'sqs', resource: this.queueName(shard) }),
        queueUrl: this.commandQueueUrlTemplate.replace('{shard}', String(shard)),
        queueName: this.queueName(shard),
        fifo: true,
      }),
    );
    return this.queueRefs;
  }

  /**
   * The token pepper is 32 random bytes that never exist outside KMS and the functions' memory:
   * at stack creation a custom resource asks KMS for a data key *without plaintext*, under the
   * data key and the context `{purpose: 'token-pepper'}`, and keeps the ciphertext as its
   * physical id. Updates return the same id, so the pepper never changes behind a running
   * deployment (that would invalidate every token). The ciphertext is useless without
   * kms:Decrypt on the data key with that context.
   */
  private generatedPepper(config: StageConfig): string {
    const onEvent = new LambdaFunction(this, 'TokenPepperGenerator', {
      runtime: lambdaRuntime,
      architecture: Architecture.ARM_64,
      handler: 'index.handler',
      timeout: Duration.seconds(30),
      logGroup: new LogGroup(this, 'TokenPepperGeneratorLogs', { retention: config.logRetention, removalPolicy: RemovalPolicy.DESTROY }),
      code: Code.fromInline(`
const { KMSClient, GenerateDataKeyWithoutPlaintextCommand } = require('@aws-sdk/client-kms');
const kms = new KMSClient({});
exports.handler = async (event) => {
  if (event.RequestType !== 'Create') return { PhysicalResourceId: event.PhysicalResourceId };
  const out = await kms.send(new GenerateDataKeyWithoutPlaintextCommand({
    KeyId: event.ResourceProperties.KeyArn,
    NumberOfBytes: 32,
    EncryptionContext: ${JSON.stringify(tokenPepperContext)},
  }));
  return { PhysicalResourceId: Buffer.from(out.CiphertextBlob).toString('base64') };
};`),
    });
    onEvent.addToRolePolicy(
      new PolicyStatement({
        actions: ['kms:GenerateDataKeyWithoutPlaintext'],
        resources: [this.dataKey.keyArn],
        conditions: { StringEquals: { 'kms:EncryptionContext:purpose': tokenPepperContext.purpose } },
      }),
    );
    const provider = new Provider(this, 'TokenPepperProvider', {
      onEventHandler: onEvent,
      logGroup: new LogGroup(this, 'TokenPepperProviderLogs', { retention: config.logRetention, removalPolicy: RemovalPolicy.DESTROY }),
    });
    const pepper = new CustomResource(this, 'TokenPepper', {
      serviceToken: provider.serviceToken,
      resourceType: 'Custom::ZapfleetTokenPepper',
      properties: { KeyArn: this.dataKey.keyArn },
    });
    NagSuppressions.addResourceSuppressions(
      [onEvent, provider],
      [
        { id: 'AwsSolutions-IAM4', reason: 'AWSLambdaBasicExecutionRole only lets the deploy-time pepper generator write its own logs.', appliesTo: ['Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole'] },
        { id: 'AwsSolutions-IAM5', reason: 'The custom resource framework may invoke any version of the pepper generator function (ARN:*), as CDK generates it.', appliesTo: [{ regex: '/^Resource::<TokenPepperGenerator[A-Za-z0-9]+\\.Arn>:\\*$/g' }] },
        { id: 'AwsSolutions-L1', reason: 'The custom resource framework function runtime is chosen by CDK and only runs during deployments.' },
      ],
      true,
    );
    return pepper.ref;
  }
}
