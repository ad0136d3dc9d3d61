import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { rename, writeFile } from 'node:fs/promises';
import type { DynamoContext } from '../../shared/adapters/dynamodb/document-client.ts';
import { keys } from '../../shared/adapters/dynamodb/table.ts';
import type { Logger } from '../../shared/domain/ports/runtime.port.ts';

/**
 * The container health check of the runner (it has no HTTP server). Every `intervalMs` the runner
 * reads its own heartbeat item, which the lease manager rewrites every ~10 s with a ~30 s expiry;
 * while that item is live, the event loop, the lease loop and DynamoDB all work, and the runner
 * touches a file. The check (`healthCheckCommand`) only asks whether the file is fresh, so it costs
 * no AWS call and no credentials. A runner that loses DynamoDB goes unhealthy within about a
 * minute; ECS replaces it, and a deployment whose tasks never get healthy trips the circuit breaker.
 */
export const defaultHealthFile = '/tmp/zapfleet-runner.health';

/** The file counts as fresh for this long: four probes, so one slow read never fails the check. */
export const healthFileMaxAgeMs = 60_000;

/** The container health check (ECS task definition and the Dockerfile's HEALTHCHECK say the same). */
export const healthCheckCommand = (file = defaultHealthFile, maxAgeMs = healthFileMaxAgeMs): string[] => [
  'CMD',
  'node',
  '-e',
  `const fs=require('node:fs');try{process.exit(Date.now()-fs.statSync(${JSON.stringify(file)}).mtimeMs<${maxAgeMs}?0:1)}catch{process.exit(1)}`,
];

export interface HealthFileOptions {
  dynamo: DynamoContext;
  runnerId: string;
  logger: Logger;
  file?: string;
  intervalMs?: number;
  now?: () => number;
}

/** Whether the runner's heartbeat item is live at `now`. */
export const heartbeatIsLive = async (dynamo: DynamoContext, runnerId: string, now: number): Promise<boolean> => {
  const out = await dynamo.doc.send(new GetCommand({ TableName: dynamo.tableName, Key: keys.runner(runnerId), ConsistentRead: true }));
  const expiresAt = out.Item?.expiresAt;
  return typeof expiresAt === 'number' && expiresAt > now;
};

/** Starts probing at once, then every `intervalMs`; `stop()` ends it (the file then goes stale). */
export const startHealthFile = (options: HealthFileOptions): { probe(): Promise<boolean>; stop(): void } => {
  const file = options.file ?? defaultHealthFile;
  const now = options.now ?? Date.now;
  let stopped = false;
  let lastHealthy: boolean | null = null;
  let inFlight: Promise<boolean> | null = null;
  const probeOnce = async (): Promise<boolean> => {
    let healthy = false;
    try {
      healthy = await heartbeatIsLive(options.dynamo, options.runnerId, now());
      if (healthy && !stopped) {
        // Written aside, then renamed: the check never reads a half-written file.
        await writeFile(`${file}.tmp`, new Date(now()).toISOString());
        await rename(`${file}.tmp`, file);
      }
    } catch (error) {
      options.logger.warn('health probe failed', { error: String(error) });
      healthy = false;
    }
    if (healthy !== lastHealthy) {
      if (!healthy) options.logger.warn('runner unhealthy: its heartbeat item is missing or expired', { runnerId: options.runnerId });
      lastHealthy = healthy;
    }
    return healthy;
  };
  /** One probe at a time: two would race on the temporary file. */
  const probe = (): Promise<boolean> =>
    (inFlight ??= probeOnce().finally(() => {
      inFlight = null;
    }));
  const timer = setInterval(() => void probe(), options.intervalMs ?? 15_000);
  timer.unref();
  void probe();
  return {
    probe,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
};
