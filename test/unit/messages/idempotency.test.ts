import { describe, expect, it } from 'vitest';
import {
  IdempotencyConflictError,
  idempotencyKeyOf,
  requestFingerprint,
  withIdempotency,
  type ClaimOutcome,
  type IdempotencyScope,
  type IdempotencyStore,
  type IdempotentResponse,
} from '../../../shared/domain/messages/idempotency.ts';

/** An in-memory store (no leases, no expiry): the DynamoDB adapter has its own integration tests. */
function memoryStore() {
  const items = new Map<string, { fingerprint: string; claimId: string; response: IdempotentResponse | null }>();
  let claims = 0;
  const id = (scope: IdempotencyScope) => `${scope.instanceId}|${scope.key}`;
  const store: IdempotencyStore = {
    async claim(scope, fingerprint): Promise<ClaimOutcome> {
      const item = items.get(id(scope));
      if (!item) {
        const claimId = `claim-${++claims}`;
        items.set(id(scope), { fingerprint, claimId, response: null });
        return { kind: 'new', claimId };
      }
      if (item.fingerprint !== fingerprint) return { kind: 'mismatch' };
      return item.response ? { kind: 'replay', response: item.response } : { kind: 'in_progress' };
    },
    async complete(scope, claimId, response) {
      const item = items.get(id(scope));
      if (item?.claimId !== claimId) return false;
      item.response = response;
      return true;
    },
    async release(scope, claimId) {
      if (items.get(id(scope))?.claimId === claimId) items.delete(id(scope));
    },
  };
  return { store, items };
}

const scope = { instanceId: 'f1c5f0f8-2d0a-4b7e-9d57-0c1b8f0e2a11', key: 'order-42' };
const sent: IdempotentResponse = { status: 200, body: { success: true, message: 'Message sent successfully', status: 'sent', data: { messageId: '3EB0X' } } };

describe('idempotency key of a request (spec §0.15)', () => {
  it.each([
    [undefined, undefined, null],
    [null, null, null],
    ['order-42', undefined, 'order-42'],
    [undefined, 'order-42', 'order-42'],
    ['order-42', 'order-42', 'order-42'],
    [' ~all printable ASCII #1 ', null, ' ~all printable ASCII #1 '],
    ['k'.repeat(255), null, 'k'.repeat(255)],
  ])('header %j, body %j → %j', (header, body, expected) => {
    // Act
    const key = idempotencyKeyOf(header, body);

    // Assess
    expect(key).toBe(expected);
  });

  it.each([
    ['order-1', 'order-2', 'Idempotency key mismatch between header and body'],
    ['', undefined, 'Invalid idempotency key'],
    [undefined, 'k'.repeat(256), 'Invalid idempotency key'],
    ['clé', undefined, 'Invalid idempotency key'],
    ['tab\there', undefined, 'Invalid idempotency key'],
  ])('header %j, body %j → 400 %s', (header, body, message) => {
    // Act
    const act = () => idempotencyKeyOf(header, body);

    // Assess
    expect(act).toThrow(message);
  });
});

describe('request fingerprint', () => {
  it('ignores key order and the idempotency key, not the route or any other field', () => {
    // Prepare
    const body = { number: '5511999990001', message: 'hi', nested: { b: 1, a: [1, { d: 2, c: 3 }] } };
    const reordered = { nested: { a: [1, { c: 3, d: 2 }], b: 1 }, message: 'hi', idempotencyKey: 'order-42', number: '5511999990001' };

    // Act
    const original = requestFingerprint('text', body);

    // Assess
    expect(requestFingerprint('text', reordered)).toBe(original);
    expect(requestFingerprint('media', body)).not.toBe(original);
    expect(requestFingerprint('text', { ...body, message: 'hi!' })).not.toBe(original);
    expect(requestFingerprint('text', { ...body, delay: 0 })).not.toBe(original);
    expect(requestFingerprint('text', { ...body, nested: { b: 1, a: [{ d: 2, c: 3 }, 1] } })).not.toBe(original);
  });
});

describe('withIdempotency', () => {
  it('sends without a key every time', async () => {
    // Prepare
    const { store } = memoryStore();
    let sends = 0;
    const send = async () => {
      sends++;
      return sent;
    };

    // Act
    await withIdempotency(store, null, 'fp', send);
    const second = await withIdempotency(store, null, 'fp', send);

    // Assess
    expect(sends).toBe(2);
    expect(second).toEqual({ response: sent, replayed: false });
  });

  it('sends once and replays the first answer for the same key and body', async () => {
    // Prepare
    const { store } = memoryStore();
    let sends = 0;
    const send = async () => {
      sends++;
      return { ...sent, body: { ...(sent.body as object), attempt: sends } };
    };

    // Act
    const first = await withIdempotency(store, scope, 'fp', send);
    const second = await withIdempotency(store, scope, 'fp', send);

    // Assess
    expect(sends).toBe(1);
    expect(first.replayed).toBe(false);
    expect(second).toEqual({ response: first.response, replayed: true });
  });

  it('answers 409 for a different body and while the first request runs', async () => {
    // Prepare
    const { store } = memoryStore();
    let finish: (response: IdempotentResponse) => void = () => undefined;
    const slow = withIdempotency(store, scope, 'fp', () => new Promise<IdempotentResponse>((resolve) => (finish = resolve)));
    await Promise.resolve();

    // Act
    const running = await withIdempotency(store, scope, 'fp', async () => sent).catch((error: unknown) => error);
    const different = await withIdempotency(store, scope, 'other', async () => sent).catch((error: unknown) => error);
    finish(sent);
    await slow;

    // Assess
    expect(running).toBeInstanceOf(IdempotencyConflictError);
    expect(running).toMatchObject({ status: 409, reason: 'in_progress', message: 'A request with this idempotency key is still in progress' });
    expect(different).toMatchObject({ status: 409, reason: 'mismatch', message: 'Idempotency key already used with a different request' });
  });

  it('forgets failures, thrown or answered, so the client may retry', async () => {
    // Prepare
    const { store, items } = memoryStore();
    const notConnected = new Error('Instance is not connected to WhatsApp');

    // Act
    const thrown = await withIdempotency(store, scope, 'fp', async () => Promise.reject(notConnected)).catch((error: unknown) => error);
    const answered = await withIdempotency(store, scope, 'fp', async () => ({ status: 500, body: { success: false } }));
    const retried = await withIdempotency(store, scope, 'fp', async () => sent);

    // Assess
    expect(thrown).toBe(notConnected);
    expect(answered).toEqual({ response: { status: 500, body: { success: false } }, replayed: false });
    expect(retried).toEqual({ response: sent, replayed: false });
    expect(items.get(`${scope.instanceId}|${scope.key}`)?.response).toEqual(sent);
  });

  it('still answers when remembering the result fails, and reports the store error', async () => {
    // Prepare
    const { store } = memoryStore();
    const broken: IdempotencyStore = { ...store, complete: () => Promise.reject(new Error('throttled')) };
    const reported: unknown[] = [];

    // Act
    const result = await withIdempotency(broken, scope, 'fp', async () => sent, { onStoreError: (error) => reported.push(error) });

    // Assess
    expect(result).toEqual({ response: sent, replayed: false });
    expect(reported).toEqual([new Error('throttled')]);
  });
});
