import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAccountRepository } from '../../../shared/adapters/dynamodb/account-repository.dynamodb.ts';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { createInstanceRepository } from '../../../shared/adapters/dynamodb/instance-repository.dynamodb.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import { createTokenDirectory } from '../../../shared/adapters/dynamodb/token-directory.dynamodb.ts';
import type { AccountRecord } from '../../../shared/domain/account/account.ts';
import { accountRecord, instanceRecord } from '../../support/records.ts';
import { DomainError } from '../../../shared/domain/errors/domain-error.ts';
import {
  defaultSettings,
  type ChatwootRequestRecord,
  type InstanceRecord,
  type WebhookRecord,
} from '../../../shared/domain/instance/instance.ts';
import type { AccountRepository, InstanceRepository, NewInstance, TokenDirectory } from '../../../shared/domain/ports/repositories.port.ts';

const WINDOW = 1_777_372_200;

const account = accountRecord;
const instance = instanceRecord;

function webhook(label: string, url: string): WebhookRecord {
  return {
    label,
    enabled: true,
    url,
    authorizationSealed: 'v1.sealed-authorization',
    byEvents: false,
    events: ['message.exchange', 'call.update'],
    mediaBase64: false,
    includeInstanceToken: false,
    secretSealed: null,
  };
}

const chatwootRequest: ChatwootRequestRecord = {
  baseUrl: 'https://chatwoot.example.com',
  accountId: 5,
  apiTokenSealed: 'v1.sealed-chatwoot-token',
  inboxName: 'WhatsApp - Orion',
  signMessages: true,
  ignoreGroups: false,
  startAsPending: false,
  reopenResolved: true,
  requestedAt: '2026-04-28T10:31:00Z',
};

function newInstance(record: InstanceRecord, extra: Partial<Pick<NewInstance, 'webhooks' | 'chatwootRequest'>> = {}): NewInstance {
  return {
    instance: record,
    webhooks: extra.webhooks ?? [],
    chatwootRequest: extra.chatwootRequest ?? null,
    token: { kind: 'instance', accountId: record.accountId, instanceId: record.id, instanceName: record.name, limits: { global: 100, create: 20 } },
  };
}

async function failureOf(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    () => undefined,
    (error: unknown) => error,
  );
}

describe('DynamoDB instance repository', () => {
  let client: DynamoDBClient;
  let doc: ReturnType<typeof documentClient>;
  let tableName: string;
  let accounts: AccountRepository;
  let instances: InstanceRepository;
  let directory: TokenDirectory;

  beforeAll(async () => {
    client = new DynamoDBClient({
      endpoint: inject('dynamodbEndpoint'),
      region: 'local',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
    tableName = `instance-repository-${randomUUID()}`;
    await ensureTable(client, tableName);
    doc = documentClient(client);
    const context = { doc, tableName };
    accounts = createAccountRepository(context);
    instances = createInstanceRepository(context);
    directory = createTokenDirectory(context);
  });

  afterAll(() => {
    client?.destroy();
  });

  async function newAccount(overrides: Partial<AccountRecord> = {}): Promise<AccountRecord> {
    const record = account(overrides);
    await accounts.create(record);
    return record;
  }

  /** Every raw item of the account's partition whose sort key starts with `prefix`. */
  async function rawItems(accountId: string, prefix: string): Promise<Record<string, unknown>[]> {
    const out = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': `ACCOUNT#${accountId}`, ':prefix': prefix },
        ConsistentRead: true,
      }),
    );
    return out.Items ?? [];
  }

  describe('create', () => {
    it('writes the instance, its token, webhooks and Chatwoot request, and takes a quota slot', async () => {
      // Prepare
      const owner = await newAccount();
      const record = instance(owner.id, 'orion', {
        proxy: { host: 'proxy.example.com', port: '1080', protocol: 'socks5', username: 'user', passwordSealed: 'v1.sealed-password' },
        websocket: { enabled: true, events: ['message.exchange'], mediaBase64: false },
      });
      const hooks = [webhook('default', 'https://app.example.com/webhook')];

      // Act
      await instances.create(newInstance(record, { webhooks: hooks, chatwootRequest }));
      const stored = await instances.get(owner.id, 'orion');
      const counted = await directory.authenticate(record.tokenHash, 'global', WINDOW);
      const ownerAfter = await accounts.get(owner.id);

      // Assess
      expect(stored).toEqual({ instance: record, webhooks: hooks, chatwootRequest });
      expect(counted?.entry).toEqual({ kind: 'instance', accountId: owner.id, instanceId: record.id, instanceName: 'orion', limits: { global: 100, create: 20 } });
      expect(ownerAfter?.instanceCount).toBe(1);
    });

    it('refuses a name already used in the account with instance.conflict, and changes nothing', async () => {
      // Prepare
      const owner = await newAccount();
      const original = instance(owner.id, 'taken');
      await instances.create(newInstance(original));
      const duplicate = instance(owner.id, 'taken');

      // Act
      const failure = await failureOf(instances.create(newInstance(duplicate, { webhooks: [webhook('default', 'https://dup.example.com')] })));

      // Assess
      expect(failure).toBeInstanceOf(DomainError);
      expect((failure as DomainError).code).toBe('instance.conflict');
      expect(await instances.get(owner.id, 'taken')).toEqual({ instance: original, webhooks: [], chatwootRequest: null });
      expect(await directory.authenticate(duplicate.tokenHash, 'global', WINDOW)).toBeNull();
      expect((await accounts.get(owner.id))?.instanceCount).toBe(1);
    });

    it('accepts the same name in another account', async () => {
      // Prepare
      const first = await newAccount();
      const second = await newAccount();
      await instances.create(newInstance(instance(first.id, 'shared-name')));

      // Act
      await instances.create(newInstance(instance(second.id, 'shared-name')));

      // Assess
      expect((await instances.get(second.id, 'shared-name'))?.instance.accountId).toBe(second.id);
    });

    it('refuses a token already used anywhere on the server with instance.conflict', async () => {
      // Prepare
      const first = await newAccount();
      const second = await newAccount();
      const original = instance(first.id, 'token-owner');
      await instances.create(newInstance(original));

      // Act
      const failure = await failureOf(instances.create(newInstance(instance(second.id, 'token-thief', { tokenHash: original.tokenHash }))));

      // Assess
      expect((failure as DomainError).code).toBe('instance.conflict');
      expect(await instances.get(second.id, 'token-thief')).toBeNull();
      expect((await directory.authenticate(original.tokenHash, 'global', WINDOW))?.entry).toMatchObject({ instanceId: original.id });
    });

    it('refuses a token equal to an account token with instance.conflict', async () => {
      // Prepare
      const owner = await newAccount();

      // Act
      const failure = await failureOf(instances.create(newInstance(instance(owner.id, 'mimic', { tokenHash: owner.tokenHash }))));

      // Assess
      expect((failure as DomainError).code).toBe('instance.conflict');
      expect((await directory.authenticate(owner.tokenHash, 'global', WINDOW))?.entry.kind).toBe('account');
    });

    it('reports a conflict before the quota when the account is full', async () => {
      // Prepare
      const owner = await newAccount({ instanceQuota: 1 });
      const existing = instance(owner.id, 'full');
      await instances.create(newInstance(existing));

      // Act
      const sameName = await failureOf(instances.create(newInstance(instance(owner.id, 'full'))));
      const sameToken = await failureOf(instances.create(newInstance(instance(owner.id, 'other', { tokenHash: existing.tokenHash }))));

      // Assess
      expect((sameName as DomainError).code).toBe('instance.conflict');
      expect((sameToken as DomainError).code).toBe('instance.conflict');
    });

    it('refuses an instance beyond the quota with account.quota_exceeded', async () => {
      // Prepare
      const owner = await newAccount({ instanceQuota: 2 });
      await instances.create(newInstance(instance(owner.id, 'one')));
      await instances.create(newInstance(instance(owner.id, 'two')));
      const third = instance(owner.id, 'three');

      // Act
      const failure = await failureOf(instances.create(newInstance(third)));

      // Assess
      expect(failure).toBeInstanceOf(DomainError);
      expect((failure as DomainError).code).toBe('account.quota_exceeded');
      expect(await instances.get(owner.id, 'three')).toBeNull();
      expect(await directory.authenticate(third.tokenHash, 'global', WINDOW)).toBeNull();
      expect((await accounts.get(owner.id))?.instanceCount).toBe(2);
    });

    it('lets exactly 5 of 15 concurrent creates through on a quota of 5', async () => {
      // Prepare
      const owner = await newAccount({ instanceQuota: 5 });
      const records = Array.from({ length: 15 }, (_, i) => instance(owner.id, `race-${i}`));

      // Act
      const outcomes = await Promise.allSettled(records.map((record) => instances.create(newInstance(record))));

      // Assess
      const refusals = outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => (outcome.reason as DomainError).code);
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(5);
      expect(refusals).toEqual(Array.from({ length: 10 }, () => 'account.quota_exceeded'));
      expect(await instances.listByAccount(owner.id)).toHaveLength(5);
      expect((await accounts.get(owner.id))?.instanceCount).toBe(5);
    });
    it('lets exactly one of 20 concurrent creates of one name through', async () => {
      // Prepare
      const owner = await newAccount({ instanceQuota: 50 });
      const records = Array.from({ length: 20 }, () => instance(owner.id, 'contested'));

      // Act
      const outcomes = await Promise.allSettled(records.map((record) => instances.create(newInstance(record))));

      // Assess
      const winners = records.filter((_, i) => outcomes[i]?.status === 'fulfilled');
      const refusals = outcomes.filter((outcome) => outcome.status === 'rejected').map((outcome) => (outcome.reason as DomainError).code);
      expect(winners).toHaveLength(1);
      expect(refusals).toEqual(Array.from({ length: 19 }, () => 'instance.conflict'));
      expect((await instances.get(owner.id, 'contested'))?.instance.id).toBe(winners[0]?.id);
      expect((await accounts.get(owner.id))?.instanceCount).toBe(1);
    });
  });

  describe('get and listByAccount', () => {
    it('folds each instance with its own sub-items, even when one name is a prefix of another', async () => {
      // Prepare
      const owner = await newAccount();
      const sales = instance(owner.id, 'sales', { createdAt: '2026-04-28T10:31:00Z' });
      const sales2 = instance(owner.id, 'sales2', { createdAt: '2026-04-28T10:32:00Z' });
      const salesHooks = [webhook('default', 'https://sales.example.com/hook'), webhook('crm', 'https://crm.example.com/hook')];
      const sales2Hooks = [webhook('default', 'https://sales2.example.com/hook')];
      await instances.create(newInstance(sales2, { webhooks: sales2Hooks, chatwootRequest }));
      await instances.create(newInstance(sales, { webhooks: salesHooks }));

      // Act
      const got = await instances.get(owner.id, 'sales');
      const got2 = await instances.get(owner.id, 'sales2');

      // Assess
      expect(got?.instance).toEqual(sales);
      expect(got?.webhooks.map((hook) => hook.url).sort()).toEqual(['https://crm.example.com/hook', 'https://sales.example.com/hook']);
      expect(got?.chatwootRequest).toBeNull();
      expect(got2).toEqual({ instance: sales2, webhooks: sales2Hooks, chatwootRequest });
    });

    it('returns null for a missing name, including a prefix of an existing one', async () => {
      // Prepare
      const owner = await newAccount();
      await instances.create(newInstance(instance(owner.id, 'support2'), { webhooks: [webhook('default', 'https://x.example.com')] }));

      // Act
      const missing = await instances.get(owner.id, 'support');

      // Assess
      expect(missing).toBeNull();
    });

    it("does not see another account's instances", async () => {
      // Prepare
      const owner = await newAccount();
      const stranger = await newAccount();
      await instances.create(newInstance(instance(owner.id, 'private')));

      // Act
      const got = await instances.get(stranger.id, 'private');
      const listed = await instances.listByAccount(stranger.id);

      // Assess
      expect(got).toBeNull();
      expect(listed).toEqual([]);
    });

    it('lists the instances of the account ordered by createdAt, each with its sub-items', async () => {
      // Prepare: written out of order
      const owner = await newAccount();
      const late = instance(owner.id, 'a-late', { createdAt: '2026-04-28T12:00:02Z' });
      const early = instance(owner.id, 'z-early', { createdAt: '2026-04-28T12:00:00Z' });
      const middle = instance(owner.id, 'm-middle', { createdAt: '2026-04-28T12:00:01Z' });
      const middleHooks = [webhook('default', 'https://middle.example.com')];
      await instances.create(newInstance(late, { chatwootRequest }));
      await instances.create(newInstance(early));
      await instances.create(newInstance(middle, { webhooks: middleHooks }));

      // Act
      const listed = await instances.listByAccount(owner.id);

      // Assess
      expect(listed.map((aggregate) => aggregate.instance.name)).toEqual(['z-early', 'm-middle', 'a-late']);
      expect(listed[1]).toEqual({ instance: middle, webhooks: middleHooks, chatwootRequest: null });
      expect(listed[2]).toEqual({ instance: late, webhooks: [], chatwootRequest });
    });
  });

  describe('update', () => {
    it('sets the given fields and removes those given as null', async () => {
      // Prepare
      const owner = await newAccount();
      const record = instance(owner.id, 'configurable', {
        proxy: { host: 'proxy.example.com', port: '3128', protocol: 'http', username: null, passwordSealed: null },
      });
      await instances.create(newInstance(record));
      const settings = { ...defaultSettings, autoRejectCalls: true, callRejectMessage: 'busy' };
      const s3 = {
        region: 'us-east-1',
        bucket: 'media',
        accessKeySealed: 'v1.sealed-access',
        secretKeySealed: 'v1.sealed-secret',
        endpoint: null,
        pathPrefix: 'media/',
      };

      // Act
      const updated = await instances.update(owner.id, 'configurable', { settings, s3, proxy: null, updatedAt: '2026-04-28T11:00:00Z' });
      const stored = await instances.get(owner.id, 'configurable');

      // Assess
      const expected = { ...record, settings, s3, proxy: null, updatedAt: '2026-04-28T11:00:00Z' };
      expect(updated).toEqual(expected);
      expect(stored?.instance).toEqual(expected);
    });

    it('keeps fields that the patch leaves out', async () => {
      // Prepare
      const owner = await newAccount();
      const websocket = { enabled: true, events: ['message.exchange' as const], mediaBase64: true };
      const record = instance(owner.id, 'partial', { websocket });
      await instances.create(newInstance(record));

      // Act
      const updated = await instances.update(owner.id, 'partial', { settings: { ...defaultSettings, ignoreStatus: true }, updatedAt: '2026-04-28T11:00:00Z' });

      // Assess
      expect(updated?.websocket).toEqual(websocket);
      expect(updated?.settings.ignoreStatus).toBe(true);
    });

    it('returns null for an instance that does not exist, and creates nothing', async () => {
      // Prepare
      const owner = await newAccount();

      // Act
      const updated = await instances.update(owner.id, 'ghost', { settings: { ...defaultSettings }, updatedAt: '2026-04-28T11:00:00Z' });

      // Assess
      expect(updated).toBeNull();
      expect(await rawItems(owner.id, 'INSTANCE#ghost#')).toEqual([]);
    });
  });

  describe('delete', () => {
    it('removes every item of the instance, its token, and frees its quota slot', async () => {
      // Prepare
      const owner = await newAccount({ instanceQuota: 1 });
      const record = instance(owner.id, 'doomed');
      await instances.create(
        newInstance(record, { webhooks: [webhook('default', 'https://a.example.com'), webhook('b', 'https://b.example.com')], chatwootRequest }),
      );
      const neighbour = await newAccount();
      await instances.create(newInstance(instance(neighbour.id, 'doomed2')));
      const aggregate = await instances.get(owner.id, 'doomed');
      const deliveryLog = { pk: `DELIVERY#${record.id}`, sk: '01JSX3A8B2C4D6E8F0G2H4J6K8#default', entity: 'delivery', status: 'delivered' };
      await doc.send(new PutCommand({ TableName: tableName, Item: deliveryLog }));

      // Act
      const deleted = await instances.delete(aggregate!);

      // Assess
      expect(deleted).toBe(true);
      expect(await rawItems(owner.id, 'INSTANCE#')).toEqual([]);
      const log = await doc.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': deliveryLog.pk } }));
      expect(log.Items).toEqual([]);
      expect(await directory.authenticate(record.tokenHash, 'global', WINDOW)).toBeNull();
      expect((await accounts.get(owner.id))?.instanceCount).toBe(0);
      expect(await instances.get(neighbour.id, 'doomed2')).not.toBeNull();
    });

    it('does not touch an instance whose name is an extension of the deleted one', async () => {
      // Prepare
      const owner = await newAccount();
      await instances.create(newInstance(instance(owner.id, 'team')));
      const sibling = instance(owner.id, 'team2');
      const siblingHooks = [webhook('default', 'https://team2.example.com')];
      await instances.create(newInstance(sibling, { webhooks: siblingHooks, chatwootRequest }));
      const aggregate = await instances.get(owner.id, 'team');

      // Act
      await instances.delete(aggregate!);

      // Assess
      expect(await instances.get(owner.id, 'team2')).toEqual({ instance: sibling, webhooks: siblingHooks, chatwootRequest });
      expect((await accounts.get(owner.id))?.instanceCount).toBe(1);
    });

    it('returns false for a second delete and does not free a second slot', async () => {
      // Prepare
      const owner = await newAccount();
      await instances.create(newInstance(instance(owner.id, 'once')));
      await instances.create(newInstance(instance(owner.id, 'stays')));
      const aggregate = await instances.get(owner.id, 'once');
      await instances.delete(aggregate!);

      // Act
      const again = await instances.delete(aggregate!);

      // Assess
      expect(again).toBe(false);
      expect((await accounts.get(owner.id))?.instanceCount).toBe(1);
    });

    it('lets a new instance reuse the name without inheriting the old sub-items', async () => {
      // Prepare
      const owner = await newAccount();
      await instances.create(newInstance(instance(owner.id, 'reborn'), { webhooks: [webhook('default', 'https://old.example.com')], chatwootRequest }));
      await instances.delete((await instances.get(owner.id, 'reborn'))!);
      const fresh = instance(owner.id, 'reborn');

      // Act
      await instances.create(newInstance(fresh));
      const got = await instances.get(owner.id, 'reborn');

      // Assess
      expect(got).toEqual({ instance: fresh, webhooks: [], chatwootRequest: null });
    });
  });
});
