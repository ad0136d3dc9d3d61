import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { ensureTable, keys } from '../../../shared/adapters/dynamodb/table.ts';
import { tokenItem } from '../../../shared/adapters/dynamodb/token-directory.dynamodb.ts';
import { createInProcessTokenDirectory } from '../../../shared/adapters/dynamodb/token-directory.in-process.ts';
import type { TokenEntry } from '../../../shared/domain/auth/principal.ts';
import type { TokenDirectory } from '../../../shared/domain/ports/repositories.port.ts';

/** 2026-04-28T10:30:00Z: a UTC minute boundary, in Unix seconds. */
const WINDOW = 1_777_372_200;
const NEXT_WINDOW = WINDOW + 60;
const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

describe('in-process token directory (embedded stack)', () => {
  let client: DynamoDBClient;
  let other: DynamoDBClient;
  let doc: ReturnType<typeof documentClient>;
  let tableName: string;
  let directory: TokenDirectory;
  let clock = 0;
  const sent = { reads: 0, writes: 0 };

  beforeAll(async () => {
    client = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials });
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'GetItemCommand') sent.reads += 1;
        if (/^(Put|Update|Delete|TransactWrite|BatchWrite)/.test(context.commandName ?? '')) sent.writes += 1;
        return next(args);
      },
      { step: 'initialize' },
    );
    // Another process's client on the same table (a second stack, a test's own writes).
    other = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials });
    tableName = `token-directory-in-process-${randomUUID()}`;
    await ensureTable(client, tableName, { timeToLive: false });
    doc = documentClient(client);
    directory = createInProcessTokenDirectory({ doc, tableName }, client, { maxAgeMs: 1_000, now: () => clock });
  });

  afterAll(() => {
    client?.destroy();
    other?.destroy();
  });

  const freshHash = () => randomUUID().replaceAll('-', '').repeat(2);
  const accountEntry = (): TokenEntry => ({ kind: 'account', accountId: randomUUID(), limits: { global: 100, create: 20 } });
  const stored = async (entry: TokenEntry, through = doc): Promise<string> => {
    const hash = freshHash();
    await through.send(new PutCommand({ TableName: tableName, Item: tokenItem(hash, entry) }));
    return hash;
  };

  it('returns the principal and ranks each request of a window in its bucket, without a write per request', async () => {
    // Prepare
    const entry = accountEntry();
    const hash = await stored(entry);
    const before = { ...sent };

    // Act
    const ranks: number[] = [];
    for (let index = 0; index < 5; index++) ranks.push((await directory.authenticate(hash, 'global', WINDOW))?.count ?? 0);
    const created = await directory.authenticate(hash, 'create', WINDOW);

    // Assess
    expect(ranks).toEqual([1, 2, 3, 4, 5]);
    expect(created).toEqual({ entry, count: 1 });
    expect(sent.writes - before.writes).toBe(0);
    expect(sent.reads - before.reads).toBe(1);
  });

  it('counts concurrent requests with distinct ranks', async () => {
    // Prepare
    const hash = await stored(accountEntry());

    // Act
    const counted = await Promise.all(Array.from({ length: 20 }, () => directory.authenticate(hash, 'global', WINDOW)));

    // Assess
    expect(counted.map((principal) => principal?.count).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
  });

  it('starts a new window at one, and counts a late request of the old window in the new one', async () => {
    // Prepare
    const hash = await stored(accountEntry());
    await directory.authenticate(hash, 'global', WINDOW);
    await directory.authenticate(hash, 'global', WINDOW);

    // Act
    const first = await directory.authenticate(hash, 'global', NEXT_WINDOW);
    const late = await directory.authenticate(hash, 'global', WINDOW);

    // Assess
    expect(first?.count).toBe(1);
    expect(late?.count).toBe(2);
  });

  it('answers null for an unknown token, and knows a token this process creates at once', async () => {
    // Prepare
    const entry = accountEntry();
    const hash = freshHash();
    const unknown = await directory.authenticate(hash, 'global', WINDOW);

    // Act
    await doc.send(new PutCommand({ TableName: tableName, Item: tokenItem(hash, entry) }));
    const known = await directory.authenticate(hash, 'global', WINDOW);

    // Assess
    expect(unknown).toBeNull();
    expect(known).toEqual({ entry, count: 1 });
  });

  it('refuses a token this process deleted, and serves limits this process changed, from the next request', async () => {
    // Prepare
    const revoked = await stored(accountEntry());
    const limited = await stored(accountEntry());
    await directory.authenticate(revoked, 'global', WINDOW);
    await directory.authenticate(limited, 'global', WINDOW);

    // Act
    await doc.send(new DeleteCommand({ TableName: tableName, Key: keys.token(revoked) }));
    await doc.send(
      new UpdateCommand({ TableName: tableName, Key: keys.token(limited), UpdateExpression: 'SET limits = :limits', ExpressionAttributeValues: { ':limits': { global: 7, create: 1 } } }),
    );

    // Assess
    expect(await directory.authenticate(revoked, 'global', WINDOW)).toBeNull();
    expect((await directory.authenticate(limited, 'global', WINDOW))?.entry.limits).toEqual({ global: 7, create: 1 });
  });

  it('sees a deletion made by another client once the cached principal is a second old', async () => {
    // Prepare
    const hash = await stored(accountEntry(), documentClient(other));
    await directory.authenticate(hash, 'global', WINDOW);
    await documentClient(other).send(new DeleteCommand({ TableName: tableName, Key: keys.token(hash) }));

    // Act
    const withinTheSecond = await directory.authenticate(hash, 'global', WINDOW);
    clock += 1_000;
    const afterIt = await directory.authenticate(hash, 'global', WINDOW);

    // Assess
    expect(withinTheSecond?.count).toBe(2);
    expect(afterIt).toBeNull();
  });

  it('counts buckets not tied to a token (client IP, admin key) apart from each other', async () => {
    // Act
    const first = await directory.count('ip#198.51.100.7', WINDOW);
    const second = await directory.count('ip#198.51.100.7', WINDOW);
    const otherIp = await directory.count('ip#198.51.100.8', WINDOW);
    const nextWindow = await directory.count('ip#198.51.100.7', NEXT_WINDOW);

    // Assess
    expect([first, second, otherIp, nextWindow]).toEqual([1, 2, 1, 1]);
  });
});
