import { DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createReadStream } from 'node:fs';
import type { MediaBucket, MediaObjectStore } from '../../domain/ports/media.port.ts';
import { objectUrl, presignS3Get } from './presign.ts';

export interface S3MediaObjectsOptions {
  /** The process's own client: the platform bucket, with the process's credentials. */
  platform: S3Client;
  now?: () => Date;
}

const clientOf = (target: Extract<MediaBucket, { kind: 'instance' }>): S3Client =>
  new S3Client({
    region: target.region,
    credentials: target.credentials,
    ...(target.endpoint ? { endpoint: target.endpoint, forcePathStyle: true } : {}),
    // S3-compatible stores (MinIO, B2, Spaces…) do not all speak the SDK's default trailing checksums.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 2,
    // Failures reach the caller, which logs them without secrets; the SDK's own console output stays off.
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });

/**
 * Media objects in S3. An instance's bucket is reached with a client made for that one call
 * from the instance's own credentials, which never serve any other bucket; the platform bucket
 * uses the process's client. Presigned URLs are signed locally (`presign.ts`).
 */
export const createS3MediaObjects = (options: S3MediaObjectsOptions): MediaObjectStore => {
  const now = options.now ?? (() => new Date());
  const withClient = async <T>(target: MediaBucket, work: (client: S3Client) => Promise<T>): Promise<T> => {
    if (target.kind === 'platform') return work(options.platform);
    const client = clientOf(target);
    try {
      return await work(client);
    } finally {
      client.destroy();
    }
  };

  return {
    put: (target, key, body) =>
      withClient(target, async (client) => {
        await client.send(
          new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: createReadStream(body.path), ContentLength: body.size, ContentType: body.contentType }),
        );
      }),

    async presignGet(target, key, ttlSeconds) {
      if (target.kind === 'instance') {
        return presignS3Get({ url: objectUrl({ ...target }, key), region: target.region, credentials: target.credentials, expiresSeconds: ttlSeconds, now: now() });
      }
      const config = options.platform.config;
      const endpoint = config.endpoint ? await config.endpoint() : null;
      const region = await config.region();
      const credentials = await config.credentials();
      const base = endpoint ? `${endpoint.protocol}//${endpoint.hostname}${endpoint.port ? `:${endpoint.port}` : ''}${endpoint.path === '/' ? '' : endpoint.path}` : null;
      return presignS3Get({
        url: objectUrl({ bucket: target.bucket, region, endpoint: base, pathStyle: config.forcePathStyle === true }, key),
        region,
        credentials,
        expiresSeconds: ttlSeconds,
        now: now(),
      });
    },

    read: (target, key) =>
      withClient(target, async (client) => {
        const object = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: key }));
        return Buffer.from(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
      }),

    deletePrefix: (target, prefix) =>
      withClient(target, async (client) => {
        let deleted = 0;
        // Each listing page (≤ 1000 keys) is one DeleteObjects; the next listing starts afresh.
        for (;;) {
          const page = await client.send(new ListObjectsV2Command({ Bucket: target.bucket, Prefix: prefix }));
          const objects = (page.Contents ?? []).flatMap((object) => (object.Key ? [{ Key: object.Key }] : []));
          if (objects.length === 0) return deleted;
          const out = await client.send(new DeleteObjectsCommand({ Bucket: target.bucket, Delete: { Objects: objects, Quiet: true } }));
          if (out.Errors?.length) throw new Error(`S3 refused to delete ${out.Errors.length} object(s): ${out.Errors[0]?.Code ?? 'unknown error'}`);
          deleted += objects.length;
        }
      }),
  };
};
