import type { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createEventDispatcher } from '../../../functions/events/dispatcher.ts';
import type { WebhookRequest } from '../../../shared/domain/events/delivery.ts';
import type { EventRecord } from '../../../shared/domain/events/event.ts';
import type { InstanceAggregate, WebhookRecord } from '../../../shared/domain/instance/instance.ts';

// The dispatcher's fan-out (spec §3.4) without AWS: which webhook configuration an event is sent
// with, how many instance reads a burst costs, and what is written per delivered event.

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const webhook = (enabled: boolean): WebhookRecord => ({
  label: 'default',
  enabled,
  url: enabled ? 'https://hooks.example.com/wa' : null,
  authorizationSealed: null,
  byEvents: false,
  events: [],
  mediaBase64: false,
  includeInstanceToken: false,
  secretSealed: null,
});

const aggregateWith = (enabled: boolean): InstanceAggregate =>
  ({ instance: { id: 'i-1', accountId: 'a-1', name: 'sales', wrappedKey: 'k', tokenSealed: 't' }, webhooks: [webhook(enabled)], chatwootRequest: null }) as unknown as InstanceAggregate;

let sequence = 0;
const event = (timestamp = new Date()): EventRecord => ({
  id: `01JSX3A8B2C4D6E8F0G2H4J${String((sequence += 1)).padStart(3, '0')}`,
  event: 'message.status',
  instanceId: 'i-1',
  accountId: 'a-1',
  instanceName: 'sales',
  timestamp: timestamp.toISOString(),
  data: { messageId: 'M1', status: 'read' },
});

const setup = () => {
  const state = { enabled: true, reads: 0 };
  const sent: WebhookRequest[] = [];
  const writes: Record<string, unknown>[][] = [];
  const dispatcher = createEventDispatcher({
    deps: {
      instances: {
        get: async () => {
          state.reads += 1;
          const answer = aggregateWith(state.enabled);
          await sleep(5);
          return answer;
        },
      } as never,
      vault: { instanceCipher: async () => ({ open: () => 'secret', seal: () => 'sealed' }) } as never,
      outbound: { check: async () => ({ allowed: true }) },
      clock: { now: () => new Date() },
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    },
    dynamo: {
      doc: {
        send: async (command: TransactWriteCommand) => {
          writes.push((command.input.TransactItems ?? []) as Record<string, unknown>[]);
          return {};
        },
      } as never,
      tableName: 't',
    },
    s3: {} as never,
    baseUrl: 'http://localhost',
    sender: {
      send: async (request) => {
        sent.push(request);
        return { delivered: true, statusCode: 200, error: null, latencyMs: 1 };
      },
    },
  });
  const handle = (...records: EventRecord[]) =>
    dispatcher.handleQueueMessages(records.map((record) => ({ id: record.id, body: JSON.stringify({ record }) })));
  return { dispatcher, state, sent, writes, handle };
};

describe('event dispatcher', () => {
  it('does not send an event that happened after its webhook was disabled, however recent the last read', async () => {
    // Prepare: one event delivered with the webhook enabled.
    const { state, sent, handle } = setup();
    const before = event();
    await handle(before);
    // Act: disabled; an event stamped after that.
    state.enabled = false;
    await sleep(2);
    const after = event();
    await handle(after);
    // Assess
    expect(sent.map((request) => request.eventId)).toEqual([before.id]);
  });

  it('sends an event that happened after its webhook was enabled', async () => {
    // Prepare
    const { state, sent, handle } = setup();
    state.enabled = false;
    await handle(event());
    // Act
    state.enabled = true;
    await sleep(2);
    const after = event();
    await handle(after);
    // Assess
    expect(sent.map((request) => request.eventId)).toEqual([after.id]);
  });

  it('a burst shares instance reads: one for events older than it, one more for those newer than the read in flight', async () => {
    // Prepare
    const { state, sent, handle } = setup();
    const older = Array.from({ length: 30 }, () => event(new Date(Date.now() - 1000)));
    // Act: the older ones arrive together; newer ones arrive while that read is in flight.
    const first = handle(...older);
    await sleep(1);
    const newer = Array.from({ length: 20 }, () => event());
    await Promise.all([first, handle(...newer)]);
    // Assess
    expect(state.reads).toBe(2);
    expect(sent).toHaveLength(50);
  });

  it('writes a delivered event once, with its outcome, before the queue message is released', async () => {
    // Prepare
    const { writes, handle } = setup();
    const record = event();
    // Act
    const { failedIds } = await handle(record);
    // Assess: one Put of the delivered entry, no claim and no separate completion.
    expect(failedIds).toEqual([]);
    const actions = writes.flat();
    expect(actions).toHaveLength(1);
    expect(actions[0]).toMatchObject({ Put: { Item: { eventId: record.id, status: 'delivered', attempts: 1, lastStatusCode: 200, claimedUntil: '' } } });
    expect((actions[0] as { Put: { Item: Record<string, unknown> } }).Put.Item.gsi1pk).toBeUndefined();
  });

  it("frees a webhook's slot once the receiver answered, and releases the queue message only once the entry is written", async () => {
    // Prepare: one slot per webhook, and a table that holds every write until released.
    const sent: string[] = [];
    const held: (() => void)[] = [];
    const dispatcher = createEventDispatcher({
      deps: {
        instances: { get: async () => aggregateWith(true) } as never,
        vault: { instanceCipher: async () => ({ open: () => 'secret', seal: () => 'sealed' }) } as never,
        outbound: { check: async () => ({ allowed: true }) },
        clock: { now: () => new Date() },
        logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      },
      dynamo: { doc: { send: () => new Promise((resolve) => held.push(() => resolve({}))) } as never, tableName: 't' },
      s3: {} as never,
      baseUrl: 'http://localhost',
      perWebhookConcurrency: 1,
      sender: {
        send: async (request) => {
          sent.push(request.eventId);
          return { delivered: true, statusCode: 200, error: null, latencyMs: 1 };
        },
      },
    });
    const first = event();
    const second = event();
    let released = false;

    // Act
    const handled = dispatcher.handleQueueMessages([first, second].map((record) => ({ id: record.id, body: JSON.stringify({ record }) }))).then(() => (released = true));
    for (let i = 0; i < 20 && sent.length < 2; i += 1) await sleep(5);
    const releasedBeforeWrites = released;
    const sentBeforeWrites = [...sent];
    for (const release of held.splice(0)) release();
    await sleep(5);
    for (const release of held.splice(0)) release();
    await handled;

    // Assess
    expect(sentBeforeWrites).toEqual([first.id, second.id]);
    expect(releasedBeforeWrites).toBe(false);
  });
});
