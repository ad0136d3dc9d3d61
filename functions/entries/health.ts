import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { healthHandler } from '../system/health.handler.ts';

const dynamo = new DynamoDBClient({});

/**
 * `GET /health` (spec Z10): unauthenticated, so it touches nothing secret and builds no app
 * dependencies (no KMS decrypt): it only checks that the table answers.
 */
export const handler = healthHandler({
  table: async () => {
    await dynamo.send(new DescribeTableCommand({ TableName: process.env.ZAPFLEET_TABLE_NAME }));
  },
});
