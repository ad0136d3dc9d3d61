import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { z } from 'zod';
import { SQSClient } from '@aws-sdk/client-sqs';
import { S3Client } from '@aws-sdk/client-s3';
import { documentClient, type DynamoContext } from '../shared/adapters/dynamodb/document-client.ts';
import { KmsKeyring } from '../shared/adapters/keys/keyring.kms.ts';
import { createSqsCommandBus } from '../shared/adapters/sqs/command-bus.sqs.ts';
import { createLogger } from '../shared/observability/logger.ts';
import { createAppDeps, type AppDeps } from './deps.ts';
import { createAwsStreamControl } from './events/websocket-aws.handlers.ts';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);

/**
 * The Lambda functions' configuration, set by `infra/` as environment variables. Parsed once
 * per cold start; a missing value fails the cold start, never a request.
 */
const AwsConfig = z.object({
  ZAPFLEET_TABLE_NAME: z.string().min(3),
  ZAPFLEET_KMS_KEY_ID: z.string().min(1),
  /** The token pepper, encrypted under the KMS key (context `{purpose: 'token-pepper'}`). */
  ZAPFLEET_TOKEN_PEPPER_CIPHERTEXT: z.string().min(1),
  ZAPFLEET_CORS_ORIGINS: z.string().default(''),
  ZAPFLEET_DEFAULT_INSTANCE_QUOTA: z.coerce.number().int().min(0).default(10),
  ZAPFLEET_RATE_LIMIT_GLOBAL: positiveInt(100),
  ZAPFLEET_RATE_LIMIT_CREATE: positiveInt(20),
  ZAPFLEET_RATE_LIMIT_IP: positiveInt(100),
  ZAPFLEET_RATE_LIMIT_ADMIN: positiveInt(100),
  ZAPFLEET_ALLOW_PRIVATE_TARGETS: z.enum(['true', 'false']).default('false'),
  ZAPFLEET_LOG_LEVEL: z.enum(['info', 'warn', 'error', 'silent']).default('info'),
  /** `<BASE_URL>`: the public origin, as event envelopes carry it. */
  ZAPFLEET_BASE_URL: z.url(),
  /** The platform media bucket; also holds commands too large for a queue message (sends with big base64 media). */
  ZAPFLEET_MEDIA_BUCKET: z.string().min(3).optional(),
  /** The shard command queues, comma-separated, in shard order. */
  ZAPFLEET_COMMAND_QUEUE_URLS: z.string().min(1),
  /**
   * The WebSocket API's management endpoint (`https://<api-id>.execute-api.<region>.amazonaws.com/<stage>`):
   * instance deletion and TokenAccount rotation close the streams they concern through it. Absent:
   * no WebSocket API is deployed, nothing to close.
   */
  ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT: z.url().optional(),
});

export interface AwsContext {
  deps: AppDeps;
  dynamo: DynamoContext;
  s3: S3Client;
  /** `<BASE_URL>` for event envelopes. */
  baseUrl: string;
}

let cached: Promise<AwsContext> | undefined;

/**
 * The composition root of every Lambda: AWS clients created once per execution environment and
 * handed to the adapters. On AWS the admin routes are authorised by IAM (spec §2.10), so no
 * admin key exists here.
 */
export const awsDeps = async (env: NodeJS.ProcessEnv = process.env): Promise<AppDeps> => (await awsContext(env)).deps;

/** Everything a Lambda of this app needs, built once per execution environment. */
export const awsContext = (env: NodeJS.ProcessEnv = process.env): Promise<AwsContext> => {
  cached ??= (async () => {
    const config = AwsConfig.parse(env);
    const kms = new KMSClient({});
    const pepper = await kms.send(
      new DecryptCommand({
        CiphertextBlob: Buffer.from(config.ZAPFLEET_TOKEN_PEPPER_CIPHERTEXT, 'base64'),
        KeyId: config.ZAPFLEET_KMS_KEY_ID,
        EncryptionContext: { purpose: 'token-pepper' },
      }),
    );
    if (!pepper.Plaintext) throw new Error('ZAPFLEET_TOKEN_PEPPER_CIPHERTEXT did not decrypt');
    const queueUrls = config.ZAPFLEET_COMMAND_QUEUE_URLS.split(',').map((url) => url.trim());
    const dynamoClient = new DynamoDBClient({});
    const logger = createLogger({ level: config.ZAPFLEET_LOG_LEVEL });
    const clock = { now: () => new Date() };
    const streams = config.ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT
      ? createAwsStreamControl({
          doc: documentClient(dynamoClient),
          tableName: config.ZAPFLEET_TABLE_NAME,
          management: new ApiGatewayManagementApiClient({ endpoint: config.ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT }),
          clock,
          logger,
        })
      : undefined;
    const deps = createAppDeps({
      dynamo: dynamoClient,
      tableName: config.ZAPFLEET_TABLE_NAME,
      keyring: new KmsKeyring(kms, config.ZAPFLEET_KMS_KEY_ID),
      pepper: Buffer.from(pepper.Plaintext),
      logger,
      clock,
      streams,
      cors: { allowedOrigins: config.ZAPFLEET_CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean) },
      adminKey: null,
      defaults: { instanceQuota: config.ZAPFLEET_DEFAULT_INSTANCE_QUOTA, rateLimits: { global: config.ZAPFLEET_RATE_LIMIT_GLOBAL, create: config.ZAPFLEET_RATE_LIMIT_CREATE } },
      limits: { ip: config.ZAPFLEET_RATE_LIMIT_IP, admin: config.ZAPFLEET_RATE_LIMIT_ADMIN },
      outbound: { allowPrivate: config.ZAPFLEET_ALLOW_PRIVATE_TARGETS === 'true', allowLoopback: false },
      health: {},
      bus: createSqsCommandBus({
        sqs: new SQSClient({}),
        queueUrlOf: (shard) => queueUrls[shard] as string,
        shards: queueUrls.length,
        ...(config.ZAPFLEET_MEDIA_BUCKET ? { overflow: { s3: new S3Client({}), bucket: config.ZAPFLEET_MEDIA_BUCKET } } : {}),
      }),
      connectWaitMs: 25_000,
    });
    return { deps, dynamo: { doc: documentClient(dynamoClient), tableName: config.ZAPFLEET_TABLE_NAME }, s3: new S3Client({}), baseUrl: config.ZAPFLEET_BASE_URL };
  })();
  return cached;
};
