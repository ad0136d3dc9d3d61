import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { lambdaEntries } from '../../infra/bundling.ts';
import { buildTestApp, type BuiltApp, type CfnResource } from './app.ts';

describe('Lambda bundling', () => {
  let app: BuiltApp;
  let template: Template;

  // Real bundling of the one function of the WebSocket stack, by the local esbuild (no Docker here).
  beforeAll(() => {
    app = buildTestApp({ 'aws:cdk:bundling-stacks': ['Zapfleet-dev-WebSocket'] });
    template = app.template(app.webSocket);
  }, 120_000);

  it('lists an existing entry file for every function', () => {
    for (const [name, file] of Object.entries(lambdaEntries)) expect(existsSync(file), name).toBe(true);
  });

  it('bundles a function into an ESM file that exports its handler', async () => {
    // Prepare
    const [fn] = Object.values(template.findResources('AWS::Lambda::Function')) as CfnResource[];
    const assetHash = ((fn?.Properties.Code as { S3Key: string }).S3Key).replace(/\.zip$/, '');

    // Act
    const bundle = join(app.app.outdir, `asset.${assetHash}`, 'index.mjs');
    const loaded = (await import(pathToFileURL(bundle).href)) as { handler?: unknown };

    // Assess
    expect(fn?.Properties.Handler).toBe('index.handler');
    expect(typeof loaded.handler).toBe('function');
    expect(existsSync(`${bundle}.map`)).toBe(true);
  });
});
