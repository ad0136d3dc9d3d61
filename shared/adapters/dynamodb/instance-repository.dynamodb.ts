import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { DomainError } from '../../domain/errors/domain-error.ts';
import type { ChatwootRequestRecord, InstanceAggregate, InstanceRecord, WebhookRecord } from '../../domain/instance/instance.ts';
import type { InstancePatch, InstanceRepository } from '../../domain/ports/repositories.port.ts';
import { cancellationCodes, hasOldItem, queryAll, stripKeys, transactWrite, type DynamoContext } from './document-client.ts';
import { deliveryKeys } from './delivery-repository.dynamodb.ts';
import { keys } from './table.ts';
import { tokenItem } from './token-directory.dynamodb.ts';

const instanceItem = (instance: InstanceRecord) => ({ ...keys.instance(instance.accountId, instance.name), entity: 'instance', v: 1, ...instance });
const webhookItem = (instance: InstanceRecord, webhook: WebhookRecord) => ({
  ...keys.webhook(instance.accountId, instance.name, webhook.label),
  entity: 'webhook',
  v: 1,
  ...webhook,
});
const chatwootRequestItem = (instance: InstanceRecord, request: ChatwootRequestRecord) => ({
  ...keys.chatwootRequest(instance.accountId, instance.name),
  entity: 'chatwoot_request',
  v: 1,
  ...request,
});

/** Optional blocks cleared with `REMOVE` come back absent; the record always holds them as `null`. */
const toInstanceRecord = (item: Record<string, unknown>): InstanceRecord => {
  const record = stripKeys<InstanceRecord>(item);
  return { ...record, proxy: record.proxy ?? null, s3: record.s3 ?? null, websocket: record.websocket ?? null };
};

/** Folds the items of one account partition (instances and their sub-items) into aggregates. */
const aggregate = (items: Record<string, unknown>[]): InstanceAggregate[] => {
  const byName = new Map<string, { instance?: InstanceRecord; webhooks: WebhookRecord[]; chatwootRequest: ChatwootRequestRecord | null }>();
  for (const item of items) {
    const sk = item.sk as string;
    const name = sk.slice(keys.instancePrefix.length, sk.indexOf('#', keys.instancePrefix.length));
    const entry = byName.get(name) ?? { webhooks: [], chatwootRequest: null };
    byName.set(name, entry);
    if (item.entity === 'instance') entry.instance = toInstanceRecord(item);
    else if (item.entity === 'webhook') entry.webhooks.push(stripKeys<WebhookRecord>(item));
    else if (item.entity === 'chatwoot_request') entry.chatwootRequest = stripKeys<ChatwootRequestRecord>(item);
  }
  const result: InstanceAggregate[] = [];
  for (const entry of byName.values()) {
    // Sub-items without an instance item are leftovers of an interrupted delete: not an instance.
    if (entry.instance) result.push({ instance: entry.instance, webhooks: entry.webhooks, chatwootRequest: entry.chatwootRequest });
  }
  return result.sort((a, b) => a.instance.createdAt.localeCompare(b.instance.createdAt) || a.instance.name.localeCompare(b.instance.name));
};

export const createInstanceRepository = ({ doc, tableName }: DynamoContext): InstanceRepository => {
  const queryPartition = (accountId: string, prefix: string): Promise<Record<string, unknown>[]> =>
    queryAll(doc, {
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': keys.account(accountId).pk, ':prefix': prefix },
      ConsistentRead: true,
    });

  const queryWhole = (pk: string): Promise<Record<string, unknown>[]> =>
    queryAll(doc, { TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': pk }, ProjectionExpression: 'pk, sk' });

  return {
    async create({ instance, webhooks, chatwootRequest, token }) {
      const cancelled = await transactWrite(doc, {
        TransactItems: [
          { Put: { TableName: tableName, Item: instanceItem(instance), ConditionExpression: 'attribute_not_exists(pk)' } },
          { Put: { TableName: tableName, Item: tokenItem(instance.tokenHash, token), ConditionExpression: 'attribute_not_exists(pk)' } },
          {
            Update: {
              TableName: tableName,
              Key: keys.account(instance.accountId),
              UpdateExpression: 'ADD instanceCount :one',
              ConditionExpression: 'attribute_exists(pk) AND instanceCount < instanceQuota',
              ExpressionAttributeValues: { ':one': 1 },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          ...webhooks.map((webhook) => ({ Put: { TableName: tableName, Item: webhookItem(instance, webhook) } })),
          ...(chatwootRequest ? [{ Put: { TableName: tableName, Item: chatwootRequestItem(instance, chatwootRequest) } }] : []),
        ],
      });
      if (!cancelled) return;
      const codes = cancellationCodes(cancelled);
      // Conflict is reported before quota (spec D44).
      if (codes[0] === 'ConditionalCheckFailed' || codes[1] === 'ConditionalCheckFailed') throw new DomainError('instance.conflict');
      if (codes[2] === 'ConditionalCheckFailed') {
        throw new DomainError(hasOldItem(cancelled, 2) ? 'account.quota_exceeded' : 'auth.invalid_token');
      }
      throw cancelled;
    },

    async get(accountId, name) {
      const items = await queryPartition(accountId, keys.instanceItemsPrefix(name));
      return aggregate(items)[0] ?? null;
    },

    async listByAccount(accountId) {
      return aggregate(await queryPartition(accountId, keys.instancePrefix));
    },

    async update(accountId, name, patch: InstancePatch) {
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = {};
      const sets: string[] = [];
      const removes: string[] = [];
      for (const [field, value] of Object.entries(patch)) {
        if (value === undefined) continue;
        names[`#${field}`] = field;
        if (value === null) {
          removes.push(`#${field}`);
          continue;
        }
        values[`:${field}`] = value;
        sets.push(`#${field} = :${field}`);
      }
      const expression = [sets.length ? `SET ${sets.join(', ')}` : '', removes.length ? `REMOVE ${removes.join(', ')}` : ''].join(' ').trim();
      try {
        const out = await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.instance(accountId, name),
            UpdateExpression: expression,
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: Object.keys(values).length ? values : undefined,
            ReturnValues: 'ALL_NEW',
          }),
        );
        return toInstanceRecord(out.Attributes ?? {});
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return null;
        throw error;
      }
    },

    async delete({ instance }) {
      // Sub-items first, the instance item last: an interrupted delete leaves an instance that
      // can be deleted again, never sub-items that a new instance of the same name would inherit.
      const items = await queryPartition(instance.accountId, keys.instanceItemsPrefix(instance.name));
      // The WhatsApp auth state and the session's runtime items go too (spec #6).
      const runtimeItems = [
        ...(await queryWhole(keys.authPartition(instance.id))),
        ...(await queryWhole(keys.session(instance.id).pk)),
        ...(await queryWhole(keys.messagePartition(instance.id))),
        // The delivery log too (spec D53); an attempt still in flight may write one row back, which its TTL removes.
        ...(await queryWhole(deliveryKeys.partition(instance.id))),
      ];
      const subItems = [...runtimeItems, ...items.filter((item) => item.entity !== 'instance')];
      for (let i = 0; i < subItems.length; i += 25) {
        let requests: Record<string, unknown>[] | undefined = subItems
          .slice(i, i + 25)
          .map((item) => ({ DeleteRequest: { Key: { pk: item.pk, sk: item.sk } } }));
        while (requests && requests.length) {
          const out = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
          requests = out.UnprocessedItems?.[tableName] as Record<string, unknown>[] | undefined;
        }
      }
      const cancelled = await transactWrite(doc, {
        TransactItems: [
          {
            Delete: {
              TableName: tableName,
              Key: keys.instance(instance.accountId, instance.name),
              ConditionExpression: 'attribute_exists(pk) AND id = :id',
              ExpressionAttributeValues: { ':id': instance.id },
            },
          },
          { Delete: { TableName: tableName, Key: keys.token(instance.tokenHash) } },
          {
            Update: {
              TableName: tableName,
              Key: keys.account(instance.accountId),
              UpdateExpression: 'ADD instanceCount :minusOne',
              ConditionExpression: 'attribute_exists(pk)',
              ExpressionAttributeValues: { ':minusOne': -1 },
            },
          },
        ],
      });
      if (!cancelled) return true;
      if (cancellationCodes(cancelled)[0] === 'ConditionalCheckFailed') return false;
      throw cancelled;
    },
  };
};
