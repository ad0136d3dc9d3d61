import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import type { TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createTransactBatcher, type TransactItem } from '../../../shared/adapters/dynamodb/transact-batcher.ts';

// Group commit of DynamoDB writes: concurrent callers share transactions; each caller hears
// whether its own items were written.

const put = (sk: string, extra: Record<string, unknown> = {}): TransactItem => ({ Put: { TableName: 't', Item: { pk: 'P', sk, ...extra } } });
const conditional = (sk: string): TransactItem => ({ Put: { TableName: 't', Item: { pk: 'P', sk }, ConditionExpression: 'attribute_not_exists(pk)' } });

const cancelled = (codes: string[]) =>
  new TransactionCanceledException({ message: 'cancelled', $metadata: {}, CancellationReasons: codes.map((Code) => ({ Code })) });

/** A document client double: records each transaction's sort keys and answers with `answer`. */
const fakeDoc = (answer: (sks: string[], call: number) => unknown = () => ({})) => {
  const calls: string[][] = [];
  const doc = {
    send: async (command: TransactWriteCommand) => {
      const sks = (command.input.TransactItems ?? []).map((item) => String((item.Put?.Item ?? item.Update?.Key ?? {}).sk));
      calls.push(sks);
      await new Promise((resolve) => setTimeout(resolve, 1));
      const result = answer(sks, calls.length);
      if (result instanceof Error) throw result;
      return result;
    },
  };
  return { doc: doc as never, calls };
};

describe('transact batcher', () => {
  it('writes concurrent callers together in one transaction, in call order', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const batcher = createTransactBatcher(doc);
    // Act
    const results = await Promise.all([batcher.write([put('a')]), batcher.write([put('b'), put('c')]), batcher.write([put('d')])]);
    // Assess
    expect(results).toEqual([true, true, true]);
    expect(calls).toEqual([['a', 'b', 'c', 'd']]);
  });

  it('keeps to the item limit per transaction and never splits one caller', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const batcher = createTransactBatcher(doc, { maxItems: 3, concurrency: 1 });
    // Act
    await Promise.all([batcher.write([put('a'), put('b')]), batcher.write([put('c'), put('d')]), batcher.write([put('e')])]);
    // Assess
    expect(calls).toEqual([['a', 'b'], ['c', 'd', 'e']]);
  });

  it('never puts two writes of one item in a transaction, and applies them in call order', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const batcher = createTransactBatcher(doc, { concurrency: 4 });
    // Act
    await Promise.all([batcher.write([put('x', { n: 1 })]), batcher.write([put('y')]), batcher.write([put('x', { n: 2 })]), batcher.write([put('z')])]);
    // Assess: the second write of x waits for the first transaction, even with free slots.
    expect(calls).toEqual([['x', 'y', 'z'], ['x']]);
  });

  it('answers false to the caller whose condition failed and writes the others again', async () => {
    // Prepare: the first transaction is cancelled by b's condition.
    const { doc, calls } = fakeDoc((sks, call) => (call === 1 ? cancelled(sks.map((sk) => (sk === 'b' ? 'ConditionalCheckFailed' : 'None'))) : {}));
    const batcher = createTransactBatcher(doc);
    // Act
    const results = await Promise.all([batcher.write([put('a')]), batcher.write([conditional('b')]), batcher.write([put('c')])]);
    // Assess
    expect(results).toEqual([true, false, true]);
    expect(calls).toEqual([
      ['a', 'b', 'c'],
      ['a', 'c'],
    ]);
  });

  it('retries a transaction that lost a race, then rejects its callers when the attempts run out', async () => {
    // Prepare
    const { doc, calls } = fakeDoc((sks) => cancelled(sks.map(() => 'TransactionConflict')));
    const batcher = createTransactBatcher(doc, { attempts: 3, sleep: async () => undefined });
    // Act
    const outcome = await Promise.allSettled([batcher.write([put('a')]), batcher.write([put('b')])]);
    // Assess
    expect(outcome.map((result) => result.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toHaveLength(3);
  });

  it('a request-level refusal only fails the caller it belongs to', async () => {
    // Prepare: any transaction containing "bad" is refused as a whole.
    const refusal = Object.assign(new Error('Item size has exceeded the maximum allowed size'), { name: 'ValidationException' });
    const { doc, calls } = fakeDoc((sks) => (sks.includes('bad') ? refusal : {}));
    const batcher = createTransactBatcher(doc);
    // Act
    const outcome = await Promise.allSettled([batcher.write([put('a')]), batcher.write([put('bad')]), batcher.write([put('c')])]);
    // Assess
    expect(outcome.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcome[1] as PromiseRejectedResult).reason).toBe(refusal);
    expect(calls).toEqual([['a', 'bad', 'c'], ['a'], ['bad'], ['c']]);
  });

  it('rejects every caller of a transaction that failed for another reason', async () => {
    // Prepare
    const { doc } = fakeDoc(() => new Error('socket hang up'));
    const batcher = createTransactBatcher(doc);
    // Act
    const outcome = await Promise.allSettled([batcher.write([put('a')]), batcher.write([put('b')])]);
    // Assess
    expect(outcome.map((result) => (result.status === 'rejected' ? (result.reason as Error).message : 'written'))).toEqual(['socket hang up', 'socket hang up']);
  });

  it('batches while transactions are in flight and is idle afterwards', async () => {
    // Prepare
    const { doc, calls } = fakeDoc();
    const batcher = createTransactBatcher(doc, { concurrency: 1 });
    // Act: one write alone, then four more while it is in flight.
    const first = batcher.write([put('a')]);
    await new Promise((resolve) => setImmediate(resolve));
    const rest = ['b', 'c', 'd', 'e'].map((sk) => batcher.write([put(sk)]));
    await batcher.idle();
    // Assess
    await expect(Promise.all([first, ...rest])).resolves.toEqual([true, true, true, true, true]);
    expect(calls).toEqual([['a'], ['b', 'c', 'd', 'e']]);
  });
});

describe('transact batcher: shared condition checks', () => {
  const lease = (epoch: number): TransactItem => ({
    ConditionCheck: { TableName: 't', Key: { pk: 'LEASE', sk: '1' }, ConditionExpression: 'epoch = :e', ExpressionAttributeValues: { ':e': epoch } },
  });
  /** Records each transaction's actions as `check` / sort key. */
  const recordingDoc = (answer: (actions: string[]) => unknown = () => ({})) => {
    const calls: string[][] = [];
    const doc = {
      send: async (command: TransactWriteCommand) => {
        const actions = (command.input.TransactItems ?? []).map((item) => (item.ConditionCheck ? `check@${String(item.ConditionCheck.ExpressionAttributeValues?.[':e'])}` : String(item.Put?.Item?.sk)));
        calls.push(actions);
        await new Promise((resolve) => setTimeout(resolve, 1));
        const result = answer(actions);
        if (result instanceof Error) throw result;
        return result;
      },
    };
    return { doc: doc as never, calls };
  };

  it('sends a check shared by several callers once', async () => {
    // Prepare
    const { doc, calls } = recordingDoc();
    const batcher = createTransactBatcher(doc);
    // Act
    const results = await Promise.all([batcher.write([lease(1), put('a')]), batcher.write([lease(1), put('b')])]);
    // Assess
    expect(results).toEqual([true, true]);
    expect(calls).toEqual([['check@1', 'a', 'b']]);
  });

  it('a failed shared check answers false to every caller that carried it, and only to them', async () => {
    // Prepare: epoch 1 is stale; the others are written.
    const { doc, calls } = recordingDoc((actions) => (actions.includes('check@1') ? cancelled(actions.map((action) => (action === 'check@1' ? 'ConditionalCheckFailed' : 'None'))) : {}));
    const batcher = createTransactBatcher(doc);
    // Act
    const results = await Promise.all([batcher.write([lease(1), put('a')]), batcher.write([put('c')]), batcher.write([lease(1), put('b')])]);
    // Assess
    expect(results).toEqual([false, true, false]);
    expect(calls).toEqual([['check@1', 'a', 'c', 'b'], ['c']]);
  });

  it('never puts two different checks of one item in a transaction', async () => {
    // Prepare
    const { doc, calls } = recordingDoc();
    const batcher = createTransactBatcher(doc, { concurrency: 1 });
    // Act
    await Promise.all([batcher.write([lease(1), put('a')]), batcher.write([lease(2), put('b')])]);
    // Assess
    expect(calls).toEqual([['check@1', 'a'], ['check@2', 'b']]);
  });
});
