import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { ulid } from 'ulid';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localCredentials } from '../../../local/emulators/dynamodb-local.ts';
import { createDeliveryRepository } from '../../../shared/adapters/dynamodb/delivery-repository.dynamodb.ts';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import type { Delivery, DeliveryRepository } from '../../../shared/domain/events/delivery.ts';

// The delivery log and its due index against DynamoDB Local (spec §3.4, Z2).

const T0 = new Date('2026-04-28T10:30:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);

/** The event ids of `read()` once `until` holds for them, or after 3 s (then the caller's expectation fails). */
const settled = async (read: () => Promise<Delivery[]>, until: (ids: string[]) => boolean): Promise<string[]> => {
  const deadline = Date.now() + 3_000;
  for (;;) {
    const ids = (await read()).map((entry) => entry.eventId);
    if (until(ids) || Date.now() > deadline) return ids;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
};

const delivery = (overrides: Partial<Delivery> = {}): Delivery => {
  const eventId = overrides.eventId ?? ulid();
  return {
    instanceId: randomUUID(),
    accountId: randomUUID(),
    instanceName: 'sales',
    eventId,
    event: 'message.exchange',
    eventTimestamp: T0.toISOString(),
    label: 'default',
    url: 'https://hooks.example.com/wa',
    status: 'pending',
    attempts: 0,
    lastAttemptAt: null,
    lastStatusCode: null,
    lastError: null,
    lastLatencyMs: null,
    nextAttemptAt: T0.toISOString(),
    deliveredAt: null,
    createdAt: T0.toISOString(),
    claimedUntil: null,
    record: { id: eventId, event: 'message.exchange', instanceId: 'i', accountId: 'a', instanceName: 'sales', timestamp: T0.toISOString(), data: { text: 'hi' } },
    recordPointer: null,
    ...overrides,
  };
};

describe('delivery repository (DynamoDB Local)', () => {
  let client: DynamoDBClient;
  let repo: DeliveryRepository;

  beforeAll(async () => {
    client = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: localCredentials });
    const tableName = `deliveries_${process.pid}_${Date.now()}`;
    // Items here are dated 2026-04-28, their TTL long past: no TTL sweeper, or it deletes them mid-test.
    await ensureTable(client, tableName, { timeToLive: false });
    repo = createDeliveryRepository({ doc: documentClient(client), tableName });
  });

  afterAll(() => client?.destroy());

  it('writes one entry per (event, webhook): a redelivered event creates nothing twice', async () => {
    // Prepare
    const entry = delivery();
    // Act
    const first = await repo.create(entry);
    const again = await repo.create({ ...entry, attempts: 5 });
    const otherLabel = await repo.create({ ...entry, label: 'crm' });
    // Assess
    expect([first, again, otherLabel]).toEqual([true, false, true]);
    expect((await repo.get(entry.instanceId, entry.eventId, 'default'))?.attempts).toBe(0);
    expect((await repo.ofEvents(entry.instanceId, [entry.eventId])).map((d) => d.label).sort()).toEqual(['crm', 'default']);
  });

  it('lets exactly one of two concurrent claims take an attempt', async () => {
    // Prepare
    const entry = delivery();
    await repo.create(entry);
    // Act
    const claims = await Promise.all([repo.claim(entry, at(1000)), repo.claim(entry, at(1000)), repo.claim(entry, at(1000))]);
    // Assess
    const winners = claims.filter((claim) => claim !== null);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.attempts).toBe(1);
  });

  it('lists due entries only: not before their time, not while claimed, not once finished', async () => {
    // Prepare
    const now = at(10_000);
    const due = delivery({ nextAttemptAt: at(5_000).toISOString() });
    const later = delivery({ nextAttemptAt: at(60_000).toISOString() });
    const done = delivery();
    await Promise.all([repo.create(due), repo.create(later), repo.create(done)]);
    const claimedDone = (await repo.claim(done, now))!;
    await repo.complete(claimedDone, { status: 'delivered', at: now.toISOString(), url: done.url, outcome: { delivered: true, statusCode: 200, error: null, latencyMs: 5 } });
    // Act + Assess. `due` reads the GSI, which DynamoDB keeps eventually consistent: each read is
    // repeated (briefly) until it shows the write before it.
    const listed = await settled(() => repo.due(now), (ids) => ids.includes(due.eventId) && !ids.includes(done.eventId));
    expect(listed).toContain(due.eventId);
    expect(listed).not.toContain(later.eventId);
    expect(listed).not.toContain(done.eventId);
    const claimed = (await repo.claim(due, now))!;
    expect(claimed.attempts).toBe(1);
    const whileClaimed = await settled(() => repo.due(now), (ids) => !ids.includes(due.eventId));
    expect(whileClaimed).not.toContain(due.eventId);
    const afterClaimExpired = await settled(() => repo.due(at(10_000 + 31_000)), (ids) => ids.includes(due.eventId));
    expect(afterClaimExpired).toContain(due.eventId);
  });

  it('schedules the next attempt of a failed one, and a replay starts a finished entry over', async () => {
    // Prepare
    const entry = delivery();
    await repo.create(entry);
    const claimed = (await repo.claim(entry, at(1000)))!;
    // Act
    const recorded = await repo.complete(claimed, {
      status: 'pending',
      at: at(1100).toISOString(),
      url: entry.url,
      outcome: { delivered: false, statusCode: 502, error: 'HTTP 502', latencyMs: 12 },
      nextAttemptAt: at(31_100).toISOString(),
    });
    const stale = await repo.complete(claimed, { status: 'delivered', at: at(1200).toISOString(), url: entry.url, outcome: { delivered: true, statusCode: 200, error: null, latencyMs: 1 } });
    const requeuedWhilePending = await repo.requeue(entry, at(2000));
    // Assess
    expect([recorded, stale, requeuedWhilePending]).toEqual([true, false, false]);
    const pending = (await repo.get(entry.instanceId, entry.eventId, entry.label))!;
    expect(pending).toMatchObject({ status: 'pending', attempts: 1, lastStatusCode: 502, lastError: 'HTTP 502', nextAttemptAt: at(31_100).toISOString() });
    expect(await repo.claim(pending, at(2000))).toBeNull();
    const second = (await repo.claim(pending, at(31_100)))!;
    await repo.complete(second, { status: 'delivered', at: at(31_200).toISOString(), url: entry.url, outcome: { delivered: true, statusCode: 200, error: null, latencyMs: 1 } });
    const stored = (await repo.get(entry.instanceId, entry.eventId, entry.label))!;
    expect(stored).toMatchObject({ status: 'delivered', attempts: 2, lastStatusCode: 200, nextAttemptAt: null, deliveredAt: at(31_200).toISOString() });

    // Act: replay
    const requeued = await repo.requeue(stored, at(3000));
    // Assess
    expect(requeued).toBe(true);
    expect(await repo.get(entry.instanceId, entry.eventId, entry.label)).toMatchObject({ status: 'pending', attempts: 0, nextAttemptAt: at(3000).toISOString() });
    expect((await repo.due(at(3000))).map((d) => d.eventId)).toContain(entry.eventId);
  });

  it('pages an instance log newest first with filters, and cancels pending entries of one webhook', async () => {
    // Prepare
    const instanceId = randomUUID();
    const ids = [ulid(T0.getTime()), ulid(T0.getTime() + 1000), ulid(T0.getTime() + 2000)];
    for (const [i, eventId] of ids.entries()) {
      await repo.create(delivery({ instanceId, eventId, eventTimestamp: at(i * 1000).toISOString(), event: i === 1 ? 'call.update' : 'message.exchange' }));
    }
    await repo.create(delivery({ instanceId, eventId: ids[0], label: 'crm' }));
    // Act
    const page1 = await repo.list(instanceId, { label: 'default' }, 2, null);
    const page2 = await repo.list(instanceId, { label: 'default' }, 2, page1.nextCursor);
    const since = await repo.list(instanceId, { since: at(1000).toISOString(), until: at(2000).toISOString() }, 10, null);
    const cancelled = await repo.cancelPending(instanceId, 'crm', 'webhook disabled', at(5000));
    // Assess
    expect(page1.deliveries.map((d) => d.eventId)).toEqual([ids[2], ids[1]]);
    expect(page2).toMatchObject({ nextCursor: null });
    expect(page2.deliveries.map((d) => d.eventId)).toEqual([ids[0]]);
    expect(since.deliveries.map((d) => d.eventId)).toEqual([ids[1]]);
    expect(cancelled).toBe(1);
    expect(await repo.get(instanceId, ids[0]!, 'crm')).toMatchObject({ status: 'dead', lastError: 'webhook disabled' });
    expect((await repo.due(at(10_000))).map((d) => `${d.instanceId}#${d.label}`)).not.toContain(`${instanceId}#crm`);
  });
});
