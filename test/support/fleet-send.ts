import { randomBytes, randomUUID } from 'node:crypto';
import { ulid } from 'ulid';
import { createDynamoIdempotencyStore } from '../../shared/adapters/dynamodb/idempotency-store.dynamodb.ts';
import { createDynamoMessageStore } from '../../shared/adapters/dynamodb/message-store.dynamodb.ts';
import { createDynamoQuotedMessageLookup, createDynamoSendOutcomeStore } from '../../shared/adapters/dynamodb/send-tracking.dynamodb.ts';
import type { CommandBus } from '../../shared/domain/fleet/commands.ts';
import type { InstanceRecord } from '../../shared/domain/instance/instance.ts';
import { parseSendRequest } from '../../shared/domain/messages/send.schemas.ts';
import type { SendKind } from '../../shared/domain/messages/send.schemas.ts';
import { sendMessage, type SendMessageDeps } from '../../shared/domain/use-cases/send-message.use-cases.ts';
import { waitFor, type Fleet } from './fleet.ts';

/**
 * `POST /api/message/<kind>/:instance` as the API runs it (the send use case against the fleet's
 * table and queues), without the HTTP layer. `bus` replaces the fleet's queues (to record or
 * duplicate commands); a short `sentWaitMs` answers `queued` without waiting for pacing.
 */
export const sendThroughApi = async (
  fleet: Fleet,
  instance: InstanceRecord,
  body: Record<string, unknown>,
  options: { kind?: SendKind; bus?: CommandBus; sentWaitMs?: number } = {},
) => {
  const kind = options.kind ?? 'text';
  const deps: SendMessageDeps = {
    bus: options.bus ?? fleet.bus,
    clock: { now: () => new Date() },
    ids: { uuid: randomUUID, ulid: () => ulid() },
    messages: createDynamoMessageStore(fleet.dynamo),
    outcomes: createDynamoSendOutcomeStore(fleet.dynamo),
    findQuoted: createDynamoQuotedMessageLookup(fleet.dynamo),
    idempotency: createDynamoIdempotencyStore(fleet.dynamo),
    randomHex: () => randomBytes(8).toString('hex'),
    ...(options.sentWaitMs === undefined ? {} : { sentWaitMs: options.sentWaitMs }),
  };
  const aggregate = await fleet.instances.get(fleet.accountId, instance.name);
  if (!aggregate) throw new Error('instance is gone');
  const { response } = await sendMessage(deps, aggregate, parseSendRequest(kind, body), { route: `POST /api/message/${kind}`, body });
  return response.body as { status: string; data: { messageId: string } };
};

/** Creates instance `name`, connects it (the sandbox phone scans) and waits until it is connected: the instance and its number (digits). */
export const connectedInstance = async (fleet: Fleet, name: string): Promise<{ instance: InstanceRecord; number: string }> => {
  const instance = await fleet.createInstance(name);
  await fleet.connect(instance);
  const connected = await waitFor(async () => {
    const current = await fleet.instance(instance);
    return current.status === 'connected' && current.numberJid ? current : null;
  }, `${name} to connect`);
  return { instance, number: (connected.numberJid as string).split('@')[0] as string };
};
