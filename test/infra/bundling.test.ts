import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Template } from 'aws-cdk-lib/assertions';
import { beforeAll, describe, expect, it } from 'vitest';
import { z as slimZ } from '../../functions/entries/zod-slim.ts';
import { bundlingOptions, lambdaEntries, zodSlim } from '../../infra/bundling.ts';

const root = join(import.meta.dirname, '../..');

/** TypeScript sources under `dir`, tests excluded. */
const sourcesUnder = (dir: string): string[] =>
  readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts') && !file.endsWith('.test.ts'))
    .map((file) => join(root, dir, file));

/** `z.<member>` names used only as types (erased before bundling). */
const typeOnlyMembers = new Set(['infer', 'input', 'output', 'core', 'ZodRawShape', 'RefinementCtx', 'ZodError', 'ZodTypeAny']);
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

  it('gives the bundles a slim zod with every z member the functions and shared code call', () => {
    // Prepare: every `z.<member>` in the code a Lambda bundle can contain.
    const used = new Map<string, string>();
    for (const file of [...sourcesUnder('functions'), ...sourcesUnder('shared')]) {
      for (const match of readFileSync(file, 'utf8').matchAll(/\bz\.([A-Za-z_$][\w$]*)/g)) used.set(match[1] as string, relative(root, file));
    }

    // Act
    const missing = [...used].filter(([member]) => !typeOnlyMembers.has(member) && !(member in slimZ));

    // Assess
    expect(bundlingOptions.esbuildArgs).toMatchObject({ '--alias:zod': zodSlim });
    expect(used.size).toBeGreaterThan(5);
    expect(missing).toEqual([]);
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
