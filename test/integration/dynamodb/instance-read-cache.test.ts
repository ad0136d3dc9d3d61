import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAccountRepository } from '../../../shared/adapters/dynamodb/account-repository.dynamodb.ts';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { createInstanceReadCache, type InstanceReadCache } from '../../../shared/adapters/dynamodb/instance-read-cache.ts';
import { createInstanceRepository } from '../../../shared/adapters/dynamodb/instance-repository.dynamodb.ts';
import { createSessionRepository } from '../../../shared/adapters/dynamodb/session-repository.dynamodb.ts';
import { ensureTable, keys } from '../../../shared/adapters/dynamodb/table.ts';
import { defaultSettings, type InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import { accountRecord, instanceRecord } from '../../support/records.ts';
import type { InstanceRepository } from '../../../shared/domain/ports/repositories.port.ts';

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

describe('instance read cache (embedded stack)', () => {
  let client: DynamoDBClient;
  let tableName: string;
  let instances: InstanceRepository;
  let cache: InstanceReadCache;
  let queries = 0;
  let clock = 0;

  beforeAll(async () => {
    client = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials });
    client.middlewareStack.add((next, context) => async (args) => ((queries += context.commandName === 'QueryCommand' ? 1 : 0), next(args)), { step: 'initialize' });
    tableName = `instance-read-cache-${randomUUID()}`;
    await ensureTable(client, tableName);
    instances = createInstanceRepository({ doc: documentClient(client), tableName });
    cache = createInstanceReadCache(client, instances, { maxAgeMs: 1_000, now: () => clock });
  });

  afterAll(() => client?.destroy());

  /** An account with one instance, created through the repositories. */
  const seeded = async (name: string): Promise<InstanceRecord> => {
    const owner = accountRecord();
    const accountId = owner.id;
    await createAccountRepository({ doc: documentClient(client), tableName }).create(owner);
    const record = instanceRecord(accountId, name);
    await instances.create({ instance: record, webhooks: [], chatwootRequest: null, token: { kind: 'instance', accountId, instanceId: record.id, instanceName: name, limits: { global: 100, create: 20 } } });
    return record;
  };

  it('serves repeated reads of an unchanged instance from memory', async () => {
    // Prepare
    const record = await seeded('cached');
    const before = queries;

    // Act
    const reads = await Promise.all(Array.from({ length: 20 }, () => cache.get(record.accountId, 'cached')));
    const later = await cache.get(record.accountId, 'cached');

    // Assess
    expect(queries - before).toBe(1);
    expect(reads.every((read) => read?.instance.id === record.id)).toBe(true);
    expect(later?.instance.status).toBe('disconnected');
  });

  it('sees every write made through the same client at the next read: repository, runner state, raw update', async () => {
    // Prepare
    const record = await seeded('fresh');
    const ref = { instanceId: record.id, accountId: record.accountId, instanceName: 'fresh' };
    await cache.get(record.accountId, 'fresh');

    // Act + Assess: the API's update
    await instances.update(record.accountId, 'fresh', { settings: { ...defaultSettings, autoReadMessages: true } });
    expect((await cache.get(record.accountId, 'fresh'))?.instance.settings.autoReadMessages).toBe(true);

    // Act + Assess: the runner's state record (another document client on the same client)
    await createSessionRepository({ doc: documentClient(client), tableName }).recordState(ref, { state: 'connected', reason: 'test', numberJid: '5511999999999@s.whatsapp.net' });
    expect((await cache.get(record.accountId, 'fresh'))?.instance).toMatchObject({ status: 'connected', numberJid: '5511999999999@s.whatsapp.net' });

    // Act + Assess: delete (batch + transaction)
    await instances.delete((await instances.get(record.accountId, 'fresh'))!);
    expect(await cache.get(record.accountId, 'fresh')).toBeNull();
  });

  it('lets a write from another client show after at most maxAgeMs', async () => {
    // Prepare: a client the cache does not watch.
    const record = await seeded('outside');
    await cache.get(record.accountId, 'outside');
    const other = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials });
    await documentClient(other).send(
      new UpdateCommand({ TableName: tableName, Key: keys.instance(record.accountId, 'outside'), UpdateExpression: 'SET #s = :s', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':s': 'connected' } }),
    );
    other.destroy();

    // Act
    const within = await cache.get(record.accountId, 'outside');
    clock += 1_000;
    const after = await cache.get(record.accountId, 'outside');

    // Assess
    expect(within?.instance.status).toBe('disconnected');
    expect(after?.instance.status).toBe('connected');
  });
});
