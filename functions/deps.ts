import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { randomBytes, randomUUID } from 'node:crypto';
import { ulid } from 'ulid';
import { createAccountRepository } from '../shared/adapters/dynamodb/account-repository.dynamodb.ts';
import { documentClient } from '../shared/adapters/dynamodb/document-client.ts';
import { createInstanceRepository } from '../shared/adapters/dynamodb/instance-repository.dynamodb.ts';
import { createDynamoIdempotencyStore } from '../shared/adapters/dynamodb/idempotency-store.dynamodb.ts';
import { createDynamoMessageStore } from '../shared/adapters/dynamodb/message-store.dynamodb.ts';
import { createDynamoQuotedMessageLookup, createDynamoSendOutcomeStore } from '../shared/adapters/dynamodb/send-tracking.dynamodb.ts';
import type { IdempotencyStore } from '../shared/domain/messages/idempotency.ts';
import type { QuotedMessage, SendOutcomeStore } from '../shared/domain/messages/send.command.ts';
import { createInProcessSendOutcomes, type SendOutcomeWaiter } from '../shared/domain/messages/send-outcomes.ts';
import type { MessageStore } from '../shared/domain/ports/message-store.port.ts';
import { createTokenDirectory } from '../shared/adapters/dynamodb/token-directory.dynamodb.ts';
import { createInProcessTokenDirectory } from '../shared/adapters/dynamodb/token-directory.in-process.ts';
import { createSecretVault } from '../shared/adapters/keys/secret-vault.ts';
import { createTokenHasher } from '../shared/adapters/keys/token-hasher.ts';
import { createOutboundTargetPolicy } from '../shared/adapters/net/outbound-target-policy.ts';
import type { RateLimits } from '../shared/domain/account/account.ts';
import type { CommandBus } from '../shared/domain/fleet/commands.ts';
import QRCode from 'qrcode';
import type { Keyring, SecretVault, TokenHasher } from '../shared/domain/ports/keyring.port.ts';
import type { OutboundTargetPolicy } from '../shared/domain/ports/outbound-target.port.ts';
import type { AccountRepository, InstanceRepository, TokenDirectory } from '../shared/domain/ports/repositories.port.ts';
import type { Clock, IdGenerator, Logger } from '../shared/domain/ports/runtime.port.ts';
import { createInstanceReadCache, type InstanceReadCache } from '../shared/adapters/dynamodb/instance-read-cache.ts';
import { noStreams, type StreamControl } from '../shared/domain/ports/stream-control.port.ts';
import type { CorsConfig } from '../shared/http/responses.ts';

/** Everything the handlers and the authorizer need; built once per process by a composition root. */
export interface AppDeps {
  accounts: AccountRepository;
  instances: InstanceRepository;
  directory: TokenDirectory;
  vault: SecretVault;
  tokens: TokenHasher;
  outbound: OutboundTargetPolicy;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  cors: CorsConfig;
  adminKey: string | null;
  defaults: { instanceQuota: number; rateLimits: RateLimits };
  limits: { ip: number; admin: number };
  /** Readiness probes for `GET /health`, by component (spec Z10). */
  health: Record<string, () => Promise<void>>;
  bus: CommandBus;
  /** How long `connect` waits for a code: 25 s on AWS, 60 s embedded (spec D48). */
  connectWaitMs: number;
  qrToDataUrl: (qr: string) => Promise<string>;
  /** Closes WebSocket streams on instance deletion and TokenAccount rotation (spec §3.7). */
  streams: StreamControl;
  /** Send routes (spec §2.3): the message store, the runner's send outcomes, quoted-message look-ups, idempotency keys. */
  messageStore: MessageStore;
  outcomes: SendOutcomeStore;
  /** Set where the runner records outcomes in this process (embedded stack): signalled instead of polled. */
  outcomeWaiter?: SendOutcomeWaiter;
  findQuoted(instanceId: string, messageId: string): Promise<QuotedMessage | null>;
  idempotency: IdempotencyStore;
  randomHex(): string;
  /** Cached single-instance reads for `GET /api/instance/list` (embedded stack only, see instance-read-cache.ts). */
  instanceReads?: InstanceReadCache;
}

export interface AppDepsInput {
  dynamo: DynamoDBClient;
  tableName: string;
  keyring: Keyring;
  pepper: Buffer;
  logger: Logger;
  cors: CorsConfig;
  adminKey: string | null;
  defaults: AppDeps['defaults'];
  limits: AppDeps['limits'];
  outbound: { allowPrivate: boolean; allowLoopback: boolean };
  health: AppDeps['health'];
  bus: CommandBus;
  connectWaitMs: number;
  clock?: Clock;
  /** Where the process's WebSocket streams are closed; none by default. */
  streams?: StreamControl;
  /** Only for a process that makes every write to the table itself (the embedded stack). */
  cacheInstanceReads?: boolean;
  /**
   * Only for a process that serves every request and makes every write itself (the embedded
   * stack): token principals read through a cache, rate-limit windows counted in memory
   * (token-directory.in-process.ts) instead of one DynamoDB write per request.
   */
  countRatesInProcess?: boolean;
  /** Only where the runner runs in this process and records outcomes through `AppDeps.outcomes` (the embedded stack). */
  notifyOutcomes?: boolean;
  /** How long stored messages are kept (default `messageRetentionSeconds`, 30 days). */
  messageRetentionSeconds?: number;
}

export const createAppDeps = (input: AppDepsInput): AppDeps => {
  const context = { doc: documentClient(input.dynamo), tableName: input.tableName };
  const instances = createInstanceRepository(context);
  const outcomeStore = createDynamoSendOutcomeStore(context, { clock: input.clock });
  const notified = input.notifyOutcomes ? createInProcessSendOutcomes(outcomeStore, { clock: input.clock }) : null;
  return {
    accounts: createAccountRepository(context),
    instances,
    ...(input.cacheInstanceReads ? { instanceReads: createInstanceReadCache(input.dynamo, instances) } : {}),
    directory: input.countRatesInProcess ? createInProcessTokenDirectory(context, input.dynamo) : createTokenDirectory(context),
    vault: createSecretVault(input.keyring),
    tokens: createTokenHasher(input.pepper),
    outbound: createOutboundTargetPolicy(input.outbound),
    clock: input.clock ?? { now: () => new Date() },
    ids: { uuid: randomUUID, ulid: () => ulid() },
    logger: input.logger,
    cors: input.cors,
    adminKey: input.adminKey,
    defaults: input.defaults,
    limits: input.limits,
    health: input.health,
    bus: input.bus,
    connectWaitMs: input.connectWaitMs,
    qrToDataUrl: (qr) => QRCode.toDataURL(qr, { errorCorrectionLevel: 'L', margin: 2 }),
    streams: input.streams ?? noStreams,
    messageStore: createDynamoMessageStore(context, { clock: input.clock, retentionSeconds: input.messageRetentionSeconds }),
    outcomes: notified?.store ?? outcomeStore,
    ...(notified ? { outcomeWaiter: notified.waiter } : {}),
    findQuoted: createDynamoQuotedMessageLookup(context, { clock: input.clock }),
    idempotency: createDynamoIdempotencyStore(context, { clock: input.clock }),
    randomHex: () => randomBytes(8).toString('hex'),
  };
};
