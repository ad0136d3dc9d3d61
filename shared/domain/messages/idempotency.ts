import { createHash } from 'node:crypto';
import { ValidationError } from '../errors/domain-error.ts';

/**
 * Idempotent sends (spec §0.15, issue 5 part 4).
 *
 * API, in the order a send handler uses it:
 * 1. `idempotencyKeyOf(headers['Idempotency-Key'], body.idempotencyKey)` → the key or `null`;
 *    400 `Idempotency key mismatch between header and body` / `Invalid idempotency key` (as
 *    `ValidationError`). `parseSendRequest` (./send.schemas.ts) already does this.
 * 2. `requestFingerprint(route, parsedJsonBody)` → hash of the route and the canonical JSON body
 *    without `idempotencyKey` (key order and the body key do not matter, everything else does).
 * 3. `withIdempotency(store, key ? { instanceId, key } : null, fingerprint, send)` → `{ response,
 *    replayed }`. `send` returns the full HTTP answer (`{ status, body }`); only 2xx answers are
 *    remembered; a non-2xx answer or a thrown error releases the key so the client may retry.
 *    When `replayed` is true the handler answers the stored response with the header
 *    `Idempotent-Replayed: true`. Conflicts throw `IdempotencyConflictError` (409, exact message
 *    in `.message`, `reason` `mismatch` | `in_progress`).
 *
 * The store (`IdempotencyStore`, DynamoDB adapter in
 * shared/adapters/dynamodb/idempotency-store.dynamodb.ts) keeps a key 24 h from its first claim.
 * An in-progress claim is a lease (default 60 s): a request that died mid-send does not block its
 * key for a day; the price is that a retry after such a crash may send again.
 */

export const idempotencyMessages = {
  headerBodyMismatch: 'Idempotency key mismatch between header and body',
  invalidKey: 'Invalid idempotency key',
  differentRequest: 'Idempotency key already used with a different request',
  inProgress: 'A request with this idempotency key is still in progress',
} as const;

export const idempotencyHeader = 'Idempotency-Key';
export const replayedHeader = 'Idempotent-Replayed';

/** A key is remembered this long after its first use (spec §0.15). */
export const idempotencyRetentionSeconds = 24 * 60 * 60;
/** How long an unfinished claim blocks its key: above the API's longest wait for a send (20 s). */
export const defaultClaimLeaseSeconds = 60;

const keyPattern = /^[\x20-\x7e]{1,255}$/;

/**
 * The request's key: header and body field, equal when both are given. A present value is
 * validated even when empty (a key has 1–255 printable ASCII characters); `null`/`undefined` is absent.
 */
export const idempotencyKeyOf = (header: string | null | undefined, bodyKey: string | null | undefined): string | null => {
  const fromHeader = header ?? null;
  const fromBody = bodyKey ?? null;
  if (fromHeader !== null && fromBody !== null && fromHeader !== fromBody) throw new ValidationError(idempotencyMessages.headerBodyMismatch);
  const key = fromHeader ?? fromBody;
  if (key === null) return null;
  if (!keyPattern.test(key)) throw new ValidationError(idempotencyMessages.invalidKey);
  return key;
};

/** JSON with object keys sorted at every level, so equal bodies give equal text. */
export const canonicalJson = (value: unknown): string => {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
};

/** What identifies "the same request" for a key: the route and the body without `idempotencyKey`. */
export const requestFingerprint = (route: string, body: unknown): string => {
  let rest = body;
  if (body !== null && typeof body === 'object' && !Array.isArray(body)) {
    const { idempotencyKey: _key, ...others } = body as Record<string, unknown>;
    rest = others;
  }
  return createHash('sha256').update(route).update('\n').update(canonicalJson(rest)).digest('hex');
};

export interface IdempotencyScope {
  instanceId: string;
  key: string;
}

/** A remembered HTTP answer: status and JSON body, replayed verbatim. */
export interface IdempotentResponse {
  status: number;
  body: unknown;
}

export type ClaimOutcome =
  /** This request owns the key; `claimId` fences `complete`/`release` against a later owner. */
  | { kind: 'new'; claimId: string }
  | { kind: 'replay'; response: IdempotentResponse }
  | { kind: 'in_progress' }
  | { kind: 'mismatch' };

/** Port: atomic claims of (instance, key). */
export interface IdempotencyStore {
  /** Atomically claims the key, or reports what holds it. Expired keys and lapsed leases count as free. */
  claim(scope: IdempotencyScope, fingerprint: string): Promise<ClaimOutcome>;
  /** Remembers the response of the claim; `false` when the claim was lost (its lease lapsed and another took it). */
  complete(scope: IdempotencyScope, claimId: string, response: IdempotentResponse): Promise<boolean>;
  /** Frees the key of a failed request so it may be retried; a no-op when the claim was lost. */
  release(scope: IdempotencyScope, claimId: string): Promise<void>;
}

/** 409 of §0.15. Not yet a `DomainError`: the edge needs two error codes for it (see the report of issue 5). */
export class IdempotencyConflictError extends Error {
  readonly status = 409;
  constructor(readonly reason: 'mismatch' | 'in_progress') {
    super(reason === 'mismatch' ? idempotencyMessages.differentRequest : idempotencyMessages.inProgress);
    this.name = 'IdempotencyConflictError';
  }
}

const isSuccess = (status: number): boolean => status >= 200 && status < 300;

/**
 * Runs `send` at most once per (instance, key) within 24 h.
 * Input: the store, the scope (`null` = no key: just send), the request fingerprint, the send.
 * Output: the response and whether it was replayed.
 * Steps: claim → replay the stored answer | 409 | send → remember a 2xx answer, else release.
 * A failure to remember a sent answer is reported to `onStoreError` and does not fail the request
 * (the message went out; the key stays blocked until its lease lapses).
 */
export const withIdempotency = async (
  store: IdempotencyStore,
  scope: IdempotencyScope | null,
  fingerprint: string,
  send: () => Promise<IdempotentResponse>,
  options: { onStoreError?: (error: unknown) => void } = {},
): Promise<{ response: IdempotentResponse; replayed: boolean }> => {
  if (scope === null) return { response: await send(), replayed: false };
  const claim = await store.claim(scope, fingerprint);
  switch (claim.kind) {
    case 'replay':
      return { response: claim.response, replayed: true };
    case 'mismatch':
      throw new IdempotencyConflictError('mismatch');
    case 'in_progress':
      throw new IdempotencyConflictError('in_progress');
    case 'new':
      break;
  }
  let response: IdempotentResponse;
  try {
    response = await send();
  } catch (error) {
    await store.release(scope, claim.claimId).catch((releaseError: unknown) => options.onStoreError?.(releaseError));
    throw error;
  }
  try {
    if (isSuccess(response.status)) await store.complete(scope, claim.claimId, response);
    else await store.release(scope, claim.claimId);
  } catch (error) {
    options.onStoreError?.(error);
  }
  return { response, replayed: false };
};
