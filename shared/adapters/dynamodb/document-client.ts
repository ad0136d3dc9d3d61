import { TransactionCanceledException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, TransactWriteCommand, type QueryCommandInput, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';

export const documentClient = (client: DynamoDBClient): DynamoDBDocumentClient =>
  DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });

export interface DynamoContext {
  doc: DynamoDBDocumentClient;
  tableName: string;
}

export const cancellationCodes = (error: TransactionCanceledException): (string | undefined)[] =>
  (error.CancellationReasons ?? []).map((reason) => reason.Code);

export const hasOldItem = (error: TransactionCanceledException, index: number): boolean => {
  const item = error.CancellationReasons?.[index]?.Item;
  return item !== undefined && Object.keys(item).length > 0;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a transaction, retrying when it only lost a race (`TransactionConflict`): the SDK does not
 * retry cancelled transactions, and concurrent creates on one account contend on its counter.
 * Cancellations caused by a failed condition are returned to the caller to map.
 */
export const transactWrite = async (
  doc: DynamoDBDocumentClient,
  input: TransactWriteCommandInput,
  attempts = 25,
): Promise<TransactionCanceledException | null> => {
  for (let attempt = 1; ; attempt++) {
    try {
      await doc.send(new TransactWriteCommand(input));
      return null;
    } catch (error) {
      if (!(error instanceof TransactionCanceledException)) throw error;
      const codes = cancellationCodes(error);
      if (codes.includes('ConditionalCheckFailed') || attempt >= attempts || !codes.includes('TransactionConflict')) return error;
      await sleep(Math.random() * Math.min(200, 10 * 2 ** attempt));
    }
  }
};

/** Removes the table keys and bookkeeping attributes from a stored item. */
export const stripKeys = <T>(item: Record<string, unknown>): T => {
  const { pk: _pk, sk: _sk, gsi1pk: _g1, gsi1sk: _g2, entity: _e, v: _v, ...rest } = item;
  return rest as T;
};

/** Every item of a query, following `LastEvaluatedKey` page by page. */
export const queryAll = async (doc: DynamoDBDocumentClient, input: Omit<QueryCommandInput, 'ExclusiveStartKey'>): Promise<Record<string, unknown>[]> => {
  const items: Record<string, unknown>[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const page = await doc.send(new QueryCommand({ ...input, ExclusiveStartKey: cursor }));
    items.push(...(page.Items ?? []));
    cursor = page.LastEvaluatedKey;
  } while (cursor);
  return items;
};
