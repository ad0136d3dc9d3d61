import { createHash, timingSafeEqual } from 'node:crypto';
import type { Bucket, RateWindow, TokenEntry } from '../auth/principal.ts';
import { rateWindow, windowStart } from '../auth/principal.ts';
import type { ErrorCode } from '../errors/domain-error.ts';
import type { TokenHasher } from '../ports/keyring.port.ts';
import type { TokenDirectory } from '../ports/repositories.port.ts';
import type { Clock } from '../ports/runtime.port.ts';

export interface AuthorizeDeps {
  directory: TokenDirectory;
  tokens: TokenHasher;
  clock: Clock;
  /** `null`: no admin key configured, the admin routes do not exist. */
  adminKey: string | null;
  limits: { ip: number; admin: number };
}

export type RouteAuth = 'token' | 'admin' | 'none';

export interface AuthorizeRequest {
  auth: RouteAuth;
  /** The token bucket of the route (`create` for `POST /api/instance/new`). */
  bucket: 'global' | 'create';
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string | undefined>>;
  sourceIp: string;
}

export interface AuthOutcome {
  principal: TokenEntry | null;
  admin: boolean;
  error: ErrorCode | null;
  /** Absent for exempt routes (no rate-limit headers). */
  rate: RateWindow | null;
}

/** Header `token`, then `Authorization: Bearer`, then `?token=`; the first present wins (spec §0.3). */
export const extractToken = (headers: AuthorizeRequest['headers'], query: AuthorizeRequest['query']): string | null => {
  const header = headers.token;
  if (header) return header;
  const bearer = /^bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  if (bearer?.[1]?.trim()) return bearer[1].trim();
  return query.token ? query.token : null;
};

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison: hashing first makes both sides the same length. */
const sameSecret = (given: string, expected: string) => timingSafeEqual(digest(given), digest(expected));

/**
 * The one authorizer (Lambda REQUEST authorizer on AWS, called in-process by the embedded stack).
 *
 * Steps (spec §0.6 steps 2–3): find the credentials → count the request in its bucket → decide.
 * Requests without valid credentials count against the caller's IP bucket, and when that bucket
 * is exhausted the answer is 429 rather than 401. Errors are returned, not thrown, so that the
 * handler can answer them in the contract's envelope with the rate-limit headers.
 */
export const authorize = async (deps: AuthorizeDeps, request: AuthorizeRequest): Promise<AuthOutcome> => {
  if (request.auth === 'none') return { principal: null, admin: false, error: null, rate: null };
  const start = windowStart(deps.clock.now().getTime());

  const rejected = async (error: ErrorCode): Promise<AuthOutcome> => {
    const rate = await countAnonymous(deps, request.sourceIp, start);
    return { principal: null, admin: false, error: rate.exceeded ? 'rate_limit.exceeded' : error, rate };
  };

  if (request.auth === 'admin') {
    const given = request.headers['x-admin-key'];
    if (!deps.adminKey || !given || !sameSecret(given, deps.adminKey)) return rejected('auth.invalid_admin_key');
    const rate = rateWindow(await deps.directory.count(`admin#${digest(deps.adminKey).toString('hex').slice(0, 32)}`, start), deps.limits.admin, start);
    return { principal: null, admin: true, error: rate.exceeded ? 'rate_limit.exceeded' : null, rate };
  }

  const token = extractToken(request.headers, request.query);
  if (!token) return rejected('auth.missing_token');
  const counted = await deps.directory.authenticate(deps.tokens.hash(token), request.bucket, start);
  if (!counted) return rejected('auth.invalid_token');
  const rate = rateWindow(counted.count, counted.entry.limits[request.bucket], start);
  return { principal: counted.entry, admin: false, error: rate.exceeded ? 'rate_limit.exceeded' : null, rate };
};

/** The `ip` bucket: unauthenticated requests, unknown routes included (spec D18). */
export const countAnonymous = async (deps: Pick<AuthorizeDeps, 'directory' | 'limits'>, sourceIp: string, start: number): Promise<RateWindow> =>
  rateWindow(await deps.directory.count(`ip#${sourceIp}`, start), deps.limits.ip, start);

export type { Bucket };
