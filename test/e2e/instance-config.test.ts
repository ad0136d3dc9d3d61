import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { localCredentials } from '../../local/emulators/dynamodb-local.ts';
import { startTestStack, type TestStack } from '../support/stack.ts';

// Spec §2.1 #2 (list) and #6–#12 (delete, settings, proxy, S3), over HTTP against the
// embedded stack, with the raw table read directly where the contract says what is stored.

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const defaultSettings = {
  autoRejectCalls: false,
  callRejectMessage: '',
  ignoreGroupMessages: false,
  keepOnlineStatus: false,
  autoReadMessages: false,
  disableHistorySync: true,
  ignoreStatus: false,
};
const noProxy = { enabled: false, host: null, port: null, protocol: null, username: null, password: null };
const noS3 = { enabled: false, region: null, bucket: null, accessKey: null, secretKey: null, endpoint: null, pathPrefix: null };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Timestamps have second precision: wait until the clock is past the second of `timestamp`. */
const pastSecondOf = async (timestamp: string) => {
  const wait = Date.parse(timestamp) + 1000 - Date.now();
  if (wait > 0) await sleep(wait + 20);
};

type RawItem = Record<string, unknown>;

describe('instance list, configuration and deletion', () => {
  let stack: TestStack;
  let doc: DynamoDBDocumentClient;
  /** An account with room for every instance of this file. */
  let owner: { id: string; token: string };

  const scan = async (): Promise<RawItem[]> => {
    const items: RawItem[] = [];
    let cursor: Record<string, unknown> | undefined;
    do {
      const page = await doc.send(new ScanCommand({ TableName: stack.tableName, ConsistentRead: true, ExclusiveStartKey: cursor }));
      items.push(...((page.Items ?? []) as RawItem[]));
      cursor = page.LastEvaluatedKey;
    } while (cursor);
    return items;
  };
  const rawInstance = async (accountId: string, name: string): Promise<RawItem | undefined> =>
    (await scan()).find((item) => item.pk === `ACCOUNT#${accountId}` && item.sk === `INSTANCE#${name}#META`);

  const create = async (name: string, body: Record<string, unknown> = {}, token = owner.token) => {
    const res = await stack.call('POST', '/api/instance/new', { token, body: { name, ...body } });
    if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.instance as { id: string; name: string; token: string; createdAt: string; updatedAt: string; webhook: unknown };
  };
  const names = (body: { instances: { name: string }[] }) => body.instances.map((item) => item.name);

  beforeAll(async () => {
    stack = await startTestStack({ ZAPFLEET_RATE_LIMIT_GLOBAL: '100000', ZAPFLEET_RATE_LIMIT_CREATE: '100000', ZAPFLEET_RATE_LIMIT_ADMIN: '100000' });
    doc = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: localCredentials }));
    owner = await stack.createAccount({ name: 'config-owner', instanceQuota: 1000 });
  });
  afterAll(async () => {
    doc?.destroy();
    await stack?.stop();
  });

  describe('GET /api/instance/list (#2)', () => {
    let account: { id: string; token: string };
    let first: Awaited<ReturnType<typeof create>>;

    beforeAll(async () => {
      // Three instances, the first one created a second earlier than the other two.
      account = await stack.createAccount({ name: 'lister', instanceQuota: 10 });
      first = await create('zz-first', {}, account.token);
      await pastSecondOf(first.createdAt);
      await create('bb-second', {}, account.token);
      await create('aa-third', {}, account.token);
    });

    const list = (query: string, token = account.token) => stack.call('GET', `/api/instance/list${query}`, { token });

    it('returns every instance of the account, ordered by createdAt, without a filter', async () => {
      const res = await list('');

      expect(res.status).toBe(200);
      expect(res.body.message).toBe('3 Instances found');
      expect(names(res.body)[0]).toBe('zz-first');
      expect(names(res.body).sort()).toEqual(['aa-third', 'bb-second', 'zz-first']);
      const created = res.body.instances.map((item: { createdAt: string }) => item.createdAt);
      expect([...created].sort()).toEqual(created);
    });

    it('treats an empty instanceName as no filter', async () => {
      const res = await list('?instanceName=');

      expect(res.status).toBe(200);
      expect(res.body.message).toBe('3 Instances found');
    });

    it('answers 404 Instance not found for one unknown name', async () => {
      const res = await list('?instanceName=ghost');

      expect(res.status).toBe(404);
      expect(res.body).toEqual({ success: false, error: { message: 'Instance not found' } });
    });

    it('returns exactly the named instance with "1 Instance found"', async () => {
      const res = await list('?instanceName=bb-second');

      expect(res.status).toBe(200);
      expect(res.body.message).toBe('1 Instance found');
      expect(names(res.body)).toEqual(['bb-second']);
    });

    it('skips unknown names silently when several are given', async () => {
      const some = await list('?instanceName=zz-first,ghost,aa-third');
      const none = await list('?instanceName=ghost-1,ghost-2');

      expect(some.status).toBe(200);
      expect(some.body.message).toBe('2 Instances found');
      expect(names(some.body).sort()).toEqual(['aa-third', 'zz-first']);
      expect(none.status).toBe(200);
      expect(none.body).toEqual({ success: true, message: '0 Instances found', instances: [] });
    });

    it('allows spaces around commas', async () => {
      const res = await list(`?instanceName=${encodeURIComponent(' zz-first , bb-second ')}`);

      expect(res.status).toBe(200);
      expect(names(res.body).sort()).toEqual(['bb-second', 'zz-first']);
    });

    it('removes duplicate names', async () => {
      const single = await list('?instanceName=aa-third,aa-third');
      const pair = await list('?instanceName=aa-third,zz-first,aa-third');

      expect(single.status).toBe(200);
      expect(single.body.message).toBe('1 Instance found');
      expect(names(single.body)).toEqual(['aa-third']);
      expect(pair.body.message).toBe('2 Instances found');
      expect(names(pair.body).sort()).toEqual(['aa-third', 'zz-first']);
    });

    it('ignores the filter for a TokenInstance and returns only its own instance', async () => {
      const other = await list('?instanceName=bb-second', first.token);
      const unknown = await list('?instanceName=ghost', first.token);
      const none = await list('', first.token);

      for (const res of [other, unknown, none]) {
        expect(res.status).toBe(200);
        expect(res.body.message).toBe('1 Instance found');
        expect(names(res.body)).toEqual(['zz-first']);
      }
    });

    it('says "0 Instances found" for an account without instances', async () => {
      const empty = await stack.createAccount({ name: 'empty' });

      const res = await list('', empty.token);

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true, message: '0 Instances found', instances: [] });
    });

    it('returns each item as an InstanceView plus connection and profile defaults', async () => {
      // Prepare: keepOnlineStatus does not make a disconnected instance available.
      const made = await create('shape-check', { keepOnlineStatus: true });

      // Act
      const res = await stack.call('GET', '/api/instance/list?instanceName=shape-check', { token: owner.token });

      // Assess
      expect(res.status).toBe(200);
      expect(res.body.instances).toEqual([
        {
          id: made.id,
          name: 'shape-check',
          token: made.token,
          status: 'disconnected',
          numberJid: null,
          proxy: noProxy,
          webhook: { enabled: false, url: null, events: [] },
          websocket: { enabled: false, events: [], mediaBase64: false },
          chatwoot: { enabled: false, status: null, bridgeIntegrationId: null, baseUrl: null, accountId: null, inboxName: null },
          settings: { ...defaultSettings, keepOnlineStatus: true },
          s3: noS3,
          createdAt: made.createdAt,
          updatedAt: made.updatedAt,
          connection: { state: 'disconnected', numberJid: null, presenceStatus: 'unavailable', displayStatus: 'Disconnected' },
          profile: { name: null, pictureUrl: null, isBusiness: false, businessName: '' },
        },
      ]);
      expect(made.id).toMatch(UUID_V4);
      expect(made.createdAt).toMatch(RFC3339);
    });
  });

  describe('settings (#7, #8)', () => {
    it('returns the seven defaults', async () => {
      await create('set-defaults');

      const res = await stack.call('GET', '/api/instance/getSettings/set-defaults', { token: owner.token });

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true, message: 'Settings retrieved successfully', settings: defaultSettings });
    });

    it('updates only the fields sent and keeps the others', async () => {
      // Prepare
      const made = await create('set-partial');
      const firstUpdate = await stack.call('POST', '/api/instance/settings/set-partial', { token: made.token, body: { autoRejectCalls: true, callRejectMessage: 'Busy' } });

      // Act
      const second = await stack.call('POST', '/api/instance/settings/set-partial', { token: made.token, body: { ignoreStatus: true, keepOnlineStatus: null } });
      const read = await stack.call('GET', '/api/instance/getSettings/set-partial', { token: owner.token });

      // Assess
      const expected = { ...defaultSettings, autoRejectCalls: true, callRejectMessage: 'Busy', ignoreStatus: true };
      expect(firstUpdate.status).toBe(200);
      expect(second.status).toBe(200);
      expect(second.body).toEqual({ success: true, message: 'Settings updated successfully', settings: expected });
      expect(read.body.settings).toEqual(expected);
    });

    it('requires at least one of the seven settings', async () => {
      await create('set-empty');

      for (const body of [{}, { unknownFlag: true }, { autoRejectCalls: null }]) {
        const res = await stack.call('POST', '/api/instance/settings/set-empty', { token: owner.token, body });

        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body).toEqual({ success: false, error: { message: 'At least one setting must be provided' } });
      }
      const empty = await stack.call('POST', '/api/instance/settings/set-empty', { token: owner.token });
      expect(empty.status).toBe(400);
      expect(empty.body.error.message).toBe('At least one setting must be provided');
    });

    it('accepts a callRejectMessage of 4096 characters and refuses 4097', async () => {
      await create('set-long');

      const atLimit = await stack.call('POST', '/api/instance/settings/set-long', { token: owner.token, body: { callRejectMessage: 'x'.repeat(4096) } });
      const over = await stack.call('POST', '/api/instance/settings/set-long', { token: owner.token, body: { callRejectMessage: 'y'.repeat(4097), autoRejectCalls: true } });
      const read = await stack.call('GET', '/api/instance/getSettings/set-long', { token: owner.token });

      expect(atLimit.status).toBe(200);
      expect(over.status).toBe(400);
      expect(over.body).toEqual({ success: false, error: { message: "Invalid request body: 'callRejectMessage' must be at most 4096 characters" } });
      expect(read.body.settings.callRejectMessage).toBe('x'.repeat(4096));
      expect(read.body.settings.autoRejectCalls).toBe(false);
    });

    it('reports wrong types and malformed bodies in the envelope', async () => {
      await create('set-types');

      const stringBoolean = await stack.call('POST', '/api/instance/settings/set-types', { token: owner.token, body: { autoRejectCalls: 'true' } });
      const numberString = await stack.call('POST', '/api/instance/settings/set-types', { token: owner.token, body: { callRejectMessage: 5 } });
      const malformed = await stack.call('POST', '/api/instance/settings/set-types', { token: owner.token, rawBody: '{"autoRejectCalls": tru' });
      const array = await stack.call('POST', '/api/instance/settings/set-types', { token: owner.token, rawBody: '[true]' });

      expect(stringBoolean.status).toBe(400);
      expect(stringBoolean.body.error.message).toBe("Invalid request body: 'autoRejectCalls' must be a boolean");
      expect(numberString.status).toBe(400);
      expect(numberString.body.error.message).toBe("Invalid request body: 'callRejectMessage' must be a string");
      for (const res of [malformed, array]) {
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ success: false, error: { message: 'Invalid request body' } });
      }
    });

    it('changes the instance updatedAt', async () => {
      // Prepare
      const made = await create('set-updated');
      await pastSecondOf(made.updatedAt);

      // Act
      const res = await stack.call('POST', '/api/instance/settings/set-updated', { token: owner.token, body: { autoReadMessages: true } });
      const listed = await stack.call('GET', '/api/instance/list?instanceName=set-updated', { token: owner.token });

      // Assess
      expect(res.status).toBe(200);
      const item = listed.body.instances[0];
      expect(item.updatedAt).toMatch(RFC3339);
      expect(item.updatedAt > made.updatedAt).toBe(true);
      expect(item.createdAt).toBe(made.createdAt);
      expect(item.settings.autoReadMessages).toBe(true);
    });
  });

  describe('proxy (#9, #10)', () => {
    const setProxy = (name: string, body: unknown, token = owner.token) => stack.call('POST', `/api/instance/proxy/${name}`, { token, body });
    const getProxy = (name: string) => stack.call('GET', `/api/instance/getProxy/${name}`, { token: owner.token });
    const sealedPassword = async (name: string) => {
      const item = await rawInstance(owner.id, name);
      return ((item?.proxy as RawItem | undefined)?.passwordSealed ?? null) as string | null;
    };

    it('returns the disabled shape before any proxy is set', async () => {
      await create('px-none');

      const res = await getProxy('px-none');

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true, message: 'Proxy configuration retrieved successfully', proxy: noProxy });
    });

    it('stores an integer port as a string, lower-cases the protocol and never returns the password', async () => {
      // Prepare
      await create('px-set');

      // Act
      const set = await setProxy('px-set', { enabled: true, host: 'proxy.example.com', port: 1080, protocol: 'SOCKS5', username: 'user', password: 'px-s3cret-pass' });
      const read = await getProxy('px-set');

      // Assess
      const expected = { enabled: true, host: 'proxy.example.com', port: '1080', protocol: 'socks5', username: 'user', password: null };
      expect(set.status).toBe(200);
      expect(set.body).toEqual({ success: true, message: 'Proxy configuration updated', proxy: expected });
      expect(read.body).toEqual({ success: true, message: 'Proxy configuration retrieved successfully', proxy: expected });
      const raw = await rawInstance(owner.id, 'px-set');
      expect(typeof (raw?.proxy as RawItem).passwordSealed).toBe('string');
      expect(JSON.stringify(raw)).not.toContain('px-s3cret-pass');
    });

    it('keeps the stored password when password is absent, and clears it with null or ""', async () => {
      // Prepare
      const made = await create('px-keep');
      await setProxy('px-keep', { enabled: true, host: 'p.example.com', port: '3128', protocol: 'http', username: 'u1', password: 'first-pass' });
      const sealed = await sealedPassword('px-keep');

      // Act: absent keeps it (with a username), null clears, then "" clears a new one.
      const keep = await setProxy('px-keep', { enabled: true, host: 'p2.example.com', port: '3129', protocol: 'https', username: 'u2' }, made.token);
      const afterKeep = await sealedPassword('px-keep');
      const clearNull = await setProxy('px-keep', { enabled: true, host: 'p2.example.com', port: '3129', protocol: 'https', username: 'u2', password: null });
      const afterNull = await sealedPassword('px-keep');
      await setProxy('px-keep', { enabled: true, host: 'p2.example.com', port: '3129', protocol: 'https', username: 'u2', password: 'second-pass' });
      const afterSecond = await sealedPassword('px-keep');
      const clearEmpty = await setProxy('px-keep', { enabled: true, host: 'p2.example.com', port: '3129', protocol: 'https', username: 'u2', password: '' });
      const afterEmpty = await sealedPassword('px-keep');

      // Assess
      expect(sealed).toEqual(expect.any(String));
      expect(keep.status).toBe(200);
      expect(keep.body.proxy).toEqual({ enabled: true, host: 'p2.example.com', port: '3129', protocol: 'https', username: 'u2', password: null });
      expect(afterKeep).toBe(sealed);
      expect(clearNull.status).toBe(200);
      expect(afterNull).toBeNull();
      expect(afterSecond).toEqual(expect.any(String));
      expect(clearEmpty.status).toBe(200);
      expect(afterEmpty).toBeNull();
    });

    it('drops the stored password when no username remains', async () => {
      // Prepare
      await create('px-nouser');
      await setProxy('px-nouser', { enabled: true, host: 'p.example.com', port: 8080, protocol: 'http', username: 'u', password: 'nouser-pass' });
      const before = await sealedPassword('px-nouser');

      // Act
      const res = await setProxy('px-nouser', { enabled: true, host: 'p.example.com', port: 8080, protocol: 'http' });
      const after = await sealedPassword('px-nouser');
      const again = await setProxy('px-nouser', { enabled: true, host: 'p.example.com', port: 8080, protocol: 'http', username: 'u' });
      const afterUsernameBack = await sealedPassword('px-nouser');

      // Assess
      expect(before).toEqual(expect.any(String));
      expect(res.status).toBe(200);
      expect(res.body.proxy.username).toBeNull();
      expect(after).toBeNull();
      expect(again.status).toBe(200);
      expect(afterUsernameBack).toBeNull();
    });

    it('removes every stored field with enabled: false', async () => {
      // Prepare
      await create('px-off', { proxyEnabled: true, proxyHost: 'p.example.com', proxyPort: '1080', proxyProtocol: 'socks5', proxyUsername: 'u', proxyPassword: 'off-pass' });
      const before = await rawInstance(owner.id, 'px-off');

      // Act
      const res = await setProxy('px-off', { enabled: false, host: 'ignored.example.com' });
      const read = await getProxy('px-off');
      const after = await rawInstance(owner.id, 'px-off');
      const reEnabled = await setProxy('px-off', { enabled: true, host: 'p.example.com', port: '1080', protocol: 'socks5', username: 'u' });
      const afterReEnable = await sealedPassword('px-off');

      // Assess
      expect((before?.proxy as RawItem).passwordSealed).toEqual(expect.any(String));
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true, message: 'Proxy configuration updated', proxy: noProxy });
      expect(read.body.proxy).toEqual(noProxy);
      expect(after?.proxy ?? null).toBeNull();
      expect(reEnabled.status).toBe(200);
      expect(afterReEnable).toBeNull();
    });

    it('answers the exact validation messages and stores nothing', async () => {
      // Prepare
      await create('px-bad');
      const cases: [unknown, string][] = [
        [{}, "Invalid request body: 'enabled' must be a boolean"],
        [{ enabled: 'true' }, "Invalid request body: 'enabled' must be a boolean"],
        [{ enabled: true, host: 5, port: '1', protocol: 'http' }, "Invalid request body: 'host' must be a string"],
        [{ enabled: true }, 'Invalid proxy configuration: host is required'],
        [{ enabled: true, host: '', port: '1080', protocol: 'http' }, 'Invalid proxy configuration: host is required'],
        [{ enabled: true, host: '   ', port: '1080', protocol: 'http' }, 'Invalid proxy configuration: host is required'],
        [{ enabled: true, host: 'h.example.com' }, 'Invalid proxy configuration: port must be between 1 and 65535'],
        [{ enabled: true, host: 'h.example.com', port: 0, protocol: 'http' }, 'Invalid proxy configuration: port must be between 1 and 65535'],
        [{ enabled: true, host: 'h.example.com', port: '65536', protocol: 'http' }, 'Invalid proxy configuration: port must be between 1 and 65535'],
        [{ enabled: true, host: 'h.example.com', port: 'abc', protocol: 'http' }, 'Invalid proxy configuration: port must be between 1 and 65535'],
        [{ enabled: true, host: 'h.example.com', port: -1, protocol: 'http' }, 'Invalid proxy configuration: port must be between 1 and 65535'],
        [{ enabled: true, host: 'h.example.com', port: '1080' }, "Invalid proxy configuration: protocol must be 'http', 'https' or 'socks5'"],
        [{ enabled: true, host: 'h.example.com', port: '1080', protocol: 'ftp' }, "Invalid proxy configuration: protocol must be 'http', 'https' or 'socks5'"],
        [{ enabled: true, host: 'h.example.com', port: '1080', protocol: 'socks4' }, "Invalid proxy configuration: protocol must be 'http', 'https' or 'socks5'"],
      ];

      // Act
      const results = [];
      for (const [body] of cases) results.push(await setProxy('px-bad', body));
      const read = await getProxy('px-bad');

      // Assess
      results.forEach((res, i) => {
        expect(res.status, JSON.stringify(cases[i]?.[0])).toBe(400);
        expect(res.body, JSON.stringify(cases[i]?.[0])).toEqual({ success: false, error: { message: cases[i]?.[1] } });
      });
      expect(read.body.proxy).toEqual(noProxy);
    });

    it('accepts every port bound and protocol in any case', async () => {
      await create('px-bounds');

      const low = await setProxy('px-bounds', { enabled: true, host: 'h.example.com', port: '1', protocol: 'HTTP' });
      const high = await setProxy('px-bounds', { enabled: true, host: 'h.example.com', port: 65535, protocol: 'Https' });

      expect(low.status).toBe(200);
      expect(low.body.proxy).toMatchObject({ port: '1', protocol: 'http' });
      expect(high.status).toBe(200);
      expect(high.body.proxy).toMatchObject({ port: '65535', protocol: 'https' });
    });
  });

  describe('S3 (#11, #12)', () => {
    const setS3 = (name: string, body: unknown, token = owner.token) => stack.call('POST', `/api/instance/s3/${name}`, { token, body });
    const getS3 = (name: string) => stack.call('GET', `/api/instance/getS3/${name}`, { token: owner.token });
    const full = { enabled: true, region: 'us-east-1', bucket: 'acme-media', accessKey: 'AKIAEXAMPLEKEY', secretKey: 's3-very-secret-key', pathPrefix: 'media/x/' };

    it('returns the disabled shape before S3 is set', async () => {
      await create('s3-none');

      const res = await getS3('s3-none');

      expect(res.status).toBe(200);
      expect(res.body).toEqual({ success: true, message: 'S3 configuration retrieved successfully', s3: noS3 });
    });

    it('enables S3 and answers without a secretKey key; reads show secretKey null', async () => {
      // Prepare
      await create('s3-set');

      // Act
      const set = await setS3('s3-set', full);
      const read = await getS3('s3-set');

      // Assess
      const view = { enabled: true, region: 'us-east-1', bucket: 'acme-media', accessKey: 'AKIAEXAMPLEKEY', endpoint: null, pathPrefix: 'media/x/' };
      expect(set.status).toBe(200);
      expect(set.body).toEqual({ success: true, message: 'S3 configuration updated', s3: view });
      expect(Object.keys(set.body.s3)).not.toContain('secretKey');
      expect(read.body).toEqual({ success: true, message: 'S3 configuration retrieved successfully', s3: { ...view, secretKey: null } });
      const raw = JSON.stringify(await rawInstance(owner.id, 's3-set'));
      expect(raw).not.toContain('s3-very-secret-key');
      expect(raw).not.toContain('AKIAEXAMPLEKEY');
    });

    it('keeps the stored secret when secretKey is omitted while S3 is enabled', async () => {
      // Prepare
      const made = await create('s3-keep');
      await setS3('s3-keep', full);
      const sealed = ((await rawInstance(owner.id, 's3-keep'))?.s3 as RawItem).secretKeySealed;

      // Act
      const { secretKey: _secretKey, ...withoutSecret } = full;
      const res = await setS3('s3-keep', { ...withoutSecret, bucket: 'other-bucket' }, made.token);
      const after = ((await rawInstance(owner.id, 's3-keep'))?.s3 as RawItem).secretKeySealed;

      // Assess
      expect(sealed).toEqual(expect.any(String));
      expect(res.status).toBe(200);
      expect(res.body.s3.bucket).toBe('other-bucket');
      expect(after).toBe(sealed);
    });

    it('requires secretKey when S3 is not enabled yet', async () => {
      await create('s3-nosecret');
      const { secretKey: _secretKey, ...withoutSecret } = full;

      const res = await setS3('s3-nosecret', withoutSecret);
      const read = await getS3('s3-nosecret');

      expect(res.status).toBe(400);
      expect(res.body).toEqual({ success: false, error: { message: 'Invalid S3 configuration: secretKey is required' } });
      expect(read.body.s3).toEqual(noS3);
    });

    it('answers the exact messages for missing fields and bad endpoints', async () => {
      await create('s3-bad');
      const cases: [unknown, string][] = [
        [{}, "Invalid request body: 'enabled' must be a boolean"],
        [{ ...full, region: undefined }, 'Invalid S3 configuration: region is required'],
        [{ ...full, region: '' }, 'Invalid S3 configuration: region is required'],
        [{ ...full, bucket: null }, 'Invalid S3 configuration: bucket is required'],
        [{ ...full, accessKey: ' ' }, 'Invalid S3 configuration: accessKey is required'],
        [{ ...full, region: 7 }, "Invalid request body: 'region' must be a string"],
        [{ ...full, endpoint: 'not a url' }, 'Invalid S3 configuration: endpoint must be an absolute http(s) URL'],
        [{ ...full, endpoint: 'ftp://files.example.com' }, 'Invalid S3 configuration: endpoint must be an absolute http(s) URL'],
        [{ ...full, endpoint: '/relative/path' }, 'Invalid S3 configuration: endpoint must be an absolute http(s) URL'],
      ];

      const results = [];
      for (const [body] of cases) results.push(await setS3('s3-bad', body));
      const read = await getS3('s3-bad');

      results.forEach((res, i) => {
        expect(res.status, JSON.stringify(cases[i]?.[0])).toBe(400);
        expect(res.body, JSON.stringify(cases[i]?.[0])).toEqual({ success: false, error: { message: cases[i]?.[1] } });
      });
      expect(read.body.s3).toEqual(noS3);
    });

    it('refuses endpoints on metadata and private addresses with a 400', async () => {
      await create('s3-ssrf');

      for (const endpoint of ['http://169.254.169.254', 'http://169.254.169.254/latest/meta-data/', 'http://10.0.0.5:9000', 'https://10.1.2.3']) {
        const res = await setS3('s3-ssrf', { ...full, endpoint });

        expect(res.status, endpoint).toBe(400);
        expect(res.body.success, endpoint).toBe(false);
        expect(res.body.error.message, endpoint).toMatch(/^Invalid S3 configuration: endpoint/);
      }
      const read = await getS3('s3-ssrf');
      expect(read.body.s3).toEqual(noS3);
    });

    it('accepts a custom endpoint on an allowed address', async () => {
      await create('s3-endpoint');

      const res = await setS3('s3-endpoint', { ...full, endpoint: 'http://127.0.0.1:9000' });

      expect(res.status).toBe(200);
      expect(res.body.s3.endpoint).toBe('http://127.0.0.1:9000');
    });

    it('disables S3, deletes the stored credentials, and then needs every field again', async () => {
      // Prepare
      await create('s3-off', { s3Enabled: true, s3Region: 'eu-west-1', s3Bucket: 'b', s3AccessKey: 'AKIAOFF', s3SecretKey: 'off-secret' });
      const before = await rawInstance(owner.id, 's3-off');

      // Act
      const off = await setS3('s3-off', { enabled: false });
      const read = await getS3('s3-off');
      const after = await rawInstance(owner.id, 's3-off');
      const { secretKey: _secretKey, ...withoutSecret } = full;
      const reEnable = await setS3('s3-off', withoutSecret);

      // Assess
      expect((before?.s3 as RawItem).secretKeySealed).toEqual(expect.any(String));
      expect(off.status).toBe(200);
      expect(off.body).toEqual({
        success: true,
        message: 'S3 configuration updated',
        s3: { enabled: false, region: null, bucket: null, accessKey: null, endpoint: null, pathPrefix: null },
      });
      expect(read.body.s3).toEqual(noS3);
      expect(after?.s3 ?? null).toBeNull();
      expect(reEnable.status).toBe(400);
      expect(reEnable.body.error.message).toBe('Invalid S3 configuration: secretKey is required');
    });
  });

  describe('DELETE /api/instance/delete/:instance (#6)', () => {
    const itemsOf = async (accountId: string, name: string, instanceId: string) => {
      const items = await scan();
      return {
        own: items.filter((item) => item.pk === `ACCOUNT#${accountId}` && String(item.sk).startsWith(`INSTANCE#${name}#`)),
        tokens: items.filter((item) => item.entity === 'token' && item.instanceId === instanceId),
      };
    };

    it('deletes every item of the instance; its token stops working; a second call is 404', async () => {
      // Prepare: an instance with a webhook, proxy, S3 and settings.
      const made = await create('del-full', {
        webhookEnabled: true,
        webhookURL: 'http://127.0.0.1:9/hook',
        proxyEnabled: true,
        proxyHost: 'p.example.com',
        proxyPort: 1080,
        proxyProtocol: 'socks5',
        s3Enabled: true,
        s3Region: 'us-east-1',
        s3Bucket: 'b',
        s3AccessKey: 'AKIADEL',
        s3SecretKey: 'del-secret',
        autoRejectCalls: true,
      });
      const before = await itemsOf(owner.id, 'del-full', made.id);

      // Act
      const byInstanceToken = await stack.call('DELETE', '/api/instance/delete/del-full', { token: made.token });
      const deleted = await stack.call('DELETE', '/api/instance/delete/del-full', { token: owner.token });
      const again = await stack.call('DELETE', '/api/instance/delete/del-full', { token: owner.token });
      const oldToken = await stack.call('GET', '/api/instance/getSettings/del-full', { token: made.token });
      const listed = await stack.call('GET', '/api/instance/list?instanceName=del-full', { token: owner.token });
      const after = await itemsOf(owner.id, 'del-full', made.id);

      // Assess
      expect(before.own.map((item) => item.sk).sort()).toEqual(['INSTANCE#del-full#META', 'INSTANCE#del-full#WEBHOOK#default']);
      expect(before.tokens).toHaveLength(1);
      expect(byInstanceToken.status).toBe(401);
      expect(byInstanceToken.body.error.message).toBe('Invalid token');
      expect(deleted.status).toBe(200);
      expect(deleted.body).toEqual({ success: true, message: 'Instance deleted', instance: { status: 'deleted' } });
      expect(again.status).toBe(404);
      expect(again.body).toEqual({ success: false, error: { message: 'Instance not found' } });
      expect(oldToken.status).toBe(401);
      expect(oldToken.body.error.message).toBe('Invalid token');
      expect(listed.status).toBe(404);
      expect(after.own).toEqual([]);
      expect(after.tokens).toEqual([]);
    });

    it('frees the quota slot, and a new instance with the same name starts clean', async () => {
      // Prepare
      const account = await stack.createAccount({ name: 'one-slot', instanceQuota: 1 });
      const old = await create('reborn', { webhookEnabled: true, webhookURL: 'http://127.0.0.1:9/old', ignoreGroupMessages: true }, account.token);
      await stack.call('POST', '/api/instance/proxy/reborn', { token: account.token, body: { enabled: true, host: 'p.example.com', port: 1, protocol: 'http' } });
      const full = await stack.call('POST', '/api/instance/new', { token: account.token, body: { name: 'other' } });

      // Act
      const deleted = await stack.call('DELETE', '/api/instance/delete/reborn', { token: account.token });
      const recreated = await stack.call('POST', '/api/instance/new', { token: account.token, body: { name: 'reborn' } });
      const listed = await stack.call('GET', '/api/instance/list', { token: account.token });
      const oldToken = await stack.call('GET', '/api/instance/list', { token: old.token });

      // Assess
      expect(old.webhook).toMatchObject({ enabled: true, url: 'http://127.0.0.1:9/old' });
      expect(full.status).toBe(403);
      expect(deleted.status).toBe(200);
      expect(recreated.status).toBe(201);
      expect(listed.body.message).toBe('1 Instance found');
      const item = listed.body.instances[0];
      expect(item.id).not.toBe(old.id);
      expect(item.token).not.toBe(old.token);
      expect(item.webhook).toEqual({ enabled: false, url: null, events: [] });
      expect(item.proxy).toEqual(noProxy);
      expect(item.settings).toEqual(defaultSettings);
      expect(oldToken.status).toBe(401);
    });
  });
});
