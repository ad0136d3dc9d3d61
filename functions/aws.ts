import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';
import { z } from 'zod';
import { documentClient, type DynamoContext } from '../shared/adapters/dynamodb/document-client.ts';
import { KmsKeyring } from '../shared/adapters/keys/keyring.kms.ts';
import type { CommandBus } from '../shared/domain/fleet/commands.ts';
import type { Clock, Logger } from '../shared/domain/ports/runtime.port.ts';
import type { StreamControl } from '../shared/domain/ports/stream-control.port.ts';
import { createLogger } from '../shared/observability/logger.ts';
import { createAppDeps, type AppDeps } from './deps.ts';

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
  /** How long sent and received messages stay in the message store (days). */
  ZAPFLEET_MESSAGE_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),
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
  /** `<BASE_URL>` for event envelopes. */
  baseUrl: string;
  /** `ZAPFLEET_MEDIA_BUCKET`, when configured. */
  mediaBucket: string | undefined;
}

/** What a function's shard-command sender is built from (see `AwsContextOptions.commands`). */
export interface CommandSenderInput {
  /** The shard queues' URLs, in shard order. */
  queueUrls: string[];
  mediaBucket: string | undefined;
}

/** What a function's WebSocket stream control is built from (see `AwsContextOptions.streams`). */
export interface StreamControlInput {
  doc: DynamoContext['doc'];
  tableName: string;
  /** `ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT`. */
  endpoint: string;
  clock: Clock;
  logger: Logger;
}

/**
 * The AWS clients beyond DynamoDB and KMS (which every app function needs) are the entry's choice
 * (functions/entries/*.ts): each SDK client costs tens of milliseconds of cold start to import, so a
 * function imports only those it uses, and those it rarely uses only when it first does.
 */
export interface AwsContextOptions {
  /** Routes that send shard commands (instance, message). Absent: sending a command is a bug, and fails. */
  commands?: (input: CommandSenderInput) => CommandBus;
  /** Routes that close WebSocket streams (instance deletion, token rotation), when a WebSocket API is deployed. */
  streams?: (input: StreamControlInput) => StreamControl;
}

/** The command bus of a function that never sends commands. */
const noCommands: CommandBus = {
  send: () => Promise.reject(new Error('this function is not configured to send shard commands')),
};

type SendingClient = { send: (command: never) => Promise<unknown> };

/**
 * A client whose SDK package is imported, and the client created, on its first `send` (a failed
 * load is retried on the next one). For clients a function rarely needs (S3 for oversized commands,
 * the WebSocket management API) and that its adapters only call `send` on: presigning, for one,
 * needs a real client.
 */
export const lazyClient = <C extends SendingClient>(load: () => Promise<C>): C => {
  let client: Promise<C> | undefined;
  const lazy: SendingClient = {
    send: async (command) => {
      client ??= load().catch((error: unknown) => {
        client = undefined;
        throw error;
      });
      return (await client).send(command);
    },
  };
  return lazy as C;
};

/** Stream control built on first use (see `lazyClient`). */
export const lazyStreamControl = (load: () => Promise<StreamControl>): StreamControl => {
  let loaded: Promise<StreamControl> | undefined;
  const get = () =>
    (loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    }));
  return {
    instanceDeleted: async (ref) => (await get()).instanceDeleted(ref),
    accountTokenRotated: async (ref) => (await get()).accountTokenRotated(ref),
  };
};

let cached: Promise<AwsContext> | undefined;

/**
 * The composition root of every Lambda: AWS clients created once per execution environment and
 * handed to the adapters. On AWS the admin routes are authorised by IAM (spec §2.10), so no
 * admin key exists here.
 */
export const awsDeps = async (env: NodeJS.ProcessEnv = process.env, options: AwsContextOptions = {}): Promise<AppDeps> => (await awsContext(env, options)).deps;

/** Everything a Lambda of this app needs, built once per execution environment. */
export const awsContext = (env: NodeJS.ProcessEnv = process.env, options: AwsContextOptions = {}): Promise<AwsContext> => {
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
    const doc = documentClient(dynamoClient);
    const logger = createLogger({ level: config.ZAPFLEET_LOG_LEVEL });
    const clock = { now: () => new Date() };
    const endpoint = config.ZAPFLEET_WEBSOCKET_MANAGEMENT_ENDPOINT;
    const streams = endpoint && options.streams ? options.streams({ doc, tableName: config.ZAPFLEET_TABLE_NAME, endpoint, clock, logger }) : undefined;
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
      messageRetentionSeconds: config.ZAPFLEET_MESSAGE_RETENTION_DAYS * 86_400,
      health: {},
      bus: options.commands ? options.commands({ queueUrls, mediaBucket: config.ZAPFLEET_MEDIA_BUCKET }) : noCommands,
      connectWaitMs: 25_000,
    });
    return { deps, dynamo: { doc, tableName: config.ZAPFLEET_TABLE_NAME }, baseUrl: config.ZAPFLEET_BASE_URL, mediaBucket: config.ZAPFLEET_MEDIA_BUCKET };
  })();
  return cached;
};
