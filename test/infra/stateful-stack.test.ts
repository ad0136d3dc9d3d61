import { Capture, Match, type Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { tableSchema } from '../../shared/adapters/dynamodb/table.ts';
import { buildTestApp, unsuppressedNagFindings, type BuiltApp, type CfnResource } from './app.ts';

type Queue = CfnResource & { Properties: { FifoQueue?: boolean; RedrivePolicy?: { maxReceiveCount: number; deadLetterTargetArn: unknown }; QueueName?: string } };

describe('StatefulStack (dev)', () => {
  let app: BuiltApp;
  let template: Template;

  // Synthesising the app takes seconds on a shared machine: above vitest's 10 s hook default.
  beforeAll(() => {
    app = buildTestApp();
    template = app.template(app.stateful);
  }, 120_000);

  it('leaves no cdk-nag AwsSolutions finding unsuppressed', () => {
    expect(unsuppressedNagFindings(app.stateful)).toEqual([]);
  });

  const onlyTable = (): CfnResource => {
    const tables = Object.values(template.findResources('AWS::DynamoDB::Table')) as CfnResource[];
    expect(tables).toHaveLength(1);
    return tables[0] as CfnResource;
  };
  const queues = () => Object.entries(template.findResources('AWS::SQS::Queue')) as [string, Queue][];

  it('builds the one table with the key names the application uses', () => {
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      KeySchema: [
        { AttributeName: tableSchema.partitionKey, KeyType: 'HASH' },
        { AttributeName: tableSchema.sortKey, KeyType: 'RANGE' },
      ],
      AttributeDefinitions: Match.arrayEquals([
        { AttributeName: tableSchema.partitionKey, AttributeType: 'S' },
        { AttributeName: tableSchema.sortKey, AttributeType: 'S' },
        { AttributeName: tableSchema.gsi1.partitionKey, AttributeType: 'S' },
        { AttributeName: tableSchema.gsi1.sortKey, AttributeType: 'S' },
      ]),
    });
  });

  it('has the gsi1 index on gsi1pk/gsi1sk projecting every attribute', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      GlobalSecondaryIndexes: [
        {
          IndexName: tableSchema.gsi1.name,
          KeySchema: [
            { AttributeName: tableSchema.gsi1.partitionKey, KeyType: 'HASH' },
            { AttributeName: tableSchema.gsi1.sortKey, KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('expires items through the ttl attribute the application writes', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      TimeToLiveSpecification: { AttributeName: tableSchema.ttlAttribute, Enabled: true },
    });
  });

  it('bills on demand and keeps point-in-time recovery on', () => {
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
    expect(onlyTable().Properties).not.toHaveProperty('ProvisionedThroughput');
  });

  it('encrypts the table with a customer-managed key that rotates', () => {
    // Prepare
    const sseKey = new Capture();
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: { 'Fn::GetAtt': [sseKey, 'Arn'] } },
    });

    // Act
    const key = template.toJSON().Resources[sseKey.asString()] as CfnResource;

    // Assess
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Properties.EnableKeyRotation).toBe(true);
  });

  it('wraps instance data keys with a rotating key of its own, not the table key', () => {
    // Prepare
    const dataKeyId = app.stateful.resolve(app.stateful.dataKey.keyArn) as { 'Fn::GetAtt': [string, string] };
    const tableKeyId = (onlyTable().Properties.SSESpecification as { KMSMasterKeyId: { 'Fn::GetAtt': [string, string] } }).KMSMasterKeyId['Fn::GetAtt'][0];

    // Act
    const dataKey = template.findResources('AWS::KMS::Key')[dataKeyId['Fn::GetAtt'][0]] as CfnResource | undefined;

    // Assess
    expect(dataKeyId['Fn::GetAtt'][0]).not.toBe(tableKeyId);
    expect(dataKey?.Properties.EnableKeyRotation).toBe(true);
    // GenerateDataKey only works with a symmetric encryption key (the CloudFormation default).
    expect(dataKey?.Properties.KeySpec ?? 'SYMMETRIC_DEFAULT').toBe('SYMMETRIC_DEFAULT');
    expect(dataKey?.Properties.KeyUsage ?? 'ENCRYPT_DECRYPT').toBe('ENCRYPT_DECRYPT');
  });

  it('lets a dev stage be torn down: no deletion protection, resources deleted with the stack', () => {
    expect(onlyTable().Properties.DeletionProtectionEnabled).toBe(false);
    expect(onlyTable().DeletionPolicy).toBe('Delete');
  });

  it('has one FIFO command queue per shard, in shard order, all dead-lettering to one FIFO queue', () => {
    // Act
    const shardQueues = app.stateful.commandQueues.map((queue) => template.toJSON().Resources[(app.stateful.resolve(queue.queueArn) as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0]] as Queue);
    const dlqId = (app.stateful.resolve(app.stateful.commandDeadLetterQueue.queueArn) as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];

    // Assess
    expect(shardQueues).toHaveLength(4);
    shardQueues.forEach((queue, shard) => {
      expect(queue.Properties.QueueName).toBe(`${app.stateful.stackName}-shard-${shard}.fifo`);
      expect(queue.Properties.FifoQueue).toBe(true);
      expect(queue.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 10 });
      expect(queue.Properties).toMatchObject({ ContentBasedDeduplication: false, DeduplicationScope: 'messageGroup', FifoThroughputLimit: 'perMessageGroupId' });
    });
    expect((template.toJSON().Resources[dlqId] as Queue).Properties).toMatchObject({ FifoQueue: true, MessageRetentionPeriod: 14 * 24 * 3600 });
  });

  it('gives the events queue a standard DLQ and a visibility timeout of at least 6 x the dispatcher timeout', () => {
    // Prepare
    const eventsId = (app.stateful.resolve(app.stateful.eventsQueue.queueArn) as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];
    const dlqId = (app.stateful.resolve(app.stateful.eventsDeadLetterQueue.queueArn) as { 'Fn::GetAtt': [string] })['Fn::GetAtt'][0];

    // Act
    const events = template.toJSON().Resources[eventsId] as Queue;
    const dlq = template.toJSON().Resources[dlqId] as Queue;

    // Assess
    expect(events.Properties.FifoQueue).toBeUndefined();
    expect(events.Properties.RedrivePolicy).toEqual({ deadLetterTargetArn: { 'Fn::GetAtt': [dlqId, 'Arn'] }, maxReceiveCount: 5 });
    expect(events.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * 60);
    expect(dlq.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
  });

  it('encrypts every queue and refuses requests without TLS', () => {
    // Act
    const all = queues();
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy')) as CfnResource[];

    // Assess
    expect(all).toHaveLength(4 + 3);
    for (const [id, queue] of all) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
      const policy = policies.find((candidate) => JSON.stringify(candidate.Properties.Queues).includes(`"${id}"`));
      expect(policy?.Properties.PolicyDocument).toMatchObject({
        Statement: expect.arrayContaining([expect.objectContaining({ Effect: 'Deny', Action: 'sqs:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]),
      });
    }
  });

  it('keeps the media bucket private, encrypted and TLS-only (1.2+)', () => {
    template.hasResourceProperties('AWS::S3::Bucket', {
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
          Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } } }),
        ]),
      },
    });
  });

  it('expires media after 30 days, and command overflow and event payloads a day after the last queue that may still point at them', () => {
    // Prepare
    const rules = new Capture();
    template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: rules } });

    // Act
    const byId = Object.fromEntries((rules.asArray() as { Id: string; ExpirationInDays?: number; Prefix?: string }[]).map((rule) => [rule.Id, rule]));

    // Assess
    expect(byId.media).toMatchObject({ ExpirationInDays: 30, Status: 'Enabled' });
    expect(byId.media?.Prefix).toBeUndefined();
    // Dead letters are kept 14 days, send-journal entries 7: their commands' bodies outlive both.
    expect(byId['command-overflow']).toMatchObject({ Prefix: 'commands/', ExpirationInDays: 15 });
    expect(byId['event-payloads']).toMatchObject({ Prefix: 'events/', ExpirationInDays: 15 });
  });

  it('generates the token pepper inside KMS: a data key without plaintext, under the data key and the pepper context only', () => {
    // Prepare
    const dataKeyArn = app.stateful.resolve(app.stateful.dataKey.keyArn);

    // Act
    const generator = Object.values(template.findResources('AWS::Lambda::Function')).find((fn) => JSON.stringify(fn).includes('GenerateDataKeyWithoutPlaintextCommand')) as CfnResource | undefined;
    const policies = Object.values(template.findResources('AWS::IAM::Policy')) as CfnResource[];
    const grants = policies.flatMap((policy) => (policy.Properties.PolicyDocument as { Statement: { Action: unknown; Resource: unknown; Condition?: unknown }[] }).Statement).filter((statement) => JSON.stringify(statement.Action).includes('kms:GenerateDataKeyWithoutPlaintext'));

    // Assess
    expect(generator).toBeDefined();
    expect((generator?.Properties.Code as { ZipFile: string }).ZipFile).toContain('EncryptionContext: {"purpose":"token-pepper"}');
    template.hasResourceProperties('Custom::ZapfleetTokenPepper', { KeyArn: dataKeyArn });
    expect(grants).toEqual([{ Effect: 'Allow', Action: 'kms:GenerateDataKeyWithoutPlaintext', Resource: dataKeyArn, Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'token-pepper' } } }]);
    expect(app.stateful.resolve(app.stateful.tokenPepperCiphertext)).toEqual({ Ref: expect.stringMatching(/^TokenPepper/) });
  });
});

describe('StatefulStack (prod)', () => {
  let app: BuiltApp;
  let template: Template;

  // Synthesising the app takes seconds on a shared machine: above vitest's 10 s hook default.
  beforeAll(() => {
    app = buildTestApp({ stage: 'prod', tokenPepperCiphertext: 'AQICAHkeptFromAnEarlierDeployment==', corsOrigins: 'https://a.example.com,https://b.example.com', alarmEmail: 'ops@example.com' });
    template = app.template(app.stateful);
  }, 120_000);

  it('leaves no cdk-nag AwsSolutions finding unsuppressed in any stack of the prod stage', () => {
    expect([app.stateful, app.webSocket, app.api, app.events].flatMap(unsuppressedNagFindings)).toEqual([]);
  });

  it('protects the table from deletion and retains table, keys, queues and bucket', () => {
    // Act
    const kept = ['AWS::DynamoDB::Table', 'AWS::KMS::Key', 'AWS::SQS::Queue', 'AWS::S3::Bucket'].flatMap((type) => Object.values(template.findResources(type))) as CfnResource[];

    // Assess
    template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true } });
    expect(kept.length).toBe(1 + 2 + 64 + 3 + 1);
    for (const resource of kept) {
      expect(resource.DeletionPolicy).toBe('Retain');
      expect(resource.UpdateReplacePolicy).toBe('Retain');
    }
    expect(app.stateful.terminationProtection).toBe(true);
  });

  it('has the 64 shard queues of the architecture', () => {
    expect(app.stateful.commandQueues).toHaveLength(64);
  });

  it('keeps a pepper given with -c tokenPepperCiphertext instead of generating one', () => {
    template.resourceCountIs('Custom::ZapfleetTokenPepper', 0);
    expect(app.stateful.tokenPepperCiphertext).toBe('AQICAHkeptFromAnEarlierDeployment==');
  });
});
