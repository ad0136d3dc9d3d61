import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature V4 query-string presigning of an S3 `GET` (the `X-Amz-*` parameters), done here
 * because it needs no network and no further package: a presigned URL is a pure function of
 * the credentials, the object's URL and the time.
 */

export interface PresignInput {
  /** The object's URL without query (virtual-hosted or path style). */
  url: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  expiresSeconds: number;
  now: Date;
}

/** RFC 3986 unreserved characters stay as they are; everything else is %XX (upper case). */
const encode = (value: string): string => encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();
const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');

export const presignS3Get = (input: PresignInput): string => {
  const url = new URL(input.url);
  const amzDate = `${input.now.toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${input.region}/s3/aws4_request`;
  const params: [string, string][] = [
    ['X-Amz-Algorithm', 'AWS4-HMAC-SHA256'],
    ['X-Amz-Credential', `${input.credentials.accessKeyId}/${scope}`],
    ['X-Amz-Date', amzDate],
    ['X-Amz-Expires', String(input.expiresSeconds)],
    ...(input.credentials.sessionToken ? ([['X-Amz-Security-Token', input.credentials.sessionToken]] as [string, string][]) : []),
    ['X-Amz-SignedHeaders', 'host'],
  ];
  const query = params
    .map(([key, value]) => [encode(key), encode(value)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([key, value]) => `${key}=${value}`)
    .join('&');
  // S3 signs the path as sent: each segment encoded once, slashes kept.
  const path = url.pathname
    .split('/')
    .map((segment) => encode(decodeURIComponent(segment)))
    .join('/');
  const canonicalRequest = ['GET', path, query, `host:${url.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, sha256Hex(canonicalRequest)].join('\n');
  const signingKey = hmac(hmac(hmac(hmac(`AWS4${input.credentials.secretAccessKey}`, day), input.region), 's3'), 'aws4_request');
  const signature = createHmac('sha256', signingKey).update(stringToSign, 'utf8').digest('hex');
  return `${url.origin}${path}?${query}&X-Amz-Signature=${signature}`;
};

/** The object URL: path style for a custom endpoint, virtual-hosted style for AWS S3. */
export const objectUrl = (target: { bucket: string; region: string; endpoint: string | null; pathStyle?: boolean }, key: string): string => {
  const encodedKey = key.split('/').map(encode).join('/');
  if (target.endpoint) {
    const base = target.endpoint.replace(/\/+$/, '');
    if (target.pathStyle !== false) return `${base}/${encode(target.bucket)}/${encodedKey}`;
    const endpoint = new URL(base);
    return `${endpoint.protocol}//${target.bucket}.${endpoint.host}${endpoint.pathname.replace(/\/+$/, '')}/${encodedKey}`;
  }
  return `https://${target.bucket}.s3.${target.region}.amazonaws.com/${encodedKey}`;
};
