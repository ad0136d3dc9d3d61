import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * `npx cdk synth` as a deployer runs it, with every HTTP(S) request sent to a proxy that does not
 * exist: synthesis (lookups, notices, version checks, bundling) must need no network. Its cdk-nag
 * reports must hold no finding that is neither compliant nor suppressed.
 */

const run = promisify(execFile);
const stackNames = ['Stateful', 'WebSocket', 'Api', 'Events', 'Fleet', 'Observability'].map((part) => `Zapfleet-dev-${part}`);

describe('cdk synth (the CLI, offline)', () => {
  let out: string;
  let files: string[];

  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'zapfleet-synth-'));
    const unreachable = 'http://127.0.0.1:9';
    await run('npx', ['cdk', 'synth', '--no-notices', '--quiet', '-o', out], {
      env: { ...process.env, HTTP_PROXY: unreachable, HTTPS_PROXY: unreachable, http_proxy: unreachable, https_proxy: unreachable, NO_PROXY: '', CDK_DISABLE_VERSION_CHECK: '1' },
      timeout: 240_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    files = await readdir(out);
  }, 300_000);
  afterAll(async () => {
    if (out) await rm(out, { recursive: true, force: true });
  });

  it('writes a template for each of the six stacks of the default stage', () => {
    for (const name of stackNames) expect(files).toContain(`${name}.template.json`);
  });

  it('leaves every cdk-nag AwsSolutions finding compliant or suppressed with a reason', async () => {
    // Act
    const rows: string[][] = [];
    for (const name of stackNames) {
      const csv = await readFile(join(out, `AwsSolutions--${name}-NagReport.csv`), 'utf8');
      for (const line of csv.trim().split('\n').slice(1)) rows.push(line.split('","').map((cell) => cell.replace(/^"|"$/g, '')));
    }

    // Assess
    expect(rows.length).toBeGreaterThan(50);
    expect(rows.filter(([, , compliance]) => compliance !== 'Compliant' && compliance !== 'Suppressed')).toEqual([]);
    for (const [rule, resource, compliance, reason] of rows) if (compliance === 'Suppressed') expect(reason?.length, `${rule} on ${resource}`).toBeGreaterThan(20);
  });
});
