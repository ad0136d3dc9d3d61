import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAccountRepository } from '../../../shared/adapters/dynamodb/account-repository.dynamodb.ts';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { createInstanceRepository } from '../../../shared/adapters/dynamodb/instance-repository.dynamodb.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import { createTokenDirectory } from '../../../shared/adapters/dynamodb/token-directory.dynamodb.ts';
import type { AccountRecord } from '../../../shared/domain/account/account.ts';
import type { InstanceRecord } from '../../../shared/domain/instance/instance.ts';
import { accountRecord, hashOf, instanceRecord } from '../../support/records.ts';
import type { AccountRepository, InstanceRepository, TokenDirectory } from '../../../shared/domain/ports/repositories.port.ts';

const WINDOW = 1_777_372_200;

const account = accountRecord;
const instance = (accountId: string, name: string) => instanceRecord(accountId, name);

describe('DynamoDB account repository', () => {
  let client: DynamoDBClient;
  let accounts: AccountRepository;
  let instances: InstanceRepository;
  let directory: TokenDirectory;

  beforeAll(async () => {
    client = new DynamoDBClient({
      endpoint: inject('dynamodbEndpoint'),
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    const tableName = `account-repository-${randomUUID()}`;
    await ensureTable(client, tableName);
    const context = { doc: documentClient(client), tableName };
    accounts = createAccountRepository(context);
    instances = createInstanceRepository(context);
    directory = createTokenDirectory(context);
  });

  afterAll(() => {
    client?.destroy();
  });

  async function addInstance(owner: AccountRecord, name: string): Promise<InstanceRecord> {
    const record = instance(owner.id, name);
    await instances.create({
      instance: record,
      webhooks: [],
      chatwootRequest: null,
      token: { kind: 'instance', accountId: owner.id, instanceId: record.id, instanceName: name, limits: owner.rateLimits },
    });
    return record;
  }

  it('creates an account that get returns and whose token authenticates', async () => {
    // Prepare
    const record = account({ name: 'created' });

    // Act
    await accounts.create(record);
    const stored = await accounts.get(record.id);
    const counted = await directory.authenticate(record.tokenHash, 'global', WINDOW);

    // Assess
    expect(stored).toEqual(record);
    expect(counted?.entry).toEqual({ kind: 'account', accountId: record.id, limits: record.rateLimits });
  });

  it('returns null for an account that does not exist', async () => {
    // Act
    const stored = await accounts.get(randomUUID());

    // Assess
    expect(stored).toBeNull();
  });

  it('lists accounts ordered by createdAt', async () => {
    // Prepare: written out of order
    const later = account({ name: 'later', createdAt: '2026-04-28T12:00:02Z', updatedAt: '2026-04-28T12:00:02Z' });
    const earliest = account({ name: 'earliest', createdAt: '2026-04-28T12:00:00Z', updatedAt: '2026-04-28T12:00:00Z' });
    const middle = account({ name: 'middle', createdAt: '2026-04-28T12:00:01Z', updatedAt: '2026-04-28T12:00:01Z' });
    for (const record of [later, earliest, middle]) await accounts.create(record);
    const ours = new Set([later.id, earliest.id, middle.id]);

    // Act
    const listed = await accounts.list();

    // Assess
    const names = listed.filter((record) => ours.has(record.id)).map((record) => record.name);
    expect(names).toEqual(['earliest', 'middle', 'later']);
    expect(listed.find((record) => record.id === middle.id)).toEqual(middle);
  });

  it('patches only the given fields', async () => {
    // Prepare
    const record = account({ name: 'before', instanceQuota: 3 });
    await accounts.create(record);

    // Act
    const updated = await accounts.update(record.id, { name: 'after', updatedAt: '2026-04-28T11:00:00Z' });
    const stored = await accounts.get(record.id);

    // Assess
    const expected = { ...record, name: 'after', updatedAt: '2026-04-28T11:00:00Z' };
    expect(updated).toEqual(expected);
    expect(stored).toEqual(expected);
  });

  it('propagates new rate limits to the account token and to every instance token', async () => {
    // Prepare
    const owner = account({ name: 'limited' });
    await accounts.create(owner);
    const first = await addInstance(owner, 'first');
    const second = await addInstance(owner, 'second');
    const rateLimits = { global: 500, create: 50 };

    // Act
    const updated = await accounts.update(owner.id, { rateLimits, instanceQuota: 20, updatedAt: '2026-04-28T11:00:00Z' });
    const seen = await Promise.all(
      [owner.tokenHash, first.tokenHash, second.tokenHash].map((hash) => directory.authenticate(hash, 'global', WINDOW)),
    );

    // Assess
    expect(updated).toMatchObject({ rateLimits, instanceQuota: 20, instanceCount: 2 });
    expect(seen.map((counted) => counted?.entry.limits)).toEqual([rateLimits, rateLimits, rateLimits]);
    expect(seen[1]?.entry).toMatchObject({ kind: 'instance', instanceId: first.id, instanceName: 'first' });
  });

  it('leaves the tokens of other accounts alone when limits change', async () => {
    // Prepare
    const owner = account({ name: 'changed' });
    const bystander = account({ name: 'bystander' });
    await accounts.create(owner);
    await accounts.create(bystander);
    const bystanderInstance = await addInstance(bystander, 'kept');

    // Act
    await accounts.update(owner.id, { rateLimits: { global: 1, create: 1 }, updatedAt: '2026-04-28T11:00:00Z' });
    const seen = await Promise.all([bystander.tokenHash, bystanderInstance.tokenHash].map((hash) => directory.authenticate(hash, 'global', WINDOW)));

    // Assess
    expect(seen.map((counted) => counted?.entry.limits)).toEqual([bystander.rateLimits, bystander.rateLimits]);
  });

  it('returns null when updating an account that does not exist, and creates nothing', async () => {
    // Prepare
    const id = randomUUID();

    // Act
    const updated = await accounts.update(id, { name: 'ghost', rateLimits: { global: 1, create: 1 }, updatedAt: '2026-04-28T11:00:00Z' });
    const stored = await accounts.get(id);

    // Assess
    expect(updated).toBeNull();
    expect(stored).toBeNull();
  });

  it('rotates the token: the old one stops working, the new one identifies the account', async () => {
    // Prepare
    const record = account({ name: 'rotating', rateLimits: { global: 7, create: 3 } });
    await accounts.create(record);
    const newHash = hashOf();

    // Act
    const rotated = await accounts.rotateToken(record.id, newHash, '2026-04-28T11:00:00Z');
    const oldLookup = await directory.authenticate(record.tokenHash, 'global', WINDOW);
    const newLookup = await directory.authenticate(newHash, 'global', WINDOW);
    const stored = await accounts.get(record.id);

    // Assess
    expect(rotated).toBe(true);
    expect(oldLookup).toBeNull();
    expect(newLookup?.entry).toEqual({ kind: 'account', accountId: record.id, limits: { global: 7, create: 3 } });
    expect(stored).toMatchObject({ tokenHash: newHash, updatedAt: '2026-04-28T11:00:00Z' });
  });

  it('does not rotate the token of an account that does not exist', async () => {
    // Prepare
    const newHash = hashOf();

    // Act
    const rotated = await accounts.rotateToken(randomUUID(), newHash, '2026-04-28T11:00:00Z');
    const lookup = await directory.authenticate(newHash, 'global', WINDOW);

    // Assess
    expect(rotated).toBe(false);
    expect(lookup).toBeNull();
  });

  it('refuses to delete an account that still has instances, then deletes it once they are gone', async () => {
    // Prepare
    const owner = account({ name: 'deletable' });
    await accounts.create(owner);
    const only = await addInstance(owner, 'only');

    // Act
    const whileOwning = await accounts.delete(owner.id);
    const aggregate = await instances.get(owner.id, 'only');
    await instances.delete(aggregate!);
    const afterwards = await accounts.delete(owner.id);
    const again = await accounts.delete(owner.id);

    // Assess
    expect(whileOwning).toBe('has_instances');
    expect(aggregate?.instance.id).toBe(only.id);
    expect(afterwards).toBe('deleted');
    expect(again).toBe('not_found');
    expect(await accounts.get(owner.id)).toBeNull();
    expect(await directory.authenticate(owner.tokenHash, 'global', WINDOW)).toBeNull();
  });

  it('reports not_found when deleting an account that never existed', async () => {
    // Act
    const outcome = await accounts.delete(randomUUID());

    // Assess
    expect(outcome).toBe('not_found');
  });
});
