import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';

/**
 * Replays over HTTP every example and every error row of the seed page for
 * `POST /api/instance/new` (shared/seeds/instance-new.pt.md), plus the extra rows of
 * spec §2.1 #1 and §0.13. Each seed example runs in a fresh account, because the seed
 * reuses the name `minha-instancia`.
 */

const uuidV4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const rfc3339Seconds = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/** The cURL `-d` bodies of the seed's "Exemplos", byte for byte. */
const seedBodies = {
  minimo: `{"name":"minha-instancia"}`,
  tokenPersonalizado: `{
      "name":  "minha-instancia",
      "token": "meu-token-customizado-123"
    }`,
  configuracoes: `{
      "name": "minha-instancia",
      "autoRejectCalls":      true,
      "callRejectMessage":    "Este número não aceita ligações.",
      "ignoreGroupMessages":  false,
      "keepOnlineStatus":     true,
      "autoReadMessages":     false,
      "disableHistorySync":   true,
      "ignoreStatus":         true
    }`,
  proxy: `{
      "name":          "minha-instancia",
      "proxyEnabled":  true,
      "proxyProtocol": "socks5",
      "proxyHost":     "proxy.empresa.com",
      "proxyPort":     "1080",
      "proxyUsername": "usuario",
      "proxyPassword": "senha-do-proxy"
    }`,
  webhook: `{
      "name":                 "minha-instancia",
      "webhookEnabled":       true,
      "webhookURL":           "https://meuapp.com/webhook",
      "webhookAuthorization": "Bearer secret-key-123",
      "webhookByEvents":      false,
      "webhookEvents":        ["message.exchange", "call.update"],
      "webhookMediaBase64":   false
    }`,
  websocket: `{
      "name":                 "minha-instancia",
      "websocketEnabled":     true,
      "websocketEvents":      ["message.exchange", "call.update"],
      "websocketMediaBase64": false
    }`,
  s3: `{
      "name":         "minha-instancia",
      "s3Enabled":    true,
      "s3Region":     "us-east-1",
      "s3Bucket":     "meu-bucket-media",
      "s3AccessKey":  "AKIA...",
      "s3SecretKey":  "secret...",
      "s3Endpoint":   "https://s3.amazonaws.com",
      "s3PathPrefix": "media/"
    }`,
  chatwoot: `{
      "name":                  "suporte",
      "chatwootEnabled":       true,
      "chatwootBaseUrl":       "https://chatwoot.example.com",
      "chatwootAccountId":     5,
      "chatwootApiToken":      "sk_live_abc123...",
      "chatwootInboxName":     "WhatsApp - Orion",
      "chatwootSignMessages":  true,
      "chatwootIgnoreGroups":  false,
      "chatwootStartAsPending": false,
      "chatwootReopenResolved": true
    }`,
  completo: `{
      "name":  "marketing",
      "token": "meu-token-customizado-123",

      "proxyEnabled":  true,
      "proxyProtocol": "socks5",
      "proxyHost":     "proxy.empresa.com",
      "proxyPort":     "1080",
      "proxyUsername": "usuario",
      "proxyPassword": "senha-do-proxy",

      "webhookEnabled":       true,
      "webhookURL":           "https://meuservidor.com/webhook",
      "webhookAuthorization": "Bearer secret-key-123",
      "webhookByEvents":      false,
      "webhookEvents":        ["message.exchange", "call.update"],
      "webhookMediaBase64":   false,

      "websocketEnabled":     true,
      "websocketEvents":      ["message.exchange", "call.update"],
      "websocketMediaBase64": false,

      "chatwootEnabled":        true,
      "chatwootBaseUrl":        "https://chatwoot.example.com",
      "chatwootAccountId":      5,
      "chatwootApiToken":       "sk_live_abc123...",
      "chatwootInboxName":      "Marketing",
      "chatwootSignMessages":   true,
      "chatwootIgnoreGroups":   false,
      "chatwootStartAsPending": false,
      "chatwootReopenResolved": true,

      "autoRejectCalls":     true,
      "callRejectMessage":   "Este número não aceita ligações.",
      "ignoreGroupMessages": false,
      "keepOnlineStatus":    true,
      "autoReadMessages":    false,
      "disableHistorySync":  false,
      "ignoreStatus":        true,

      "s3Enabled":    true,
      "s3Region":     "us-east-1",
      "s3Bucket":     "meu-bucket-media",
      "s3AccessKey":  "AKIA...",
      "s3SecretKey":  "secret...",
      "s3Endpoint":   "https://s3.amazonaws.com",
      "s3PathPrefix": "media/"
    }`,
} as const;

const defaultProxy = { enabled: false, host: null, port: null, protocol: null, username: null, password: null };
const defaultWebhook = { enabled: false, url: null, events: [] };
const defaultWebsocket = { enabled: false, events: [], mediaBase64: false };
const noChatwoot = { enabled: false, status: null, bridgeIntegrationId: null, baseUrl: null, accountId: null, inboxName: null };
const chatwootNotAvailable = { enabled: false, status: 'error', error: 'Chatwoot integration is not enabled on this server' };
const defaultSettings = {
  autoRejectCalls: false,
  callRejectMessage: '',
  ignoreGroupMessages: false,
  keepOnlineStatus: false,
  autoReadMessages: false,
  disableHistorySync: true,
  ignoreStatus: false,
};
const defaultS3 = { enabled: false, region: null, bucket: null, accessKey: null, secretKey: null, endpoint: null, pathPrefix: null };
const seedSettings = {
  autoRejectCalls: true,
  callRejectMessage: 'Este número não aceita ligações.',
  ignoreGroupMessages: false,
  keepOnlineStatus: true,
  autoReadMessages: false,
  disableHistorySync: true,
  ignoreStatus: true,
};
const seedProxy = { enabled: true, host: 'proxy.empresa.com', port: '1080', protocol: 'socks5', username: 'usuario', password: null };
const seedS3 = {
  enabled: true,
  region: 'us-east-1',
  bucket: 'meu-bucket-media',
  accessKey: 'AKIA...',
  secretKey: null,
  endpoint: 'https://s3.amazonaws.com',
  pathPrefix: 'media/',
};

/** The whole InstanceView of a 201, every key present: defaults, overridden by `blocks`. */
const expectedInstance = (name: string, blocks: Record<string, unknown> = {}) => ({
  id: expect.stringMatching(uuidV4),
  name,
  token: expect.stringMatching(uuidV4),
  status: 'disconnected',
  numberJid: null,
  proxy: defaultProxy,
  webhook: defaultWebhook,
  websocket: defaultWebsocket,
  chatwoot: noChatwoot,
  settings: defaultSettings,
  s3: defaultS3,
  createdAt: expect.stringMatching(rfc3339Seconds),
  updatedAt: expect.stringMatching(rfc3339Seconds),
  ...blocks,
});

const envelope = (message: string) => ({ success: false, error: { message } });

describe('POST /api/instance/new — seed examples and error table', () => {
  let stack: TestStack;
  /** An account whose rate limits let one test send many rejected bodies. */
  let roomy: { id: string; token: string };

  beforeAll(async () => {
    stack = await startTestStack();
    roomy = await stack.createAccount({ name: 'roomy', instanceQuota: 50, rateLimits: { create: 1000, global: 1000 } });
  });
  afterAll(async () => stack?.stop());

  const create = (token: string | null, rawBody: string) => stack.call('POST', '/api/instance/new', { token, rawBody });
  const createJson = (token: string | null, body: unknown) => stack.call('POST', '/api/instance/new', { token, body });
  const list = (token: string, query = '') => stack.call('GET', `/api/instance/list${query}`, { token });
  const freshAccount = (name: string, input: { instanceQuota?: number } = {}) => stack.createAccount({ name, ...input });

  const expectCreated = (res: Awaited<ReturnType<TestStack['call']>>, instance: ReturnType<typeof expectedInstance>) => {
    expect(res.status).toBe(201);
    expect(res.body).toStrictEqual({ success: true, message: 'Instance created', instance });
    expect(res.body.instance.updatedAt).toBe(res.body.instance.createdAt);
  };

  describe('Exemplos', () => {
    it('Mínimo: only the name; the server generates a UUID v4 TokenInstance and applies every default', async () => {
      const account = await freshAccount('seed-minimo');

      const res = await create(account.token, seedBodies.minimo);

      expectCreated(res, expectedInstance('minha-instancia'));
      expect(res.body.instance.token).not.toBe(res.body.instance.id);
      const listed = await list(res.body.instance.token);
      expect(listed.body.instances.map((item: { id: string }) => item.id)).toEqual([res.body.instance.id]);
    });

    it('Com Token personalizado: the custom token is the TokenInstance and authenticates the instance', async () => {
      const account = await freshAccount('seed-token');

      const res = await create(account.token, seedBodies.tokenPersonalizado);
      // The seed's Completo example reuses this token, and tokens are unique server-wide.
      onTestFinished(async () => void (await stack.call('DELETE', '/api/instance/delete/minha-instancia', { token: account.token })));

      expectCreated(res, expectedInstance('minha-instancia', { token: 'meu-token-customizado-123' }));
      const listed = await list('meu-token-customizado-123');
      expect(listed.status).toBe(200);
      expect(listed.body.instances[0].id).toBe(res.body.instance.id);
    });

    it('Com configurações personalizadas: settings are returned as sent', async () => {
      const account = await freshAccount('seed-settings');

      const res = await create(account.token, seedBodies.configuracoes);

      expectCreated(res, expectedInstance('minha-instancia', { settings: seedSettings }));
    });

    it('Com Proxy: the proxy block is returned without its password', async () => {
      const account = await freshAccount('seed-proxy');

      const res = await create(account.token, seedBodies.proxy);

      expectCreated(res, expectedInstance('minha-instancia', { proxy: seedProxy }));
      const proxy = await stack.call('GET', '/api/instance/getProxy/minha-instancia', { token: account.token });
      expect(proxy.body.proxy).toStrictEqual(seedProxy);
    });

    it('Com Webhook: the default webhook summary carries the url and events as sent', async () => {
      const account = await freshAccount('seed-webhook');

      const res = await create(account.token, seedBodies.webhook);

      expectCreated(
        res,
        expectedInstance('minha-instancia', { webhook: { enabled: true, url: 'https://meuapp.com/webhook', events: ['message.exchange', 'call.update'] } }),
      );
      expect(JSON.stringify(res.body)).not.toContain('secret-key-123');
    });

    it('Com Websocket: the WebSocket summary carries the events and mediaBase64 as sent', async () => {
      const account = await freshAccount('seed-websocket');

      const res = await create(account.token, seedBodies.websocket);

      expectCreated(
        res,
        expectedInstance('minha-instancia', { websocket: { enabled: true, events: ['message.exchange', 'call.update'], mediaBase64: false } }),
      );
    });

    it('Com S3: the S3 block is returned with the access key as stored and no secret key', async () => {
      const account = await freshAccount('seed-s3');

      const res = await create(account.token, seedBodies.s3);

      expectCreated(res, expectedInstance('minha-instancia', { s3: seedS3 }));
      const s3 = await stack.call('GET', '/api/instance/getS3/minha-instancia', { token: account.token });
      expect(s3.body.s3).toStrictEqual(seedS3);
    });

    it('Com Chatwoot: without a Chatwoot module the instance is still created and chatwoot reports the actionable error', async () => {
      const account = await freshAccount('seed-chatwoot');

      const res = await create(account.token, seedBodies.chatwoot);

      expectCreated(res, expectedInstance('suporte', { chatwoot: chatwootNotAvailable }));
      expect(JSON.stringify(res.body)).not.toContain('sk_live_abc123');
      const listed = await list(account.token, '?instanceName=suporte');
      expect(listed.status).toBe(200);
      expect(listed.body.instances).toHaveLength(1);
    });

    it('Completo: every block at once, and the list shows the same configuration, token included', async () => {
      const account = await freshAccount('seed-completo');
      const webhook = { enabled: true, url: 'https://meuservidor.com/webhook', events: ['message.exchange', 'call.update'] };
      const websocket = { enabled: true, events: ['message.exchange', 'call.update'], mediaBase64: false };
      const settings = { ...seedSettings, disableHistorySync: false };

      const res = await create(account.token, seedBodies.completo);

      expectCreated(
        res,
        expectedInstance('marketing', {
          token: 'meu-token-customizado-123',
          proxy: seedProxy,
          webhook,
          websocket,
          chatwoot: chatwootNotAvailable,
          settings,
          s3: seedS3,
        }),
      );
      for (const secret of ['senha-do-proxy', 'secret-key-123', 'sk_live_abc123', 'secret...']) expect(JSON.stringify(res.body)).not.toContain(secret);

      const listed = await list(account.token, '?instanceName=marketing');
      expect(listed.status).toBe(200);
      expect(listed.body).toStrictEqual({
        success: true,
        message: '1 Instance found',
        instances: [
          {
            ...res.body.instance,
            // The list reports the integration itself; none exists on this server.
            chatwoot: noChatwoot,
            connection: { state: 'disconnected', numberJid: null, presenceStatus: 'unavailable', displayStatus: 'Disconnected' },
            profile: { name: null, pictureUrl: null, isBusiness: false, businessName: '' },
          },
        ],
      });
    });
  });

  describe('Erros', () => {
    it('400 Invalid request body: malformed JSON', async () => {
      const res = await create(roomy.token, '{"name": "quebrado",');

      expect(res.status).toBe(400);
      expect(res.body).toStrictEqual(envelope('Invalid request body'));
    });

    it.each([
      ['missing', {}],
      ['null', { name: null }],
      ['empty', { name: '' }],
      ['blank', { name: '   ' }],
    ])("400 The 'name' field is required: name %s", async (_case, body) => {
      const res = await createJson(roomy.token, body);

      expect(res.status).toBe(400);
      expect(res.body).toStrictEqual(envelope("The 'name' field is required"));
    });

    it.each([
      ['with a space', 'minha instancia'],
      ['with a slash', 'minha/instancia'],
      ['with a comma', 'vendas,suporte'],
      ['with an accent', 'instância'],
      ['of 65 characters', 'a'.repeat(65)],
      ['made of one dot', '.'],
      ['made of two dots', '..'],
    ])('400 Invalid instance name: a name %s', async (_case, name) => {
      const res = await createJson(roomy.token, { name });

      expect(res.status).toBe(400);
      expect(res.body).toStrictEqual(envelope('Invalid instance name'));
    });

    it('accepts a name of exactly 64 characters of [A-Za-z0-9._-]', async () => {
      const name = `Ab9._-${'x'.repeat(58)}`;

      const res = await createJson(roomy.token, { name });

      expectCreated(res, expectedInstance(name));
    });

    it.each([
      ['a number', 123],
      ['a boolean', true],
      ['an array', ['minha-instancia']],
      ['an object', { value: 'minha-instancia' }],
    ])("400 'name' must be a string: name is %s", async (_case, name) => {
      const res = await createJson(roomy.token, { name });

      expect(res.status).toBe(400);
      expect(res.body).toStrictEqual(envelope("Invalid request body: 'name' must be a string"));
    });

    it('401 Missing token when no token is sent anywhere', async () => {
      const res = await createJson(null, { name: 'sem-token' });

      expect(res.status).toBe(401);
      expect(res.body).toStrictEqual(envelope('Missing token in header, Authorization header, or query parameter'));
    });

    it('401 Invalid token for an unknown token', async () => {
      const res = await createJson('00000000-0000-4000-8000-000000000000', { name: 'token-desconhecido' });

      expect(res.status).toBe(401);
      expect(res.body).toStrictEqual(envelope('Invalid token'));
    });

    it('401 Invalid token for a TokenInstance, and nothing is created', async () => {
      const account = await freshAccount('instance-token-on-new');
      const first = await createJson(account.token, { name: 'primeira' });

      const res = await createJson(first.body.instance.token, { name: 'segunda' });

      expect(res.status).toBe(401);
      expect(res.body).toStrictEqual(envelope('Invalid token'));
      const listed = await list(account.token);
      expect(listed.body.instances.map((item: { name: string }) => item.name)).toEqual(['primeira']);
    });

    it('403 Account instance quota exceeded once the account holds instanceQuota instances', async () => {
      const account = await freshAccount('quota-2', { instanceQuota: 2 });
      for (const name of ['um', 'dois']) expect((await createJson(account.token, { name })).status).toBe(201);

      const res = await createJson(account.token, { name: 'tres' });

      expect(res.status).toBe(403);
      expect(res.body).toStrictEqual(envelope('Account instance quota exceeded'));
      expect((await list(account.token)).body.message).toBe('2 Instances found');
    });

    it('409 before 403: a taken name in an account at its quota is a conflict', async () => {
      const account = await freshAccount('quota-1', { instanceQuota: 1 });
      expect((await createJson(account.token, { name: 'unica' })).status).toBe(201);

      const res = await createJson(account.token, { name: 'unica' });

      expect(res.status).toBe(409);
      expect(res.body).toStrictEqual(envelope('Instance or token already exists'));
    });

    it('409 Instance or token already exists: the same name twice in one account', async () => {
      const account = await freshAccount('same-name');
      const first = await createJson(account.token, { name: 'repetida' });

      const res = await createJson(account.token, { name: 'repetida' });

      expect(first.status).toBe(201);
      expect(res.status).toBe(409);
      expect(res.body).toStrictEqual(envelope('Instance or token already exists'));
      const listed = await list(account.token);
      expect(listed.body.instances.map((item: { id: string }) => item.id)).toEqual([first.body.instance.id]);
    });

    it('the same name in two different accounts is allowed', async () => {
      const one = await freshAccount('name-owner-1');
      const two = await freshAccount('name-owner-2');

      const first = await createJson(one.token, { name: 'compartilhado' });
      const second = await createJson(two.token, { name: 'compartilhado' });

      expect(first.status).toBe(201);
      expect(second.status).toBe(201);
      expect(second.body.instance.id).not.toBe(first.body.instance.id);
    });

    it('409 Instance or token already exists: a custom token already used in the same account', async () => {
      const account = await freshAccount('same-token');
      const token = 'token-repetido-mesma-conta-0001';
      expect((await createJson(account.token, { name: 'dona-do-token', token })).status).toBe(201);

      const res = await createJson(account.token, { name: 'outra', token });

      expect(res.status).toBe(409);
      expect(res.body).toStrictEqual(envelope('Instance or token already exists'));
      expect((await list(account.token)).body.message).toBe('1 Instance found');
    });

    it("409 Instance or token already exists: a custom token already used by another account's instance", async () => {
      const owner = await freshAccount('token-owner');
      const other = await freshAccount('token-thief');
      const token = 'token-repetido-outra-conta-0001';
      expect((await createJson(owner.token, { name: 'dona', token })).status).toBe(201);

      const res = await createJson(other.token, { name: 'copia', token });

      expect(res.status).toBe(409);
      expect(res.body).toStrictEqual(envelope('Instance or token already exists'));
      expect((await list(other.token)).body.message).toBe('0 Instances found');
      const ownerView = await list(token);
      expect(ownerView.body.instances.map((item: { name: string }) => item.name)).toEqual(['dona']);
    });

    it('409 when the custom token is a TokenAccount: tokens share one namespace', async () => {
      const account = await freshAccount('token-is-account-token');

      const res = await createJson(account.token, { name: 'sequestro', token: account.token });

      expect(res.status).toBe(409);
      expect(res.body).toStrictEqual(envelope('Instance or token already exists'));
    });

    it('429 Rate limit exceeded after 20 creations in a minute by one TokenAccount, with the rate-limit headers', async () => {
      const account = await freshAccount('rate-limited', { instanceQuota: 30 });
      // Windows are aligned to the UTC minute: start early in one so all 21 calls share it.
      const intoMinute = Date.now() % 60_000;
      if (intoMinute > 45_000) await new Promise((done) => setTimeout(done, 60_500 - intoMinute));

      const statuses: number[] = [];
      const remaining: (string | null)[] = [];
      for (let i = 1; i <= 20; i++) {
        const res = await createJson(account.token, { name: `rapida-${i}` });
        statuses.push(res.status);
        remaining.push(res.headers.get('x-ratelimit-remaining'));
      }
      const res = await createJson(account.token, { name: 'rapida-21' });

      expect(statuses).toEqual(Array(20).fill(201));
      expect(remaining).toEqual(Array.from({ length: 20 }, (_, i) => String(19 - i)));
      expect(res.status).toBe(429);
      expect(res.body).toStrictEqual(envelope('Rate limit exceeded. Try again later.'));
      expect(res.headers.get('x-ratelimit-limit')).toBe('20');
      expect(res.headers.get('x-ratelimit-remaining')).toBe('0');
      const reset = Number(res.headers.get('x-ratelimit-reset'));
      expect(Number.isInteger(reset)).toBe(true);
      expect(reset % 60).toBe(0);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(0);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect((await list(account.token)).body.message).toBe('20 Instances found');
      // The create bucket is separate from the global one (spec §0.10).
      expect((await list(account.token)).status).toBe(200);
    });

    it('every create response carries the create bucket headers', async () => {
      const account = await freshAccount('rate-headers');

      const ok = await createJson(account.token, { name: 'com-cabecalhos' });
      const rejected = await createJson(account.token, { name: 'com cabecalhos' });

      for (const res of [ok, rejected]) {
        expect(res.headers.get('x-ratelimit-limit')).toBe('20');
        expect(res.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
        expect(res.headers.get('x-ratelimit-reset')).toMatch(/^\d+$/);
      }
      // A rejected create counts too (spec §0.10); a new window may have started in between.
      const sameWindow = rejected.headers.get('x-ratelimit-reset') === ok.headers.get('x-ratelimit-reset');
      expect(Number(rejected.headers.get('x-ratelimit-remaining'))).toBe(sameWindow ? 18 : 19);
    });
  });

  describe('semantic errors in the proxy, settings and S3 blocks reject the whole request', () => {
    const cases: [string, Record<string, unknown>, string | RegExp][] = [
      ['proxy without a host', { proxyEnabled: true, proxyPort: '1080', proxyProtocol: 'socks5' }, 'Invalid request body: proxyHost is required when proxyEnabled is true'],
      ['proxy with a blank host', { proxyEnabled: true, proxyHost: '  ', proxyPort: '1080', proxyProtocol: 'socks5' }, 'Invalid request body: proxyHost is required when proxyEnabled is true'],
      ['proxy without a port', { proxyEnabled: true, proxyHost: 'proxy.empresa.com', proxyProtocol: 'socks5' }, /^Invalid request body: .*proxyPort/],
      ['proxy port 0', { proxyEnabled: true, proxyHost: 'proxy.empresa.com', proxyPort: '0', proxyProtocol: 'socks5' }, /^Invalid request body: .*proxyPort/],
      ['proxy port 65536', { proxyEnabled: true, proxyHost: 'proxy.empresa.com', proxyPort: 65536, proxyProtocol: 'socks5' }, /^Invalid request body: .*proxyPort/],
      ['proxy port not a number', { proxyEnabled: true, proxyHost: 'proxy.empresa.com', proxyPort: 'abc', proxyProtocol: 'socks5' }, /^Invalid request body: .*proxyPort/],
      ['proxy without a protocol', { proxyEnabled: true, proxyHost: 'proxy.empresa.com', proxyPort: '1080' }, /^Invalid request body: .*proxyProtocol/],
      ['proxy with protocol ftp', { proxyEnabled: true, proxyHost: 'proxy.empresa.com', proxyPort: '1080', proxyProtocol: 'ftp' }, /^Invalid request body: .*proxyProtocol/],
      ['callRejectMessage over 4096 characters', { callRejectMessage: 'x'.repeat(4097) }, /^Invalid request body: .*callRejectMessage/],
      ['S3 without a region', { s3Enabled: true, s3Bucket: 'b', s3AccessKey: 'AKIA', s3SecretKey: 's' }, /^Invalid request body: .*s3Region/],
      ['S3 without a bucket', { s3Enabled: true, s3Region: 'us-east-1', s3AccessKey: 'AKIA', s3SecretKey: 's' }, /^Invalid request body: .*s3Bucket/],
      ['S3 without an access key', { s3Enabled: true, s3Region: 'us-east-1', s3Bucket: 'b', s3SecretKey: 's' }, /^Invalid request body: .*s3AccessKey/],
      ['S3 without a secret key', { s3Enabled: true, s3Region: 'us-east-1', s3Bucket: 'b', s3AccessKey: 'AKIA' }, /^Invalid request body: .*s3SecretKey/],
      [
        'S3 with a non-http endpoint',
        { s3Enabled: true, s3Region: 'us-east-1', s3Bucket: 'b', s3AccessKey: 'AKIA', s3SecretKey: 's', s3Endpoint: 'ftp://minio.example.com' },
        /^Invalid request body: .*s3Endpoint/,
      ],
      [
        'S3 with a metadata-address endpoint',
        { s3Enabled: true, s3Region: 'us-east-1', s3Bucket: 'b', s3AccessKey: 'AKIA', s3SecretKey: 's', s3Endpoint: 'http://169.254.169.254' },
        /^Invalid request body: .*s3Endpoint/,
      ],
      [
        'S3 with a private-address endpoint',
        { s3Enabled: true, s3Region: 'us-east-1', s3Bucket: 'b', s3AccessKey: 'AKIA', s3SecretKey: 's', s3Endpoint: 'http://10.1.2.3:9000' },
        /^Invalid request body: .*s3Endpoint/,
      ],
      [
        'S3 path prefix over 256 characters',
        { s3Enabled: true, s3Region: 'us-east-1', s3Bucket: 'b', s3AccessKey: 'AKIA', s3SecretKey: 's', s3PathPrefix: 'p'.repeat(257) },
        /^Invalid request body: .*s3PathPrefix/,
      ],
      ['a custom token that is too short', { token: 'curto' }, "Invalid request body: 'token' must be 16-128 characters of [A-Za-z0-9._~-]"],
      ['a custom token with a space', { token: 'token com espaco 123' }, "Invalid request body: 'token' must be 16-128 characters of [A-Za-z0-9._~-]"],
    ];

    let account: { id: string; token: string };
    beforeAll(async () => {
      account = await stack.createAccount({ name: 'semantic', rateLimits: { create: 1000, global: 1000 } });
    });

    it.each(cases)('400 for %s', async (_case, fields, message) => {
      const res = await createJson(account.token, { name: 'rejeitada', ...fields });

      expect(res.status).toBe(400);
      expect(Object.keys(res.body)).toEqual(['success', 'error']);
      expect(res.body.success).toBe(false);
      if (typeof message === 'string') expect(res.body.error).toStrictEqual({ message });
      else expect(res.body.error.message).toMatch(message);
    });

    it('nothing was created by any rejected request', async () => {
      const listed = await list(account.token);

      expect(listed.status).toBe(200);
      expect(listed.body).toStrictEqual({ success: true, message: '0 Instances found', instances: [] });
    });

    it('proxy, S3 and Chatwoot fields are ignored when their block is not enabled', async () => {
      const res = await createJson(account.token, {
        name: 'blocos-desligados',
        proxyEnabled: false,
        proxyPort: '99999',
        s3Enabled: false,
        s3Endpoint: 'http://169.254.169.254',
        webhookEnabled: false,
        webhookURL: 'nao-e-url',
        chatwootEnabled: false,
        chatwootBaseUrl: 'nao-e-url',
      });

      expectCreated(res, expectedInstance('blocos-desligados'));
    });
  });

  describe('webhook and WebSocket blocks are log-and-continue', () => {
    let account: { id: string; token: string };
    beforeAll(async () => {
      account = await stack.createAccount({ name: 'log-and-continue', instanceQuota: 20, rateLimits: { create: 1000, global: 1000 } });
    });

    it.each([
      ['an invalid webhook URL', 'url-invalida', { webhookEnabled: true, webhookURL: 'isto não é uma url', webhookEvents: ['message.exchange'] }],
      ['a non-http webhook URL', 'url-ftp', { webhookEnabled: true, webhookURL: 'ftp://meuapp.com/webhook' }],
      ['a missing webhook URL', 'url-ausente', { webhookEnabled: true }],
      ['an unknown webhook event', 'evento-invalido', { webhookEnabled: true, webhookURL: 'https://meuapp.com/webhook', webhookEvents: ['message.exchange', 'message.bogus'] }],
      ['a webhook URL on a private address', 'url-privada', { webhookEnabled: true, webhookURL: 'http://10.0.0.1/hook' }],
      ['a webhook URL on the metadata address', 'url-metadata', { webhookEnabled: true, webhookURL: 'http://169.254.169.254/latest/meta-data' }],
    ])('201 with the webhook disabled for %s', async (_case, name, fields) => {
      const res = await createJson(account.token, { name, ...fields });

      expectCreated(res, expectedInstance(name));
      const listed = await list(account.token, `?instanceName=${name}`);
      expect(listed.status).toBe(200);
      expect(listed.body.instances[0].webhook).toStrictEqual(defaultWebhook);
    });

    it('201 with the WebSocket disabled for an unknown WebSocket event, other blocks still applied', async () => {
      const res = await createJson(account.token, {
        name: 'ws-evento-invalido',
        websocketEnabled: true,
        websocketEvents: ['not.an.event'],
        webhookEnabled: true,
        webhookURL: 'https://meuapp.com/webhook',
      });

      expectCreated(
        res,
        expectedInstance('ws-evento-invalido', { webhook: { enabled: true, url: 'https://meuapp.com/webhook', events: [] } }),
      );
    });

    it('an empty websocketEvents with websocketEnabled means all events', async () => {
      const res = await createJson(account.token, { name: 'ws-todos', websocketEnabled: true, websocketEvents: [] });

      expectCreated(res, expectedInstance('ws-todos', { websocket: { enabled: true, events: [], mediaBase64: false } }));
    });

    it('an invalid inline Chatwoot block still creates the instance with the not-available outcome', async () => {
      const res = await createJson(account.token, { name: 'chatwoot-invalido', chatwootEnabled: true, chatwootBaseUrl: 'not a url' });

      expectCreated(res, expectedInstance('chatwoot-invalido', { chatwoot: chatwootNotAvailable }));
    });
  });
});
