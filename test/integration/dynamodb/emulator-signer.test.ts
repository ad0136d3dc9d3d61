import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { SQSClient, ListQueuesCommand } from '@aws-sdk/client-sqs';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import { localCredentials } from '../../../local/emulators/dynamodb-local.ts';
import { emulatorAuthorization, emulatorSigner } from '../../../local/emulators/emulator-signer.ts';

/** The headers of the one request an SDK client sends to a local HTTP server that answers `{}`. */
const headersSentBy = async (send: (endpoint: string) => Promise<unknown>): Promise<IncomingHttpHeaders> => {
  let seen: IncomingHttpHeaders | null = null;
  const server = createServer((request, response) => {
    seen = request.headers;
    request.resume().on('end', () => response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end('{}'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    await send(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  } finally {
    await new Promise((resolve) => server.close(resolve));
  }
  if (!seen) throw new Error('no request arrived');
  return seen;
};

describe('the embedded stack signer for DynamoDB Local and fauxqs', () => {
  const clients: { destroy(): void }[] = [];
  afterAll(() => clients.forEach((client) => client.destroy()));

  it('sends the fixed local authorization instead of a SigV4 signature', async () => {
    // Act
    const dynamoHeaders = await headersSentBy((endpoint) => {
      const client = new DynamoDBClient({ endpoint, region: 'local', credentials: localCredentials, signer: emulatorSigner, maxAttempts: 1 });
      clients.push(client);
      return client.send(new GetItemCommand({ TableName: 'anything', Key: { pk: { S: 'x' } } }));
    });
    const sqsHeaders = await headersSentBy((endpoint) => {
      const client = new SQSClient({ endpoint, region: 'us-east-1', credentials: localCredentials, signer: emulatorSigner, maxAttempts: 1 });
      clients.push(client);
      return client.send(new ListQueuesCommand({})).catch(() => undefined);
    });

    // Assess: no SigV4 ran (it would set x-amz-date and a computed signature).
    for (const headers of [dynamoHeaders, sqsHeaders]) {
      expect(headers.authorization).toBe(emulatorAuthorization);
      expect(headers['x-amz-date']).toBeUndefined();
    }
  });

  it('reaches the same DynamoDB Local database as a signed client with the local credentials', async () => {
    // Prepare: a table and an item written with SigV4 (the test harness's own clients sign).
    const signed = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: localCredentials });
    const unsigned = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: localCredentials, signer: emulatorSigner });
    clients.push(signed, unsigned);
    const tableName = `emulator-signer-${randomUUID()}`;
    await ensureTable(signed, tableName, { timeToLive: false });
    await signed.send(new PutItemCommand({ TableName: tableName, Item: { pk: { S: 'written' }, sk: { S: 'signed' }, note: { S: 'hello' } } }));

    // Act
    const read = await unsigned.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'written' }, sk: { S: 'signed' } } }));

    // Assess
    expect(read.Item?.note).toEqual({ S: 'hello' });
  });
});
