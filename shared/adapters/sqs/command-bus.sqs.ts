import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { CommandBus } from '../../domain/fleet/commands.ts';
import { shardOf } from '../../domain/fleet/fleet.ts';
import { sqsSafeJson } from './sqs-json.ts';

export interface SqsCommandBusOptions {
  sqs: SQSClient;
  queueUrlOf(shard: number): string;
  shards: number;
}


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
