import { App } from 'aws-cdk-lib';
import { Capture, Match, Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { StatefulStack } from '../../infra/stacks/stateful-stack.ts';
import { tableSchema } from '../../shared/adapters/dynamodb/table.ts';

type Resource = { Properties: Record<string, unknown>; DeletionPolicy?: string; UpdateReplacePolicy?: string };

describe('StatefulStack', () => {
  let stack: StatefulStack;
  let template: Template;

  beforeAll(() => {
    stack = new StatefulStack(new App(), 'Test-Stateful');
    template = Template.fromStack(stack);
  });

  const onlyTable = (): Resource => {
    const tables = Object.values(template.findResources('AWS::DynamoDB::Table')) as Resource[];
    expect(tables).toHaveLength(1);
    return tables[0] as Resource;
  };

  it('builds the one table with the key names the application uses', () => {
    // Prepare / Act: the template is synthesised once in beforeAll.
    // Assess
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
    const key = template.toJSON().Resources[sseKey.asString()] as { Type: string; Properties: Record<string, unknown> };

    // Assess
    expect(key.Type).toBe('AWS::KMS::Key');
    expect(key.Properties.EnableKeyRotation).toBe(true);
  });

  it('wraps instance data keys with a rotating key of its own, not the table key', () => {
    // Prepare
    const dataKeyId = stack.resolve(stack.dataKey.keyArn) as { 'Fn::GetAtt': [string, string] };
    const tableKeyId = (onlyTable().Properties.SSESpecification as { KMSMasterKeyId: { 'Fn::GetAtt': [string, string] } })
      .KMSMasterKeyId['Fn::GetAtt'][0];

    // Act
    const keys = template.findResources('AWS::KMS::Key');

    // Assess
    expect(dataKeyId['Fn::GetAtt'][0]).not.toBe(tableKeyId);
    const dataKey = keys[dataKeyId['Fn::GetAtt'][0]] as Resource | undefined;
    expect(dataKey?.Properties.EnableKeyRotation).toBe(true);
    // GenerateDataKey only works with a symmetric encryption key (the CloudFormation default).
    expect(dataKey?.Properties.KeySpec ?? 'SYMMETRIC_DEFAULT').toBe('SYMMETRIC_DEFAULT');
    expect(dataKey?.Properties.KeyUsage ?? 'ENCRYPT_DECRYPT').toBe('ENCRYPT_DECRYPT');
  });

  it('retains the table and both keys when the stack is deleted or they are replaced', () => {
    // Act
    const resources = [
      ...Object.values(template.findResources('AWS::DynamoDB::Table')),
      ...Object.values(template.findResources('AWS::KMS::Key')),
    ] as Resource[];

    // Assess
    expect(resources).toHaveLength(3);
    for (const resource of resources) {
      expect(resource.DeletionPolicy).toBe('Retain');
      expect(resource.UpdateReplacePolicy).toBe('Retain');
    }
  });
});
