import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { CommandBus } from '../../domain/fleet/commands.ts';
import { shardOf } from '../../domain/fleet/fleet.ts';
import { sqsSafeJson } from './sqs-json.ts';

export interface SqsCommandBusOptions {
  sqs: SQSClient;
  queueUrlOf(shard: number): string;
  shards: number;
  /** Where commands too large for a queue message go (a send with base64 media); without it they fail. */
  overflow?: { s3: S3Client; bucket: string };
}

/** Above this a command travels through S3 (SQS takes at most 256 KiB per message). */
export const inlineCommandLimitBytes = 200 * 1024;

/** The queue message of a command kept in S3. */
interface CommandPointer {
  pointer: { bucket: string; key: string };
}

const isPointer = (body: unknown): body is CommandPointer =>
  typeof body === 'object' && body !== null && 'pointer' in body && typeof (body as CommandPointer).pointer?.key === 'string';

/**
 * The command a queue message carries: itself, or the one its S3 pointer names (read, then
 * `done()` deletes the object once the command was handled).
 */
export const readCommandBody = async (body: unknown, s3: S3Client | undefined): Promise<{ body: unknown; done(): Promise<void> }> => {
  if (!isPointer(body)) return { body, done: async () => undefined };
  if (!s3) throw new Error('command kept in S3 but this consumer has no S3 client');
  const { bucket, key } = body.pointer;
  const object = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  const text = await (object.Body as { transformToString(): Promise<string> }).transformToString();
  return { body: JSON.parse(text) as unknown, done: async () => void (await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))) };
};


/**
 * Puts each command on the FIFO queue of the shard that owns its instance (ARCHITECTURE §4):
 * the instance id as message group keeps one instance's commands in order, the command id as
 * deduplication id makes a retried send harmless within SQS's 5-minute window.
 */
export const createSqsCommandBus = ({ sqs, queueUrlOf, shards, overflow }: SqsCommandBusOptions): CommandBus => ({
  async send(command) {
    let body = sqsSafeJson(command);
    if (Buffer.byteLength(body) > inlineCommandLimitBytes) {
      if (!overflow) throw new Error(`command of ${Buffer.byteLength(body)} bytes is too large for the queue and no overflow bucket is configured`);
      const key = `commands/${command.instanceId}/${command.commandId}.json`;
      await overflow.s3.send(new PutObjectCommand({ Bucket: overflow.bucket, Key: key, Body: body, ContentType: 'application/json' }));
      body = sqsSafeJson({ pointer: { bucket: overflow.bucket, key } } satisfies CommandPointer);
    }
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrlOf(shardOf(command.instanceId, shards)),
        MessageBody: body,
        MessageGroupId: command.instanceId,
        MessageDeduplicationId: command.commandId,
      }),
    );
  },
});
