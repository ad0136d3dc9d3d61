import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLeaseStore } from '../../../session-runner/leases/lease-store.dynamodb.ts';
import { healthCheckCommand, startHealthFile } from '../../../session-runner/health/health-file.ts';
import { documentClient, type DynamoContext } from '../../../shared/adapters/dynamodb/document-client.ts';
import { ensureTable } from '../../../shared/adapters/dynamodb/table.ts';
import { createLogger } from '../../../shared/observability/logger.ts';

const run = promisify(execFile);

/** Runs the container health check the way ECS does; resolves to its exit code. */
const healthCheck = async (file: string): Promise<number> => {
  const [, binary, ...args] = healthCheckCommand(file);
  try {
    await run(binary === 'node' ? process.execPath : (binary as string), args);
    return 0;
  } catch (error) {
    return (error as { code?: number }).code ?? -1;
  }
};

describe('runner health file', () => {
  let client: DynamoDBClient;
  let dynamo: DynamoContext;
  let dir: string;
  const logger = createLogger({ level: 'silent' });

  beforeAll(async () => {
    client = new DynamoDBClient({ endpoint: inject('dynamodbEndpoint'), region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const tableName = `health-${randomUUID()}`;
    await ensureTable(client, tableName);
    dynamo = { doc: documentClient(client), tableName };
    dir = await mkdtemp(join(tmpdir(), 'zapfleet-health-'));
  });

  afterAll(async () => {
    client?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes the container check while the runner heartbeat is live', async () => {
    // Prepare
    const runnerId = `runner-${randomUUID()}`;
    const file = join(dir, `${runnerId}.health`);
    await createLeaseStore(dynamo).heartbeat(runnerId, 30_000, Date.now());

    // Act
    const health = startHealthFile({ dynamo, runnerId, logger, file, intervalMs: 60_000 });
    const healthy = await health.probe();
    health.stop();

    // Assess
    expect(healthy).toBe(true);
    expect((await stat(file)).isFile()).toBe(true);
    expect(await healthCheck(file)).toBe(0);
  });

  it('fails the container check when the heartbeat expired, and when the file went stale', async () => {
    // Prepare: a heartbeat that expired a second ago, and a file last touched two minutes ago.
    const runnerId = `runner-${randomUUID()}`;
    const file = join(dir, `${runnerId}.health`);
    await createLeaseStore(dynamo).heartbeat(runnerId, 30_000, Date.now() - 31_000);

    // Act
    const health = startHealthFile({ dynamo, runnerId, logger, file, intervalMs: 60_000 });
    const healthy = await health.probe();
    health.stop();
    const withoutFile = await healthCheck(file);
    const old = new Date(Date.now() - 120_000);
    await writeFile(file, old.toISOString());
    await utimes(file, old, old);
    const withStaleFile = await healthCheck(file);

    // Assess
    expect(healthy).toBe(false);
    expect(withoutFile).toBe(1);
    expect(withStaleFile).toBe(1);
  });

  it('reports unhealthy, without throwing, when DynamoDB cannot be reached', async () => {
    // Prepare
    const unreachable = new DynamoDBClient({ endpoint: 'http://127.0.0.1:9', region: 'local', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    const file = join(dir, 'unreachable.health');

    // Act
    const health = startHealthFile({ dynamo: { doc: documentClient(unreachable), tableName: dynamo.tableName }, runnerId: 'runner-x', logger, file, intervalMs: 60_000 });
    const healthy = await health.probe();
    health.stop();
    unreachable.destroy();

    // Assess
    expect(healthy).toBe(false);
    expect(await healthCheck(file)).toBe(1);
  });
});
