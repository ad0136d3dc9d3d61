import type { S3Client } from '@aws-sdk/client-s3';
import { DeleteCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { createDynamoSendJournal } from '../../../shared/adapters/dynamodb/send-journal.dynamodb.ts';
import type { SendJournalEntry } from '../../../shared/domain/messages/send-journal.ts';
import { journalEntryOf } from '../../support/journal-entries.ts';

/**
 * The send journal's bucket calls (send-journal.dynamodb.ts): a command kept inline in its item
 * costs no S3 call when its entry ends; only an entry that points at a bucket object deletes it.
 * The table is a map behind a fake document client (the conditions are covered against DynamoDB
 * Local in test/integration/messages/send-journal.test.ts).
 */

const fakeTable = () => {
  const items = new Map<string, Record<string, unknown>>();
  const keyOf = (key: Record<string, unknown>) => `${String(key.pk)}|${String(key.sk)}`;
  const doc = {
    send: async (command: unknown) => {
      if (command instanceof PutCommand) {
        items.set(keyOf(command.input.Item as Record<string, unknown>), command.input.Item as Record<string, unknown>);
        return {};
      }
      if (command instanceof DeleteCommand) {
        const key = keyOf(command.input.Key as Record<string, unknown>);
        const old = items.get(key);
        items.delete(key);
        return command.input.ReturnValues === 'ALL_OLD' && old ? { Attributes: old } : {};
      }
      throw new Error(`unexpected command ${(command as object).constructor.name}`);
    },
  };
  return { doc: doc as unknown as DynamoDBDocumentClient, tableName: 'table' };
};

const fakeS3 = () => {
  const calls: { command: string; key: unknown }[] = [];
  const s3 = {
    send: async (command: { constructor: { name: string }; input: { Key?: unknown } }) => {
      calls.push({ command: command.constructor.name, key: command.input.Key });
      return {};
    },
  };
  return { s3: s3 as unknown as S3Client, calls };
};

const entryOf = (messageId: string, text: string): SendJournalEntry => journalEntryOf({ messageId }, text);

describe('send journal bucket calls', () => {
  it('makes no S3 call for an entry whose command was kept inline, closed or claimed', async () => {
    // Prepare
    const { s3, calls } = fakeS3();
    const journal = createDynamoSendJournal(fakeTable(), { overflow: { s3, bucket: 'media' } });
    await journal.open(entryOf('CLOSED', 'hello'));
    await journal.open(entryOf('CLAIMED', 'hello'));

    // Act
    const closed = await journal.close({ shard: 1, instanceId: 'i-1', messageId: 'CLOSED', runnerId: 'runner-a' });
    const claimed = await journal.claim(entryOf('CLAIMED', 'hello'));

    // Assess
    expect([closed, claimed]).toEqual([true, true]);
    expect(calls).toEqual([]);
  });

  it('deletes the bucket object of an entry whose command went to the bucket when it ends', async () => {
    // Prepare
    const { s3, calls } = fakeS3();
    const journal = createDynamoSendJournal(fakeTable(), { overflow: { s3, bucket: 'media' } });
    await journal.open(entryOf('LARGE', 'x'.repeat(40 * 1024)));

    // Act
    await journal.close({ shard: 1, instanceId: 'i-1', messageId: 'LARGE', runnerId: 'runner-a' });

    // Assess
    expect(calls).toEqual([
      { command: 'PutObjectCommand', key: 'commands/journal/i-1/LARGE.json' },
      { command: 'DeleteObjectCommand', key: 'commands/journal/i-1/LARGE.json' },
    ]);
  });
});
