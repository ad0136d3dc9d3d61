import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { CommandBus } from '../../domain/fleet/commands.ts';
import { shardOf } from '../../domain/fleet/fleet.ts';

export interface SqsCommandBusOptions {
  sqs: SQSClient;
  queueUrlOf(shard: number): string;
  shards: number;
}

/**
 * JSON whose characters outside the Basic Multilingual Plane (emoji) are written as `\uXXXX`
 * surrogate pairs: the same JSON to a parser, but accepted by every SQS implementation (fauxqs,
 * the embedded stack's queue, refuses raw characters above U+FFFD).
 */
export const sqsSafeJson = (value: unknown): string =>
  JSON.stringify(value).replace(/[\u{10000}-\u{10FFFF}]/gu, (char) => {
    const code = char.codePointAt(0) as number;
    const high = Math.floor((code - 0x10000) / 0x400) + 0xd800;
    const low = ((code - 0x10000) % 0x400) + 0xdc00;
    return `\\u${high.toString(16)}\\u${low.toString(16)}`;
  });

/**
 * Puts each command on the FIFO queue of the shard that owns its instance (ARCHITECTURE §4):
 * the instance id as message group keeps one instance's commands in order, the command id as
 * deduplication id makes a retried send harmless within SQS's 5-minute window.
 */
export const createSqsCommandBus = ({ sqs, queueUrlOf, shards }: SqsCommandBusOptions): CommandBus => ({
  async send(command) {
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrlOf(shardOf(command.instanceId, shards)),
        MessageBody: sqsSafeJson(command),
        MessageGroupId: command.instanceId,
        MessageDeduplicationId: command.commandId,
      }),
    );
  },
});
