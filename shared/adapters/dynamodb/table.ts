import {
  CreateTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';

/**
 * The single table: generic keys, every entity's key builders in one place.
 * `infra/` builds the AWS table from the same constants.
 *
 * | entity            | pk                  | sk                              | gsi1pk     | gsi1sk            |
 * |-------------------|---------------------|---------------------------------|------------|-------------------|
 * | account           | ACCOUNT#<id>        | ACCOUNT                         | ACCOUNTS   | <createdAt>#<id>  |
 * | token lookup      | TOKEN#<hmac>        | TOKEN                           |            |                   |
 * | instance          | ACCOUNT#<id>        | INSTANCE#<name>#META            |            |                   |
 * | webhook           | ACCOUNT#<id>        | INSTANCE#<name>#WEBHOOK#<label> |            |                   |
 * | chatwoot request  | ACCOUNT#<id>        | INSTANCE#<name>#CHATWOOT_REQUEST|            |                   |
 * | rate window       | RATE#<bucket key>   | RATE                            |            |                   |
 * | shard lease       | LEASE#<shard>       | LEASE                           |            |                   |
 * | runner heartbeat  | RUNNERS             | RUNNER#<runnerId>               |            |                   |
 * | session (runtime) | SESSION#<instanceId>| SESSION                         | SHARD#<n>  | <instanceId>      |
 * | auth creds        | AUTH#<instanceId>   | CREDS                           |            |                   |
 * | auth key          | AUTH#<instanceId>   | KEY#<type>#<id>                 |            |                   |
 * | message           | MSG#<instanceId>    | <RFC 3339 timestamp>#<messageId>|            |                   |
 * | message status    | MSG#<instanceId>    | ID#<messageId>                  |            |                   |
 * | idempotency key   | IDEMPOTENCY#<instanceId>#<key> | IDEMPOTENCY          |            |                   |
 * | send journal      | SENDJOURNAL#<shard> | <instanceId>#<messageId>        |            |                   |
 * | send outcome      | SENDOUT#<instanceId>#<messageId> | SENDOUT            |            |                   |
 * | pacing state      | PACING#<instanceId> | PACING                          |            |                   |
 *
 * Message items carry a `ttl` (operator retention); the status item also points at its message item.
 * Instance names never contain `#` (spec §0.13), so `INSTANCE#<name>#` prefixes cannot collide.
 * Token items also carry their own rate-limit windows, so authentication and counting are one write.
 */
export const tableSchema = {
  partitionKey: 'pk',
  sortKey: 'sk',
  ttlAttribute: 'ttl',
  gsi1: { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
} as const;

export const keys = {
  account: (id: string) => ({ pk: `ACCOUNT#${id}`, sk: 'ACCOUNT' }),
  accountsIndex: 'ACCOUNTS',
  token: (hash: string) => ({ pk: `TOKEN#${hash}`, sk: 'TOKEN' }),
  instancePrefix: 'INSTANCE#',
  instanceItemsPrefix: (name: string) => `INSTANCE#${name}#`,
  instance: (accountId: string, name: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `INSTANCE#${name}#META` }),
  webhook: (accountId: string, name: string, label: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `INSTANCE#${name}#WEBHOOK#${label}` }),
  chatwootRequest: (accountId: string, name: string) => ({ pk: `ACCOUNT#${accountId}`, sk: `INSTANCE#${name}#CHATWOOT_REQUEST` }),
  rate: (bucketKey: string) => ({ pk: `RATE#${bucketKey}`, sk: 'RATE' }),
  lease: (shard: number) => ({ pk: `LEASE#${shard}`, sk: 'LEASE' }),
  runnersPartition: 'RUNNERS',
  runner: (runnerId: string) => ({ pk: 'RUNNERS', sk: `RUNNER#${runnerId}` }),
  session: (instanceId: string) => ({ pk: `SESSION#${instanceId}`, sk: 'SESSION' }),
  shardIndex: (shard: number) => `SHARD#${shard}`,
  authPartition: (instanceId: string) => `AUTH#${instanceId}`,
  authCreds: (instanceId: string) => ({ pk: `AUTH#${instanceId}`, sk: 'CREDS' }),
  authKey: (instanceId: string, type: string, id: string) => ({ pk: `AUTH#${instanceId}`, sk: `KEY#${type}#${id}` }),
  messagePartition: (instanceId: string) => `MSG#${instanceId}`,
  message: (instanceId: string, timestamp: string, messageId: string) => ({ pk: `MSG#${instanceId}`, sk: `${timestamp}#${messageId}` }),
  messageStatus: (instanceId: string, messageId: string) => ({ pk: `MSG#${instanceId}`, sk: `ID#${messageId}` }),
  /** Idempotency key of a send (spec §0.15): one partition per key; the key follows the `#`-free instance id. */
  idempotency: (instanceId: string, key: string) => ({ pk: `IDEMPOTENCY#${instanceId}#${key}`, sk: 'IDEMPOTENCY' }),
  /** A send a runner took off its shard queue and has not finished (shared/domain/messages/send-journal.ts). */
  sendJournalPartition: (shard: number) => `SENDJOURNAL#${shard}`,
  sendJournal: (shard: number, instanceId: string, messageId: string) => ({ pk: `SENDJOURNAL#${shard}`, sk: `${instanceId}#${messageId}` }),
  /**
   * What became of an API send (shared/domain/messages/send.command.ts `SendOutcome`), polled by the API.
   * Its own partition, not the `MSG#` one: the message partition is read whole by the metrics.
   */
  sendOutcome: (instanceId: string, messageId: string) => ({ pk: `SENDOUT#${instanceId}#${messageId}`, sk: 'SENDOUT' }),
  /** Anti-ban pacing state of an instance that must survive restarts and shard moves (shared/domain/messages/pacing.ts). */
  pacing: (instanceId: string) => ({ pk: `PACING#${instanceId}`, sk: 'PACING' }),
} as const;

/**
 * Creates the table (and its TTL) when missing: the embedded stack and the tests. `timeToLive:
 * false` is for tests that write items dated in the past: DynamoDB Local's TTL sweeper would
 * delete them at random moments.
 */
export const ensureTable = async (client: DynamoDBClient, tableName: string, options: { timeToLive?: boolean } = {}): Promise<void> => {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: 'sk', AttributeType: 'S' },
          { AttributeName: 'gsi1pk', AttributeType: 'S' },
          { AttributeName: 'gsi1sk', AttributeType: 'S' },
        ],
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          {
            IndexName: tableSchema.gsi1.name,
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
    if (options.timeToLive !== false) {
      await client.send(
        new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: tableSchema.ttlAttribute, Enabled: true } }),
      );
    }
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await client.send(new DescribeTableCommand({ TableName: tableName }));
};
