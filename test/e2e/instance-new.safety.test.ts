import { DynamoDBClient, ScanCommand, type ScanCommandOutput } from '@aws-sdk/client-dynamodb';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../shared/observability/logger.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

/**
 * Safety of `POST /api/instance/new` over HTTP: concurrent creates against uniqueness and
 * quota, secrets neither stored in plaintext nor logged nor returned, and garbage bodies that
 * always end in a 4xx in the contract's envelope.
 */

type Account = { id: string; token: string };
type Response = Awaited<ReturnType<TestStack['call']>>;

const envelope = (message: string) => ({ success: false, error: { message } });
const distinctive = (label: string) => `${label}-${randomBytes(12).toString('hex')}`;

/** Every error leaves in `{"success":false,"error":{"message":…}}` and nothing is a 5xx. */
const expectEnvelope4xx = (res: Response) => {
  expect(res.status).toBeGreaterThanOrEqual(400);
  expect(res.status).toBeLessThan(500);
  expect(Object.keys(res.body)).toEqual(['success', 'error']);
  expect(res.body.success).toBe(false);
  expect(Object.keys(res.body.error)).toEqual(['message']);
  expect(typeof res.body.error.message).toBe('string');
};

describe('POST /api/instance/new — safety', () => {
  let stack: TestStack;
  const logLines: string[] = [];
  /** Every secret value sent by this file; the log test checks them all. */
  const sentSecrets: string[] = [];

  beforeAll(async () => {
    stack = await startTestStack({}, { logger: createLogger({ level: 'info', write: (line) => void logLines.push(line) }) });
  });
  afterAll(async () => stack?.stop());

  const newAccount = (name: string, input: { instanceQuota?: number; rateLimits?: { global?: number; create?: number } } = {}): Promise<Account> =>
    stack.createAccount({ name, ...input });
  const createJson = (token: string, body: unknown) => stack.call('POST', '/api/instance/new', { token, body });
  const createRaw = (token: string, rawBody: string) => stack.call('POST', '/api/instance/new', { token, rawBody });
  const listNames = async (token: string): Promise<string[]> => {
    const res = await stack.call('GET', '/api/instance/list', { token });
    expect(res.status).toBe(200);
    return res.body.instances.map((item: { name: string }) => item.name);
  };

  describe('concurrency', () => {
    it('20 parallel creates of one name: exactly one 201, nineteen 409, one instance listed', async () => {
      const account = await newAccount('parallel-same-name');

      const responses = await Promise.all(Array.from({ length: 20 }, () => createJson(account.token, { name: 'corrida' })));

      const statuses = responses.map((res) => res.status).sort();
      expect(statuses).toEqual([201, ...Array(19).fill(409)]);
      for (const res of responses.filter((r) => r.status === 409)) expect(res.body).toStrictEqual(envelope('Instance or token already exists'));
      const winner = responses.find((res) => res.status === 201) as Response;
      const listed = await stack.call('GET', '/api/instance/list', { token: account.token });
      expect(listed.body.instances.map((item: { id: string; token: string }) => [item.id, item.token])).toEqual([
        [winner.body.instance.id, winner.body.instance.token],
      ]);
      // The losers' tokens were never registered: only the winner's authenticates.
      const losersDidNotLeak = await stack.call('GET', '/api/instance/list', { token: winner.body.instance.token });
      expect(losersDidNotLeak.status).toBe(200);
    });

    it('quota 5 and 15 parallel creates of distinct names: exactly five 201 and ten 403; deleting one frees a slot at once', async () => {
      const account = await newAccount('parallel-quota', { instanceQuota: 5 });
      const names = Array.from({ length: 15 }, (_, i) => `paralela-${i}`);

      const responses = await Promise.all(names.map((name) => createJson(account.token, { name })));

      const statuses = responses.map((res) => res.status).sort();
      expect(statuses).toEqual([...Array(5).fill(201), ...Array(10).fill(403)]);
      for (const res of responses.filter((r) => r.status === 403)) expect(res.body).toStrictEqual(envelope('Account instance quota exceeded'));
      const winners = responses.filter((res) => res.status === 201).map((res) => res.body.instance.name as string);
      expect((await listNames(account.token)).sort()).toEqual([...winners].sort());
      const accounts = await stack.call('GET', '/admin/accounts', { headers: { 'x-admin-key': stack.adminKey } });
      expect(accounts.status).toBe(200);
      expect(accounts.body.accounts.find((item: { id: string }) => item.id === account.id)).toMatchObject({ instanceQuota: 5, instanceCount: 5 });

      const full = await createJson(account.token, { name: 'antes-de-apagar' });
      const deleted = await stack.call('DELETE', `/api/instance/delete/${winners[0]}`, { token: account.token });
      const freed = await createJson(account.token, { name: 'depois-de-apagar' });

      expect(full.status).toBe(403);
      expect(deleted.status).toBe(200);
      expect(deleted.body).toStrictEqual({ success: true, message: 'Instance deleted', instance: { status: 'deleted' } });
      expect(freed.status).toBe(201);
      const after = await stack.call('GET', '/admin/accounts', { headers: { 'x-admin-key': stack.adminKey } });
      expect(after.body.accounts.find((item: { id: string }) => item.id === account.id).instanceCount).toBe(5);
      expect(await listNames(account.token)).toContain('depois-de-apagar');
      expect(await listNames(account.token)).not.toContain(winners[0]);
    });
  });

  describe('secrets', () => {
    let account: Account;
    let secrets: {
      token: string;
      proxyPassword: string;
      s3AccessKey: string;
      s3SecretKey: string;
      webhookAuthorization: string;
      chatwootApiToken: string;
    };
    let created: Response;
    let generatedToken: string;

    beforeAll(async () => {
      account = await newAccount('secrets');
      secrets = {
        token: distinctive('tok'),
        proxyPassword: distinctive('proxypass'),
        s3AccessKey: distinctive('AKIA'),
        s3SecretKey: distinctive('s3secret'),
        webhookAuthorization: `Bearer ${distinctive('whauth')}`,
        chatwootApiToken: distinctive('cwtoken'),
      };
      sentSecrets.push(account.token, ...Object.values(secrets));
      created = await createJson(account.token, {
        name: 'cofre',
        token: secrets.token,
        proxyEnabled: true,
        proxyProtocol: 'http',
        proxyHost: 'proxy.example.com',
        proxyPort: 3128,
        proxyUsername: 'usuario',
        proxyPassword: secrets.proxyPassword,
        webhookEnabled: true,
        webhookURL: 'https://hooks.example.com/zapfleet',
        webhookAuthorization: secrets.webhookAuthorization,
        chatwootEnabled: true,
        chatwootBaseUrl: 'https://chatwoot.example.com',
        chatwootAccountId: 7,
        chatwootApiToken: secrets.chatwootApiToken,
        s3Enabled: true,
        s3Region: 'us-east-1',
        s3Bucket: 'cofre-media',
        s3AccessKey: secrets.s3AccessKey,
        s3SecretKey: secrets.s3SecretKey,
      });
      const plain = await createJson(account.token, { name: 'cofre-simples' });
      generatedToken = plain.body.instance.token;
      sentSecrets.push(generatedToken);
    });

    it('the create response returns only the instance token and the S3 access key', () => {
      expect(created.status).toBe(201);
      const text = JSON.stringify(created.body);
      expect(created.body.instance.token).toBe(secrets.token);
      expect(created.body.instance.s3.accessKey).toBe(secrets.s3AccessKey);
      expect(created.body.instance.proxy.password).toBeNull();
      expect(created.body.instance.s3.secretKey).toBeNull();
      for (const secret of [secrets.proxyPassword, secrets.s3SecretKey, secrets.webhookAuthorization, secrets.chatwootApiToken, account.token]) {
        expect(text).not.toContain(secret);
      }
    });

    it('list, getProxy and getS3 return no secret beyond the instance token (list) and the access key (list, getS3)', async () => {
      const listed = await stack.call('GET', '/api/instance/list?instanceName=cofre', { token: account.token });
      const proxy = await stack.call('GET', '/api/instance/getProxy/cofre', { token: secrets.token });
      const s3 = await stack.call('GET', '/api/instance/getS3/cofre', { token: secrets.token });

      expect([listed.status, proxy.status, s3.status]).toEqual([200, 200, 200]);
      expect(listed.body.instances[0].token).toBe(secrets.token);
      expect(listed.body.instances[0].s3.accessKey).toBe(secrets.s3AccessKey);
      expect(proxy.body.proxy).toStrictEqual({ enabled: true, host: 'proxy.example.com', port: '3128', protocol: 'http', username: 'usuario', password: null });
      expect(s3.body.s3.accessKey).toBe(secrets.s3AccessKey);
      expect(s3.body.s3.secretKey).toBeNull();
      const never = [secrets.proxyPassword, secrets.s3SecretKey, secrets.webhookAuthorization, secrets.chatwootApiToken, account.token];
      for (const secret of never) {
        expect(JSON.stringify(listed.body)).not.toContain(secret);
        expect(JSON.stringify(proxy.body)).not.toContain(secret);
        expect(JSON.stringify(s3.body)).not.toContain(secret);
      }
      expect(JSON.stringify(proxy.body)).not.toContain(secrets.token);
      expect(JSON.stringify(proxy.body)).not.toContain(secrets.s3AccessKey);
      expect(JSON.stringify(s3.body)).not.toContain(secrets.token);
    });

    it('a scan of the raw table finds none of the secrets, the instance tokens or the TokenAccount in plaintext', async () => {
      const dynamo = new DynamoDBClient({
        endpoint: inject('dynamodbEndpoint'),
        region: 'local',
        credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      });
      const items: ScanCommandOutput['Items'] = [];
      try {
        let cursor: ScanCommandOutput['LastEvaluatedKey'];
        do {
          const page = await dynamo.send(new ScanCommand({ TableName: stack.tableName, ExclusiveStartKey: cursor, ConsistentRead: true }));
          items.push(...(page.Items ?? []));
          cursor = page.LastEvaluatedKey;
        } while (cursor);
      } finally {
        dynamo.destroy();
      }
      const raw = JSON.stringify(items);

      // The scan did see the instance (its non-secret configuration is stored in clear).
      expect(raw).toContain('cofre-media');
      expect(raw).toContain('hooks.example.com');
      for (const secret of [...Object.values(secrets), generatedToken, account.token]) expect(raw).not.toContain(secret);
      expect(raw).not.toContain(secrets.webhookAuthorization.slice('Bearer '.length));
    });
  });

  describe('garbage bodies', () => {
    let account: Account;
    beforeAll(async () => {
      account = await newAccount('garbage', { instanceQuota: 50, rateLimits: { global: 1000, create: 1000 } });
    });

    it.each([
      ['name', 42, 'a string'],
      ['token', 1234567890123456, 'a string'],
      ['proxyEnabled', 'true', 'a boolean'],
      ['proxyHost', 1080, 'a string'],
      ['proxyPort', true, 'a string'],
      ['proxyPort', 10.5, 'a string'],
      ['proxyPassword', { value: 'x' }, 'a string'],
      ['webhookEnabled', 1, 'a boolean'],
      ['webhookURL', ['https://meuapp.com/webhook'], 'a string'],
      ['webhookEvents', 'message.exchange', 'an array of strings'],
      ['webhookEvents', ['message.exchange', 7], 'an array of strings'],
      ['webhookMediaBase64', 'false', 'a boolean'],
      ['websocketEnabled', 'yes', 'a boolean'],
      ['websocketEvents', { 0: 'message.exchange' }, 'an array of strings'],
      ['chatwootEnabled', 0, 'a boolean'],
      ['chatwootAccountId', '5', 'an integer'],
      ['chatwootAccountId', 5.5, 'an integer'],
      ['chatwootApiToken', 99, 'a string'],
      ['autoRejectCalls', 'false', 'a boolean'],
      ['callRejectMessage', false, 'a string'],
      ['disableHistorySync', 'true', 'a boolean'],
      ['s3Enabled', 1, 'a boolean'],
      ['s3Endpoint', { url: 'https://s3.amazonaws.com' }, 'a string'],
      ['s3PathPrefix', ['media/'], 'a string'],
    ])("400 with the type message when '%s' is %j", async (field, value, type) => {
      const res = await createJson(account.token, { name: 'tipo-errado', [field]: value });

      expect(res.status).toBe(400);
      expect(res.body).toStrictEqual(envelope(`Invalid request body: '${field}' must be ${type}`));
    });

    it('type errors are reported before a missing name (spec §0.6 step 7 before step 8)', async () => {
      const res = await createJson(account.token, { proxyEnabled: 'true' });

      expect(res.status).toBe(400);
      expect(res.body).toStrictEqual(envelope("Invalid request body: 'proxyEnabled' must be a boolean"));
    });

    it.each([
      ['an array', '[{"name":"lista"}]'],
      ['a string', '"minha-instancia"'],
      ['a number', '42'],
      ['true', 'true'],
      ['null', 'null'],
      ['truncated JSON', '{"name":"truncado"'],
      ['a trailing comma', '{"name":"virgula",}'],
      ['single quotes', "{'name':'aspas'}"],
      ['bare text', 'name=minha-instancia'],
      ['two documents', '{"name":"um"}{"name":"dois"}'],
      ['invalid UTF-8 bytes turned into JSON noise', '\u0000\u0001{'],
    ])('400 Invalid request body when the body is %s', async (_case, rawBody) => {
      const res = await createRaw(account.token, rawBody);

      expect(res.status).toBe(400);
      expect(res.body).toStrictEqual(envelope('Invalid request body'));
    });

    it('a 1 MB name is an invalid instance name', async () => {
      const res = await createJson(account.token, { name: 'n'.repeat(1024 * 1024) });

      expect(res.status).toBe(400);
      expect(res.body).toStrictEqual(envelope('Invalid instance name'));
    });

    it('a 1 MB proxyHost with the proxy enabled is rejected and nothing is created', async () => {
      const res = await createJson(account.token, {
        name: 'proxy-enorme',
        proxyEnabled: true,
        proxyHost: 'h'.repeat(1024 * 1024),
        proxyPort: '1080',
        proxyProtocol: 'socks5',
      });

      expectEnvelope4xx(res);
      expect(res.status).toBe(400);
      expect(res.body.error.message).toMatch(/^Invalid request body: .*proxyHost/);
      expect(await listNames(account.token)).not.toContain('proxy-enorme');
    });

    it.each([
      ['webhookURL', { webhookEnabled: true, webhookURL: `https://meuapp.com/${'u'.repeat(1024 * 1024)}` }],
      ['webhookAuthorization', { webhookEnabled: true, webhookURL: 'https://meuapp.com/webhook', webhookAuthorization: 'a'.repeat(1024 * 1024) }],
      ['chatwootApiToken', { chatwootEnabled: true, chatwootBaseUrl: 'https://chatwoot.example.com', chatwootAccountId: 1, chatwootApiToken: 't'.repeat(1024 * 1024) }],
      ['callRejectMessage', { callRejectMessage: 'c'.repeat(1024 * 1024) }],
      ['s3SecretKey', { s3Enabled: true, s3Region: 'us-east-1', s3Bucket: 'b', s3AccessKey: 'AKIA', s3SecretKey: 's'.repeat(1024 * 1024) }],
    ])('a 1 MB %s never becomes a 5xx', async (field, fields) => {
      const res = await createJson(account.token, { name: `enorme-${field}`, ...fields });

      expect(res.status).toBeLessThan(500);
      if (res.status !== 201) expectEnvelope4xx(res);
    });

    it('a 4.9 MB body whose bulk is an ignored field never becomes a 5xx', async () => {
      const res = await createJson(account.token, { name: 'quase-limite', ignorado: 'x'.repeat(4_900_000) });

      expect(res.status).toBeLessThan(500);
      if (res.status === 201) expect(res.body.instance.name).toBe('quase-limite');
      else expectEnvelope4xx(res);
    });

    it('100000 levels of nested arrays inside a typed field are a 400 type error', async () => {
      const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;

      const inName = await createRaw(account.token, `{"name":${deep}}`);
      const inEvents = await createRaw(account.token, `{"name":"profunda","webhookEnabled":true,"webhookURL":"https://meuapp.com/w","webhookEvents":${deep}}`);

      expect(inName.status).toBe(400);
      expect(inName.body).toStrictEqual(envelope("Invalid request body: 'name' must be a string"));
      expect(inEvents.status).toBe(400);
      expect(inEvents.body).toStrictEqual(envelope("Invalid request body: 'webhookEvents' must be an array of strings"));
    });

    it('100000 levels of nested objects or arrays inside an ignored field never become a 5xx', async () => {
      const deepArray = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
      const deepObject = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;

      const responses = [
        await createRaw(account.token, `{"name":"profunda-array","extra":${deepArray}}`),
        await createRaw(account.token, `{"name":"profunda-objeto","extra":${deepObject}}`),
        await createRaw(account.token, deepArray),
      ];

      for (const res of responses) {
        expect(res.status).toBeLessThan(500);
        if (res.status !== 201) expectEnvelope4xx(res);
      }
      expect(responses[2]?.body).toStrictEqual(envelope('Invalid request body'));
    });

    it('a body over 5 MiB is 413 Request body too large', async () => {
      const res = await createJson(account.token, { name: 'grande-demais', extra: 'x'.repeat(5 * 1024 * 1024) });

      expect(res.status).toBe(413);
      expect(res.body).toStrictEqual(envelope('Request body too large'));
      expect(await listNames(account.token)).not.toContain('grande-demais');
    });

    it('a body of exactly 5 MiB is not refused as too large', async () => {
      const prefix = '{"name":"limite-exato","extra":"';
      const suffix = '"}';
      const rawBody = `${prefix}${'x'.repeat(5 * 1024 * 1024 - prefix.length - suffix.length)}${suffix}`;

      const res = await createRaw(account.token, rawBody);

      expect(res.status).toBe(201);
    });
  });

  describe('logs', () => {
    it('no secret value appears in any log line, including a token sent as a query parameter', async () => {
      const account = await newAccount('logs');
      const secret = {
        token: distinctive('logtok'),
        proxyPassword: distinctive('logproxy'),
        s3SecretKey: distinctive('logs3secret'),
        s3AccessKey: distinctive('LOGAKIA'),
        webhookAuthorization: distinctive('logwhauth'),
        chatwootApiToken: distinctive('logcw'),
      };
      sentSecrets.push(account.token, ...Object.values(secret));
      const before = logLines.length;

      const created = await createJson(account.token, {
        name: 'registrada',
        token: secret.token,
        proxyEnabled: true,
        proxyProtocol: 'socks5',
        proxyHost: 'proxy.example.com',
        proxyPort: '1080',
        proxyUsername: 'u',
        proxyPassword: secret.proxyPassword,
        // Refused destination (private address) with a secret in its query: log-and-continue.
        webhookEnabled: true,
        webhookURL: `http://10.0.0.1/hook?key=${secret.webhookAuthorization}`,
        webhookAuthorization: secret.webhookAuthorization,
        chatwootEnabled: true,
        chatwootBaseUrl: 'https://chatwoot.example.com',
        chatwootAccountId: 3,
        chatwootApiToken: secret.chatwootApiToken,
        s3Enabled: true,
        s3Region: 'us-east-1',
        s3Bucket: 'logs-media',
        s3AccessKey: secret.s3AccessKey,
        s3SecretKey: secret.s3SecretKey,
      });
      const byQuery = await stack.call('GET', `/api/instance/list?token=${secret.token}`);
      const byQueryAccount = await stack.call('GET', `/api/instance/list?instanceName=registrada&token=${account.token}`);
      const byBearer = await stack.call('GET', '/api/instance/getS3/registrada', { headers: { authorization: `Bearer ${secret.token}` } });
      const rejected = await createJson(account.token, { name: 'rejeitada', s3Enabled: true, s3Region: 'r', s3Bucket: 'b', s3AccessKey: secret.s3AccessKey, s3SecretKey: secret.s3SecretKey, s3Endpoint: 'http://169.254.169.254' });
      const unknown = await stack.call('GET', `/api/instance/list?token=${distinctive('unknown')}`);

      expect(created.status).toBe(201);
      expect(created.body.instance.webhook).toStrictEqual({ enabled: false, url: null, events: [] });
      expect([byQuery.status, byQueryAccount.status, byBearer.status, rejected.status, unknown.status]).toEqual([200, 200, 200, 400, 401]);
      const lines = logLines.slice(before);
      // The requests above were logged (else this test could not fail).
      expect(lines.some((line) => line.includes('/api/instance/list'))).toBe(true);
      expect(lines.some((line) => line.includes('registrada'))).toBe(true);
      for (const value of sentSecrets) {
        const leaking = logLines.filter((line) => line.includes(value));
        expect(leaking, `a log line contains ${value}`).toEqual([]);
      }
    });
  });
});
