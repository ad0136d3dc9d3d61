import { fileURLToPath } from 'node:url';
import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';

/**
 * The single source of the Lambda entry points and how they are bundled. `infra/stacks/*` build
 * one `NodejsFunction` per entry with these options; the bundle-size benchmark imports the same
 * two exports, so what it measures is what is deployed. Keep the names stable.
 *
 * Each entry (functions/entries/*.ts) imports only its own route group, so esbuild's tree
 * shaking leaves the other groups (and the session runner, Baileys included) out of its bundle.
 */
const entry = (file: string) => fileURLToPath(new URL(`../functions/entries/${file}`, import.meta.url));

/** The slim `z` the bundles get in place of zod's full namespace (see that file). */
export const zodSlim = entry('zod-slim.ts');

/** Route group (function) name → absolute path of its entry file, which exports `handler`. */
export const lambdaEntries = {
  /** Lambda REQUEST authorizer of the REST API. */
  authorizer: entry('authorizer.ts'),
  /** `/api/instance/*` (incl. metrics). */
  instance: entry('instance.ts'),
  /** `/api/events/*` (webhook and websocket configuration, deliveries, replay). */
  events: entry('events.ts'),
  /** `/api/message/*` (the 13 send routes). */
  message: entry('message.ts'),
  /** `/admin/*` (IAM-authorised). */
  admin: entry('admin.ts'),
  /** `GET /health`. */
  health: entry('health.ts'),
  /** The WebSocket API's `$connect`, `$disconnect` and `$default` routes. */
  websocket: entry('websocket.ts'),
  /** The events queue consumer (webhooks + WebSocket push). */
  dispatcher: entry('dispatcher.ts'),
  /** Scheduled sweep of due webhook retries and replays. */
  retrySweep: entry('retry-sweep.ts'),
} as const;

export type LambdaName = keyof typeof lambdaEntries;

/**
 * Pinned explicitly: `Runtime.NODEJS_LATEST` would silently move to a new major on a CDK upgrade
 * (AWS-NOTES §3). Node.js 24 only drops callback-style handlers; every handler here is async.
 */
export const lambdaRuntime = Runtime.NODEJS_24_X;

/**
 * esbuild options (bundled on the host by the local `esbuild@0`; no Docker, AWS-NOTES §10).
 *
 * - ESM output (`index.mjs`): the code base is ESM-only. The banner gives bundled CommonJS
 *   dependencies that call `require` a working one.
 * - The AWS SDK v3 is bundled (`bundleAwsSDK`), tree-shaken and minified, instead of importing the
 *   copy the Lambda runtime ships: measured with `npm run bench:bundles`, a bundled function imports
 *   in about half the CPU time (BENCHMARKS.md "Bundles"), and the SDK version is the one tested.
 * - `zod` is aliased to functions/entries/zod-slim.ts: the same zod, without the ~270 KiB of
 *   locales and JSON Schema converters its `z` namespace drags into every bundle.
 * - Minified with source maps; `NODE_OPTIONS=--enable-source-maps` is set per function.
 */
export const bundlingOptions: BundlingOptions = {
  format: OutputFormat.ESM,
  target: 'node24',
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  mainFields: ['module', 'main'],
  bundleAwsSDK: true,
  externalModules: [],
  banner: "import { createRequire as __zfCreateRequire } from 'node:module'; const require = __zfCreateRequire(import.meta.url);",
  esbuildArgs: { '--alias:zod': zodSlim },
  forceDockerBundling: false,
};
