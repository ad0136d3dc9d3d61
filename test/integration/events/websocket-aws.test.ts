import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createAppDeps } from '../../../functions/deps.ts';
import {
  broadcastToConnections,
  connectionTtlSeconds,
  websocketConnectHandler,
  websocketDefaultHandler,
  websocketDisconnectHandler,
  wsConnectionKeys,
  type WebsocketAwsDeps,
  type WebsocketEvent,
} from '../../../functions/events/websocket-aws.handlers.ts';
import { localCredentials } from '../../../local/emulators/dynamodb-local.ts';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import { LocalKeyring } from '../../../shared/adapters/keys/keyring.local.ts';
import type { EventRecord } from '../../../shared/domain/events/event.ts';
import type { CreateInstanceBody } from '../../../shared/domain/instance/instance.schemas.ts';
import { createAccount } from '../../../shared/domain/use-cases/accounts.use-cases.ts';
import { createInstance } from '../../../shared/domain/use-cases/create-instance.use-case.ts';

// The API Gateway WebSocket handlers against DynamoDB Local and a fake of the management API
// (`POST /@connections/{id}`: 200 delivered, 410 gone), as API Gateway would call them.

const BASE_URL = 'https://api.example.test';

/** The management API's data plane: records each post, answers 410 for connections marked gone. */
const startManagementFake = async () => {
  const posts: { connectionId: string; body: string }[] = [];
  const gone = new Set<string>();
  const server: Server = createServer((req, res) => {
    const match = /^\/@connections\/([^/]+)$/.exec(req.url ?? '');
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if (req.method !== 'POST' || !match) {
        res.writeHead(404).end();
        return;
      }
      const connectionId = decodeURIComponent(match[1] as string);
      if (gone.has(connectionId)) {
        res.writeHead(410, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'GoneException' }).end(JSON.stringify({ message: null }));
        return;
      }
      posts.push({ connectionId, body });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, posts, gone, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};

describe('API Gateway WebSocket handlers', () => {
  let dynamo: DynamoDBClient;
  let management: Awaited<ReturnType<typeof startManagementFake>>;
  let deps: WebsocketAwsDeps;
  let account: { id: string; token: string };
  const tableName = `ws_aws_${process.pid}_${Date.now()}`;

  const newInstance = async (name: string, body: Partial<CreateInstanceBody> = { websocketEnabled: true }) => {
    const principal = { kind: 'account' as const, accountId: account.id, limits: { global: 1000, create: 1000 } };
    const created = await createInstance(deps, { principal, body: { name, ...body } as CreateInstanceBody });
    return { id: created.id, token: created.token };
  };

  let connectionCounter = 0;
  const connectEvent = (query: Record<string, string>, headers: Record<string, string> = {}): WebsocketEvent => ({
    headers: { Host: 'abc.execute-api.local', ...headers },
    queryStringParameters: query,
    requestContext: { connectionId: `conn${(connectionCounter += 1)}=`, routeKey: '$connect', identity: { sourceIp: '203.0.113.9' } },
  });

  let eventCounter = 0;
  const record = (instance: { id: string }, name: string, event: EventRecord['event']): EventRecord => ({
    id: `01JSX3A8B2C4D6E8F0G2H4J${String((eventCounter += 1)).padStart(3, '0')}`,
    event,
    instanceId: instance.id,
    accountId: account.id,
    instanceName: name,
    timestamp: '2026-04-28T10:30:00.123Z',
    data: { messageId: '3EB0C767D26A1D8E5F12' },
  });

  const storedConnections = async (instanceId: string) =>
    (
      await deps.doc.send(
        new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': wsConnectionKeys.partition(instanceId) }, ConsistentRead: true }),
      )
    ).Items ?? [];

  beforeAll(async () => {
    dynamo = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: localCredentials });
    await ensureTable(dynamo, tableName);
    management = await startManagementFake();
    const pepper = randomBytes(32);
    const appDeps = createAppDeps({
      dynamo,
      tableName,
      keyring: new LocalKeyring({ masterKeys: [{ id: 'k1', key: randomBytes(32) }] }),
      pepper,
      logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
      cors: { allowedOrigins: ['https://app.example.test'] },
      adminKey: null,
      defaults: { instanceQuota: 20, rateLimits: { global: 1000, create: 1000 } },
      limits: { ip: 1000, admin: 1000 },
      outbound: { allowPrivate: false, allowLoopback: false },
      health: {},
      bus: { send: async () => undefined } as unknown as WebsocketAwsDeps['bus'],
      connectWaitMs: 1000,
    });
    deps = {
      ...appDeps,
      doc: documentClient(dynamo),
      tableName,
      management: new ApiGatewayManagementApiClient({ endpoint: management.endpoint, region: 'local', credentials: localCredentials, maxAttempts: 1 }),
      baseUrl: BASE_URL,
    };
    const created = await createAccount(deps, { name: 'ws-aws' });
    account = { id: created.account.id, token: created.token };
  });

  afterAll(async () => {
    deps?.management.destroy();
    await new Promise<void>((resolve) => (management ? management.server.close(() => resolve()) : resolve()));
    dynamo?.destroy();
  });

  it('$connect admits an owner and records the connection for two hours', async () => {
    // Prepare
    const instance = await newInstance('aws-connect');
    const event = connectEvent({ instance: 'aws-connect', token: instance.token });
    const before = Math.floor(Date.now() / 1000);

    // Act
    const result = await websocketConnectHandler(deps)(event);

    // Assess
    expect(result.statusCode).toBe(200);
    expect(result.headers?.['X-RateLimit-Limit']).toBe('1000');
    const items = await storedConnections(instance.id);
    expect(items.map((item) => item.sk)).toEqual([event.requestContext.connectionId]);
    expect(items[0]?.ttl).toBeGreaterThanOrEqual(before + connectionTtlSeconds);
    expect(items[0]?.ttl).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + connectionTtlSeconds);
  });

  it('$connect refuses with the contract statuses and messages, storing nothing', async () => {
    // Prepare
    const enabled = await newInstance('aws-refuse');
    const disabled = await newInstance('aws-refuse-off', {});
    const other = await createAccount(deps, { name: 'ws-aws-other' });
    const connect = websocketConnectHandler(deps);

    // Act
    const notEnabled = await connect(connectEvent({ instance: 'aws-refuse-off' }, { token: disabled.token }));
    const notOwned = await connect(connectEvent({ instance: 'aws-refuse' }, { Authorization: `Bearer ${other.token}` }));
    const mismatch = await connect(connectEvent({ instance: 'aws-refuse', token: disabled.token }));
    const origin = await connect(connectEvent({ instance: 'aws-refuse', token: enabled.token }, { Origin: 'https://evil.example.test' }));
    const missing = await connect(connectEvent({ instance: 'aws-refuse' }));

    // Assess
    expect([notEnabled.statusCode, JSON.parse(notEnabled.body).error.message]).toEqual([
      400,
      'WebSocket is not enabled for this instance. Configure it first using POST /api/events/websocket/aws-refuse-off',
    ]);
    expect([notOwned.statusCode, JSON.parse(notOwned.body).error.message]).toEqual([404, 'Instance not found']);
    expect([mismatch.statusCode, JSON.parse(mismatch.body).error.message]).toEqual([403, 'Instance token does not match the requested instance']);
    expect([origin.statusCode, JSON.parse(origin.body)]).toEqual([403, { success: false, error: { message: 'Origin not allowed' } }]);
    expect([missing.statusCode, JSON.parse(missing.body).error.message]).toEqual([401, 'Missing token in header, Authorization header, or query parameter']);
    expect(await storedConnections(enabled.id)).toEqual([]);
  });

  it('$connect refuses the 11th connection of an instance', async () => {
    // Prepare
    const instance = await newInstance('aws-limit');
    const connect = websocketConnectHandler(deps);
    for (let i = 0; i < 10; i++) {
      const admitted = await connect(connectEvent({ instance: 'aws-limit', token: instance.token }));
      if (admitted.statusCode !== 200) throw new Error(`connection ${i + 1}: ${admitted.statusCode}`);
    }

    // Act
    const eleventh = await connect(connectEvent({ instance: 'aws-limit', token: instance.token }));

    // Assess
    expect(eleventh.statusCode).toBe(429);
    expect(JSON.parse(eleventh.body).error.message).toBe('Too many WebSocket connections for this instance');
    expect(await storedConnections(instance.id)).toHaveLength(10);
  });

  it('posts the envelope to every connection and forgets the ones API Gateway reports gone', async () => {
    // Prepare
    const instance = await newInstance('aws-broadcast');
    const live = connectEvent({ instance: 'aws-broadcast', token: instance.token });
    const dead = connectEvent({ instance: 'aws-broadcast', token: instance.token });
    await websocketConnectHandler(deps)(live);
    await websocketConnectHandler(deps)(dead);
    management.gone.add(dead.requestContext.connectionId);
    const event = record(instance, 'aws-broadcast', 'message.exchange');

    // Act
    const outcome = await broadcastToConnections(deps)(event);

    // Assess
    expect(outcome).toEqual({ sent: 1, gone: 1 });
    const posted = management.posts.filter((post) => post.connectionId === live.requestContext.connectionId);
    expect(posted.map((post) => JSON.parse(post.body))).toEqual([
      {
        event: 'message.exchange',
        data: { messageId: '3EB0C767D26A1D8E5F12' },
        instanceData: { baseUrl: BASE_URL, instance: 'aws-broadcast', token: instance.token },
        id: event.id,
        timestamp: event.timestamp,
      },
    ]);
    expect((await storedConnections(instance.id)).map((item) => item.sk)).toEqual([live.requestContext.connectionId]);
    const reverse = await deps.doc.send(new GetCommand({ TableName: tableName, Key: wsConnectionKeys.byConnection(dead.requestContext.connectionId), ConsistentRead: true }));
    expect(reverse.Item).toBeUndefined();
  });

  it('posts nothing for an event the configuration filters out', async () => {
    // Prepare
    const instance = await newInstance('aws-filter', { websocketEnabled: true, websocketEvents: ['call.update'] });
    const connection = connectEvent({ instance: 'aws-filter', token: instance.token });
    await websocketConnectHandler(deps)(connection);

    // Act
    const filtered = await broadcastToConnections(deps)(record(instance, 'aws-filter', 'message.exchange'));
    const wanted = await broadcastToConnections(deps)(record(instance, 'aws-filter', 'call.update'));

    // Assess
    expect(filtered).toEqual({ sent: 0, gone: 0 });
    expect(wanted).toEqual({ sent: 1, gone: 0 });
    expect(management.posts.filter((post) => post.connectionId === connection.requestContext.connectionId).map((post) => JSON.parse(post.body).event)).toEqual(['call.update']);
  });

  it('$disconnect forgets the connection and $default answers ping with pong', async () => {
    // Prepare
    const instance = await newInstance('aws-disconnect');
    const connection = connectEvent({ instance: 'aws-disconnect', token: instance.token });
    await websocketConnectHandler(deps)(connection);
    const connectionId = connection.requestContext.connectionId;

    // Act
    await websocketDefaultHandler(deps)({ body: 'ping', isBase64Encoded: false, requestContext: { connectionId, routeKey: '$default' } });
    await websocketDefaultHandler(deps)({ body: 'hello', isBase64Encoded: false, requestContext: { connectionId, routeKey: '$default' } });
    const result = await websocketDisconnectHandler(deps)({ requestContext: { connectionId, routeKey: '$disconnect' } });

    // Assess
    expect(result.statusCode).toBe(200);
    expect(management.posts.filter((post) => post.connectionId === connectionId).map((post) => post.body)).toEqual(['pong']);
    expect(await storedConnections(instance.id)).toEqual([]);
    const outcome = await broadcastToConnections(deps)(record(instance, 'aws-disconnect', 'message.exchange'));
    expect(outcome).toEqual({ sent: 0, gone: 0 });
  });
});
