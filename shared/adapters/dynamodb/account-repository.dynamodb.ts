import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { AccountRecord } from '../../domain/account/account.ts';
import type { AccountPatch, AccountRepository } from '../../domain/ports/repositories.port.ts';
import { hasOldItem, queryAll, stripKeys, transactWrite, type DynamoContext } from './document-client.ts';
import { keys, tableSchema } from './table.ts';
import { tokenItem } from './token-directory.dynamodb.ts';

const accountItem = (account: AccountRecord) => ({
  ...keys.account(account.id),
  gsi1pk: keys.accountsIndex,
  gsi1sk: `${account.createdAt}#${account.id}`,
  entity: 'account',
  v: 1,
  ...account,
});

export const createAccountRepository = ({ doc, tableName }: DynamoContext): AccountRepository => {
  const get = async (id: string): Promise<AccountRecord | null> => {
    const out = await doc.send(new GetCommand({ TableName: tableName, Key: keys.account(id), ConsistentRead: true }));
    return out.Item ? stripKeys<AccountRecord>(out.Item) : null;
  };

  /** Token items carry their account's limits so that authentication stays one write. */
  const propagateLimits = async (account: AccountRecord): Promise<void> => {
    const hashes = [account.tokenHash];
    const items = await queryAll(doc, {
      TableName: tableName,
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      FilterExpression: 'entity = :instance',
      ProjectionExpression: 'tokenHash',
      ExpressionAttributeValues: { ':pk': keys.account(account.id).pk, ':prefix': keys.instancePrefix, ':instance': 'instance' },
    });
    for (const item of items) hashes.push(item.tokenHash as string);
    for (const hash of hashes) {
      try {
        await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.token(hash),
            UpdateExpression: 'SET limits = :limits',
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeValues: { ':limits': account.rateLimits },
          }),
        );
      } catch (error) {
        // A token deleted meanwhile (instance deleted, account rotated) needs no limits.
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
  };

  return {
    async create(account) {
      const cancelled = await transactWrite(doc, {
        TransactItems: [
          { Put: { TableName: tableName, Item: accountItem(account), ConditionExpression: 'attribute_not_exists(pk)' } },
          {
            Put: {
              TableName: tableName,
              Item: tokenItem(account.tokenHash, { kind: 'account', accountId: account.id, limits: account.rateLimits }),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      });
      if (cancelled) throw cancelled;
    },

    get,

    async list() {
      const accounts: AccountRecord[] = [];
      const items = await queryAll(doc, {
        TableName: tableName,
        IndexName: tableSchema.gsi1.name,
        KeyConditionExpression: 'gsi1pk = :pk',
        ExpressionAttributeValues: { ':pk': keys.accountsIndex },
      });
      for (const item of items) accounts.push(stripKeys<AccountRecord>(item));
      return accounts;
    },

    async update(id, patch: AccountPatch) {
      const names: Record<string, string> = { '#updatedAt': 'updatedAt' };
      const values: Record<string, unknown> = { ':updatedAt': patch.updatedAt };
      const sets = ['#updatedAt = :updatedAt'];
      for (const field of ['name', 'instanceQuota', 'rateLimits'] as const) {
        if (patch[field] === undefined) continue;
        names[`#${field}`] = field;
        values[`:${field}`] = patch[field];
        sets.push(`#${field} = :${field}`);
      }
      let updated: AccountRecord;
      try {
        const out = await doc.send(
          new UpdateCommand({
            TableName: tableName,
            Key: keys.account(id),
            UpdateExpression: `SET ${sets.join(', ')}`,
            ConditionExpression: 'attribute_exists(pk)',
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ReturnValues: 'ALL_NEW',
          }),
        );
        updated = stripKeys<AccountRecord>(out.Attributes ?? {});
      } catch (error) {
        if (error instanceof ConditionalCheckFailedException) return null;
        throw error;
      }
      if (patch.rateLimits) await propagateLimits(updated);
      return updated;
    },

    async rotateToken(id, newTokenHash, updatedAt) {
      const account = await get(id);
      if (!account) return false;
      const cancelled = await transactWrite(doc, {
        TransactItems: [
          {
            Update: {
              TableName: tableName,
              Key: keys.account(id),
              UpdateExpression: 'SET tokenHash = :new, updatedAt = :updatedAt',
              ConditionExpression: 'tokenHash = :old',
              ExpressionAttributeValues: { ':new': newTokenHash, ':old': account.tokenHash, ':updatedAt': updatedAt },
            },
          },
          { Delete: { TableName: tableName, Key: keys.token(account.tokenHash) } },
          {
            Put: {
              TableName: tableName,
              Item: tokenItem(newTokenHash, { kind: 'account', accountId: id, limits: account.rateLimits }),
              ConditionExpression: 'attribute_not_exists(pk)',
            },
          },
        ],
      });
      if (cancelled) throw cancelled;
      return true;
    },

    async delete(id) {
      const account = await get(id);
      if (!account) return 'not_found';
      const cancelled = await transactWrite(doc, {
        TransactItems: [
          {
            Delete: {
              TableName: tableName,
              Key: keys.account(id),
              ConditionExpression: 'attribute_exists(pk) AND instanceCount = :zero',
              ExpressionAttributeValues: { ':zero': 0 },
              ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
            },
          },
          { Delete: { TableName: tableName, Key: keys.token(account.tokenHash) } },
        ],
      });
      if (!cancelled) return 'deleted';
      if (cancelled.CancellationReasons?.[0]?.Code === 'ConditionalCheckFailed') {
        return hasOldItem(cancelled, 0) ? 'has_instances' : 'not_found';
      }
      throw cancelled;
    },
  };
};
