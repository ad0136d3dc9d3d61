import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';

// Spec §2.10 Z5–Z9: the administration API, authenticated by `x-admin-key`.

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ACCOUNT_TOKEN = /^[0-9a-f]{64}$/;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Timestamps have second precision: wait until the clock is past the second of `timestamp`. */
const pastSecondOf = async (timestamp: string) => {
  const wait = Date.parse(timestamp) + 1000 - Date.now();
  if (wait > 0) await sleep(wait + 20);
};

interface AccountView {
  id: string;
  name: string;
  instanceQuota: number;
  instanceCount: number;
  rateLimits: { global: number; create: number };
  createdAt: string;
  updatedAt: string;
}

describe('administration API', () => {
  let stack: TestStack;
  let admin: Record<string, string>;

  const adminCall = (method: string, path: string, body?: unknown) => stack.call(method, path, { headers: admin, body });
  const createAccount = async (body: Record<string, unknown>) => {
    const res = await adminCall('POST', '/admin/accounts', body);
    if (res.status !== 201) throw new Error(`create account: ${res.status} ${JSON.stringify(res.body)}`);
    return { id: res.body.account.id as string, token: res.body.token as string, account: res.body.account };
  };
  const createInstance = async (token: string, name: string) => {
    const res = await stack.call('POST', '/api/instance/new', { token, body: { name } });
    if (res.status !== 201) throw new Error(`create instance ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return { name, token: res.body.instance.token as string };
  };
  const listAccounts = async (): Promise<AccountView[]> => (await adminCall('GET', '/admin/accounts')).body.accounts;
  const viewOf = async (id: string) => (await listAccounts()).find((account) => account.id === id);

  beforeAll(async () => {
    // The admin bucket (100/min) is not under test here; this file makes many admin calls.
    stack = await startTestStack({ ZAPFLEET_RATE_LIMIT_ADMIN: '100000' });
    admin = { 'x-admin-key': stack.adminKey };
  });
  afterAll(async () => stack?.stop());

  // Runs first: a fresh stack holds only the `default` account.
  it('lists the single default account as "1 account found"', async () => {
    const res = await adminCall('GET', '/admin/accounts');

    expect(res.status).toBe(200);
    expect(res.body.message).toBe('1 account found');
    expect(res.body.accounts).toHaveLength(1);
    expect(res.body.accounts[0]).toMatchObject({ name: 'default', instanceQuota: 10, instanceCount: 0, rateLimits: { global: 100, create: 20 } });
  });

  describe('admin key', () => {
    const routes: [string, string][] = [
      ['POST', '/admin/accounts'],
      ['GET', '/admin/accounts'],
      ['PATCH', `/admin/accounts/${randomUUID()}`],
      ['POST', `/admin/accounts/${randomUUID()}/rotate-token`],
      ['DELETE', `/admin/accounts/${randomUUID()}`],
    ];

    it('answers 401 Invalid admin key without the header, with a wrong key, or with a token instead', async () => {
      for (const [method, path] of routes) {
        const body = method === 'GET' ? undefined : { name: 'x' };
        const attempts = {
          missing: await stack.call(method, path, { body }),
          wrong: await stack.call(method, path, { headers: { 'x-admin-key': `${stack.adminKey}x` }, body }),
          empty: await stack.call(method, path, { headers: { 'x-admin-key': '' }, body }),
          tokenHeader: await stack.call(method, path, { token: stack.accountToken, body }),
          bearer: await stack.call(method, path, { headers: { authorization: `Bearer ${stack.accountToken}` }, body }),
          tokenAsKey: await stack.call(method, path, { headers: { 'x-admin-key': stack.accountToken }, body }),
        };
        for (const [label, res] of Object.entries(attempts)) {
          expect(res.status, `${method} ${path} ${label}`).toBe(401);
          expect(res.body, `${method} ${path} ${label}`).toEqual({ success: false, error: { message: 'Invalid admin key' } });
        }
      }
      expect((await listAccounts()).map((account) => account.name)).not.toContain('x');
    });
  });

  describe('POST /admin/accounts (Z5)', () => {
    it('answers 201 with exactly the account summary and a 64-hex TokenAccount', async () => {
      const res = await adminCall('POST', '/admin/accounts', { name: 'ACME', instanceQuota: 3 });

      expect(res.status).toBe(201);
      expect(res.body).toEqual({
        success: true,
        message: 'Account created',
        account: { id: expect.stringMatching(UUID_V4), name: 'ACME', instanceQuota: 3, createdAt: expect.stringMatching(RFC3339) },
        token: expect.stringMatching(ACCOUNT_TOKEN),
      });
    });

    it('issues a token that works as a TokenAccount', async () => {
      const { token } = await createAccount({ name: 'working' });

      const created = await stack.call('POST', '/api/instance/new', { token, body: { name: 'first' } });
      const listed = await stack.call('GET', '/api/instance/list', { token });

      expect(created.status).toBe(201);
      expect(listed.body.instances.map((item: { name: string }) => item.name)).toEqual(['first']);
    });

    it('trims the name, defaults the quota to 10 and accepts a quota of 0', async () => {
      const trimmed = await createAccount({ name: '  Spaced Name  ' });
      const zero = await createAccount({ name: 'zero', instanceQuota: 0 });
      const nullQuota = await createAccount({ name: 'null quota', instanceQuota: null });
      const longest = await createAccount({ name: 'n'.repeat(128) });

      expect(trimmed.account.name).toBe('Spaced Name');
      expect(trimmed.account.instanceQuota).toBe(10);
      expect(zero.account.instanceQuota).toBe(0);
      expect(nullQuota.account.instanceQuota).toBe(10);
      expect(longest.account.name).toBe('n'.repeat(128));
      const refused = await stack.call('POST', '/api/instance/new', { token: zero.token, body: { name: 'none-allowed' } });
      expect(refused.status).toBe(403);
      expect(refused.body.error.message).toBe('Account instance quota exceeded');
    });

    it('does not require unique names', async () => {
      const first = await createAccount({ name: 'Twin' });
      const second = await createAccount({ name: 'Twin' });

      expect(second.id).not.toBe(first.id);
      expect(second.token).not.toBe(first.token);
    });

    it('answers the exact validation messages', async () => {
      const cases: [unknown, string][] = [
        [{}, "The 'name' field is required"],
        [{ name: null }, "The 'name' field is required"],
        [{ name: '' }, "The 'name' field is required"],
        [{ name: '   ' }, "The 'name' field is required"],
        [{ name: 'n'.repeat(129) }, "Invalid request body: 'name' must be at most 128 characters"],
        [{ name: 5 }, "Invalid request body: 'name' must be a string"],
        [{ name: 'q', instanceQuota: -1 }, 'instanceQuota must be a non-negative integer'],
        [{ name: 'q', instanceQuota: 1.5 }, 'instanceQuota must be a non-negative integer'],
        [{ name: 'q', instanceQuota: '3' }, 'instanceQuota must be a non-negative integer'],
      ];
      const before = (await listAccounts()).length;

      for (const [body, message] of cases) {
        const res = await adminCall('POST', '/admin/accounts', body);

        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body, JSON.stringify(body)).toEqual({ success: false, error: { message } });
      }
      const malformed = await stack.call('POST', '/admin/accounts', { headers: admin, rawBody: '{"name":' });
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.message).toBe('Invalid request body');
      expect((await listAccounts()).length).toBe(before);
    });
  });

  describe('GET /admin/accounts (Z6)', () => {
    it('lists AccountViews ordered by createdAt, with instanceCount and rateLimits, never tokens', async () => {
      // Prepare: two accounts created in different seconds, the later one with a smaller name.
      const older = await createAccount({ name: 'zz-older', instanceQuota: 4 });
      await createInstance(older.token, 'one');
      await createInstance(older.token, 'two');
      await pastSecondOf(older.account.createdAt);
      const newer = await createAccount({ name: 'aa-newer' });

      // Act
      const res = await adminCall('GET', '/admin/accounts');

      // Assess
      expect(res.status).toBe(200);
      const accounts: AccountView[] = res.body.accounts;
      expect(res.body.message).toBe(`${accounts.length} accounts found`);
      const created = accounts.map((account) => account.createdAt);
      expect([...created].sort()).toEqual(created);
      const ids = accounts.map((account) => account.id);
      expect(ids.indexOf(older.id)).toBeLessThan(ids.indexOf(newer.id));
      expect(accounts.find((account) => account.id === older.id)).toEqual({
        id: older.id,
        name: 'zz-older',
        instanceQuota: 4,
        instanceCount: 2,
        rateLimits: { global: 100, create: 20 },
        createdAt: older.account.createdAt,
        updatedAt: expect.stringMatching(RFC3339),
      });
      const text = JSON.stringify(res.body);
      expect(text).not.toContain(older.token);
      expect(text).not.toContain(newer.token);
      expect(text).not.toContain(stack.accountToken);
      expect(text).not.toMatch(/token/i);
    });
  });

  describe('PATCH /admin/accounts/:id (Z7)', () => {
    it('updates name, quota and rate limits, keeping what is not sent', async () => {
      // Prepare
      const target = await createAccount({ name: 'patch-me', instanceQuota: 2 });
      await pastSecondOf(target.account.createdAt);

      // Act
      const renamed = await adminCall('PATCH', `/admin/accounts/${target.id}`, { name: '  Renamed  ' });
      const requota = await adminCall('PATCH', `/admin/accounts/${target.id}`, { instanceQuota: 7 });
      const limits = await adminCall('PATCH', `/admin/accounts/${target.id}`, { rateLimits: { global: 250 } });
      const listed = await viewOf(target.id);

      // Assess
      expect(renamed.status).toBe(200);
      expect(renamed.body.message).toBe('Account updated');
      expect(renamed.body.account).toMatchObject({ name: 'Renamed', instanceQuota: 2 });
      expect(requota.body.account).toMatchObject({ name: 'Renamed', instanceQuota: 7 });
      expect(limits.status).toBe(200);
      expect(limits.body).toEqual({
        success: true,
        message: 'Account updated',
        account: {
          id: target.id,
          name: 'Renamed',
          instanceQuota: 7,
          instanceCount: 0,
          rateLimits: { global: 250, create: 20 },
          createdAt: target.account.createdAt,
          updatedAt: expect.stringMatching(RFC3339),
        },
      });
      expect(limits.body.account.updatedAt > target.account.createdAt).toBe(true);
      expect(listed).toEqual(limits.body.account);
    });

    it('answers the exact validation messages and changes nothing', async () => {
      const target = await createAccount({ name: 'patch-bad', instanceQuota: 5 });
      const before = await viewOf(target.id);
      const cases: [unknown, string][] = [
        [{}, 'At least one field must be provided'],
        [{ unknownField: 1 }, 'At least one field must be provided'],
        [{ name: null, instanceQuota: null, rateLimits: null }, 'At least one field must be provided'],
        [{ instanceQuota: -1 }, 'instanceQuota must be a non-negative integer'],
        [{ instanceQuota: 2.5 }, 'instanceQuota must be a non-negative integer'],
        [{ instanceQuota: '3' }, 'instanceQuota must be a non-negative integer'],
        [{ name: '  ' }, "The 'name' field is required"],
        [{ name: 'n'.repeat(129) }, "Invalid request body: 'name' must be at most 128 characters"],
        [{ rateLimits: { global: 0 } }, 'rateLimits values must be positive integers'],
        [{ rateLimits: { create: -5 } }, 'rateLimits values must be positive integers'],
        [{ rateLimits: { global: 1.5 } }, 'rateLimits values must be positive integers'],
        [{ rateLimits: { global: '10' } }, 'rateLimits values must be positive integers'],
        [{ rateLimits: { global: 10, create: 0 } }, 'rateLimits values must be positive integers'],
      ];

      for (const [body, message] of cases) {
        const res = await adminCall('PATCH', `/admin/accounts/${target.id}`, body);

        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body, JSON.stringify(body)).toEqual({ success: false, error: { message } });
      }
      expect(await viewOf(target.id)).toEqual(before);
    });

    it('answers 404 Account not found for an unknown UUID and for a non-UUID id', async () => {
      for (const id of [randomUUID(), 'not-a-uuid', 'ACCOUNT']) {
        const res = await adminCall('PATCH', `/admin/accounts/${id}`, { name: 'ghost' });

        expect(res.status, id).toBe(404);
        expect(res.body, id).toEqual({ success: false, error: { message: 'Account not found' } });
      }
    });

    it('allows lowering the quota below the instance count; creations then get 403', async () => {
      // Prepare
      const target = await createAccount({ name: 'shrinking', instanceQuota: 3 });
      await createInstance(target.token, 'keep-1');
      await createInstance(target.token, 'keep-2');

      // Act
      const lowered = await adminCall('PATCH', `/admin/accounts/${target.id}`, { instanceQuota: 1 });
      const refused = await stack.call('POST', '/api/instance/new', { token: target.token, body: { name: 'one-more' } });
      const listed = await stack.call('GET', '/api/instance/list', { token: target.token });
      await stack.call('DELETE', '/api/instance/delete/keep-2', { token: target.token });
      const stillRefused = await stack.call('POST', '/api/instance/new', { token: target.token, body: { name: 'one-more' } });
      await stack.call('DELETE', '/api/instance/delete/keep-1', { token: target.token });
      const allowed = await stack.call('POST', '/api/instance/new', { token: target.token, body: { name: 'one-more' } });

      // Assess
      expect(lowered.status).toBe(200);
      expect(lowered.body.account).toMatchObject({ instanceQuota: 1, instanceCount: 2 });
      expect(refused.status).toBe(403);
      expect(refused.body).toEqual({ success: false, error: { message: 'Account instance quota exceeded' } });
      expect(listed.body.message).toBe('2 Instances found');
      expect(stillRefused.status).toBe(403);
      expect(allowed.status).toBe(201);
    });

    it('applies new rate limits to the TokenAccount and to existing TokenInstances', async () => {
      // Prepare
      const target = await createAccount({ name: 'limits' });
      const instance = await createInstance(target.token, 'limited');
      const before = await stack.call('GET', '/api/instance/getSettings/limited', { token: instance.token });

      // Act
      const patched = await adminCall('PATCH', `/admin/accounts/${target.id}`, { rateLimits: { global: 7, create: 3 } });
      const accountCall = await stack.call('GET', '/api/instance/list', { token: target.token });
      const instanceCall = await stack.call('GET', '/api/instance/getSettings/limited', { token: instance.token });
      const createCall = await stack.call('POST', '/api/instance/new', { token: target.token, body: { name: 'after-patch' } });
      const newInstanceCall = await stack.call('GET', '/api/instance/getSettings/after-patch', { token: createCall.body.instance.token });

      // Assess
      expect(before.headers.get('x-ratelimit-limit')).toBe('100');
      expect(patched.body.account.rateLimits).toEqual({ global: 7, create: 3 });
      expect(accountCall.headers.get('x-ratelimit-limit')).toBe('7');
      expect(instanceCall.headers.get('x-ratelimit-limit')).toBe('7');
      expect(createCall.status).toBe(201);
      expect(createCall.headers.get('x-ratelimit-limit')).toBe('3');
      expect(newInstanceCall.headers.get('x-ratelimit-limit')).toBe('7');
    });
  });

  describe('POST /admin/accounts/:id/rotate-token (Z8)', () => {
    it('replaces the TokenAccount at once and leaves TokenInstances working', async () => {
      // Prepare
      const target = await createAccount({ name: 'rotate' });
      const instance = await createInstance(target.token, 'survivor');

      // Act
      const rotated = await adminCall('POST', `/admin/accounts/${target.id}/rotate-token`);
      const oldToken = await stack.call('GET', '/api/instance/list', { token: target.token });
      const newToken = await stack.call('GET', '/api/instance/list', { token: rotated.body.token });
      const instanceToken = await stack.call('GET', '/api/instance/getSettings/survivor', { token: instance.token });

      // Assess
      expect(rotated.status).toBe(200);
      expect(rotated.body).toEqual({ success: true, message: 'Token rotated', token: expect.stringMatching(ACCOUNT_TOKEN) });
      expect(rotated.body.token).not.toBe(target.token);
      expect(oldToken.status).toBe(401);
      expect(oldToken.body.error.message).toBe('Invalid token');
      expect(newToken.status).toBe(200);
      expect(newToken.body.instances.map((item: { name: string }) => item.name)).toEqual(['survivor']);
      expect(instanceToken.status).toBe(200);
    });

    it('keeps the account rate limits on the new token', async () => {
      const target = await createAccount({ name: 'rotate-limits' });
      await adminCall('PATCH', `/admin/accounts/${target.id}`, { rateLimits: { global: 9 } });

      const rotated = await adminCall('POST', `/admin/accounts/${target.id}/rotate-token`);
      const res = await stack.call('GET', '/api/instance/list', { token: rotated.body.token });

      expect(res.headers.get('x-ratelimit-limit')).toBe('9');
    });

    it('answers 404 Account not found for an unknown or malformed id', async () => {
      for (const id of [randomUUID(), 'nope']) {
        const res = await adminCall('POST', `/admin/accounts/${id}/rotate-token`);

        expect(res.status, id).toBe(404);
        expect(res.body, id).toEqual({ success: false, error: { message: 'Account not found' } });
      }
    });
  });

  describe('DELETE /admin/accounts/:id (Z9)', () => {
    it('refuses with 409 while instances remain, then deletes; the token stops working', async () => {
      // Prepare
      const target = await createAccount({ name: 'doomed' });
      const instance = await createInstance(target.token, 'last-one');

      // Act
      const refused = await adminCall('DELETE', `/admin/accounts/${target.id}`);
      const stillWorks = await stack.call('GET', '/api/instance/list', { token: target.token });
      await stack.call('DELETE', '/api/instance/delete/last-one', { token: target.token });
      const deleted = await adminCall('DELETE', `/admin/accounts/${target.id}`);
      const oldToken = await stack.call('GET', '/api/instance/list', { token: target.token });
      const oldInstanceToken = await stack.call('GET', '/api/instance/getSettings/last-one', { token: instance.token });
      const again = await adminCall('DELETE', `/admin/accounts/${target.id}`);
      const patchGone = await adminCall('PATCH', `/admin/accounts/${target.id}`, { name: 'back' });

      // Assess
      expect(refused.status).toBe(409);
      expect(refused.body).toEqual({ success: false, error: { message: 'Account still has instances' } });
      expect(stillWorks.status).toBe(200);
      expect(deleted.status).toBe(200);
      expect(deleted.body).toEqual({ success: true, message: 'Account deleted' });
      expect(oldToken.status).toBe(401);
      expect(oldToken.body.error.message).toBe('Invalid token');
      expect(oldInstanceToken.status).toBe(401);
      expect(again.status).toBe(404);
      expect(again.body).toEqual({ success: false, error: { message: 'Account not found' } });
      expect(patchGone.status).toBe(404);
      expect(await viewOf(target.id)).toBeUndefined();
    });

    it('answers 404 Account not found for an unknown or malformed id', async () => {
      for (const id of [randomUUID(), '12345']) {
        const res = await adminCall('DELETE', `/admin/accounts/${id}`);

        expect(res.status, id).toBe(404);
        expect(res.body, id).toEqual({ success: false, error: { message: 'Account not found' } });
      }
    });
  });
});
