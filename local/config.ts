import { resolve } from 'node:path';
import { z } from 'zod';
import { messageRetentionSeconds } from '../shared/domain/messages/message.ts';
import { defaultPacingConfig, type PacingConfig } from '../shared/domain/messages/pacing.ts';

const booleanText = (name: string) =>
  z
    .enum(['true', 'false'], { error: `${name} must be 'true' or 'false'` })
    .transform((value) => value === 'true');

const integerText = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: `${name} must be a whole number` })
    .transform(Number)
    .refine((value) => value >= min && value <= max, { error: `${name} must be between ${min} and ${max}` });

/**
 * The embedded stack's configuration: one schema, read once at start. A bad value stops the
 * start with a message naming the variable; nothing falls back silently.
 */
export const EmbeddedConfigSchema = z.object({
  PORT: integerText('PORT', 0, 65535).default(8080),
  HOST: z.string().min(1).default('127.0.0.1'),
  ZAPFLEET_DATA_DIR: z.string().min(1).default('./.zapfleet'),
  ZAPFLEET_ADMIN_KEY: z.string().min(16, { error: 'ZAPFLEET_ADMIN_KEY must be at least 16 characters' }).optional(),
  ZAPFLEET_DRIVER: z.enum(['baileys', 'sandbox'], { error: "ZAPFLEET_DRIVER must be 'baileys' or 'sandbox'" }).default('baileys'),
  ZAPFLEET_SANDBOX_SCAN_MS: integerText('ZAPFLEET_SANDBOX_SCAN_MS', 0, 600_000).default(2000),
  ZAPFLEET_ALLOW_PRIVATE_TARGETS: booleanText('ZAPFLEET_ALLOW_PRIVATE_TARGETS').default(false),
  ZAPFLEET_ALLOW_LOOPBACK_TARGETS: booleanText('ZAPFLEET_ALLOW_LOOPBACK_TARGETS').default(true),
  ZAPFLEET_CORS_ORIGINS: z.string().default(''),
  ZAPFLEET_DEFAULT_INSTANCE_QUOTA: integerText('ZAPFLEET_DEFAULT_INSTANCE_QUOTA', 0, 1_000_000).default(10),
  ZAPFLEET_RATE_LIMIT_GLOBAL: integerText('ZAPFLEET_RATE_LIMIT_GLOBAL', 1, 1_000_000).default(100),
  ZAPFLEET_RATE_LIMIT_CREATE: integerText('ZAPFLEET_RATE_LIMIT_CREATE', 1, 1_000_000).default(20),
  ZAPFLEET_RATE_LIMIT_IP: integerText('ZAPFLEET_RATE_LIMIT_IP', 1, 1_000_000).default(100),
  ZAPFLEET_RATE_LIMIT_ADMIN: integerText('ZAPFLEET_RATE_LIMIT_ADMIN', 1, 1_000_000).default(100),
  ZAPFLEET_LOG_LEVEL: z.enum(['info', 'warn', 'error', 'silent'], { error: "ZAPFLEET_LOG_LEVEL must be one of info, warn, error, silent" }).default('info'),
  ZAPFLEET_DYNAMODB_ENDPOINT: z.url({ error: 'ZAPFLEET_DYNAMODB_ENDPOINT must be a URL' }).optional(),
  ZAPFLEET_DYNAMODB_PORT: integerText('ZAPFLEET_DYNAMODB_PORT', 0, 65535).default(0),
  ZAPFLEET_TABLE_NAME: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, { error: 'ZAPFLEET_TABLE_NAME must be 3-255 characters of [A-Za-z0-9_.-]' }).default('zapfleet'),
  /** Anti-ban pacing of API sends (shared/domain/messages/pacing.ts); unset: on, except in sandbox mode. */
  ZAPFLEET_PACING_ENABLED: booleanText('ZAPFLEET_PACING_ENABLED').optional(),
  ZAPFLEET_PACING_MIN_GAP_MS: integerText('ZAPFLEET_PACING_MIN_GAP_MS', 0, 3_600_000).default(defaultPacingConfig.minGapMs),
  ZAPFLEET_PACING_MAX_GAP_MS: integerText('ZAPFLEET_PACING_MAX_GAP_MS', 0, 3_600_000).default(defaultPacingConfig.minGapMs + defaultPacingConfig.jitterMs),
  ZAPFLEET_PACING_DAILY_NEW_CONTACTS: integerText('ZAPFLEET_PACING_DAILY_NEW_CONTACTS', 0, 1_000_000).default(defaultPacingConfig.firstContactsPerDay),
  /** How long sent and received messages are kept in the message store (days). */
  ZAPFLEET_MESSAGE_RETENTION_DAYS: integerText('ZAPFLEET_MESSAGE_RETENTION_DAYS', 1, 3650).default(messageRetentionSeconds / 86_400),
}).superRefine((config, context) => {
  if (config.ZAPFLEET_PACING_MAX_GAP_MS < config.ZAPFLEET_PACING_MIN_GAP_MS) {
    context.addIssue({ code: 'custom', path: ['ZAPFLEET_PACING_MAX_GAP_MS'], message: 'ZAPFLEET_PACING_MAX_GAP_MS must not be less than ZAPFLEET_PACING_MIN_GAP_MS' });
  }
});

export interface EmbeddedConfig {
  port: number;
  host: string;
  dataDir: string;
  adminKey: string | null;
  driver: 'baileys' | 'sandbox';
  /** Sandbox mode: how long the simulated phone waits before scanning a shown QR. */
  sandboxScanMs: number;
  allowPrivateTargets: boolean;
  allowLoopbackTargets: boolean;
  corsOrigins: string[];
  defaultInstanceQuota: number;
  rateLimits: { global: number; create: number; ip: number; admin: number };
  logLevel: 'info' | 'warn' | 'error' | 'silent';
  /** Use this DynamoDB instead of starting DynamoDB Local (tests share one). */
  dynamodbEndpoint: string | null;
  dynamodbPort: number;
  tableName: string;
  /** Anti-ban pacing of the in-process runner; the gap is `minGapMs` plus a random share of `jitterMs`. */
  pacing: Pick<PacingConfig, 'enabled' | 'minGapMs' | 'jitterMs' | 'firstContactsPerDay'>;
  messageRetentionSeconds: number;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Reads the environment; throws `ConfigError` naming every bad variable. */
export const loadEmbeddedConfig = (env: Readonly<Record<string, string | undefined>>): EmbeddedConfig => {
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = EmbeddedConfigSchema.safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(`Invalid configuration:\n${parsed.error.issues.map((issue) => `- ${String(issue.path[0])}: ${issue.message}`).join('\n')}`);
  }
  const c = parsed.data;
  return {
    port: c.PORT,
    host: c.HOST,
    dataDir: resolve(c.ZAPFLEET_DATA_DIR),
    adminKey: c.ZAPFLEET_ADMIN_KEY ?? null,
    driver: c.ZAPFLEET_DRIVER,
    sandboxScanMs: c.ZAPFLEET_SANDBOX_SCAN_MS,
    allowPrivateTargets: c.ZAPFLEET_ALLOW_PRIVATE_TARGETS,
    allowLoopbackTargets: c.ZAPFLEET_ALLOW_LOOPBACK_TARGETS,
    corsOrigins: c.ZAPFLEET_CORS_ORIGINS.split(',').map((origin) => origin.trim()).filter(Boolean),
    defaultInstanceQuota: c.ZAPFLEET_DEFAULT_INSTANCE_QUOTA,
    rateLimits: { global: c.ZAPFLEET_RATE_LIMIT_GLOBAL, create: c.ZAPFLEET_RATE_LIMIT_CREATE, ip: c.ZAPFLEET_RATE_LIMIT_IP, admin: c.ZAPFLEET_RATE_LIMIT_ADMIN },
    logLevel: c.ZAPFLEET_LOG_LEVEL,
    dynamodbEndpoint: c.ZAPFLEET_DYNAMODB_ENDPOINT ?? null,
    dynamodbPort: c.ZAPFLEET_DYNAMODB_PORT,
    tableName: c.ZAPFLEET_TABLE_NAME,
    pacing: {
      // The sandbox bans nobody: no gaps or daily cap there unless asked for.
      enabled: c.ZAPFLEET_PACING_ENABLED ?? c.ZAPFLEET_DRIVER !== 'sandbox',
      minGapMs: c.ZAPFLEET_PACING_MIN_GAP_MS,
      jitterMs: c.ZAPFLEET_PACING_MAX_GAP_MS - c.ZAPFLEET_PACING_MIN_GAP_MS,
      firstContactsPerDay: c.ZAPFLEET_PACING_DAILY_NEW_CONTACTS,
    },
    messageRetentionSeconds: c.ZAPFLEET_MESSAGE_RETENTION_DAYS * 86_400,
  };
};
