import { DeleteConnectionCommand, GoneException, PostToConnectionCommand, type ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DeleteCommand, GetCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { envelopeOf, wants, type EventRecord } from '../../shared/domain/events/event.ts';
import type { Clock, Logger } from '../../shared/domain/ports/runtime.port.ts';
import type { StreamControl } from '../../shared/domain/ports/stream-control.port.ts';
import type { MediaDelivery } from '../../shared/domain/events/media.ts';
import { admitWebsocket, maxWebsocketConnections, streamData, streamTargetOf } from '../../shared/domain/use-cases/websocket.use-cases.ts';
import { renderError } from '../../shared/http/error-map.ts';
import { corsHeaders, errorBody, rateHeaders } from '../../shared/http/responses.ts';
import type { AppDeps } from '../deps.ts';
import { renderRefusal } from './websocket.handlers.ts';

/**
 * The API Gateway WebSocket API side of `GET /ws/:instance` (spec §3.7). `$connect` runs the same
 * checks as the embedded hub and records the connection; `$disconnect` forgets it; events are
 * pushed with `PostToConnection`, and a connection API Gateway reports gone is forgotten too.
 *
 * API Gateway WebSocket routes carry no path parameters: the instance name arrives as the query
 * parameter `instance` (the edge rewrites `/ws/<name>` to `?instance=<name>`).
 *
 * Closing a connection from the server is `DeleteConnection`, which cannot choose the close code
 * or reason: API Gateway closes with 1000. Instance deletion and TokenAccount rotation therefore
 * reach AWS clients as a close without `1008`; their reconnection is then refused (404 / 401).
 * No farewell frame is sent, since the contract allows no non-event server frame (spec §3.7).
 */

/**
 * Connection items (ARCHITECTURE single table): the instance's set, the reverse lookup
 * `$disconnect` needs, and the account's set of connections opened with its TokenAccount (what a
 * rotation closes). Each carries `tokenKind` and `tokenHash` (the keyed hash, never the token).
 */
export const wsConnectionKeys = {
  connection: (instanceId: string, connectionId: string) => ({ pk: `WSCONN#${instanceId}`, sk: connectionId }),
  partition: (instanceId: string) => `WSCONN#${instanceId}`,
  byConnection: (connectionId: string) => ({ pk: `WSCONNID#${connectionId}`, sk: 'WSCONN' }),
  byAccountToken: (accountId: string, connectionId: string) => ({ pk: `WSACCT#${accountId}`, sk: connectionId }),
  accountTokenPartition: (accountId: string) => `WSACCT#${accountId}`,
} as const;

/** API Gateway closes every connection after 2 hours; the items expire with it. */
export const connectionTtlSeconds = 2 * 60 * 60;

export interface WebsocketAwsDeps extends AppDeps {
  doc: DynamoDBDocumentClient;
  tableName: string;
  /** Endpoint `https://<api-id>.execute-api.<region>.amazonaws.com/<stage>` (or the custom domain). */
  management: ApiGatewayManagementApiClient;
  /** `<BASE_URL>`: `instanceData.baseUrl` of every frame. */
  baseUrl: string;
  /** Turns stored media into a presigned `s3Url` (and `base64`) per frame (shared/domain/events/media.ts). */
  media?: MediaDelivery;
}

/** The fields of an API Gateway WebSocket event these handlers read. */
export interface WebsocketEvent {
  headers?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
  isBase64Encoded?: boolean;
  requestContext: {
    connectionId: string;
    routeKey: string;
    requestId?: string;
    identity?: { sourceIp?: string };
  };
}

const lowerCase = (headers: WebsocketEvent['headers']): Record<string, string | undefined> =>
  Object.fromEntries(Object.entries(headers ?? {}).map(([key, value]) => [key.toLowerCase(), value]));

const nowSeconds = (deps: WebsocketAwsDeps) => Math.floor(deps.clock.now().getTime() / 1000);

/** Open connections of an instance; items past their TTL may linger until DynamoDB removes them. */
export const listConnections = async (deps: Pick<WebsocketAwsDeps, 'doc' | 'tableName' | 'clock'>, instanceId: string): Promise<string[]> => {
  const ids: string[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await deps.doc.send(
      new QueryCommand({
        TableName: deps.tableName,
        KeyConditionExpression: 'pk = :pk',
        FilterExpression: '#ttl > :now',
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: { ':pk': wsConnectionKeys.partition(instanceId), ':now': Math.floor(deps.clock.now().getTime() / 1000) },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) ids.push(item.sk as string);
    start = page.LastEvaluatedKey;
  } while (start);
  return ids;
};

type RegistryDeps = Pick<WebsocketAwsDeps, 'doc' | 'tableName'>;

/** Removes every item of a connection (deleting an absent item is a no-op). */
const forget = async (deps: RegistryDeps, ref: { instanceId: string; accountId: string }, connectionId: string) => {
  await deps.doc.send(
    new TransactWriteCommand({
      TransactItems: [
        { Delete: { TableName: deps.tableName, Key: wsConnectionKeys.connection(ref.instanceId, connectionId) } },
        { Delete: { TableName: deps.tableName, Key: wsConnectionKeys.byConnection(connectionId) } },
        { Delete: { TableName: deps.tableName, Key: wsConnectionKeys.byAccountToken(ref.accountId, connectionId) } },
      ],
    }),
  );
};

/** Closes the connection at API Gateway (code 1000, see above) and forgets it; an already gone one is only forgotten. */
const disconnect = async (deps: RegistryDeps & { management: ApiGatewayManagementApiClient }, ref: { instanceId: string; accountId: string }, connectionId: string) => {
  try {
    await deps.management.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
  } catch (error) {
    if (!(error instanceof GoneException)) throw error;
  }
  await forget(deps, ref, connectionId);
};

/** `$connect`: the checks of spec #18, then the connection item. A non-2xx answer refuses the upgrade. */
export const websocketConnectHandler =
  (deps: WebsocketAwsDeps) =>
  async (event: WebsocketEvent): Promise<APIGatewayProxyResult> => {
    const headers = lowerCase(event.headers);
    const query = event.queryStringParameters ?? {};
    const requestId = deps.ids.ulid();
    const admission = await admitWebsocket(deps, {
      instanceName: query.instance ?? '',
      headers,
      query,
      sourceIp: event.requestContext.identity?.sourceIp ?? 'unknown',
      // API Gateway only invokes `$connect` for a valid RFC 6455 handshake.
      upgrade: true,
      // Not atomic across concurrent `$connect`s: at worst a burst briefly exceeds the limit.
      reserve: async (instance) => (await listConnections(deps, instance.id)).length < maxWebsocketConnections,
    });
    const responseHeaders = {
      'Content-Type': 'application/json; charset=utf-8',
      'X-Request-Id': requestId,
      ...rateHeaders(admission.rate, nowSeconds(deps)),
      ...corsHeaders(deps.cors, headers.origin),
    };
    if (admission.kind === 'refused') {
      const { status, message } = renderRefusal(admission);
      return { statusCode: status, headers: responseHeaders, body: JSON.stringify(errorBody(message)) };
    }
    const { instance } = admission;
    const connectionId = event.requestContext.connectionId;
    const common = {
      instanceId: instance.id,
      accountId: instance.accountId,
      instanceName: instance.name,
      tokenKind: admission.principal.kind,
      tokenHash: admission.tokenHash,
      connectedAt: deps.clock.now().toISOString(),
      ttl: nowSeconds(deps) + connectionTtlSeconds,
    };
    await deps.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: deps.tableName, Item: { ...wsConnectionKeys.connection(instance.id, connectionId), ...common } } },
          { Put: { TableName: deps.tableName, Item: { ...wsConnectionKeys.byConnection(connectionId), ...common } } },
          ...(admission.principal.kind === 'account'
            ? [{ Put: { TableName: deps.tableName, Item: { ...wsConnectionKeys.byAccountToken(instance.accountId, connectionId), ...common } } }]
            : []),
        ],
      }),
    );
    // A rotation or deletion that ran between the checks and the write above did not see this
    // connection: re-reading after the write closes that window (both sides read consistently).
    const refusedAfterWrite = async (code: 'auth.invalid_token' | 'instance.not_found') => {
      await forget(deps, common, connectionId);
      const { status, message } = renderError(code);
      return { statusCode: status, headers: responseHeaders, body: JSON.stringify(errorBody(message)) };
    };
    if (admission.principal.kind === 'account' && (await deps.accounts.get(instance.accountId))?.tokenHash !== admission.tokenHash) return refusedAfterWrite('auth.invalid_token');
    if ((await deps.instances.get(instance.accountId, instance.name))?.instance.id !== instance.id) return refusedAfterWrite('instance.not_found');
    return { statusCode: 200, headers: responseHeaders, body: '' };
  };

/** `$disconnect`: best effort by API Gateway, so the items also expire by TTL. */
export const websocketDisconnectHandler =
  (deps: WebsocketAwsDeps) =>
  async (event: WebsocketEvent): Promise<APIGatewayProxyResult> => {
    const connectionId = event.requestContext.connectionId;
    const found = await deps.doc.send(new GetCommand({ TableName: deps.tableName, Key: wsConnectionKeys.byConnection(connectionId) }));
    if (found.Item) await forget(deps, { instanceId: found.Item.instanceId as string, accountId: found.Item.accountId as string }, connectionId);
    else await deps.doc.send(new DeleteCommand({ TableName: deps.tableName, Key: wsConnectionKeys.byConnection(connectionId) }));
    return { statusCode: 200, body: '' };
  };

/** `$default`: the text frame `ping` gets `pong`; every other client frame is ignored (spec §3.7). */
export const websocketDefaultHandler =
  (deps: WebsocketAwsDeps) =>
  async (event: WebsocketEvent): Promise<APIGatewayProxyResult> => {
    if (!event.isBase64Encoded && event.body === 'ping') {
      try {
        await deps.management.send(new PostToConnectionCommand({ ConnectionId: event.requestContext.connectionId, Data: 'pong' }));
      } catch (error) {
        if (!(error instanceof GoneException)) throw error;
      }
    }
    return { statusCode: 200, body: '' };
  };

export interface BroadcastOutcome {
  sent: number;
  gone: number;
}

/**
 * Pushes one event to the instance's connections, filtered by the instance's current WebSocket
 * configuration. Connections API Gateway reports gone (410) are forgotten; other failures are
 * logged and do not stop the other connections. At most once: nothing is retried.
 */
export const broadcastToConnections =
  (deps: WebsocketAwsDeps) =>
  async (record: EventRecord): Promise<BroadcastOutcome> => {
    const outcome: BroadcastOutcome = { sent: 0, gone: 0 };
    const connections = await listConnections(deps, record.instanceId);
    if (connections.length === 0) return outcome;
    const target = await streamTargetOf(deps, record);
    if (!target) {
      // Deleted without its streams being closed (e.g. a failed notification): close them now.
      await Promise.all(connections.map((connectionId) => disconnect(deps, record, connectionId)));
      return outcome;
    }
    const config = target.websocket;
    if (config?.enabled !== true || !wants(config.events, record.event)) return outcome;
    const frame = JSON.stringify(
      envelopeOf(
        { ...record, data: streamData(deps.media ? await deps.media.enrich(record, { mediaBase64: config.mediaBase64 }) : record.data, config.mediaBase64) },
        { baseUrl: deps.baseUrl, instance: record.instanceName, token: target.token },
      ),
    );
    await Promise.all(
      connections.map(async (connectionId) => {
        try {
          await deps.management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: frame }));
          outcome.sent += 1;
        } catch (error) {
          if (error instanceof GoneException) {
            outcome.gone += 1;
            await forget(deps, record, connectionId);
            return;
          }
          deps.logger.warn('websocket post failed', { instanceId: record.instanceId, eventId: record.id, error: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
    return outcome;
  };

export interface AwsStreamControlDeps {
  doc: DynamoDBDocumentClient;
  tableName: string;
  management: ApiGatewayManagementApiClient;
  clock: Clock;
  logger: Logger;
}

/**
 * `StreamControl` on AWS: the registry says which connections an instance deletion or a
 * TokenAccount rotation concerns; each is closed with `DeleteConnection` and forgotten. One
 * failing connection does not keep the others open (logged, then the first failure is thrown).
 */
export const createAwsStreamControl = (deps: AwsStreamControlDeps): StreamControl => {
  const closeAll = async (targets: { instanceId: string; accountId: string; connectionId: string }[], reason: string) => {
    const results = await Promise.allSettled(targets.map((target) => disconnect(deps, target, target.connectionId)));
    const failed = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
    for (const failure of failed) deps.logger.warn('websocket close failed', { reason, error: failure.reason instanceof Error ? failure.reason.message : String(failure.reason) });
    if (failed[0]) throw failed[0].reason;
  };
  return {
    async instanceDeleted({ instanceId, accountId }) {
      const connections = await listConnections(deps, instanceId);
      await closeAll(connections.map((connectionId) => ({ instanceId, accountId, connectionId })), 'Instance deleted');
    },
    async accountTokenRotated({ accountId, currentTokenHash }) {
      const items: Record<string, unknown>[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await deps.doc.send(
          new QueryCommand({
            TableName: deps.tableName,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': wsConnectionKeys.accountTokenPartition(accountId) },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        items.push(...(page.Items ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      const revoked = items.filter((item) => item.tokenHash !== currentTokenHash);
      await closeAll(revoked.map((item) => ({ instanceId: item.instanceId as string, accountId, connectionId: item.sk as string })), 'Token revoked');
    },
  };
};
