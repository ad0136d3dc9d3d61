import { z } from 'zod';
import { fail, isAbsoluteHttpUrl, isBlank, stringArray, stringOrInteger } from '../validation.ts';

/** Field rules shared by the instance endpoints (spec §0.13, §2.1). */

const instanceNamePattern = /^[A-Za-z0-9._-]{1,64}$/;
const customTokenPattern = /^[A-Za-z0-9._~-]{16,128}$/;
export const maxCallRejectMessage = 4096;
export const maxPathPrefix = 256;
/** Bounds for stored strings the contract leaves open, so no item can outgrow DynamoDB's 400 KB. */
export const limits = { host: 253, username: 255, secret: 1024, region: 64, bucket: 255, url: 2048, authorization: 4096, inboxName: 255 } as const;

export const isValidInstanceName = (name: string): boolean => instanceNamePattern.test(name) && !/^\.+$/.test(name);

/** `null` when valid, else the message of §0.13. */
export const instanceNameProblem = (name: string | null | undefined): string | null => {
  if (isBlank(name)) return "The 'name' field is required";
  return isValidInstanceName(name as string) ? null : 'Invalid instance name';
};

export const proxyProtocols = ['http', 'https', 'socks5'] as const;

/** A decimal port 1–65535 given as a string or an integer, or `null` when invalid. */
export const normalisePort = (port: string | number): string | null => {
  const text = typeof port === 'number' ? String(port) : port;
  if (!/^\d{1,5}$/.test(text)) return null;
  const value = Number(text);
  return value >= 1 && value <= 65535 ? String(value) : null;
};

export const normaliseProtocol = (protocol: string): (typeof proxyProtocols)[number] | null => {
  const lower = protocol.toLowerCase();
  return (proxyProtocols as readonly string[]).includes(lower) ? (lower as (typeof proxyProtocols)[number]) : null;
};

const optionalString = () => z.string().nullish();
/** An optional JSON integer whose type error reads "must be an integer" whatever was sent (zod says "a number" for a string). */
const optionalInteger = () =>
  z.custom<number>((value) => Number.isInteger(value), { params: { expectedType: 'an integer' } }).nullish();
const optionalBoolean = () => z.boolean().nullish();

export const settingsShape = {
  autoRejectCalls: optionalBoolean(),
  callRejectMessage: optionalString(),
  ignoreGroupMessages: optionalBoolean(),
  keepOnlineStatus: optionalBoolean(),
  autoReadMessages: optionalBoolean(),
  disableHistorySync: optionalBoolean(),
  ignoreStatus: optionalBoolean(),
};

const tooLong = (field: string, max: number) => `Invalid request body: '${field}' must be at most ${max} characters`;

const checkLength = (ctx: z.RefinementCtx, value: string | null | undefined, field: string, max: number): void => {
  if (typeof value === 'string' && value.length > max) fail(ctx, tooLong(field, max), [field]);
};

/** Body of `POST /api/instance/new`; fields in the order of the request table. */
export const CreateInstanceBody = z
  .object({
    name: optionalString(),
    token: optionalString(),
    proxyEnabled: optionalBoolean(),
    proxyHost: optionalString(),
    proxyPort: stringOrInteger(),
    proxyProtocol: optionalString(),
    proxyUsername: optionalString(),
    proxyPassword: optionalString(),
    webhookEnabled: optionalBoolean(),
    webhookURL: optionalString(),
    webhookAuthorization: optionalString(),
    webhookByEvents: optionalBoolean(),
    webhookEvents: stringArray(),
    webhookMediaBase64: optionalBoolean(),
    websocketEnabled: optionalBoolean(),
    websocketEvents: stringArray(),
    websocketMediaBase64: optionalBoolean(),
    chatwootEnabled: optionalBoolean(),
    chatwootBaseUrl: optionalString(),
    chatwootAccountId: optionalInteger(),
    chatwootApiToken: optionalString(),
    chatwootInboxName: optionalString(),
    chatwootSignMessages: optionalBoolean(),
    chatwootIgnoreGroups: optionalBoolean(),
    chatwootStartAsPending: optionalBoolean(),
    chatwootReopenResolved: optionalBoolean(),
    ...settingsShape,
    s3Enabled: optionalBoolean(),
    s3Region: optionalString(),
    s3Bucket: optionalString(),
    s3AccessKey: optionalString(),
    s3SecretKey: optionalString(),
    s3Endpoint: optionalString(),
    s3PathPrefix: optionalString(),
  })
  .superRefine((body, ctx) => {
    const nameProblem = instanceNameProblem(body.name);
    if (nameProblem) return fail(ctx, nameProblem, ['name']);
    if (typeof body.token === 'string' && !customTokenPattern.test(body.token)) {
      return fail(ctx, "Invalid request body: 'token' must be 16-128 characters of [A-Za-z0-9._~-]", ['token']);
    }
    if (body.proxyEnabled === true) {
      if (isBlank(body.proxyHost)) return fail(ctx, 'Invalid request body: proxyHost is required when proxyEnabled is true');
      checkLength(ctx, body.proxyHost, 'proxyHost', limits.host);
      if (body.proxyPort === null || body.proxyPort === undefined || body.proxyPort === '') {
        return fail(ctx, 'Invalid request body: proxyPort is required when proxyEnabled is true');
      }
      if (normalisePort(body.proxyPort) === null) return fail(ctx, 'Invalid request body: proxyPort must be between 1 and 65535');
      if (isBlank(body.proxyProtocol)) return fail(ctx, 'Invalid request body: proxyProtocol is required when proxyEnabled is true');
      if (normaliseProtocol(body.proxyProtocol as string) === null) {
        return fail(ctx, "Invalid request body: proxyProtocol must be 'http', 'https' or 'socks5'");
      }
      checkLength(ctx, body.proxyUsername, 'proxyUsername', limits.username);
      checkLength(ctx, body.proxyPassword, 'proxyPassword', limits.secret);
    }
    checkLength(ctx, body.callRejectMessage, 'callRejectMessage', maxCallRejectMessage);
    if (body.s3Enabled === true) {
      for (const field of ['s3Region', 's3Bucket', 's3AccessKey', 's3SecretKey'] as const) {
        if (isBlank(body[field])) return fail(ctx, `Invalid request body: ${field} is required when s3Enabled is true`);
      }
      checkLength(ctx, body.s3Region, 's3Region', limits.region);
      checkLength(ctx, body.s3Bucket, 's3Bucket', limits.bucket);
      checkLength(ctx, body.s3AccessKey, 's3AccessKey', limits.secret);
      checkLength(ctx, body.s3SecretKey, 's3SecretKey', limits.secret);
      if (!isBlank(body.s3Endpoint)) {
        if (!isAbsoluteHttpUrl(body.s3Endpoint as string) || (body.s3Endpoint as string).length > limits.url) {
          return fail(ctx, 'Invalid request body: s3Endpoint must be an absolute http(s) URL');
        }
      }
      checkLength(ctx, body.s3PathPrefix, 's3PathPrefix', maxPathPrefix);
    }
  });
export type CreateInstanceBody = z.output<typeof CreateInstanceBody>;

/** Body of `POST /api/instance/settings/:instance` (partial update). */
export const UpdateSettingsBody = z.object(settingsShape).superRefine((body, ctx) => {
  if (Object.values(body).every((value) => value === null || value === undefined)) {
    return fail(ctx, 'At least one setting must be provided');
  }
  checkLength(ctx, body.callRejectMessage, 'callRejectMessage', maxCallRejectMessage);
});
export type UpdateSettingsBody = z.output<typeof UpdateSettingsBody>;

/** Body of `POST /api/instance/proxy/:instance`. */
export const UpdateProxyBody = z
  .object({
    enabled: z.boolean(),
    host: optionalString(),
    port: stringOrInteger(),
    protocol: optionalString(),
    username: optionalString(),
    password: optionalString(),
  })
  .superRefine((body, ctx) => {
    if (!body.enabled) return;
    if (isBlank(body.host)) return fail(ctx, 'Invalid proxy configuration: host is required');
    checkLength(ctx, body.host, 'host', limits.host);
    if (body.port === null || body.port === undefined || normalisePort(body.port) === null) {
      return fail(ctx, 'Invalid proxy configuration: port must be between 1 and 65535');
    }
    if (body.protocol === null || body.protocol === undefined || normaliseProtocol(body.protocol) === null) {
      return fail(ctx, "Invalid proxy configuration: protocol must be 'http', 'https' or 'socks5'");
    }
    checkLength(ctx, body.username, 'username', limits.username);
    checkLength(ctx, body.password, 'password', limits.secret);
  });
export type UpdateProxyBody = z.output<typeof UpdateProxyBody>;

/** Body of `POST /api/instance/s3/:instance`; whether `secretKey` may be omitted depends on stored state. */
export const UpdateS3Body = z
  .object({
    enabled: z.boolean(),
    region: optionalString(),
    bucket: optionalString(),
    accessKey: optionalString(),
    secretKey: optionalString(),
    endpoint: optionalString(),
    pathPrefix: optionalString(),
  })
  .superRefine((body, ctx) => {
    if (!body.enabled) return;
    for (const field of ['region', 'bucket', 'accessKey'] as const) {
      if (isBlank(body[field])) return fail(ctx, `Invalid S3 configuration: ${field} is required`);
    }
    checkLength(ctx, body.region, 'region', limits.region);
    checkLength(ctx, body.bucket, 'bucket', limits.bucket);
    checkLength(ctx, body.accessKey, 'accessKey', limits.secret);
    checkLength(ctx, body.secretKey, 'secretKey', limits.secret);
    if (!isBlank(body.endpoint) && (!isAbsoluteHttpUrl(body.endpoint as string) || (body.endpoint as string).length > limits.url)) {
      return fail(ctx, 'Invalid S3 configuration: endpoint must be an absolute http(s) URL');
    }
    checkLength(ctx, body.pathPrefix, 'pathPrefix', maxPathPrefix);
  });
export type UpdateS3Body = z.output<typeof UpdateS3Body>;
