import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { documentClient } from '../../../shared/adapters/dynamodb/document-client.ts';
import { createDynamoSendJournal } from '../../../shared/adapters/dynamodb/send-journal.dynamodb.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import type { SendJournalEntry } from '../../../shared/domain/messages/send-journal.ts';
import { journalEntryOf } from '../../support/journal-entries.ts';

/**
 * The send journal in DynamoDB (send-journal.dynamodb.ts): entries keep their command (inline, or
 * in the overflow bucket when too large for the item) so the shard's next owner can send it, and
 * every change is conditional on the runner and phase the caller saw.
 */

const BUCKET = 'journal-test';

describe('send journal (DynamoDB Local, fauxqs S3)', () => {
  let client: DynamoDBClient;
  let server: FauxqsServer;
  let s3: S3Client;
  let context: { doc: ReturnType<typeof documentClient>; tableName: string };

  beforeAll(async () => {
    client = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const tableName = `send-journal-${randomUUID()}`;
    await ensureTable(client, tableName);
    context = { doc: documentClient(client), tableName };
    server = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    server.createBucket(BUCKET);
    s3 = new S3Client({ endpoint: server.address, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, forcePathStyle: true });
  });
  afterAll(async () => {
    s3?.destroy();
    client?.destroy();
    await server?.stop();
  });

  const entryOf = (instanceId: string, messageId: string, seq: number, text = 'hello'): SendJournalEntry => journalEntryOf({ instanceId, messageId, seq }, text);
  const objects = async () => ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET }))).Contents ?? []).map((object) => object.Key);

  it('keeps the command of each entry, a large one in the overflow bucket until the entry ends', async () => {
    // Prepare: one ordinary send and one whose command (a 400 KB text standing for base64 media) cannot fit an item.
    const journal = createDynamoSendJournal(context, { overflow: { s3, bucket: BUCKET } });
    const instanceId = randomUUID();
    const large = 'x'.repeat(400 * 1024);
    await journal.open(entryOf(instanceId, 'SMALL', 1));
    await journal.open(entryOf(instanceId, 'LARGE', 2, large));

    // Act
    const listed = (await journal.list(1)).filter((entry) => entry.instanceId === instanceId);
    const keptInBucket = await objects();
    await journal.close({ shard: 1, instanceId, messageId: 'LARGE', runnerId: 'runner-a' });

    // Assess
    expect(listed.map((entry) => [entry.messageId, entry.seq, entry.command?.send.request])).toEqual([
      ['LARGE', 2, { kind: 'text', message: large }],
      ['SMALL', 1, { kind: 'text', message: 'hello' }],
    ]);
    expect(keptInBucket).toEqual([`commands/journal/${instanceId}/LARGE.json`]);
    expect(await objects()).toEqual([]);
  });

  it('lists a large command as lost when there is no overflow bucket (its send can only be reported failed)', async () => {
    // Prepare
    const journal = createDynamoSendJournal(context);
    const instanceId = randomUUID();

    // Act
    await journal.open(entryOf(instanceId, 'LARGE', 1, 'y'.repeat(400 * 1024)));

    // Assess
    expect((await journal.list(1)).filter((entry) => entry.instanceId === instanceId).map((entry) => [entry.messageId, entry.command])).toEqual([['LARGE', null]]);
  });

  it('adopts an accepted entry once, and never one that is sending; the old runner can then neither type nor send it', async () => {
    // Prepare: runner A's entries: M1 accepted, M2 going to WhatsApp.
    const journal = createDynamoSendJournal(context);
    const instanceId = randomUUID();
    const [m1, m2] = [entryOf(instanceId, 'M1', 1), entryOf(instanceId, 'M2', 2)];
    await journal.open(m1);
    await journal.open(m2);
    await journal.markSending({ shard: 1, instanceId, messageId: 'M2', runnerId: 'runner-a' });

    // Act
    const adoptions = await Promise.all([journal.adopt(m1, 'runner-b'), journal.adopt(m1, 'runner-c')]);
    const sendingAdopted = await journal.adopt({ ...m2, phase: 'accepted' }, 'runner-b');
    const oldRunner = {
      typed: await journal.markTyping({ shard: 1, instanceId, messageId: 'M1', runnerId: 'runner-a' }, '2026-04-28T10:30:01.000Z'),
      sending: await journal.markSending({ shard: 1, instanceId, messageId: 'M1', runnerId: 'runner-a' }),
    };

    // Assess
    expect(adoptions.filter(Boolean)).toHaveLength(1);
    expect(sendingAdopted).toBe(false);
    expect(oldRunner).toEqual({ typed: false, sending: false });
    expect((await journal.list(1)).filter((entry) => entry.instanceId === instanceId).map(({ messageId, runnerId, phase }) => ({ messageId, runnerId, phase }))).toEqual([
      { messageId: 'M1', runnerId: adoptions[0] ? 'runner-b' : 'runner-c', phase: 'accepted' },
      { messageId: 'M2', runnerId: 'runner-a', phase: 'sending' },
    ]);
  });

  it('keeps when the typing started: a second mark does not move it', async () => {
    // Prepare
    const journal = createDynamoSendJournal(context);
    const instanceId = randomUUID();
    await journal.open(entryOf(instanceId, 'M1', 1));
    const key = { shard: 1, instanceId, messageId: 'M1', runnerId: 'runner-a' };

    // Act
    await journal.markTyping(key, '2026-04-28T10:30:01.000Z');
    await journal.markTyping(key, '2026-04-28T10:30:09.000Z');

    // Assess
    expect((await journal.list(1)).find((entry) => entry.instanceId === instanceId)?.typingFrom).toBe('2026-04-28T10:30:01.000Z');
  });
});
