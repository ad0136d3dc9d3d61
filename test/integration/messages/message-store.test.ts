import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAccountRepository } from '../../../shared/adapters/dynamodb/account-repository.dynamodb.ts';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { createInstanceRepository } from '../../../shared/adapters/dynamodb/instance-repository.dynamodb.ts';
import { createDynamoMessageStore } from '../../../shared/adapters/dynamodb/message-store.dynamodb.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import { defaultSettings, emptyProfile } from '../../../shared/domain/instance/instance.ts';
import { messageRetentionSeconds, storedMessageOf, type StoredMessage } from '../../../shared/domain/messages/message.ts';
import type { MessageStore } from '../../../shared/domain/ports/message-store.port.ts';

const NOW = new Date('2026-04-28T10:30:00Z');

const message = (instanceId: string, id: string, overrides: Record<string, unknown> = {}): StoredMessage =>
  storedMessageOf(
    instanceId,
    {
      id,
      type: 'text',
      direction: 'outgoing',
      fromMe: true,
      timestamp: '2026-04-28T10:00:00Z',
      chat: { jid: '5511999990001@s.whatsapp.net', type: 'private' },
      sender: { jid: '5511988880000@s.whatsapp.net' },
      content: { text: 'oi' },
      ...overrides,
    },
    { isHistory: false, now: '2026-04-28T10:00:01Z' },
  ) as StoredMessage;

describe('DynamoDB message store', () => {
  let client: DynamoDBClient;
  let doc: ReturnType<typeof documentClient>;
  let tableName: string;
  let store: MessageStore;
  const clock = { now: () => NOW };

  beforeAll(async () => {
    client = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    tableName = `message-store-${randomUUID()}`;
    // Items here are dated 2026-04-28, their TTL long past: no TTL sweeper, or it deletes them mid-test.
    await ensureTable(client, tableName, { timeToLive: false });
    doc = documentClient(client);
    store = createDynamoMessageStore({ doc, tableName }, { clock });
  });
  afterAll(() => client?.destroy());

  const partition = async (instanceId: string) =>
    (await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `MSG#${instanceId}` } }))).Items ?? [];

  it('stores a message under MSG#<instanceId> / <timestamp>#<id> with its content and a retention TTL', async () => {
    // Prepare
    const instanceId = randomUUID();

    // Act
    await store.save(message(instanceId, 'M1'));

    // Assess
    const items = await partition(instanceId);
    const item = items.find((each) => each.sk === '2026-04-28T10:00:00Z#M1');
    expect(item).toMatchObject({ messageId: 'M1', type: 'text', direction: 'outgoing', exchange: { content: { text: 'oi' } } });
    expect(item?.ttl).toBe(Math.floor(NOW.getTime() / 1000) + messageRetentionSeconds);
    expect(await store.summaries(instanceId)).toEqual([
      expect.objectContaining({ messageId: 'M1', timestamp: '2026-04-28T10:00:00Z', direction: 'outgoing', chatType: 'private', status: 'sent', isHistory: false }),
    ]);
  });

  it('moves the status forward on receipts, never back, and keeps it when the message is stored again', async () => {
    // Prepare
    const instanceId = randomUUID();
    await store.save(message(instanceId, 'M2'));

    // Act
    const delivered = await store.updateStatus(instanceId, 'M2', 'delivered', '2026-04-28T10:00:05Z');
    const read = await store.updateStatus(instanceId, 'M2', 'read', '2026-04-28T10:00:09Z');
    const backwards = await store.updateStatus(instanceId, 'M2', 'delivered', '2026-04-28T10:00:10Z');
    await store.save(message(instanceId, 'M2'));

    // Assess
    expect([delivered, read, backwards]).toEqual([true, true, false]);
    expect(await store.summaries(instanceId)).toEqual([expect.objectContaining({ messageId: 'M2', status: 'read', statusAt: '2026-04-28T10:00:09Z' })]);
  });

  it('ignores a receipt for a message it never stored, without creating anything', async () => {
    const instanceId = randomUUID();
    expect(await store.updateStatus(instanceId, 'ghost', 'read', '2026-04-28T10:00:09Z')).toBe(false);
    expect(await partition(instanceId)).toEqual([]);
  });

  it('lists an instance’s messages oldest first, only its own, and skips expired ones', async () => {
    // Prepare
    const instanceId = randomUUID();
    const other = randomUUID();
    await store.save(message(instanceId, 'late', { timestamp: '2026-04-28T11:00:00Z' }));
    await store.save(message(instanceId, 'early', { timestamp: '2026-04-01T11:00:00Z', direction: 'incoming', fromMe: false }));
    await store.save(message(other, 'elsewhere'));
    const expiredStore = createDynamoMessageStore({ doc, tableName }, { clock, retentionSeconds: -1 });
    await expiredStore.save(message(instanceId, 'expired'));

    // Act
    const listed = await store.summaries(instanceId);

    // Assess
    expect(listed.map((each) => [each.messageId, each.direction, each.status])).toEqual([
      ['early', 'incoming', 'received'],
      ['late', 'outgoing', 'sent'],
    ]);
  });

  it('serves a message’s WhatsApp form by id, keeps it through a re-store without it, and forgets it when expired', async () => {
    // Prepare
    const instanceId = randomUUID();
    const raw = Uint8Array.from([0x0a, 0x02, 0x6f, 0x69]);
    const later = createDynamoMessageStore({ doc, tableName }, { clock: { now: () => new Date(NOW.getTime() + (messageRetentionSeconds + 1) * 1000) } });

    // Act: the runner stores it with its WhatsApp form; the API's `pending` store lands after it.
    await store.save({ ...message(instanceId, 'R1'), raw });
    await store.save({ ...message(instanceId, 'R1'), status: 'pending' });
    await store.save(message(instanceId, 'R2'));

    // Assess
    expect(await store.rawMessage?.(instanceId, 'R1')).toEqual(raw);
    expect(await store.rawMessage?.(instanceId, 'R2')).toBeNull();
    expect(await store.rawMessage?.(instanceId, 'unknown')).toBeNull();
    expect(await later.rawMessage?.(instanceId, 'R1')).toBeNull();
  });

  it('deleting the instance deletes its messages', async () => {
    // Prepare
    const context = { doc, tableName };
    const accounts = createAccountRepository(context);
    const instances = createInstanceRepository(context);
    const accountId = randomUUID();
    await accounts.create({
      id: accountId,
      name: 'acme',
      instanceQuota: 5,
      instanceCount: 0,
      rateLimits: { global: 100, create: 20 },
      tokenHash: randomUUID(),
      createdAt: '2026-04-28T10:00:00Z',
      updatedAt: '2026-04-28T10:00:00Z',
    });
    const instanceId = randomUUID();
    const record = {
      id: instanceId,
      accountId,
      name: 'chatty',
      wrappedKey: 'w',
      tokenHash: randomUUID(),
      tokenSealed: 's',
      status: 'disconnected' as const,
      numberJid: null,
      profile: { ...emptyProfile },
      settings: { ...defaultSettings },
      proxy: null,
      s3: null,
      websocket: null,
      createdAt: '2026-04-28T10:00:00Z',
      updatedAt: '2026-04-28T10:00:00Z',
    };
    await instances.create({ instance: record, webhooks: [], chatwootRequest: null, token: { kind: 'instance', accountId, instanceId, instanceName: 'chatty', limits: { global: 100, create: 20 } } });
    for (let i = 0; i < 30; i++) await store.save(message(instanceId, `D${i}`));

    // Act
    await instances.delete((await instances.get(accountId, 'chatty'))!);

    // Assess
    expect(await partition(instanceId)).toEqual([]);
  });
});
