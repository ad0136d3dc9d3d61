import { GoneException, PostToConnectionCommand, type ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DeleteCommand, GetCommand, QueryCommand, TransactWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { envelopeOf, wants, type EventRecord } from '../../shared/domain/events/event.ts';
import { admitWebsocket, maxWebsocketConnections, streamData, streamTargetOf } from '../../shared/domain/use-cases/websocket.use-cases.ts';
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
 */

/** Connection items (ARCHITECTURE single table): the instance's set, and the reverse lookup `$disconnect` needs. */
export const wsConnectionKeys = {
  connection: (instanceId: string, connectionId: string) => ({ pk: `WSCONN#${instanceId}`, sk: connectionId }),
  partition: (instanceId: string) => `WSCONN#${instanceId}`,
  byConnection: (connectionId: string) => ({ pk: `WSCONNID#${connectionId}`, sk: 'WSCONN' }),
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

const forget = async (deps: WebsocketAwsDeps, instanceId: string, connectionId: string) => {
  await deps.doc.send(
    new TransactWriteCommand({
      TransactItems: [
        { Delete: { TableName: deps.tableName, Key: wsConnectionKeys.connection(instanceId, connectionId) } },
        { Delete: { TableName: deps.tableName, Key: wsConnectionKeys.byConnection(connectionId) } },
      ],
    }),
  );
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
    const common = { instanceId: instance.id, accountId: instance.accountId, instanceName: instance.name, connectedAt: deps.clock.now().toISOString(), ttl: nowSeconds(deps) + connectionTtlSeconds };
    await deps.doc.send(
      new TransactWriteCommand({
        TransactItems: [
          { Put: { TableName: deps.tableName, Item: { ...wsConnectionKeys.connection(instance.id, connectionId), ...common } } },
          { Put: { TableName: deps.tableName, Item: { ...wsConnectionKeys.byConnection(connectionId), ...common } } },
        ],
      }),
    );
    return { statusCode: 200, headers: responseHeaders, body: '' };
  };

/** `$disconnect`: best effort by API Gateway, so the items also expire by TTL. */
export const websocketDisconnectHandler =
  (deps: WebsocketAwsDeps) =>
  async (event: WebsocketEvent): Promise<APIGatewayProxyResult> => {
    const connectionId = event.requestContext.connectionId;
    const found = await deps.doc.send(new GetCommand({ TableName: deps.tableName, Key: wsConnectionKeys.byConnection(connectionId) }));
    if (found.Item) await forget(deps, found.Item.instanceId as string, connectionId);
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
      await Promise.all(connections.map((connectionId) => forget(deps, record.instanceId, connectionId)));
      return outcome;
    }
    const config = target.websocket;
    if (config?.enabled !== true || !wants(config.events, record.event)) return outcome;
    const frame = JSON.stringify(
      envelopeOf({ ...record, data: streamData(record.data, config.mediaBase64) }, { baseUrl: deps.baseUrl, instance: record.instanceName, token: target.token }),
    );
    await Promise.all(
      connections.map(async (connectionId) => {
        try {
          await deps.management.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: frame }));
          outcome.sent += 1;
        } catch (error) {
          if (error instanceof GoneException) {
            outcome.gone += 1;
            await forget(deps, record.instanceId, connectionId);
            return;
          }
          deps.logger.warn('websocket post failed', { instanceId: record.instanceId, eventId: record.id, error: error instanceof Error ? error.message : String(error) });
        }
      }),
    );
    return outcome;
  };
