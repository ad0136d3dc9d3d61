import { SQSClient } from '@aws-sdk/client-sqs';
import { createSqsCommandBus } from '../../shared/adapters/sqs/command-bus.sqs.ts';
import type { CommandBus } from '../../shared/domain/fleet/commands.ts';
import type { CommandSenderInput } from '../aws.ts';
import { lazyS3 } from './lazy-clients.ts';

/**
 * Shard commands through SQS, for the entries whose routes send them (instance, message); the few
 * bodies too large for a message go to the media bucket through a lazily loaded S3 client.
 */
export const sqsCommands = ({ queueUrls, mediaBucket }: CommandSenderInput): CommandBus =>
  createSqsCommandBus({
    sqs: new SQSClient({}),
    queueUrlOf: (shard) => queueUrls[shard] as string,
    shards: queueUrls.length,
    ...(mediaBucket ? { overflow: { s3: lazyS3(), bucket: mediaBucket } } : {}),
  });
