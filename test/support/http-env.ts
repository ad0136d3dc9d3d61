import type { HttpEnv } from '../../shared/http/http-handler.ts';

/** A logger that drops everything. */
export const silentLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** What the shared HTTP handler needs, with fixed ids and no instances (routes that never look one up). */
export const testHttpEnv = {
  instances: {} as HttpEnv['instances'],
  logger: silentLogger,
  cors: { allowedOrigins: [] },
  clock: { now: () => new Date() },
  ids: { uuid: () => '00000000-0000-4000-8000-000000000000', ulid: () => '01JSX2Q7W9R3K5M8N4P6T0V2Y0' },
} satisfies HttpEnv;
