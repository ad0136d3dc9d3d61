import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from '../support/stack.ts';

// Spec §0.3–§0.6 (authentication, ownership, order of checks), §0.7 (headers), §0.10 (rate
// limits) and §0.11 (CORS), over HTTP against the embedded stack.

const MISSING_TOKEN = 'Missing token in header, Authorization header, or query parameter';
const INVALID_TOKEN = 'Invalid token';
const MISMATCH = 'Instance token does not match the requested instance';
const RATE_LIMITED = 'Rate limit exceeded. Try again later.';
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const UNKNOWN_TOKEN = 'f'.repeat(64);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Rate windows are fixed UTC minutes (spec §0.10). A test that counts requests in one window
 * starts far enough from the boundary to finish inside it; this is a wait, not an assertion.
 */
const roomInWindow = async (seconds = 5) => {
  const intoMinute = Date.now() % 60_000;
  if (intoMinute > 60_000 - seconds * 1000) await sleep(60_000 - intoMinute + 100);
};

/** The Unix second at which the UTC minute containing `ms` ends. */
const nextMinute = (ms: number) => Math.floor(ms / 60_000) * 60 + 60;

const rateOf = (headers: Headers) => ({
  limit: headers.get('x-ratelimit-limit'),
  remaining: headers.get('x-ratelimit-remaining'),
  reset: headers.get('x-ratelimit-reset'),
});

describe('authentication, ownership, rate limits and CORS', () => {
  let stack: TestStack;
  /** An instance of the default account and its TokenInstance. */
  let alpha: { name: string; token: string };
  let beta: { name: string; token: string };

  const createInstance = async (token: string, name: string) => {
    const res = await stack.call('POST', '/api/instance/new', { token, body: { name } });
    if (res.status !== 201) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
    return { name, token: res.body.instance.token as string };
  };

  beforeAll(async () => {
    stack = await startTestStack();
    alpha = await createInstance(stack.accountToken, 'auth-alpha');
    beta = await createInstance(stack.accountToken, 'auth-beta');
  });
  afterAll(async () => stack?.stop());

  describe('token sources (§0.3)', () => {
    it('accepts the token header', async () => {
      const res = await stack.call('GET', '/api/instance/getSettings/auth-alpha', { token: alpha.token });

      expect(res.status).toBe(200);
      expect(res.body.success).toBe(true);
    });

    it('accepts Authorization: Bearer with the scheme in any case', async () => {
      for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
        const res = await stack.call('GET', '/api/instance/getSettings/auth-alpha', { headers: { authorization: `${scheme} ${alpha.token}` } });

        expect(res.status, scheme).toBe(200);
      }
    });

    it('accepts the ?token= query parameter', async () => {
      const res = await stack.call('GET', `/api/instance/getSettings/auth-alpha?token=${encodeURIComponent(alpha.token)}`);

      expect(res.status).toBe(200);
    });

    it('answers 401 with the missing-token message when no source carries a token', async () => {
      const res = await stack.call('GET', '/api/instance/list');

      expect(res.status).toBe(401);
      expect(res.body).toEqual({ success: false, error: { message: MISSING_TOKEN } });
    });

    it('uses the token header first: an unknown one fails even with a valid Bearer (no fall-through)', async () => {
      const res = await stack.call('GET', '/api/instance/list', { headers: { token: UNKNOWN_TOKEN, authorization: `Bearer ${stack.accountToken}` } });

      expect(res.status).toBe(401);
      expect(res.body).toEqual({ success: false, error: { message: INVALID_TOKEN } });
    });

    it('uses Bearer before the query parameter: an unknown Bearer fails even with a valid ?token=', async () => {
      const res = await stack.call('GET', `/api/instance/list?token=${stack.accountToken}`, { headers: { authorization: `Bearer ${UNKNOWN_TOKEN}` } });

      expect(res.status).toBe(401);
      expect(res.body.error.message).toBe(INVALID_TOKEN);
    });

    it('uses the token header before Bearer when both are valid', async () => {
      // Prepare: the header names alpha's token, Bearer names beta's; the path is alpha's.
      const headers = { token: alpha.token, authorization: `Bearer ${beta.token}` };

      // Act
      const res = await stack.call('GET', '/api/instance/getSettings/auth-alpha', { headers });

      // Assess
      expect(res.status).toBe(200);
    });

    it('ignores an Authorization header with another scheme', async () => {
      const alone = await stack.call('GET', '/api/instance/list', { headers: { authorization: `Basic ${stack.accountToken}` } });
      const withQuery = await stack.call('GET', `/api/instance/list?token=${stack.accountToken}`, { headers: { authorization: `Token ${UNKNOWN_TOKEN}` } });

      expect(alone.status).toBe(401);
      expect(alone.body.error.message).toBe(MISSING_TOKEN);
      expect(withQuery.status).toBe(200);
    });

    it('treats an empty value as absent', async () => {
      const emptyHeaderThenBearer = await stack.call('GET', '/api/instance/list', { headers: { token: '', authorization: `Bearer ${stack.accountToken}` } });
      const emptyHeaderThenQuery = await stack.call('GET', `/api/instance/list?token=${stack.accountToken}`, { headers: { token: '' } });
      const everythingEmpty = await stack.call('GET', '/api/instance/list?token=', { headers: { token: '' } });

      expect(emptyHeaderThenBearer.status).toBe(200);
      expect(emptyHeaderThenQuery.status).toBe(200);
      expect(everythingEmpty.status).toBe(401);
      expect(everythingEmpty.body.error.message).toBe(MISSING_TOKEN);
    });
  });

  describe('scopes and ownership (§0.4, §0.5)', () => {
    it('refuses a TokenInstance on POST /api/instance/new with 401 Invalid token', async () => {
      const res = await stack.call('POST', '/api/instance/new', { token: alpha.token, body: { name: 'auth-by-instance-token' } });
      const listed = await stack.call('GET', '/api/instance/list?instanceName=auth-by-instance-token', { token: stack.accountToken });

      expect(res.status).toBe(401);
      expect(res.body).toEqual({ success: false, error: { message: INVALID_TOKEN } });
      expect(listed.status).toBe(404);
    });

    it('refuses a TokenInstance on DELETE /api/instance/delete/:instance, even its own, with 401 Invalid token', async () => {
      const own = await stack.call('DELETE', '/api/instance/delete/auth-alpha', { token: alpha.token });
      const other = await stack.call('DELETE', '/api/instance/delete/x', { token: alpha.token });
      const stillThere = await stack.call('GET', '/api/instance/getSettings/auth-alpha', { token: alpha.token });

      expect(own.status).toBe(401);
      expect(own.body.error.message).toBe(INVALID_TOKEN);
      expect(other.status).toBe(401);
      expect(other.body.error.message).toBe(INVALID_TOKEN);
      expect(stillThere.status).toBe(200);
    });

    it('answers 403 to a TokenInstance on another instance, whether that name exists or not', async () => {
      const existing = await stack.call('GET', '/api/instance/getSettings/auth-beta', { token: alpha.token });
      const missing = await stack.call('GET', '/api/instance/getSettings/no-such-instance', { token: alpha.token });
      const write = await stack.call('POST', '/api/instance/settings/auth-beta', { token: alpha.token, body: { autoRejectCalls: true } });
      const betaSettings = await stack.call('GET', '/api/instance/getSettings/auth-beta', { token: beta.token });

      for (const res of [existing, missing, write]) {
        expect(res.status).toBe(403);
        expect(res.body).toEqual({ success: false, error: { message: MISMATCH } });
      }
      expect(betaSettings.body.settings.autoRejectCalls).toBe(false);
    });

    it('compares instance names exactly (case-sensitive) for a TokenInstance', async () => {
      const res = await stack.call('GET', '/api/instance/getSettings/Auth-Alpha', { token: alpha.token });

      expect(res.status).toBe(403);
      expect(res.body.error.message).toBe(MISMATCH);
    });

    it("answers 404 to a TokenAccount on another account's instance and never lists it", async () => {
      // Prepare
      const a = await stack.createAccount({ name: 'owner-a' });
      const b = await stack.createAccount({ name: 'owner-b' });
      await createInstance(a.token, 'a-only');
      await createInstance(b.token, 'b-secret');

      // Act
      const read = await stack.call('GET', '/api/instance/getSettings/b-secret', { token: a.token });
      const write = await stack.call('POST', '/api/instance/proxy/b-secret', { token: a.token, body: { enabled: false } });
      const remove = await stack.call('DELETE', '/api/instance/delete/b-secret', { token: a.token });
      const listAll = await stack.call('GET', '/api/instance/list', { token: a.token });
      const listNamed = await stack.call('GET', '/api/instance/list?instanceName=b-secret', { token: a.token });
      const listSeveral = await stack.call('GET', '/api/instance/list?instanceName=a-only,b-secret', { token: a.token });
      const ownerView = await stack.call('GET', '/api/instance/list', { token: b.token });

      // Assess
      for (const res of [read, write, remove, listNamed]) {
        expect(res.status).toBe(404);
        expect(res.body).toEqual({ success: false, error: { message: 'Instance not found' } });
      }
      expect(listAll.body.instances.map((item: { name: string }) => item.name)).toEqual(['a-only']);
      expect(listSeveral.body.instances.map((item: { name: string }) => item.name)).toEqual(['a-only']);
      expect(ownerView.body.instances.map((item: { name: string }) => item.name)).toEqual(['b-secret']);
    });

    it('answers 404 to a TokenAccount naming an instance that exists nowhere', async () => {
      const res = await stack.call('GET', '/api/instance/getProxy/nowhere-at-all', { token: stack.accountToken });

      expect(res.status).toBe(404);
      expect(res.body.error.message).toBe('Instance not found');
    });

    it('answers 400 Instance name is required for an empty :instance segment', async () => {
      const get = await stack.call('GET', '/api/instance/getSettings/', { token: stack.accountToken });
      const post = await stack.call('POST', '/api/instance/settings/', { token: stack.accountToken, body: { autoRejectCalls: true } });
      const byInstanceToken = await stack.call('GET', '/api/instance/getS3/', { token: alpha.token });

      for (const res of [get, post, byInstanceToken]) {
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ success: false, error: { message: 'Instance name is required' } });
      }
    });

    it('checks in the contract order: permission, then empty name, then ownership, then the body', async () => {
      const permissionFirst = await stack.call('DELETE', '/api/instance/delete/', { token: alpha.token });
      const emptyNameFirst = await stack.call('DELETE', '/api/instance/delete/', { token: stack.accountToken });
      const nameBeforeBody = await stack.call('POST', '/api/instance/settings/', { token: stack.accountToken, rawBody: '{broken' });
      const mismatchBeforeBody = await stack.call('POST', '/api/instance/settings/auth-beta', { token: alpha.token, rawBody: '{broken' });
      const notFoundBeforeBody = await stack.call('POST', '/api/instance/settings/nowhere', { token: stack.accountToken, rawBody: '{broken' });

      expect([permissionFirst.status, permissionFirst.body.error.message]).toEqual([401, INVALID_TOKEN]);
      expect([emptyNameFirst.status, emptyNameFirst.body.error.message]).toEqual([400, 'Instance name is required']);
      expect([nameBeforeBody.status, nameBeforeBody.body.error.message]).toEqual([400, 'Instance name is required']);
      expect([mismatchBeforeBody.status, mismatchBeforeBody.body.error.message]).toEqual([403, MISMATCH]);
      expect([notFoundBeforeBody.status, notFoundBeforeBody.body.error.message]).toEqual([404, 'Instance not found']);
    });

    it('stops a rotated TokenAccount at once while its TokenInstances keep working', async () => {
      // Prepare
      const account = await stack.createAccount({ name: 'rotating' });
      const instance = await createInstance(account.token, 'rot-one');

      // Act
      const rotated = await stack.call('POST', `/admin/accounts/${account.id}/rotate-token`, { headers: { 'x-admin-key': stack.adminKey } });
      const oldToken = await stack.call('GET', '/api/instance/list', { token: account.token });
      const newToken = await stack.call('GET', '/api/instance/list', { token: rotated.body.token });
      const instanceToken = await stack.call('GET', '/api/instance/getSettings/rot-one', { token: instance.token });

      // Assess
      expect(rotated.status).toBe(200);
      expect(oldToken.status).toBe(401);
      expect(oldToken.body.error.message).toBe(INVALID_TOKEN);
      expect(newToken.status).toBe(200);
      expect(instanceToken.status).toBe(200);
    });

    it("answers 401 Invalid token to a deleted instance's token", async () => {
      // Prepare
      const doomed = await createInstance(stack.accountToken, 'auth-doomed');
      const deleted = await stack.call('DELETE', '/api/instance/delete/auth-doomed', { token: stack.accountToken });

      // Act
      const res = await stack.call('GET', '/api/instance/getSettings/auth-doomed', { token: doomed.token });
      const list = await stack.call('GET', '/api/instance/list', { token: doomed.token });

      // Assess
      expect(deleted.status).toBe(200);
      expect(res.status).toBe(401);
      expect(res.body.error.message).toBe(INVALID_TOKEN);
      expect(list.status).toBe(401);
    });
  });

  describe('routing and response headers (§0.1, §0.7)', () => {
    it('answers 404 Route not found for unknown paths, case and trailing slashes included', async () => {
      for (const path of ['/api/instance/nope', '/api/Instance/list', '/api/instance/list/', '/nothing']) {
        const res = await stack.call('GET', path, { token: stack.accountToken });

        expect(res.status, path).toBe(404);
        expect(res.body, path).toEqual({ success: false, error: { message: 'Route not found' } });
      }
    });

    it('answers 405 Method not allowed with an Allow header on a known path', async () => {
      const put = await stack.call('PUT', '/api/instance/list', { token: stack.accountToken });
      const getNew = await stack.call('GET', '/api/instance/new', { token: stack.accountToken });
      const postSettings = await stack.call('POST', '/api/instance/getSettings/auth-alpha', { token: stack.accountToken });

      for (const res of [put, getNew, postSettings]) {
        expect(res.status).toBe(405);
        expect(res.body).toEqual({ success: false, error: { message: 'Method not allowed' } });
      }
      expect(put.headers.get('allow')).toBe('GET');
      expect(getNew.headers.get('allow')).toBe('POST');
      expect(postSettings.headers.get('allow')).toBe('GET');
    });

    it('sends the JSON content type and a fresh ULID X-Request-Id on successes and errors', async () => {
      const responses = [
        await stack.call('GET', '/api/instance/list', { token: stack.accountToken }),
        await stack.call('GET', '/api/instance/list'),
        await stack.call('GET', '/api/instance/getSettings/auth-beta', { token: alpha.token }),
        await stack.call('GET', '/api/instance/unknown-route', { token: stack.accountToken }),
        await stack.call('PUT', '/api/instance/list', { token: stack.accountToken }),
        await stack.call('POST', '/api/instance/settings/auth-alpha', { token: alpha.token, rawBody: '{not json' }),
      ];

      const ids = responses.map((res) => res.headers.get('x-request-id'));
      for (const res of responses) expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
      for (const id of ids) expect(id).toMatch(ULID);
      expect(new Set(ids).size).toBe(ids.length);
      expect(responses[5]?.body).toEqual({ success: false, error: { message: 'Invalid request body' } });
    });
  });

  describe('rate limits (§0.10)', () => {
    it('puts the three rate-limit headers on successes and on 401, 403, 404 and 405 errors', async () => {
      const responses = {
        ok: await stack.call('GET', '/api/instance/list', { token: stack.accountToken }),
        missingToken: await stack.call('GET', '/api/instance/list'),
        invalidToken: await stack.call('GET', '/api/instance/list', { token: UNKNOWN_TOKEN }),
        mismatch: await stack.call('GET', '/api/instance/getSettings/auth-beta', { token: alpha.token }),
        notFound: await stack.call('GET', '/api/instance/getSettings/nowhere', { token: stack.accountToken }),
        noRoute: await stack.call('GET', '/api/instance/nope'),
        wrongMethod: await stack.call('DELETE', '/api/instance/list', { token: stack.accountToken }),
      };

      for (const [label, res] of Object.entries(responses)) {
        const rate = rateOf(res.headers);
        expect(rate.limit, label).toMatch(/^\d+$/);
        expect(rate.remaining, label).toMatch(/^\d+$/);
        expect(rate.reset, label).toMatch(/^\d+$/);
      }
      expect(responses.ok.headers.get('x-ratelimit-limit')).toBe('100');
      expect(responses.mismatch.headers.get('x-ratelimit-limit')).toBe('100');
    });

    it('sends no rate-limit headers on /health nor on an OPTIONS preflight', async () => {
      const health = await stack.call('GET', '/health');
      const preflight = await stack.call('OPTIONS', '/api/instance/list', { headers: { origin: 'https://app.example.com', 'access-control-request-method': 'GET' } });

      for (const res of [health, preflight]) {
        expect(res.headers.get('x-ratelimit-limit')).toBeNull();
        expect(res.headers.get('x-ratelimit-remaining')).toBeNull();
        expect(res.headers.get('x-ratelimit-reset')).toBeNull();
      }
      expect(preflight.status).toBe(204);
    });

    it('counts down X-RateLimit-Remaining and resets at the next UTC minute, in Unix seconds', async () => {
      // Prepare
      const account = await stack.createAccount({ name: 'countdown' });
      await roomInWindow();
      const before = Date.now();

      // Act
      const first = await stack.call('GET', '/api/instance/list', { token: account.token });
      const second = await stack.call('GET', '/api/instance/list', { token: account.token });
      const after = Date.now();

      // Assess
      expect(rateOf(first.headers)).toEqual({ limit: '100', remaining: '99', reset: String(nextMinute(before)) });
      expect(rateOf(second.headers)).toEqual({ limit: '100', remaining: '98', reset: String(nextMinute(after)) });
    });

    it('uses the create bucket (20 per minute) for POST /api/instance/new, apart from global', async () => {
      // Prepare
      const account = await stack.createAccount({ name: 'buckets', rateLimits: { global: 5 } });
      await roomInWindow();

      // Act: one creation, then five global requests, then another creation.
      const created = await stack.call('POST', '/api/instance/new', { token: account.token, body: { name: 'bucket-one' } });
      const globals = [];
      for (let i = 0; i < 5; i++) globals.push(await stack.call('GET', '/api/instance/list', { token: account.token }));
      const exhausted = await stack.call('GET', '/api/instance/list', { token: account.token });
      const createdAgain = await stack.call('POST', '/api/instance/new', { token: account.token, body: { name: 'bucket-two' } });

      // Assess
      expect(created.status).toBe(201);
      expect(rateOf(created.headers)).toMatchObject({ limit: '20', remaining: '19' });
      expect(globals.map((res) => res.status)).toEqual([200, 200, 200, 200, 200]);
      expect(globals.map((res) => res.headers.get('x-ratelimit-remaining'))).toEqual(['4', '3', '2', '1', '0']);
      expect(exhausted.status).toBe(429);
      expect(createdAgain.status).toBe(201);
      expect(rateOf(createdAgain.headers)).toMatchObject({ limit: '20', remaining: '18' });
    });

    it('answers 429 with Retry-After once the token exceeds its global limit, per token', async () => {
      // Prepare
      const limited = await stack.createAccount({ name: 'limited', rateLimits: { global: 5 } });
      const instance = await createInstance(limited.token, 'limited-one');
      const other = await stack.createAccount({ name: 'unlimited' });
      await roomInWindow();

      // Act
      const allowed = [];
      for (let i = 0; i < 5; i++) allowed.push(await stack.call('GET', '/api/instance/list', { token: limited.token }));
      const before = Date.now();
      const refused = await stack.call('GET', '/api/instance/list', { token: limited.token });
      const refusedAgain = await stack.call('GET', '/api/instance/getSettings/limited-one', { token: limited.token });
      const instanceToken = await stack.call('GET', '/api/instance/getSettings/limited-one', { token: instance.token });
      const otherAccount = await stack.call('GET', '/api/instance/list', { token: other.token });

      // Assess
      expect(allowed.map((res) => res.status)).toEqual([200, 200, 200, 200, 200]);
      expect(refused.status).toBe(429);
      expect(refused.body).toEqual({ success: false, error: { message: RATE_LIMITED } });
      expect(rateOf(refused.headers)).toEqual({ limit: '5', remaining: '0', reset: String(nextMinute(before)) });
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter)).toBe(true);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(60);
      expect(refused.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(refused.headers.get('x-request-id')).toMatch(ULID);
      expect(refusedAgain.status).toBe(429);
      expect(instanceToken.status).toBe(200);
      expect(rateOf(instanceToken.headers)).toMatchObject({ limit: '5', remaining: '4' });
      expect(otherAccount.status).toBe(200);
    });
  });

  describe('with CORS origins and a small per-IP limit', () => {
    const allowed = 'https://app.example.com';
    let corsStack: TestStack;

    beforeAll(async () => {
      corsStack = await startTestStack({ ZAPFLEET_CORS_ORIGINS: allowed, ZAPFLEET_RATE_LIMIT_IP: '3' });
    });
    afterAll(async () => corsStack?.stop());

    it('adds the CORS headers for an allowed origin, on successes and errors', async () => {
      const ok = await corsStack.call('GET', '/api/instance/list', { token: corsStack.accountToken, headers: { origin: allowed } });
      const notFound = await corsStack.call('GET', '/api/instance/getSettings/none', { token: corsStack.accountToken, headers: { origin: allowed } });

      for (const res of [ok, notFound]) {
        expect(res.headers.get('access-control-allow-origin')).toBe(allowed);
        expect(res.headers.get('vary')).toMatch(/\bOrigin\b/);
        expect(res.headers.get('access-control-expose-headers')).toBe('X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After, X-Request-Id');
        expect(res.headers.get('access-control-allow-credentials')).toBeNull();
      }
      expect(ok.status).toBe(200);
      expect(notFound.status).toBe(404);
    });

    it('sends no CORS headers for another origin, but still processes the request', async () => {
      const res = await corsStack.call('POST', '/api/instance/new', { token: corsStack.accountToken, headers: { origin: 'https://evil.example.com' }, body: { name: 'cors-made' } });

      expect(res.status).toBe(201);
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
      expect(res.headers.get('access-control-expose-headers')).toBeNull();
    });

    it('answers an OPTIONS preflight with 204 and the allow-lists, unauthenticated and not counted', async () => {
      // Prepare
      await roomInWindow();
      const before = await corsStack.call('GET', '/api/instance/list', { token: corsStack.accountToken });

      // Act
      const preflight = await corsStack.call('OPTIONS', '/api/instance/new', {
        headers: { origin: allowed, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type, token' },
      });
      const otherOrigin = await corsStack.call('OPTIONS', '/api/instance/new', { headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' } });
      const after = await corsStack.call('GET', '/api/instance/list', { token: corsStack.accountToken });

      // Assess
      expect(preflight.status).toBe(204);
      expect(preflight.headers.get('access-control-allow-origin')).toBe(allowed);
      expect(preflight.headers.get('access-control-allow-methods')).toBe('GET, POST, PUT, DELETE, OPTIONS');
      expect(preflight.headers.get('access-control-allow-headers')).toBe('Content-Type, Authorization, token, Idempotency-Key');
      expect(preflight.headers.get('access-control-max-age')).toBe('600');
      expect(preflight.headers.get('x-ratelimit-limit')).toBeNull();
      expect(otherOrigin.status).toBe(204);
      expect(otherOrigin.headers.get('access-control-allow-origin')).toBeNull();
      expect(Number(after.headers.get('x-ratelimit-remaining'))).toBe(Number(before.headers.get('x-ratelimit-remaining')) - 1);
    });

    it('answers 429 instead of 401 once the per-IP bucket of unauthenticated requests is exhausted', async () => {
      // Prepare
      await roomInWindow();

      // Act
      const first = await corsStack.call('GET', '/api/instance/list');
      const second = await corsStack.call('GET', '/api/instance/list', { token: UNKNOWN_TOKEN });
      const third = await corsStack.call('GET', '/api/instance/getSettings/x');
      const fourth = await corsStack.call('GET', '/api/instance/list');
      const authenticated = await corsStack.call('GET', '/api/instance/list', { token: corsStack.accountToken });

      // Assess
      expect([first, second, third].map((res) => res.status)).toEqual([401, 401, 401]);
      expect([first, second, third].map((res) => res.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0']);
      expect(first.headers.get('x-ratelimit-limit')).toBe('3');
      expect(fourth.status).toBe(429);
      expect(fourth.body).toEqual({ success: false, error: { message: RATE_LIMITED } });
      expect(Number(fourth.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(authenticated.status).toBe(200);
    });
  });
});
