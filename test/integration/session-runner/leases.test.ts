import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLeaseStore } from '../../../session-runner/leases/lease-store.dynamodb.ts';
import type { LeaseStore } from '../../../session-runner/leases/lease-manager.ts';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { ensureTable, keys } from '../../../shared/adapters/dynamodb/table.ts';

const TTL_MS = 30_000;
const NOW = Date.parse('2026-04-28T10:30:00Z');

describe('DynamoDB lease store', () => {
  let client: DynamoDBClient;
  let doc: ReturnType<typeof documentClient>;
  let tableName: string;
  let store: LeaseStore;
  /** Each test leases its own shard numbers, so tests never share a lease item. */
  let nextShard = 0;
  const freshShard = () => nextShard++;

  beforeAll(async () => {
    client = new DynamoDBClient({
      endpoint: inject('dynamodbEndpoint'),
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    tableName = `leases-${randomUUID()}`;
    await ensureTable(client, tableName);
    doc = documentClient(client);
    store = createLeaseStore({ doc, tableName });
  });

  afterAll(() => {
    client?.destroy();
  });

  const rawLease = async (shard: number) => (await doc.send(new GetCommand({ TableName: tableName, Key: keys.lease(shard), ConsistentRead: true }))).Item;

  it('acquires a free shard with epoch 1 and refuses it to another runner while the lease is live', async () => {
    // Prepare
    const shard = freshShard();

    // Act
    const mine = await store.acquire(shard, 'runner-a', TTL_MS, NOW);
    const theirs = await store.acquire(shard, 'runner-b', TTL_MS, NOW + 1_000);

    // Assess
    expect(mine).toEqual({ shard, owner: 'runner-a', epoch: 1, expiresAt: NOW + TTL_MS });
    expect(theirs).toBeNull();
    const item = await rawLease(shard);
    expect(item).toMatchObject({ owner: 'runner-a', epoch: 1, expiresAt: NOW + TTL_MS });
    // Lease expiry is compared explicitly; a TTL attribute could delete the item and reset the epoch.
    expect(item).not.toHaveProperty('ttl');
  });

  it('lets the owner re-acquire its own live lease with the same epoch and a later expiry', async () => {
    // Prepare
    const shard = freshShard();
    await store.acquire(shard, 'runner-a', TTL_MS, NOW);

    // Act
    const again = await store.acquire(shard, 'runner-a', TTL_MS, NOW + 5_000);

    // Assess
    expect(again).toEqual({ shard, owner: 'runner-a', epoch: 1, expiresAt: NOW + 5_000 + TTL_MS });
  });

  it('increments the epoch for every new owner of an expired lease', async () => {
    // Prepare
    const shard = freshShard();
    await store.acquire(shard, 'runner-a', TTL_MS, NOW);

    // Act
    const b = await store.acquire(shard, 'runner-b', TTL_MS, NOW + TTL_MS + 1);
    const aAgain = await store.acquire(shard, 'runner-a', TTL_MS, NOW + 2 * TTL_MS + 2);

    // Assess
    expect(b).toEqual({ shard, owner: 'runner-b', epoch: 2, expiresAt: NOW + 2 * TTL_MS + 1 });
    expect(aAgain).toEqual({ shard, owner: 'runner-a', epoch: 3, expiresAt: NOW + 3 * TTL_MS + 2 });
  });

  it('renews a held lease, and refuses the renewal once another runner took the expired lease', async () => {
    // Prepare
    const shard = freshShard();
    const lease = (await store.acquire(shard, 'runner-a', TTL_MS, NOW))!;
    const renewed = await store.renew(lease, TTL_MS, NOW + 10_000);
    await store.acquire(shard, 'runner-b', TTL_MS, NOW + 10_000 + TTL_MS + 1);

    // Act
    const late = await store.renew(renewed!, TTL_MS, NOW + 10_000 + TTL_MS + 2);

    // Assess
    expect(renewed).toEqual({ shard, owner: 'runner-a', epoch: 1, expiresAt: NOW + 10_000 + TTL_MS });
    expect(late).toBeNull();
    expect(await rawLease(shard)).toMatchObject({ owner: 'runner-b', epoch: 2 });
  });

  it('releases a lease at once, keeping its epoch so the next owner gets the following one', async () => {
    // Prepare
    const shard = freshShard();
    const lease = (await store.acquire(shard, 'runner-a', TTL_MS, NOW))!;

    // Act
    await store.release(lease);
    const next = await store.acquire(shard, 'runner-b', TTL_MS, NOW + 1_000);

    // Assess
    expect(next).toEqual({ shard, owner: 'runner-b', epoch: 2, expiresAt: NOW + 1_000 + TTL_MS });
  });

  it('ignores a release by a runner that no longer owns the lease', async () => {
    // Prepare
    const shard = freshShard();
    const stale = (await store.acquire(shard, 'runner-a', TTL_MS, NOW))!;
    await store.acquire(shard, 'runner-b', TTL_MS, NOW + TTL_MS + 1);

    // Act
    await store.release(stale);

    // Assess
    expect(await rawLease(shard)).toMatchObject({ owner: 'runner-b', epoch: 2, expiresAt: NOW + 2 * TTL_MS + 1 });
    expect(await store.acquire(shard, 'runner-c', TTL_MS, NOW + TTL_MS + 2)).toBeNull();
  });

  it('gives a free shard to exactly one of ten runners acquiring it at the same time', async () => {
    // Prepare
    const shard = freshShard();
    const runners = Array.from({ length: 10 }, (_, i) => `runner-${i}`);

    // Act
    const results = await Promise.all(runners.map((runner) => store.acquire(shard, runner, TTL_MS, NOW)));

    // Assess
    const winners = results.filter((lease) => lease !== null);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.epoch).toBe(1);
    expect(await rawLease(shard)).toMatchObject({ owner: winners[0]!.owner, epoch: 1 });
  });

  it('lists the leases of shards 0..N-1', async () => {
    // Prepare: its own table, so the other tests' shards do not show up.
    const listTable = `leases-list-${randomUUID()}`;
    await ensureTable(client, listTable);
    const listStore = createLeaseStore({ doc, tableName: listTable });
    await listStore.acquire(0, 'runner-a', TTL_MS, NOW);
    await listStore.acquire(2, 'runner-b', TTL_MS, NOW);
    await listStore.acquire(130, 'runner-c', TTL_MS, NOW);
    await listStore.acquire(131, 'runner-c', TTL_MS, NOW);

    // Act
    const firstFour = await listStore.list(4);
    const all = await listStore.list(131);

    // Assess
    expect(firstFour).toEqual([
      { shard: 0, owner: 'runner-a', epoch: 1, expiresAt: NOW + TTL_MS },
      { shard: 2, owner: 'runner-b', epoch: 1, expiresAt: NOW + TTL_MS },
    ]);
    expect(all.map((lease) => lease.shard)).toEqual([0, 2, 130]);
  });

  it('counts a runner as live until its heartbeat expires, and not after it is removed', async () => {
    // Prepare
    const heartbeatTable = `leases-runners-${randomUUID()}`;
    await ensureTable(client, heartbeatTable);
    const runnersStore = createLeaseStore({ doc, tableName: heartbeatTable });
    await runnersStore.heartbeat('runner-a', TTL_MS, NOW);
    await runnersStore.heartbeat('runner-b', TTL_MS, NOW + 10_000);
    await runnersStore.heartbeat('runner-c', TTL_MS, NOW);

    // Act
    await runnersStore.removeRunner('runner-c');
    const atStart = await runnersStore.liveRunners(NOW + 1_000);
    const afterAExpired = await runnersStore.liveRunners(NOW + TTL_MS + 1);
    const afterAll = await runnersStore.liveRunners(NOW + 10_000 + TTL_MS);

    // Assess
    expect(atStart).toEqual(['runner-a', 'runner-b']);
    expect(afterAExpired).toEqual(['runner-b']);
    expect(afterAll).toEqual([]);
  });
});
