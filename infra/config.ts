import { Duration } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Node } from 'constructs';
import { defaultPacingConfig } from '../shared/domain/messages/pacing.ts';
import type { FleetSettings } from './stacks/fleet-stack.ts';

/**
 * Typed per-stage configuration, chosen with `-c stage=<name>` (default `dev`). Nothing here is
 * account- or Region-specific: the environment comes from the CLI (`CDK_DEFAULT_ACCOUNT/REGION`).
 *
 * A few values may be overridden per deploy with context, so operators never edit this file for
 * them: `-c alarmEmail=ops@example.com`, `-c corsOrigins=https://a.example,https://b.example`,
 * `-c baseUrl=https://api.example.com` (a custom domain in front of the REST API) and
 * `-c tokenPepperCiphertext=<base64>` (keep the token pepper of an earlier deployment, see
 * stateful-stack.ts) and `-c waVersion=2.3000.1023456789` (the WhatsApp Web version the runners
 * announce, after a close code 405 alarm).
 */

/** A token bucket: `rateLimit` requests/s refill, `burstLimit` the bucket size (AWS-NOTES §1). */
export interface Throttle {
  rateLimit: number;
  burstLimit: number;
}

/**
 * One usage plan. An account is metered by the first tier (in the order given) whose
 * `maxRatePerMinute` covers its own per-minute `global` limit; `null` takes every account left.
 *
 * Every account of a tier shares the tier's API key (API keys are capped at 10,000 per account and
 * Region, ARCHITECTURE §1; per-account keys would be created by the admin use case, which does not
 * do so yet), so a plan's throttle and quota are the whole tier's aggregate: a platform-level
 * shield against floods and runaway cost, never a per-account limit. Per-account limits are the
 * exact per-token minute windows in DynamoDB; the plans sit well above them, and every burst is at
 * least a tier account's per-minute allowance, so a client within its window never meets them.
 */
export interface UsagePlanTier {
  name: string;
  maxRatePerMinute: number | null;
  throttle: Throttle;
  /** Requests per calendar month per key. */
  monthlyQuota: number;
  /** Method-level throttles within the plan (≤ 20 entries per stage and plan). */
  methods: { send: Throttle; createInstance: Throttle };
}

export interface StageConfig {
  stage: string;
  /** Deletion protection, retained data, longer logs. */
  production: boolean;
  /**
   * Shard FIFO queues (ARCHITECTURE §4, `shard = hash(instanceId) mod N`). Changing it moves
   * instances between shards: only on an empty fleet, never on a live deployment.
   */
  shardCount: number;
  usagePlans: UsagePlanTier[];
  /** Stage-wide defaults for every method, then the send routes (so bulk sends cannot starve reads). */
  stageThrottle: Throttle;
  sendThrottle: Throttle;
  /** Allowed browser origins (`ZAPFLEET_CORS_ORIGINS`); empty: no CORS. */
  corsOrigins: string[];
  logRetention: RetentionDays;
  /** SNS subscription for alarms; optional (the topic exists regardless). */
  alarmEmail?: string;
  /** `<BASE_URL>` of event envelopes; default: the REST API's stage URL. */
  baseUrl?: string;
  /** Set to keep the pepper of an earlier deployment (tokens stay valid); otherwise one is generated. */
  tokenPepperCiphertext?: string;
  /** Upper bound of concurrent dispatcher invocations (2–1000, AWS-NOTES §3). */
  dispatcherMaxConcurrency: number;
  /** Per-invocation budget of the dispatcher (webhook attempts time out after 10 s). */
  dispatcherTimeout: Duration;
  /** How long sent and received messages stay in the message store (days, 1–3650; `ZAPFLEET_MESSAGE_RETENTION_DAYS`). */
  messageRetentionDays: number;
  /** Application defaults passed to the functions (functions/aws.ts). */
  app: { defaultInstanceQuota: number; rateLimits: { global: number; create: number; ip: number; admin: number } };
  /** The session-runner fleet (infra/stacks/fleet-stack.ts); its logs keep `logRetention`. */
  fleet: StageFleetSettings;
}

/** Fleet sizing and networking per stage; log retention comes from the stage's `logRetention`. */
export type StageFleetSettings = Omit<FleetSettings, 'logRetention'>;

/** The anti-ban pacing defaults of the runner (shared/domain/messages/pacing.ts), spelt out per stage. */
const defaultPacing = {
  enabled: defaultPacingConfig.enabled,
  minGapMs: defaultPacingConfig.minGapMs,
  maxGapMs: defaultPacingConfig.minGapMs + defaultPacingConfig.jitterMs,
  dailyNewContacts: defaultPacingConfig.firstContactsPerDay,
};

const tiers = (scale: number): UsagePlanTier[] => [
  {
    name: 'standard',
    maxRatePerMinute: 100,
    throttle: { rateLimit: 100 * scale, burstLimit: 200 * scale },
    monthlyQuota: 100_000_000 * scale,
    methods: { send: { rateLimit: 50 * scale, burstLimit: 100 * scale }, createInstance: { rateLimit: 5 * scale, burstLimit: 20 * scale } },
  },
  {
    name: 'business',
    maxRatePerMinute: 1_000,
    throttle: { rateLimit: 300 * scale, burstLimit: 1_000 * scale },
    monthlyQuota: 500_000_000 * scale,
    methods: { send: { rateLimit: 150 * scale, burstLimit: 1_000 * scale }, createInstance: { rateLimit: 10 * scale, burstLimit: 40 * scale } },
  },
  {
    name: 'enterprise',
    maxRatePerMinute: null,
    throttle: { rateLimit: 1_000 * scale, burstLimit: 2_000 * scale },
    monthlyQuota: 2_000_000_000 * scale,
    methods: { send: { rateLimit: 500 * scale, burstLimit: 2_000 * scale }, createInstance: { rateLimit: 20 * scale, burstLimit: 80 * scale } },
  },
];

const appDefaults: StageConfig['app'] = { defaultInstanceQuota: 10, rateLimits: { global: 100, create: 20, ip: 100, admin: 100 } };

export const stages: Record<string, StageConfig> = {
  dev: {
    stage: 'dev',
    production: false,
    // Few shards keep an idle dev fleet's long polls cheap; the architecture's AWS default is 64.
    shardCount: 4,
    usagePlans: tiers(1),
    stageThrottle: { rateLimit: 100, burstLimit: 200 },
    sendThrottle: { rateLimit: 50, burstLimit: 100 },
    corsOrigins: [],
    logRetention: RetentionDays.ONE_WEEK,
    dispatcherMaxConcurrency: 5,
    dispatcherTimeout: Duration.seconds(60),
    messageRetentionDays: 30,
    app: appDefaults,
    fleet: {
      // The smallest useful runner: one task, 0.5 vCPU / 1 GiB, public subnets (no NAT to pay for).
      cpu: 512,
      memoryMiB: 1024,
      minRunners: 1,
      maxRunners: 2,
      sessionsPerRunner: 200,
      commandLagScaleOutMs: 30_000,
      cpuArchitecture: 'arm64',
      natGateways: 0,
      maxAzs: 2,
      logLevel: 'info',
      pacing: defaultPacing,
    },
  },
  prod: {
    stage: 'prod',
    production: true,
    shardCount: 64,
    usagePlans: tiers(2),
    // Below the account's 10,000 RPS (shared with WebSocket callbacks, AWS-NOTES §1).
    stageThrottle: { rateLimit: 2_000, burstLimit: 4_000 },
    sendThrottle: { rateLimit: 1_000, burstLimit: 2_000 },
    corsOrigins: [],
    logRetention: RetentionDays.THREE_MONTHS,
    dispatcherMaxConcurrency: 50,
    dispatcherTimeout: Duration.seconds(60),
    messageRetentionDays: 30,
    app: appDefaults,
    fleet: {
      // Two runners at least, so a task replacement never takes every session down at once.
      cpu: 1024,
      memoryMiB: 2048,
      minRunners: 2,
      maxRunners: 16,
      sessionsPerRunner: 500,
      commandLagScaleOutMs: 30_000,
      cpuArchitecture: 'arm64',
      // Public subnets with a public IP per task and no inbound rule (AWS-NOTES §7): set 1–3 for
      // private subnets behind NAT (one per AZ for AZ-independent egress).
      natGateways: 0,
      maxAzs: 3,
      logLevel: 'info',
      pacing: defaultPacing,
    },
  },
};

const contextString = (node: Node, key: string): string | undefined => {
  const value: unknown = node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`context ${key} must be a string`);
  return value;
};

/** Checks what AWS would otherwise reject at deploy time, so synthesis fails first. */
export const validateStageConfig = (config: StageConfig): StageConfig => {
  if (!/^[a-z][a-z0-9-]{0,19}$/.test(config.stage)) throw new Error(`stage name ${config.stage} must be lower-case alphanumeric (≤ 20)`);
  if (!Number.isInteger(config.shardCount) || config.shardCount < 1 || config.shardCount > 256) throw new Error('shardCount must be 1–256');
  if (config.usagePlans.length === 0) throw new Error('at least one usage plan tier is needed');
  if (config.usagePlans.at(-1)?.maxRatePerMinute !== null) throw new Error('the last usage plan tier must take every account (maxRatePerMinute: null)');
  if (config.dispatcherMaxConcurrency < 2 || config.dispatcherMaxConcurrency > 1000) throw new Error('dispatcherMaxConcurrency must be 2–1000');
  for (const origin of config.corsOrigins) if (origin !== '*' && !/^https?:\/\/[^/\s,]+$/.test(origin)) throw new Error(`CORS origin ${origin} is not an origin`);
  if (!isWhole(config.messageRetentionDays, 1, 3650)) throw new Error('messageRetentionDays must be 1–3650');
  validateFleetSettings(config.fleet, config.shardCount);
  return config;
};

/** Valid Fargate task sizes (Linux): vCPU units → allowed memory in MiB (AWS Fargate task size table). */
const fargateMemoryOptions = (cpu: number): number[] => {
  const gib = (from: number, to: number, step: number) => Array.from({ length: Math.floor((to - from) / step) + 1 }, (_, i) => (from + i * step) * 1024);
  switch (cpu) {
    case 256:
      return [512, 1024, 2048];
    case 512:
      return gib(1, 4, 1);
    case 1024:
      return gib(2, 8, 1);
    case 2048:
      return gib(4, 16, 1);
    case 4096:
      return gib(8, 30, 1);
    case 8192:
      return gib(16, 60, 4);
    case 16384:
      return gib(32, 120, 8);
    default:
      return [];
  }
};

const isWhole = (value: number, min: number, max: number) => Number.isInteger(value) && value >= min && value <= max;

/** The fleet part of a stage: what ECS, EC2 or the runner's own config schema (session-runner/main.ts) would refuse. */
export const validateFleetSettings = (fleet: StageFleetSettings, shardCount: number): StageFleetSettings => {
  if (!fargateMemoryOptions(fleet.cpu).includes(fleet.memoryMiB)) throw new Error(`fleet cpu ${fleet.cpu} / memoryMiB ${fleet.memoryMiB} is not a Fargate task size`);
  if (!isWhole(fleet.minRunners, 1, shardCount)) throw new Error(`fleet minRunners must be 1–${shardCount} (a runner beyond the shard count holds no shard)`);
  if (!isWhole(fleet.maxRunners, fleet.minRunners, shardCount)) throw new Error(`fleet maxRunners must be minRunners–${shardCount}`);
  if (!isWhole(fleet.sessionsPerRunner, 1, 100_000)) throw new Error('fleet sessionsPerRunner must be a positive whole number');
  if (!isWhole(fleet.commandLagScaleOutMs, 1_000, 3_600_000)) throw new Error('fleet commandLagScaleOutMs must be 1000–3600000');
  if (!isWhole(fleet.maxAzs, 1, 6)) throw new Error('fleet maxAzs must be 1–6');
  if (!isWhole(fleet.natGateways, 0, fleet.maxAzs)) throw new Error('fleet natGateways must be 0–maxAzs');
  if (fleet.waVersion !== undefined && !/^\d+\.\d+\.\d+$/.test(fleet.waVersion)) throw new Error('fleet waVersion must be major.minor.patch');
  if (fleet.pacing) {
    const { minGapMs, maxGapMs, dailyNewContacts } = fleet.pacing;
    if (!isWhole(minGapMs, 0, 3_600_000) || !isWhole(maxGapMs, 0, 3_600_000)) throw new Error('fleet pacing gaps must be 0–3600000 ms');
    if (maxGapMs < minGapMs) throw new Error('fleet pacing maxGapMs must not be less than minGapMs');
    if (!isWhole(dailyNewContacts, 0, 1_000_000)) throw new Error('fleet pacing dailyNewContacts must be 0–1000000');
  }
  return fleet;
};

/** The configuration of `-c stage=<name>` (default `dev`) with the context overrides applied. */
export const stageConfigFrom = (node: Node): StageConfig => {
  const name = contextString(node, 'stage') ?? 'dev';
  const base = stages[name];
  if (!base) throw new Error(`unknown stage ${name}; known: ${Object.keys(stages).join(', ')}`);
  const cors = contextString(node, 'corsOrigins');
  const alarmEmail = contextString(node, 'alarmEmail');
  const baseUrl = contextString(node, 'baseUrl');
  const tokenPepperCiphertext = contextString(node, 'tokenPepperCiphertext');
  const waVersion = contextString(node, 'waVersion');
  return validateStageConfig({
    ...base,
    ...(cors !== undefined ? { corsOrigins: cors.split(',').map((origin) => origin.trim()).filter(Boolean) } : {}),
    ...(alarmEmail ? { alarmEmail } : {}),
    ...(baseUrl ? { baseUrl } : {}),
    ...(tokenPepperCiphertext ? { tokenPepperCiphertext } : {}),
    ...(waVersion ? { fleet: { ...base.fleet, waVersion } } : {}),
  });
};
