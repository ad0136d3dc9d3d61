import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { build, type BuildOptions } from 'esbuild';
import { bundlingOptions, lambdaEntries } from '../infra/bundling.ts';

/**
 * Bundle size and cold import time of every Lambda function (`npm run bench:bundles`).
 *
 * Each entry of infra/bundling.ts is bundled with the esbuild options the stacks give CDK, into
 * dist/bench-bundles/<name>/index.mjs (inside the repository, so the `@aws-sdk/*` externals resolve
 * as the Lambda runtime's own SDK would). Cold import: a fresh `node` process imports the bundle
 * (module evaluation only: handlers build their clients on the first invocation), with the
 * `--enable-source-maps` the functions run with; the median of BENCH_RUNS runs (default 7), in
 * wall and CPU time, once whole (the runtime's SDK packages included, as a cold start pays them)
 * and once for the bundle's own code (SDK packages imported beforehand).
 * Targets (issue 6): ≤ 1 MB and ≤ 150 ms per function; the verdict uses the whole import's CPU
 * time, the figure a busy shared machine distorts least (wall time is printed beside it).
 */

const runs = Number(process.env.BENCH_RUNS ?? 7);
const sizeTarget = 1_000_000;
const importTargetMs = 150;
const outRoot = fileURLToPath(new URL('../dist/bench-bundles/', import.meta.url));

/** CDK's `BundlingOptions` as the equivalent esbuild build options (what `NodejsFunction` passes on the command line). */
const esbuildOptions = (entry: string, outfile: string): BuildOptions => ({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  target: bundlingOptions.target ?? 'node24',
  format: bundlingOptions.format === OutputFormat.ESM ? 'esm' : 'cjs',
  minify: bundlingOptions.minify ?? false,
  sourcemap: bundlingOptions.sourceMap ?? false,
  sourcesContent: bundlingOptions.sourcesContent ?? true,
  ...(bundlingOptions.mainFields ? { mainFields: bundlingOptions.mainFields } : {}),
  external: bundlingOptions.externalModules ?? ['@aws-sdk/*'],
  ...(bundlingOptions.banner ? { banner: { js: bundlingOptions.banner } } : {}),
  ...(bundlingOptions.footer ? { footer: { js: bundlingOptions.footer } } : {}),
  ...(bundlingOptions.define ? { define: bundlingOptions.define } : {}),
  ...(bundlingOptions.keepNames ? { keepNames: true } : {}),
  // `--alias:<package>` of `esbuildArgs` (the slim zod), as CDK passes it to the esbuild CLI.
  alias: Object.fromEntries(
    Object.entries(bundlingOptions.esbuildArgs ?? {})
      .filter(([flag, value]) => flag.startsWith('--alias:') && typeof value === 'string')
      .map(([flag, value]) => [flag.slice('--alias:'.length), value as string]),
  ),
  logLevel: 'error',
});

interface ImportTiming {
  /** Wall-clock milliseconds. */
  wallMs: number;
  /** CPU milliseconds (user + system) of the import: steadier than wall time on a busy machine. */
  cpuMs: number;
}

/**
 * A fresh node process imports the bundle. With `preload`, those packages (the bundle's external
 * `@aws-sdk/*` imports) are imported first and left out of the timing: what remains is the bundle's
 * own code, the part bundling decides.
 */
const coldImport = (file: string, preload: string[] = []): ImportTiming => {
  const script = [
    ...preload.map((specifier) => `await import(${JSON.stringify(specifier)});`),
    'const c = process.cpuUsage(); const t = performance.now();',
    `await import(${JSON.stringify(pathToFileURL(file).href)});`,
    'const w = performance.now() - t; const u = process.cpuUsage(c);',
    'process.stdout.write(JSON.stringify({ wallMs: w, cpuMs: (u.user + u.system) / 1000 }));',
  ].join('\n');
  const out = execFileSync(process.execPath, ['--enable-source-maps', '--input-type=module', '-e', script], {
    cwd: dirname(file),
    env: { PATH: process.env.PATH, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    encoding: 'utf8',
  });
  return JSON.parse(out) as ImportTiming;
};

/** The bare package specifiers the bundle leaves external (e.g. `@aws-sdk/client-dynamodb`). */
const externalImports = (file: string): string[] => [...new Set([...readFileSync(file, 'utf8').matchAll(/from\s*"(@aws-sdk\/[^"]+|@smithy\/[^"]+)"/g)].map((match) => match[1] as string))];

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
};

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

const main = async () => {
  rmSync(outRoot, { recursive: true, force: true });
  const [load1] = loadavg();
  console.log(`node ${process.version}, load average ${load1?.toFixed(2)} at start, ${runs} cold imports per function (median)`);
  console.log(`targets: bundle ≤ ${sizeTarget / 1_000_000} MB, import ≤ ${importTargetMs} ms (CPU time of the whole import)\n`);
  console.log(
    ['function'.padEnd(11), 'bundle'.padStart(10), 'map'.padStart(10), 'import cpu'.padStart(11), 'wall'.padStart(9), 'own cpu'.padStart(9), 'own wall'.padStart(9), '  result'].join(' '),
  );
  let allMet = true;
  for (const [name, entry] of Object.entries(lambdaEntries)) {
    const dir = join(outRoot, name);
    mkdirSync(dir, { recursive: true });
    const outfile = join(dir, bundlingOptions.format === OutputFormat.ESM ? 'index.mjs' : 'index.js');
    await build(esbuildOptions(entry, outfile));
    const size = statSync(outfile).size;
    const mapSize = bundlingOptions.sourceMap ? statSync(`${outfile}.map`).size : 0;
    const externals = externalImports(outfile);
    coldImport(outfile); // warms the OS file cache, as a Lambda's code is on local disk
    const whole = Array.from({ length: runs }, () => coldImport(outfile));
    const own = Array.from({ length: runs }, () => coldImport(outfile, externals));
    const cpuMs = median(whole.map((timing) => timing.cpuMs));
    const met = size <= sizeTarget && cpuMs <= importTargetMs;
    allMet &&= met;
    const ms = (value: number) => `${value.toFixed(1)} ms`.padStart(9);
    console.log(
      [
        name.padEnd(11),
        kib(size).padStart(10),
        kib(mapSize).padStart(10),
        `${cpuMs.toFixed(1)} ms`.padStart(11),
        ms(median(whole.map((timing) => timing.wallMs))),
        ms(median(own.map((timing) => timing.cpuMs))),
        ms(median(own.map((timing) => timing.wallMs))),
        `  ${met ? 'PASS' : 'NOT MET'}`,
      ].join(' '),
    );
  }
  console.log(`\n${allMet ? 'every function meets both targets' : 'some functions miss a target'} (bundles in ${outRoot})`);
};

await main();
