import { RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import { AttributeType, BillingMode, ProjectionType, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';
import { tableSchema } from '../../shared/adapters/dynamodb/table.ts';

/**
 * Everything that holds data and must outlive a redeploy: the single table and the keys.
 * Later stacks receive `table` and `dataKey` as typed props (../shared/STYLE.md "CDK").
 * No physical names: CloudFormation generates them, so stages and accounts never collide.
 */
export class StatefulStack extends Stack {
  readonly table: Table;
  /** Wraps the per-instance data keys (envelope encryption, see `KmsKeyring`). */
  readonly dataKey: Key;

  constructor(scope: Construct, id: string, props?: StackProps) {
    super(scope, id, props);

    // Two keys rather than one: `grantReadData`/`grantReadWriteData` on a table hand the grantee
    // kms:Decrypt on the table's key. Were that the data key too, every role that can read the
    // table could unwrap every instance's data key directly. Apart, unwrapping stays limited to
    // the roles that really need instance secrets, and CloudTrail tells the two uses apart.
    const tableKey = new Key(this, 'TableKey', {
      description: 'zapfleet: encrypts the DynamoDB table at rest',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.dataKey = new Key(this, 'DataKey', {
      description: 'zapfleet: wraps per-instance data keys (envelope encryption)',
      // Rotation keeps old key material, so data keys wrapped before a rotation still unwrap.
      enableKeyRotation: true,
      // Losing this key makes every stored instance secret unreadable: never delete it with the stack.
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.table = new Table(this, 'Table', {
      partitionKey: { name: tableSchema.partitionKey, type: AttributeType.STRING },
      sortKey: { name: tableSchema.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: tableSchema.ttlAttribute,
      encryption: TableEncryption.CUSTOMER_MANAGED,
      encryptionKey: tableKey,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    this.table.addGlobalSecondaryIndex({
      indexName: tableSchema.gsi1.name,
      partitionKey: { name: tableSchema.gsi1.partitionKey, type: AttributeType.STRING },
      sortKey: { name: tableSchema.gsi1.sortKey, type: AttributeType.STRING },
      projectionType: ProjectionType.ALL,
    });
  }
}
