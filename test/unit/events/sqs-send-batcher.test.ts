import type { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { createSqsSendBatcher } from '../../../shared/adapters/sqs/send-batcher.ts';

// Group send to the events queue: concurrent publishes share SendMessageBatch requests; each
// caller hears about its own message.

type Failure = { Id: string; SenderFault: boolean; Code: string };

/** An SQS double: records each request's bodies; `answer` may fail entries by body. */
const fakeSqs = (answer: (bodies: string[], call: number) => Failure[] | Error = () => []) => {
  const calls: string[][] = [];
  const sqs = {
    send: async (command: SendMessageBatchCommand) => {
      const entries = command.input.Entries ?? [];
      const bodies = entries.map((entry) => entry.MessageBody as string);
      calls.push(bodies);
      await new Promise((resolve) => setTimeout(resolve, 1));
      const result = answer(bodies, calls.length);
      if (result instanceof Error) throw result;
      return { Successful: [], Failed: result.map((failure) => ({ ...failure, Id: String(bodies.indexOf(failure.Id)) })) };
    },
  };
  return { sqs: sqs as never, calls };
};

describe('SQS send batcher', () => {
  it('sends concurrent messages together, at most 10 per request, in order', async () => {
    // Prepare
    const { sqs, calls } = fakeSqs();
    const batcher = createSqsSendBatcher({ sqs, queueUrl: 'q', concurrency: 1 });
    const bodies = Array.from({ length: 23 }, (_, index) => `m${index}`);
    // Act
    await Promise.all(bodies.map((body) => batcher.send(body)));
    // Assess
    expect(calls).toEqual([bodies.slice(0, 10), bodies.slice(10, 20), bodies.slice(20)]);
  });

  it('keeps a request under the byte limit', async () => {
    // Prepare
    const { sqs, calls } = fakeSqs();
    const batcher = createSqsSendBatcher({ sqs, queueUrl: 'q', maxBytes: 10, concurrency: 1 });
    // Act
    await Promise.all(['aaaa', 'bbbb', 'cccc'].map((body) => batcher.send(body)));
    // Assess
    expect(calls).toEqual([['aaaa', 'bbbb'], ['cccc']]);
  });

  it('rejects only the caller whose entry SQS refused as the sender’s fault', async () => {
    // Prepare
    const { sqs } = fakeSqs(() => [{ Id: 'bad', SenderFault: true, Code: 'InvalidMessageContents' }]);
    const batcher = createSqsSendBatcher({ sqs, queueUrl: 'q' });
    // Act
    const outcome = await Promise.allSettled(['ok', 'bad', 'fine'].map((body) => batcher.send(body)));
    // Assess
    expect(outcome.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((outcome[1] as PromiseRejectedResult).reason.message).toContain('InvalidMessageContents');
  });

  it('sends again an entry that failed on SQS’s side, alone', async () => {
    // Prepare: the first request fails "flaky" for SQS's own reasons.
    const { sqs, calls } = fakeSqs((_, call) => (call === 1 ? [{ Id: 'flaky', SenderFault: false, Code: 'InternalError' }] : []));
    const batcher = createSqsSendBatcher({ sqs, queueUrl: 'q', sleep: async () => undefined });
    // Act
    const outcome = await Promise.allSettled(['a', 'flaky', 'b'].map((body) => batcher.send(body)));
    // Assess
    expect(outcome.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    expect(calls).toEqual([['a', 'flaky', 'b'], ['flaky']]);
  });

  it('rejects every caller of a request that failed as a whole', async () => {
    // Prepare
    const { sqs } = fakeSqs(() => new Error('connect ECONNREFUSED'));
    const batcher = createSqsSendBatcher({ sqs, queueUrl: 'q' });
    // Act
    const outcome = await Promise.allSettled(['a', 'b'].map((body) => batcher.send(body)));
    // Assess
    expect(outcome.map((result) => (result.status === 'rejected' ? (result.reason as Error).message : 'sent'))).toEqual(['connect ECONNREFUSED', 'connect ECONNREFUSED']);
  });
});
