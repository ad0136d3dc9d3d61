import { describe, expect, it } from 'vitest';
import type { TokenEntry } from '../../../shared/domain/auth/principal.ts';
import type { TokenHasher } from '../../../shared/domain/ports/keyring.port.ts';
import type { CountedPrincipal, TokenDirectory } from '../../../shared/domain/ports/repositories.port.ts';
import { authorize, extractToken, type AuthorizeDeps, type AuthorizeRequest } from '../../../shared/domain/use-cases/authorize.use-case.ts';

/** 2026-04-28T10:30:25.500Z: the window started at 10:30:00 and resets at 10:31:00. */
const NOW = new Date('2026-04-28T10:30:25.500Z');
const WINDOW_START = Date.parse('2026-04-28T10:30:00Z') / 1000;
const WINDOW_RESET = Date.parse('2026-04-28T10:31:00Z') / 1000;
const ADMIN_KEY = 'adm_9f8e7d6c5b4a39281706f5e4d3c2b1a0';

const accountA: TokenEntry = { kind: 'account', accountId: 'acc-a', limits: { global: 100, create: 20 } };
const accountB: TokenEntry = { kind: 'account', accountId: 'acc-b', limits: { global: 100, create: 20 } };
const accountC: TokenEntry = { kind: 'account', accountId: 'acc-c', limits: { global: 100, create: 20 } };
const instanceEntry: TokenEntry = { kind: 'instance', accountId: 'acc-a', instanceId: 'inst-1', instanceName: 'orion', limits: { global: 3, create: 2 } };

/** In-memory TokenDirectory with exact per-window counters; it sees only hashes, like DynamoDB. */
class FakeTokenDirectory implements TokenDirectory {
  readonly counts = new Map<string, number>();
  readonly countedKeys: string[] = [];
  readonly authenticatedHashes: string[] = [];

  constructor(private readonly entries: Map<string, TokenEntry>) {}

  async authenticate(tokenHash: string, bucket: 'global' | 'create', windowStart: number): Promise<CountedPrincipal | null> {
    this.authenticatedHashes.push(tokenHash);
    const entry = this.entries.get(tokenHash);
    if (!entry) return null;
    return { entry, count: this.bump(`token:${tokenHash}:${bucket}:${windowStart}`) };
  }

  async count(bucketKey: string, windowStart: number): Promise<number> {
    this.countedKeys.push(bucketKey);
    return this.bump(`${bucketKey}:${windowStart}`);
  }

  private bump(key: string): number {
    const next = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, next);
    return next;
  }
}

const hasher: TokenHasher = { hash: (token) => `hmac(${token})` };

function setup(options: { adminKey?: string | null; limits?: { ip: number; admin: number }; now?: Date } = {}) {
  const directory = new FakeTokenDirectory(
    new Map([
      [hasher.hash('token-a'), accountA],
      [hasher.hash('token-b'), accountB],
      [hasher.hash('token-c'), accountC],
      [hasher.hash('token-instance'), instanceEntry],
    ]),
  );
  let now = options.now ?? NOW;
  const deps: AuthorizeDeps = {
    directory,
    tokens: hasher,
    clock: { now: () => now },
    adminKey: options.adminKey === undefined ? ADMIN_KEY : options.adminKey,
    limits: options.limits ?? { ip: 100, admin: 100 },
  };
  return { deps, directory, setNow: (date: Date) => (now = date) };
}

function request(overrides: Partial<AuthorizeRequest> = {}): AuthorizeRequest {
  return { auth: 'token', bucket: 'global', headers: {}, query: {}, sourceIp: '203.0.113.9', ...overrides };
}

describe('authorize: where the token comes from', () => {
  it('prefers the token header over Authorization and the query', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const outcome = await authorize(deps, request({ headers: { token: 'token-a', authorization: 'Bearer token-b' }, query: { token: 'token-c' } }));

    // Assess
    expect(outcome.error).toBeNull();
    expect(outcome.principal).toEqual(accountA);
  });

  it('uses Authorization: Bearer before the query, whatever the scheme case', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const outcomes = await Promise.all(
      ['Bearer token-b', 'bearer token-b', 'BEARER   token-b'].map((authorization) =>
        authorize(deps, request({ headers: { authorization }, query: { token: 'token-c' } })),
      ),
    );

    // Assess
    expect(outcomes.map((outcome) => outcome.principal)).toEqual([accountB, accountB, accountB]);
  });

  it('falls back to ?token= when no header carries a token', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const outcome = await authorize(deps, request({ query: { token: 'token-c' } }));

    // Assess
    expect(outcome.principal).toEqual(accountC);
  });

  it('treats empty values and other Authorization schemes as absent', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const emptyHeader = await authorize(deps, request({ headers: { token: '', authorization: 'Bearer token-b' } }));
    const basic = await authorize(deps, request({ headers: { authorization: 'Basic dG9rZW4tYQ==' }, query: { token: 'token-c' } }));
    const emptyBearer = await authorize(deps, request({ headers: { authorization: 'Bearer ' }, query: { token: 'token-c' } }));

    // Assess
    expect(emptyHeader.principal).toEqual(accountB);
    expect(basic.principal).toEqual(accountC);
    expect(emptyBearer.principal).toEqual(accountC);
  });

  it('never falls through to the next source when the first one carries an unknown token', async () => {
    // Prepare
    const { deps, directory } = setup();

    // Act
    const header = await authorize(deps, request({ headers: { token: 'unknown', authorization: 'Bearer token-b' }, query: { token: 'token-c' } }));
    const bearer = await authorize(deps, request({ headers: { authorization: 'Bearer unknown' }, query: { token: 'token-c' } }));

    // Assess
    expect(header).toMatchObject({ principal: null, error: 'auth.invalid_token' });
    expect(bearer).toMatchObject({ principal: null, error: 'auth.invalid_token' });
    expect(directory.authenticatedHashes).toEqual([hasher.hash('unknown'), hasher.hash('unknown')]);
  });

  it('extracts the token exactly as sent', () => {
    // Act
    const tokens = [
      extractToken({ token: 'abc def' }, {}),
      extractToken({ authorization: 'Bearer  padded  ' }, {}),
      extractToken({}, { token: 'q' }),
      extractToken({ authorization: 'Token abc' }, {}),
    ];

    // Assess
    expect(tokens).toEqual(['abc def', 'padded', 'q', null]);
  });
});

describe('authorize: failures and the IP bucket', () => {
  it('answers a missing token with auth.missing_token, counted in the IP bucket', async () => {
    // Prepare
    const { deps, directory } = setup({ limits: { ip: 100, admin: 100 } });

    // Act
    const first = await authorize(deps, request());
    const second = await authorize(deps, request());

    // Assess
    expect(first).toEqual({
      principal: null,
      admin: false,
      error: 'auth.missing_token',
      rate: { limit: 100, remaining: 99, reset: WINDOW_RESET, exceeded: false },
    });
    expect(second.rate?.remaining).toBe(98);
    expect(directory.countedKeys).toEqual(['ip#203.0.113.9', 'ip#203.0.113.9']);
    expect(directory.authenticatedHashes).toEqual([]);
  });

  it('counts unknown tokens in the IP bucket of the caller, not of other callers', async () => {
    // Prepare
    const { deps } = setup({ limits: { ip: 5, admin: 100 } });
    await authorize(deps, request({ headers: { token: 'unknown' }, sourceIp: '198.51.100.1' }));

    // Act
    const other = await authorize(deps, request({ headers: { token: 'unknown' }, sourceIp: '198.51.100.2' }));
    const same = await authorize(deps, request({ sourceIp: '198.51.100.1' }));

    // Assess
    expect(other).toMatchObject({ error: 'auth.invalid_token', rate: { limit: 5, remaining: 4 } });
    expect(same).toMatchObject({ error: 'auth.missing_token', rate: { limit: 5, remaining: 3 } });
  });

  it('answers rate_limit.exceeded instead of 401 once the IP bucket is exhausted', async () => {
    // Prepare
    const { deps } = setup({ limits: { ip: 2, admin: 100 } });
    await authorize(deps, request());
    await authorize(deps, request({ headers: { token: 'unknown' } }));

    // Act
    const missing = await authorize(deps, request());
    const unknown = await authorize(deps, request({ headers: { token: 'unknown' } }));

    // Assess
    expect(missing).toEqual({
      principal: null,
      admin: false,
      error: 'rate_limit.exceeded',
      rate: { limit: 2, remaining: 0, reset: WINDOW_RESET, exceeded: true },
    });
    expect(unknown.error).toBe('rate_limit.exceeded');
  });

  it('does not let an exhausted IP bucket block a valid token from the same IP', async () => {
    // Prepare
    const { deps } = setup({ limits: { ip: 1, admin: 100 } });
    await authorize(deps, request());
    await authorize(deps, request());

    // Act
    const outcome = await authorize(deps, request({ headers: { token: 'token-a' } }));

    // Assess
    expect(outcome).toMatchObject({ principal: accountA, error: null, rate: { limit: 100, remaining: 99 } });
  });
});

describe('authorize: admin key', () => {
  it('accepts the admin key and counts it in the admin bucket', async () => {
    // Prepare
    const { deps, directory } = setup({ limits: { ip: 100, admin: 50 } });

    // Act
    const first = await authorize(deps, request({ auth: 'admin', headers: { 'x-admin-key': ADMIN_KEY } }));
    const second = await authorize(deps, request({ auth: 'admin', headers: { 'x-admin-key': ADMIN_KEY }, sourceIp: '198.51.100.1' }));

    // Assess
    expect(first).toEqual({ principal: null, admin: true, error: null, rate: { limit: 50, remaining: 49, reset: WINDOW_RESET, exceeded: false } });
    expect(second.rate?.remaining).toBe(48);
    expect(directory.countedKeys).toHaveLength(2);
    expect(directory.countedKeys[0]).toBe(directory.countedKeys[1]);
    expect(directory.countedKeys[0]).not.toContain(ADMIN_KEY);
    expect(directory.countedKeys[0]).not.toMatch(/^ip#/);
  });

  it.each([
    ['a wrong key of the same length', `${ADMIN_KEY.slice(0, -1)}x`],
    ['a shorter key', 'adm_'],
    ['a longer key', `${ADMIN_KEY}0`],
    ['an empty key', ''],
    ['no key', undefined],
  ])('refuses %s with auth.invalid_admin_key, counted in the IP bucket', async (_, given) => {
    // Prepare
    const { deps, directory } = setup();

    // Act
    const outcome = await authorize(deps, request({ auth: 'admin', headers: { 'x-admin-key': given } }));

    // Assess
    expect(outcome).toMatchObject({ admin: false, error: 'auth.invalid_admin_key', rate: { limit: 100, remaining: 99 } });
    expect(directory.countedKeys).toEqual(['ip#203.0.113.9']);
  });

  it('does not accept a TokenAccount on an admin route', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const outcome = await authorize(deps, request({ auth: 'admin', headers: { token: 'token-a', authorization: 'Bearer token-a' } }));

    // Assess
    expect(outcome).toMatchObject({ principal: null, admin: false, error: 'auth.invalid_admin_key' });
  });

  it('refuses every key when no admin key is configured', async () => {
    // Prepare
    const { deps } = setup({ adminKey: null });

    // Act
    const outcome = await authorize(deps, request({ auth: 'admin', headers: { 'x-admin-key': ADMIN_KEY } }));

    // Assess
    expect(outcome).toMatchObject({ admin: false, error: 'auth.invalid_admin_key' });
  });

  it('answers rate_limit.exceeded once the admin bucket is exhausted', async () => {
    // Prepare
    const { deps } = setup({ limits: { ip: 100, admin: 2 } });
    const admin = request({ auth: 'admin', headers: { 'x-admin-key': ADMIN_KEY } });
    await authorize(deps, admin);
    await authorize(deps, admin);

    // Act
    const outcome = await authorize(deps, admin);

    // Assess
    expect(outcome).toMatchObject({ error: 'rate_limit.exceeded', rate: { limit: 2, remaining: 0, exceeded: true } });
  });
});

describe('authorize: rate windows', () => {
  it('reports limit, remaining and a reset aligned to the next UTC minute', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const outcome = await authorize(deps, request({ headers: { token: 'token-a' } }));

    // Assess
    expect(WINDOW_START % 60).toBe(0);
    expect(outcome.rate).toEqual({ limit: 100, remaining: 99, reset: WINDOW_RESET, exceeded: false });
  });

  it('counts the create bucket against the create limit, separately from global', async () => {
    // Prepare
    const { deps } = setup();
    await authorize(deps, request({ headers: { token: 'token-a' } }));

    // Act
    const create = await authorize(deps, request({ bucket: 'create', headers: { token: 'token-a' } }));

    // Assess
    expect(create.rate).toEqual({ limit: 20, remaining: 19, reset: WINDOW_RESET, exceeded: false });
  });

  it('uses the limits stored with the token', async () => {
    // Prepare
    const { deps } = setup();

    // Act
    const outcome = await authorize(deps, request({ headers: { token: 'token-instance' } }));

    // Assess
    expect(outcome).toMatchObject({ principal: instanceEntry, rate: { limit: 3, remaining: 2 } });
  });

  it('answers rate_limit.exceeded with the principal once the token bucket is used up, never below 0 remaining', async () => {
    // Prepare
    const { deps } = setup();
    const call = () => authorize(deps, request({ headers: { token: 'token-instance' } }));
    const within = [await call(), await call(), await call()];

    // Act
    const over = [await call(), await call()];

    // Assess
    expect(within.map((outcome) => [outcome.error, outcome.rate?.remaining])).toEqual([
      [null, 2],
      [null, 1],
      [null, 0],
    ]);
    expect(over.map((outcome) => [outcome.error, outcome.rate?.remaining, outcome.rate?.exceeded])).toEqual([
      ['rate_limit.exceeded', 0, true],
      ['rate_limit.exceeded', 0, true],
    ]);
    expect(over[0]?.principal).toEqual(instanceEntry);
  });

  it('starts a fresh window at the next UTC minute', async () => {
    // Prepare
    const { deps, setNow } = setup({ now: new Date('2026-04-28T10:30:59.999Z') });
    const call = () => authorize(deps, request({ headers: { token: 'token-instance' } }));
    for (let i = 0; i < 4; i++) await call();
    setNow(new Date('2026-04-28T10:31:00.000Z'));

    // Act
    const outcome = await call();

    // Assess
    expect(outcome).toMatchObject({
      error: null,
      rate: { limit: 3, remaining: 2, reset: Date.parse('2026-04-28T10:32:00Z') / 1000, exceeded: false },
    });
  });

  it('neither counts nor checks credentials on routes without auth', async () => {
    // Prepare
    const { deps, directory } = setup();

    // Act
    const outcome = await authorize(deps, request({ auth: 'none' }));

    // Assess
    expect(outcome).toEqual({ principal: null, admin: false, error: null, rate: null });
    expect(directory.countedKeys).toEqual([]);
    expect(directory.authenticatedHashes).toEqual([]);
  });
});
