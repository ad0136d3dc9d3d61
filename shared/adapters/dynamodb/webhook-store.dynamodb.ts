import { DomainError } from '../../domain/errors/domain-error.ts';
import type { InstanceRecord, WebhookRecord } from '../../domain/instance/instance.ts';
import { cancellationCodes, queryAll, transactWrite, type DynamoContext } from './document-client.ts';
import { keys } from './table.ts';

/** Writes webhook configuration items (beside the instance, spec #14). */
export interface WebhookStore {
  /**
   * Upserts the webhook while the instance (same id) still exists; throws `instance.not_found`
   * otherwise. An enabled row is written only while fewer than `maxEnabled` *other* rows are
   * enabled — checked and written atomically, so concurrent saves cannot exceed the limit —
   * else nothing is written and the answer is `limit`.
   */
  put(instance: InstanceRecord, webhook: WebhookRecord, options: { maxEnabled: number }): Promise<'saved' | 'limit'>;
}

/** Optimistic rounds before giving up; every round but a failing one lets one concurrent save through. */
const maxRounds = 40;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Every webhook write bumps `webhooksVersion` on the instance item, on condition that it still
 * holds the version the count was made from (optimistic locking). A save that lost the race
 * reads the rows again and recounts. Instances created before the attribute existed count as
 * version 0 (attribute absent), so no migration is needed.
 */
export const createWebhookStore = ({ doc, tableName }: DynamoContext): WebhookStore => ({
  async put(instance, webhook, { maxEnabled }) {
    for (let round = 1; ; round++) {
      const items = await queryAll(doc, {
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.instance(instance.accountId, instance.name).pk, ':prefix': keys.instanceItemsPrefix(instance.name) },
        ConsistentRead: true,
      });
      const meta = items.find((item) => item.entity === 'instance');
      if (!meta || meta.id !== instance.id) throw new DomainError('instance.not_found');
      if (webhook.enabled) {
        const othersEnabled = items.filter((item) => item.entity === 'webhook' && item.enabled === true && item.label !== webhook.label).length;
        if (othersEnabled >= maxEnabled) return 'limit';
      }
      const version = typeof meta.webhooksVersion === 'number' ? meta.webhooksVersion : 0;
      const cancelled = await transactWrite(doc, {
        TransactItems: [
          {
            Update: {
              TableName: tableName,
              Key: keys.instance(instance.accountId, instance.name),
              UpdateExpression: 'SET webhooksVersion = :next',
              ConditionExpression: `attribute_exists(pk) AND id = :id AND ${version === 0 ? 'attribute_not_exists(webhooksVersion)' : 'webhooksVersion = :version'}`,
              ExpressionAttributeValues: { ':id': instance.id, ':next': version + 1, ...(version === 0 ? {} : { ':version': version }) },
            },
          },
          { Put: { TableName: tableName, Item: { ...keys.webhook(instance.accountId, instance.name, webhook.label), entity: 'webhook', v: 1, ...webhook } } },
        ],
      });
      if (!cancelled) return 'saved';
      if (cancellationCodes(cancelled)[0] !== 'ConditionalCheckFailed' || round >= maxRounds) throw cancelled;
      // Another save (or a deletion) changed the instance since the read: read again.
      await sleep(Math.random() * Math.min(50, 2 * round));
    }
  },
});
