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
  createAwsStreamControl,
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
import { createAccount, rotateAccountToken } from '../../../shared/domain/use-cases/accounts.use-cases.ts';
import { createInstance } from '../../../shared/domain/use-cases/create-instance.use-case.ts';
import { deleteInstance } from '../../../shared/domain/use-cases/list-instances.use-case.ts';

// The API Gateway WebSocket handlers against DynamoDB Local and a fake of the management API
// (`POST /@connections/{id}`: 200 delivered, 410 gone), as API Gateway would call them.

const BASE_URL = 'https://api.example.test';

/** The management API's data plane: records each post and delete, answers 410 for connections marked gone. */
const startManagementFake = async () => {
  const posts: { connectionId: string; body: string }[] = [];
  const deleted: string[] = [];
  const gone = new Set<string>();
  const server: Server = createServer((req, res) => {
    const match = /^\/@connections\/([^/]+)$/.exec(req.url ?? '');
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      if ((req.method !== 'POST' && req.method !== 'DELETE') || !match) {
        res.writeHead(404).end();
        return;
      }
      const connectionId = decodeURIComponent(match[1] as string);
      if (gone.has(connectionId)) {
        res.writeHead(410, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': 'GoneException' }).end(JSON.stringify({ message: null }));
        return;
      }
      if (req.method === 'DELETE') {
        deleted.push(connectionId);
        gone.add(connectionId);
        res.writeHead(204).end();
        return;
      }
      posts.push({ connectionId, body });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return { server, posts, deleted, gone, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
};

describe('API Gateway WebSocket handlers', () => {
  let dynamo: DynamoDBClient;
  let management: Awaited<ReturnType<typeof startManagementFake>>;
  let deps: WebsocketAwsDeps;
  let account: { id: string; token: string };
  const tableName = `ws_aws_${process.pid}_${Date.now()}`;

  const newInstance = async (name: string, body: Partial<CreateInstanceBody> = { websocketEnabled: true }, owner: { id: string } = account) => {
    const principal = { kind: 'account' as const, accountId: owner.id, limits: { global: 1000, create: 1000 } };
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
  const record = (instance: { id: string }, name: string, event: EventRecord['event'], owner: { id: string } = account): EventRecord => ({
    id: `01JSX3A8B2C4D6E8F0G2H4J${String((eventCounter += 1)).padStart(3, '0')}`,
    event,
    instanceId: instance.id,
    accountId: owner.id,
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
    // The clock is fixed in 2026-04: the registry items' TTL is long past; no TTL sweeper here.
    await ensureTable(dynamo, tableName, { timeToLive: false });
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

  it('gives each frame the media delivery’s data (presigned s3Url, base64 per the stream’s mediaBase64)', async () => {
    // Prepare: a media delivery that records what it was asked and answers with a URL.
    const asked: { eventId: string; mediaBase64: boolean }[] = [];
    const media = {
      enrich: async (event: EventRecord, options: { mediaBase64: boolean }) => {
        asked.push({ eventId: event.id, mediaBase64: options.mediaBase64 });
        return { message: { id: 'M1', media: { type: 'image', s3Url: 'https://media.example/signed', base64: 'AAEC' } } };
      },
    } as unknown as NonNullable<WebsocketAwsDeps['media']>;
    const instance = await newInstance('aws-media');
    const connection = connectEvent({ instance: 'aws-media', token: instance.token });
    await websocketConnectHandler(deps)(connection);
    const event = { ...record(instance, 'aws-media', 'message.exchange'), data: { message: { id: 'M1', media: { type: 'image', stored: { store: 'platform', bucket: 'b', key: 'k' } } } } };

    // Act
    const outcome = await broadcastToConnections({ ...deps, media })(event);

    // Assess: the stream has mediaBase64 off, so the frame keeps the URL and drops base64.
    expect(outcome).toEqual({ sent: 1, gone: 0 });
    expect(asked).toEqual([{ eventId: event.id, mediaBase64: false }]);
    const [frame] = management.posts.filter((post) => post.connectionId === connection.requestContext.connectionId).map((post) => JSON.parse(post.body));
    expect(frame.data).toEqual({ message: { id: 'M1', media: { type: 'image', s3Url: 'https://media.example/signed' } } });
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

  describe('closing streams (StreamControl)', () => {
    it('rotation closes the connections of the old TokenAccount and keeps TokenInstance ones', async () => {
      // Prepare
      const created = await createAccount(deps, { name: 'ws-aws-rotate' });
      const owner = { id: created.account.id, token: created.token };
      const instance = await newInstance('aws-rotate', { websocketEnabled: true }, owner);
      const byAccount = connectEvent({ instance: 'aws-rotate', token: owner.token });
      const byInstance = connectEvent({ instance: 'aws-rotate', token: instance.token });
      const connect = websocketConnectHandler(deps);
      const admitted = [await connect(byAccount), await connect(byInstance)].map((result) => result.statusCode);
      const streams = createAwsStreamControl(deps);

      // Act
      const newToken = await rotateAccountToken({ ...deps, streams }, owner.id);
      const event = record(instance, 'aws-rotate', 'message.exchange', owner);
      const outcome = await broadcastToConnections(deps)(event);
      const withNewToken = connectEvent({ instance: 'aws-rotate', token: newToken });
      const reconnected = await connect(withNewToken);
      await streams.accountTokenRotated({ accountId: owner.id, currentTokenHash: deps.tokens.hash(newToken) });

      // Assess
      expect(admitted).toEqual([200, 200]);
      expect(management.deleted).toContain(byAccount.requestContext.connectionId);
      expect(management.deleted).not.toContain(byInstance.requestContext.connectionId);
      expect(outcome).toEqual({ sent: 1, gone: 0 });
      expect(management.posts.filter((post) => post.body.includes(event.id)).map((post) => post.connectionId)).toEqual([byInstance.requestContext.connectionId]);
      expect(reconnected.statusCode).toBe(200);
      expect(management.deleted).not.toContain(withNewToken.requestContext.connectionId);
      expect((await storedConnections(instance.id)).map((item) => item.sk).sort()).toEqual(
        [byInstance.requestContext.connectionId, withNewToken.requestContext.connectionId].sort(),
      );
    });

    it('the old TokenAccount can no longer connect after a rotation', async () => {
      // Prepare
      const created = await createAccount(deps, { name: 'ws-aws-rotate-old' });
      await newInstance('aws-rotate-old', { websocketEnabled: true }, { id: created.account.id });
      await rotateAccountToken({ ...deps, streams: createAwsStreamControl(deps) }, created.account.id);

      // Act
      const result = await websocketConnectHandler(deps)(connectEvent({ instance: 'aws-rotate-old', token: created.token }));

      // Assess
      expect([result.statusCode, JSON.parse(result.body).error.message]).toEqual([401, 'Invalid token']);
    });

    it('instance deletion closes every connection of the instance and only those', async () => {
      // Prepare
      const deleted = await newInstance('aws-deleted');
      const kept = await newInstance('aws-deleted-other');
      const connections = [
        connectEvent({ instance: 'aws-deleted', token: deleted.token }),
        connectEvent({ instance: 'aws-deleted', token: account.token }),
        connectEvent({ instance: 'aws-deleted-other', token: kept.token }),
      ];
      for (const connection of connections) await websocketConnectHandler(deps)(connection);
      const aggregate = await deps.instances.get(account.id, 'aws-deleted');
      if (!aggregate) throw new Error('instance missing');

      // Act
      await deleteInstance(deps, aggregate);
      await createAwsStreamControl(deps).instanceDeleted({ accountId: account.id, instanceId: deleted.id });

      // Assess
      const ids = connections.map((connection) => connection.requestContext.connectionId);
      expect(management.deleted.filter((id) => ids.includes(id)).sort()).toEqual([ids[0], ids[1]].sort());
      expect(await storedConnections(deleted.id)).toEqual([]);
      expect((await storedConnections(kept.id)).map((item) => item.sk)).toEqual([ids[2]]);
      const reverse = await deps.doc.send(new GetCommand({ TableName: tableName, Key: wsConnectionKeys.byConnection(ids[1] as string), ConsistentRead: true }));
      expect(reverse.Item).toBeUndefined();
    });

    it('an event of a deleted instance closes the connections nobody closed', async () => {
      // Prepare
      const instance = await newInstance('aws-deleted-late');
      const connection = connectEvent({ instance: 'aws-deleted-late', token: instance.token });
      await websocketConnectHandler(deps)(connection);
      const aggregate = await deps.instances.get(account.id, 'aws-deleted-late');
      if (!aggregate) throw new Error('instance missing');
      await deleteInstance(deps, aggregate);

      // Act
      const outcome = await broadcastToConnections(deps)(record(instance, 'aws-deleted-late', 'message.exchange'));

      // Assess
      expect(outcome).toEqual({ sent: 0, gone: 0 });
      expect(management.deleted).toContain(connection.requestContext.connectionId);
      expect(await storedConnections(instance.id)).toEqual([]);
    });
  });
});
