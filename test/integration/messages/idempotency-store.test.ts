import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { createDynamoIdempotencyStore } from '../../../shared/adapters/dynamodb/idempotency-store.dynamodb.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import {
  idempotencyRetentionSeconds,
  requestFingerprint,
  withIdempotency,
  type IdempotencyStore,
  type IdempotentResponse,
} from '../../../shared/domain/messages/idempotency.ts';

const START = new Date('2026-04-28T10:30:00Z');

/** A clock the test moves by hand. */
function manualClock() {
  let now = START.getTime();
  return { now: () => new Date(now), advance: (ms: number) => (now += ms) };
}

const sent: IdempotentResponse = {
  status: 200,
  body: {
    success: true,
    message: 'Message sent successfully',
    status: 'sent',
    data: { messageId: '3EB0C767D26A1D8E5F12', messageType: 'text', content: 'Olá, ação!', mentions: [], source: 'api' },
  },
};

describe('DynamoDB idempotency store (spec §0.15)', () => {
  let client: DynamoDBClient;
  let doc: ReturnType<typeof documentClient>;
  let tableName: string;

  beforeAll(async () => {
    client = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    tableName = `idempotency-${randomUUID()}`;
    // Items here are dated 2026-04-28, their TTL long past: no TTL sweeper, or it deletes them mid-test.
    await ensureTable(client, tableName, { timeToLive: false });
    doc = documentClient(client);
  });
  afterAll(() => client?.destroy());

  const storeWith = (clock = manualClock(), leaseSeconds?: number): IdempotencyStore =>
    createDynamoIdempotencyStore({ doc, tableName }, { clock, leaseSeconds });
  const newScope = () => ({ instanceId: randomUUID(), key: `order-${randomUUID()}` });

  it('gives exactly one of 20 concurrent claims of a key; the others are told it is in progress', async () => {
    // Prepare
    const store = storeWith();
    const scope = newScope();

    // Act
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => store.claim(scope, 'fp')));

    // Assess
    expect(outcomes.filter((outcome) => outcome.kind === 'new')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome.kind === 'in_progress')).toHaveLength(19);
  });

  it('replays the stored response after completion, verbatim', async () => {
    // Prepare
    const store = storeWith();
    const scope = newScope();
    const claim = await store.claim(scope, 'fp');
    if (claim.kind !== 'new') throw new Error(`expected a new claim, got ${claim.kind}`);

    // Act
    const completed = await store.complete(scope, claim.claimId, sent);
    const again = await store.claim(scope, 'fp');

    // Assess
    expect(completed).toBe(true);
    expect(again).toEqual({ kind: 'replay', response: sent });
  });

  it('reports a different body with the same key as a mismatch, running or completed', async () => {
    // Prepare
    const store = storeWith();
    const scope = newScope();
    const claim = await store.claim(scope, requestFingerprint('text', { number: '5511999990001', message: 'a' }));
    if (claim.kind !== 'new') throw new Error('expected a new claim');

    // Act
    const whileRunning = await store.claim(scope, requestFingerprint('text', { number: '5511999990001', message: 'b' }));
    await store.complete(scope, claim.claimId, sent);
    const afterwards = await store.claim(scope, requestFingerprint('media', { number: '5511999990001', message: 'a' }));

    // Assess
    expect(whileRunning).toEqual({ kind: 'mismatch' });
    expect(afterwards).toEqual({ kind: 'mismatch' });
  });

  it('scopes keys by instance', async () => {
    // Prepare
    const store = storeWith();
    const scope = newScope();
    await store.claim(scope, 'fp');

    // Act
    const otherInstance = await store.claim({ ...scope, instanceId: randomUUID() }, 'fp');

    // Assess
    expect(otherInstance.kind).toBe('new');
  });

  it('forgets a key 24 hours after its first use, even before DynamoDB deletes the item', async () => {
    // Prepare
    const clock = manualClock();
    const store = storeWith(clock);
    const scope = newScope();
    const claim = await store.claim(scope, 'fp');
    if (claim.kind !== 'new') throw new Error('expected a new claim');
    await store.complete(scope, claim.claimId, sent);

    // Act
    clock.advance(idempotencyRetentionSeconds * 1000 - 1000);
    const justBefore = await store.claim(scope, 'other-body');
    clock.advance(1000);
    const atExpiry = await store.claim(scope, 'other-body');

    // Assess
    expect(justBefore).toEqual({ kind: 'mismatch' });
    expect(atExpiry.kind).toBe('new');
    const item = (await doc.send(new GetCommand({ TableName: tableName, Key: { pk: `IDEMPOTENCY#${scope.instanceId}#${scope.key}`, sk: 'IDEMPOTENCY' } }))).Item;
    expect(item?.ttl).toBe(Math.floor(clock.now().getTime() / 1000) + idempotencyRetentionSeconds);
  });

  it('frees the key of a released claim, and of a claim whose lease lapsed; the old owner can no longer complete it', async () => {
    // Prepare
    const clock = manualClock();
    const store = storeWith(clock, 60);
    const released = newScope();
    const crashed = newScope();
    const first = await store.claim(released, 'fp');
    const stale = await store.claim(crashed, 'fp');
    if (first.kind !== 'new' || stale.kind !== 'new') throw new Error('expected new claims');

    // Act
    await store.release(released, first.claimId);
    const retry = await store.claim(released, 'fp');
    clock.advance(59_000);
    const stillRunning = await store.claim(crashed, 'fp');
    clock.advance(1_000);
    const takeover = await store.claim(crashed, 'fp');
    const lateCompletion = await store.complete(crashed, stale.claimId, sent);
    await store.release(crashed, stale.claimId);
    const afterLateRelease = await store.claim(crashed, 'fp');

    // Assess
    expect(retry.kind).toBe('new');
    expect(stillRunning).toEqual({ kind: 'in_progress' });
    expect(takeover.kind).toBe('new');
    expect(lateCompletion).toBe(false);
    expect(afterLateRelease).toEqual({ kind: 'in_progress' });
  });

  it('sends once under 20 parallel retries and gives the winner’s answer to later ones', async () => {
    // Prepare: the send is held until every other retry has been answered, so they all overlap it
    const store = storeWith();
    const scope = newScope();
    const fingerprint = requestFingerprint('text', { number: '5511999990001', message: 'hi' });
    let sends = 0;
    let answered = 0;
    let finish: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    const releaseWhenAllOthersAnswered = () => {
      if (sends + answered >= 20) finish();
    };
    const send = async (): Promise<IdempotentResponse> => {
      sends++;
      releaseWhenAllOthersAnswered();
      await gate;
      return sent;
    };

    // Act
    const results = await Promise.all(
      Array.from({ length: 20 }, () =>
        withIdempotency(store, scope, fingerprint, send).then(
          (result) => ({ ok: true as const, result }),
          (error: unknown) => {
            answered++;
            releaseWhenAllOthersAnswered();
            return { ok: false as const, error };
          },
        ),
      ),
    );
    const later = await withIdempotency(store, scope, fingerprint, send);

    // Assess
    expect(sends).toBe(1);
    expect(results.filter((each) => each.ok && !each.result.replayed)).toHaveLength(1);
    expect(results.filter((each) => !each.ok && (each.error as Error).message === 'A request with this idempotency key is still in progress')).toHaveLength(19);
    expect(later).toEqual({ response: sent, replayed: true });
  });
});
