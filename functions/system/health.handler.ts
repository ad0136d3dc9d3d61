import type { APIGatewayProxyResult } from 'aws-lambda';

export type Probe = () => Promise<void>;

const probeTimeoutMs = 2_000;

const settle = async (probe: Probe): Promise<string> => {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${probeTimeoutMs} ms`)), probeTimeoutMs);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `not ready: ${error instanceof Error ? error.message : String(error)}`;
  } finally {
    clearTimeout(timer);
  }
};

/**
 * `GET /health` (spec Z10): no auth, no rate limit, its own body, never cached.
 * Each component's probe runs in parallel with a short timeout.
 */
export const healthHandler = (probes: Record<string, Probe>) => async (): Promise<APIGatewayProxyResult> => {
  const names = Object.keys(probes);
  const states = await Promise.all(names.map((name) => settle(probes[name] as Probe)));
  const components = Object.fromEntries(names.map((name, i) => [name, states[i] as string]));
  const ready = states.every((state) => state === 'ok');
  return {
    statusCode: ready ? 200 : 503,
    headers: { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store' },
    body: JSON.stringify(ready ? { status: 'ok' } : { status: 'unavailable', components }),
  };
};
