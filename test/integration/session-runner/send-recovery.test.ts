import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ulid } from 'ulid';
import { createDynamoIdempotencyStore } from '../../../shared/adapters/dynamodb/idempotency-store.dynamodb.ts';
import { createDynamoMessageStore } from '../../../shared/adapters/dynamodb/message-store.dynamodb.ts';
import { createDynamoSendJournal } from '../../../shared/adapters/dynamodb/send-journal.dynamodb.ts';
import { createDynamoQuotedMessageLookup, createDynamoSendOutcomeStore } from '../../../shared/adapters/dynamodb/send-tracking.dynamodb.ts';
import type { CommandBus } from '../../../shared/domain/fleet/commands.ts';
import { shardOf } from '../../../shared/domain/fleet/fleet.ts';
import type { InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import { parseSendRequest } from '../../../shared/domain/messages/send.schemas.ts';
import { sendMessage, type SendMessageDeps } from '../../../shared/domain/use-cases/send-message.use-cases.ts';
import type { Runner } from '../../../session-runner/runner.ts';
import { FLEET_SHARDS, startFleet, waitFor, type Fleet } from '../../support/fleet.ts';

/**
 * A runner that dies mid-send (issue 5): the send command already left the queue, so only the
 * send journal knows it. The runner that takes the shard over reports it failed (at most once:
 * it is never sent), and a command delivered twice sends one message.
 */

const LEASE_TTL_MS = 6_000;

describe('sends of a runner that stops mid-send', () => {
  let fleet: Fleet;
  let a: Runner;
  let b: Runner | null = null;
  let instance: InstanceRecord;
  let selfNumber = '';

  const messages = () => createDynamoMessageStore(fleet.dynamo);
  const outcomes = () => createDynamoSendOutcomeStore(fleet.dynamo);
  /** The API's send use case against the fleet's table and queues. */
  const send = async (body: Record<string, unknown>, bus: CommandBus = fleet.bus) => {
    const deps: SendMessageDeps = {
      bus,
      clock: { now: () => new Date() },
      ids: { uuid: randomUUID, ulid: () => ulid() },
      messages: messages(),
      outcomes: outcomes(),
      findQuoted: createDynamoQuotedMessageLookup(fleet.dynamo),
      idempotency: createDynamoIdempotencyStore(fleet.dynamo),
      randomHex: () => randomBytes(8).toString('hex'),
    };
    const aggregate = await fleet.instances.get(fleet.accountId, instance.name);
    if (!aggregate) throw new Error('instance is gone');
    const { response } = await sendMessage(deps, aggregate, parseSendRequest('text', body), { route: 'POST /api/message/text', body });
    return response.body as { status: string; data: { messageId: string } };
  };
  const receivedBy = (digits: string) => fleet.sandbox.outbound(selfNumber).filter((message) => message.to === `${digits}@s.whatsapp.net`);
  /** The stored message's status (the store the chat status route reads). */
  const statusOf = async (messageId: string) => (await messages().summaries(instance.id)).find((message) => message.messageId === messageId)?.status;

  beforeAll(async () => {
    fleet = await startFleet({ scanDelayMs: 100 });
    a = await fleet.startRunner('runner-a', { leaseTtlMs: LEASE_TTL_MS });
    await waitFor(() => a.held().length === FLEET_SHARDS, 'runner A to hold every shard', 15_000);
    instance = await fleet.createInstance('mid-send');
    await fleet.connect(instance);
    const connected = await waitFor(async () => {
      const current = await fleet.instance(instance);
      return current.status === 'connected' && current.numberJid ? current : null;
    }, 'the instance to connect');
    selfNumber = (connected.numberJid as string).split('@')[0] as string;
  }, 60_000);
  afterAll(async () => {
    await fleet?.stop();
  });

  it('sends one message when the same send command is delivered twice', async () => {
    // Prepare: a bus that delivers every command twice, as SQS does when a runner died before deleting it.
    const twice: CommandBus = {
      send: async (command) => {
        await fleet.bus.send(command);
        await fleet.bus.send({ ...command, commandId: `${command.commandId}-again` });
      },
    };

    // Act
    const answer = await send({ number: '5511955550001', message: 'exactly once' }, twice);
    // Queued behind the duplicate in the instance's FIFO group: once it arrived, the duplicate was handled.
    const marker = await send({ number: '5511955550001', message: 'marker' });

    // Assess
    expect(answer.status).toBe('sent');
    expect(marker.status).toBe('sent');
    expect(receivedBy('5511955550001').map((message) => message.text)).toEqual(['exactly once', 'marker']);
  });

  it('reports a send failed, and never sends it, when its runner dies during the typing delay', async () => {
    // Prepare: the send is accepted (`queued`, the runner shows "typing…" for 10 s) when runner A dies.
    const answer = await send({ number: '5511955550002', message: 'lost with its runner', delay: 10 });
    expect(answer.status).toBe('queued');
    const messageId = answer.data.messageId;
    const journal = createDynamoSendJournal(fleet.dynamo);
    expect((await journal.list(shardOf(instance.id, FLEET_SHARDS))).map((entry) => ({ messageId: entry.messageId, runnerId: entry.runnerId }))).toEqual([{ messageId, runnerId: 'runner-a' }]);

    // Act
    await a.crash();
    b = await fleet.startRunner('runner-b', { leaseTtlMs: LEASE_TTL_MS });

    // Assess: once B holds the shard, the send is failed with the reason, and the message is `error`.
    const outcome = await waitFor(async () => {
      const current = await outcomes().get(instance.id, messageId);
      return current?.state === 'failed' ? current : null;
    }, 'the abandoned send to be resolved', LEASE_TTL_MS + 15_000);
    expect(outcome).toMatchObject({ state: 'failed', code: 'failed', reason: 'not sent: the worker stopped before sending it; send it again', chatJid: '5511955550002@s.whatsapp.net' });
    expect(await statusOf(messageId)).toBe('error');
    expect(await journal.list(shardOf(instance.id, FLEET_SHARDS))).toEqual([]);
    // B sends the next message once the session is back; the lost one never arrived.
    await waitFor(async () => b?.supervisor.open().includes(instance.id) && (await fleet.instance(instance)).status === 'connected', 'runner B to reopen the session', 15_000);
    const next = await send({ number: '5511955550002', message: 'after the move' });
    expect(next.status).toBe('sent');
    expect(receivedBy('5511955550002').map((message) => message.text)).toEqual(['after the move']);
  }, 60_000);
});
