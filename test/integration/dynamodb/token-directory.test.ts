import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import { createTokenDirectory, tokenItem } from '../../../shared/adapters/dynamodb/token-directory.dynamodb.ts';
import type { TokenEntry } from '../../../shared/domain/auth/principal.ts';
import type { TokenDirectory } from '../../../shared/domain/ports/repositories.port.ts';

/** 2026-04-28T10:30:00Z: a UTC minute boundary, in Unix seconds. */
const WINDOW = 1_777_372_200;
const NEXT_WINDOW = WINDOW + 60;

describe('DynamoDB token directory', () => {
  let client: DynamoDBClient;
  let doc: ReturnType<typeof documentClient>;
  let tableName: string;
  let directory: TokenDirectory;

  beforeAll(async () => {
    client = new DynamoDBClient({
      endpoint: inject('dynamodbEndpoint'),
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    tableName = `token-directory-${randomUUID()}`;
    // Rate windows here are dated 2026-04-28, their TTL long past: no TTL sweeper, or it deletes them mid-test.
    await ensureTable(client, tableName, { timeToLive: false });
    doc = documentClient(client);
    directory = createTokenDirectory({ doc, tableName });
  });

  afterAll(() => {
    client?.destroy();
  });

  /** Stores a token lookup item the way the repositories do, under a fresh hash. */
  async function storedToken(entry: TokenEntry): Promise<string> {
    const hash = randomUUID().replaceAll('-', '').repeat(2);
    await doc.send(new PutCommand({ TableName: tableName, Item: tokenItem(hash, entry) }));
    return hash;
  }

  const accountEntry = (): TokenEntry => ({ kind: 'account', accountId: randomUUID(), limits: { global: 100, create: 20 } });

  it('returns the principal and counts each request of a window in its bucket', async () => {
    // Prepare
    const entry = accountEntry();
    const hash = await storedToken(entry);

    // Act
    const first = await directory.authenticate(hash, 'global', WINDOW);
    const second = await directory.authenticate(hash, 'global', WINDOW);
    const third = await directory.authenticate(hash, 'global', WINDOW);

    // Assess
    expect(first).toEqual({ entry, count: 1 });
    expect(second?.count).toBe(2);
    expect(third?.count).toBe(3);
  });

  it('returns an instance principal with its instance name', async () => {
    // Prepare
    const entry: TokenEntry = {
      kind: 'instance',
      accountId: randomUUID(),
      instanceId: randomUUID(),
      instanceName: 'sales',
      limits: { global: 50, create: 5 },
    };
    const hash = await storedToken(entry);

    // Act
    const counted = await directory.authenticate(hash, 'global', WINDOW);

    // Assess
    expect(counted).toEqual({ entry, count: 1 });
  });

  it('counts the global and create buckets separately', async () => {
    // Prepare
    const hash = await storedToken(accountEntry());

    // Act
    const globals = [await directory.authenticate(hash, 'global', WINDOW), await directory.authenticate(hash, 'global', WINDOW)];
    const create = await directory.authenticate(hash, 'create', WINDOW);
    const globalAfter = await directory.authenticate(hash, 'global', WINDOW);
    const createAfter = await directory.authenticate(hash, 'create', WINDOW);

    // Assess
    expect(globals.map((counted) => counted?.count)).toEqual([1, 2]);
    expect(create?.count).toBe(1);
    expect(globalAfter?.count).toBe(3);
    expect(createAfter?.count).toBe(2);
  });

  it('starts a new window at 1', async () => {
    // Prepare
    const hash = await storedToken(accountEntry());
    await directory.authenticate(hash, 'global', WINDOW);
    await directory.authenticate(hash, 'global', WINDOW);

    // Act
    const next = await directory.authenticate(hash, 'global', NEXT_WINDOW);
    const nextAgain = await directory.authenticate(hash, 'global', NEXT_WINDOW);

    // Assess
    expect(next?.count).toBe(1);
    expect(nextAgain?.count).toBe(2);
  });

  it('still counts a request of the previous window that arrives after the next one opened', async () => {
    // Prepare: a process whose request started at hh:mm:59.999 writes after another opened hh:mm+1.
    const entry = accountEntry();
    const hash = await storedToken(entry);
    await directory.authenticate(hash, 'global', NEXT_WINDOW);

    // Act
    const late = await directory.authenticate(hash, 'global', WINDOW);
    const after = await directory.authenticate(hash, 'global', NEXT_WINDOW);

    // Assess
    expect(late?.entry).toEqual(entry);
    expect(after?.count).toBe(3);
  });

  it('returns null for an unknown token and creates no item for it', async () => {
    // Prepare
    const unknown = 'f'.repeat(64);

    // Act
    const counted = await directory.authenticate(unknown, 'global', WINDOW);
    const again = await directory.authenticate(unknown, 'create', WINDOW);

    // Assess
    expect(counted).toBeNull();
    expect(again).toBeNull();
  });

  it('counts anonymous buckets per key and per window', async () => {
    // Prepare
    const ip = `ip#203.0.113.10-${randomUUID()}`;
    const otherIp = `ip#198.51.100.7-${randomUUID()}`;

    // Act
    const counts = [await directory.count(ip, WINDOW), await directory.count(ip, WINDOW), await directory.count(ip, WINDOW)];
    const other = await directory.count(otherIp, WINDOW);
    const nextWindow = await directory.count(ip, NEXT_WINDOW);
    await directory.count(ip, WINDOW);
    const afterLate = await directory.count(ip, NEXT_WINDOW);

    // Assess
    expect(counts).toEqual([1, 2, 3]);
    expect(other).toBe(1);
    expect(nextWindow).toBe(1);
    expect(afterLate).toBe(3);
  });

  it('loses no update when 30 requests of one window authenticate at once', async () => {
    // Prepare
    const hash = await storedToken(accountEntry());

    // Act
    const results = await Promise.all(Array.from({ length: 30 }, () => directory.authenticate(hash, 'global', WINDOW)));

    // Assess
    const counts = results.map((counted) => counted?.count ?? 0).sort((a, b) => a - b);
    expect(counts).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('loses no update when 30 anonymous requests of one window arrive at once', async () => {
    // Prepare
    const key = `ip#192.0.2.1-${randomUUID()}`;

    // Act
    const counts = await Promise.all(Array.from({ length: 30 }, () => directory.count(key, WINDOW)));

    // Assess
    expect(counts.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('counts concurrent requests of one token with fewer writes than requests, each with its own rank', async () => {
    // Prepare: a directory whose DynamoDB calls are counted.
    const hash = await storedToken(accountEntry());
    let calls = 0;
    const counted = documentClient(client);
    counted.middlewareStack.add((next) => async (args) => ((calls += 1), next(args)), { step: 'initialize' });
    const busy = createTokenDirectory({ doc: counted, tableName });

    // Act
    const results = await Promise.all(Array.from({ length: 40 }, () => busy.authenticate(hash, 'global', WINDOW)));

    // Assess
    expect(results.map((result) => result?.count ?? 0).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(calls).toBeLessThan(40);
    const again = await directory.authenticate(hash, 'global', WINDOW);
    expect(again?.count).toBe(41);
  });

  it('keeps counts exact when two processes count the same token at once', async () => {
    // Prepare: two directories, as two Lambda instances or two stacks would have.
    const hash = await storedToken(accountEntry());
    const other = createTokenDirectory({ doc: documentClient(client), tableName });

    // Act
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? directory : other).authenticate(hash, 'create', WINDOW)));

    // Assess
    expect(results.map((result) => result?.count ?? 0).sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
  });

  it('answers null to every waiting request of an unknown token', async () => {
    // Act
    const results = await Promise.all(Array.from({ length: 5 }, () => directory.authenticate('f'.repeat(64), 'global', WINDOW)));

    // Assess
    expect(results).toEqual([null, null, null, null, null]);
  });

  it('rejects every request of a batch whose write fails, and counts the next ones', async () => {
    // Prepare: a client whose next UpdateItem fails.
    const hash = await storedToken(accountEntry());
    let failNext = true;
    const flaky = documentClient(client);
    flaky.middlewareStack.add(
      (next) => async (args) => {
        if (failNext) {
          failNext = false;
          await new Promise((resolve) => setTimeout(resolve, 20));
          throw new Error('throttled');
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    const fragile = createTokenDirectory({ doc: flaky, tableName });

    // Act
    const first = await Promise.allSettled(Array.from({ length: 3 }, () => fragile.authenticate(hash, 'global', WINDOW)));
    const later = await fragile.authenticate(hash, 'global', WINDOW);

    // Assess
    // The first request's write failed; the two that waited for it were counted by the next write.
    expect(first.map((result) => result.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
    expect(later?.count).toBe(3);
  });
});
