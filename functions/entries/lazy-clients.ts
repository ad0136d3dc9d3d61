import type { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import type { S3Client } from '@aws-sdk/client-s3';
import { lazyClient } from '../aws.ts';

/**
 * Clients an entry rarely needs, imported and created on their first request (functions/aws.ts
 * `lazyClient`), so they cost nothing at cold start. Only for adapters that call nothing but `send`.
 */

/** The S3 client, for command bodies too large for a queue message. */
export const lazyS3 = (): S3Client => lazyClient<S3Client>(async () => new (await import('./sdk/s3-client.ts')).S3Client({}));

/** The WebSocket API's management client for `endpoint` (pushes, `pong`, closing streams). */
export const lazyManagement = (endpoint: string | undefined): ApiGatewayManagementApiClient =>
  lazyClient<ApiGatewayManagementApiClient>(async () => new (await import('./sdk/management-client.ts')).ApiGatewayManagementApiClient({ endpoint }));
