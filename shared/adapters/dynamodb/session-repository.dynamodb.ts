import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { ulid } from 'ulid';
import type { SessionState } from '../../domain/instance/instance.ts';
import { statusOfState } from '../../domain/instance/instance.ts';
import type { DesiredSession, SessionRepository, StateChange } from '../../domain/ports/session-repository.port.ts';
import { queryAll, type DynamoContext } from './document-client.ts';
import { keys, tableSchema } from './table.ts';

const stateLogTtlSeconds = 7 * 24 * 3600;

export const createSessionRepository = ({ doc, tableName }: DynamoContext, clock: { now(): Date } = { now: () => new Date() }): SessionRepository => ({
  async recordState(ref, change: StateChange) {
    const names: Record<string, string> = { '#status': 'status', '#state': 'state' };
    const values: Record<string, unknown> = { ':status': statusOfState[change.state], ':state': change.state, ':id': ref.instanceId };
    const sets = ['#status = :status', '#state = :state'];
    if (change.numberJid !== undefined) {
      names['#numberJid'] = 'numberJid';
      values[':numberJid'] = change.numberJid;
      sets.push('#numberJid = :numberJid');
    }
    if (change.profile !== undefined) {
      names['#profile'] = 'profile';
      values[':profile'] = change.profile;
      sets.push('#profile = :profile');
    }
    if (change.hasSession !== undefined) {
      names['#hasSession'] = 'hasSession';
      values[':hasSession'] = change.hasSession;
      sets.push('#hasSession = :hasSession');
    }
    let previous: SessionState | null = null;
    try {
      const out = await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.instance(ref.accountId, ref.instanceName),
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: 'attribute_exists(pk) AND id = :id',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'UPDATED_OLD',
        }),
      );
      previous = (out.Attributes?.state as SessionState | undefined) ?? null;
    } catch (error) {
      // The instance was deleted meanwhile: there is nobody left to tell.
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
    const at = clock.now();
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: {
          pk: keys.session(ref.instanceId).pk,
          sk: `STATE#${ulid(at.getTime())}`,
          entity: 'state_change',
          ...change,
          previousState: previous,
          at: at.toISOString(),
          ttl: Math.floor(at.getTime() / 1000) + stateLogTtlSeconds,
        },
      }),
    );
    return previous;
  },

  async stateLog(instanceId) {
    const out = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': keys.session(instanceId).pk, ':prefix': 'STATE#' },
        ConsistentRead: true,
      }),
    );
    const now = Math.floor(clock.now().getTime() / 1000);
    return (out.Items ?? [])
      .filter((item) => Number(item.ttl) > now)
      .map((item) => ({
        state: item.state as SessionState,
        reason: item.reason as string,
        numberJid: item.numberJid as string | null | undefined,
        previousState: (item.previousState as SessionState | null) ?? null,
        at: item.at as string,
      }));
  },

  async setLinking(ref, linking) {
    try {
      await doc.send(
        new UpdateCommand({
          TableName: tableName,
          Key: keys.instance(ref.accountId, ref.instanceName),
          UpdateExpression: 'SET linking = :linking',
          ConditionExpression: 'attribute_exists(pk) AND id = :id',
          ExpressionAttributeValues: { ':linking': linking, ':id': ref.instanceId },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  },

  async keepOpen(session: DesiredSession) {
    await doc.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...keys.session(session.instanceId), gsi1pk: keys.shardIndex(session.shard), gsi1sk: session.instanceId, entity: 'session', ...session },
      }),
    );
  },

  async forget(instanceId) {
    await doc.send(new DeleteCommand({ TableName: tableName, Key: keys.session(instanceId) }));
  },

  async desiredOn(shard) {
    const sessions: DesiredSession[] = [];
    const items = await queryAll(doc, {
      TableName: tableName,
      IndexName: tableSchema.gsi1.name,
      KeyConditionExpression: 'gsi1pk = :pk',
      ExpressionAttributeValues: { ':pk': keys.shardIndex(shard) },
    });
    for (const item of items) {
      sessions.push({ instanceId: item.instanceId as string, accountId: item.accountId as string, instanceName: item.instanceName as string, shard: item.shard as number });
    }
    // The index is eventually consistent: confirm each session still exists.
    const confirmed = await Promise.all(
      sessions.map(async (session) => ((await doc.send(new GetCommand({ TableName: tableName, Key: keys.session(session.instanceId), ConsistentRead: true }))).Item ? session : null)),
    );
    return confirmed.filter((session): session is DesiredSession => session !== null);
  },
});
