import { afterEach, describe, expect, it, vi } from 'vitest';
import { healthHandler, type Probe } from '../../../functions/system/health.handler.ts';

const ready: Probe = async () => {};
const failing =
  (reason: string): Probe =>
  async () => {
    throw new Error(reason);
  };
const hanging: Probe = () => new Promise<void>(() => {});

describe('GET /health', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers 200 {"status":"ok"}, never cached, when every component is ready', async () => {
    // Prepare
    const handler = healthHandler({ store: ready, queue: ready, media: ready, fleet: ready });

    // Act
    const response = await handler();

    // Assess
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ status: 'ok' });
    expect(response.headers).toMatchObject({ 'Cache-Control': 'no-store', 'Content-Type': 'application/json; charset=utf-8' });
    expect(response.headers?.['X-RateLimit-Limit']).toBeUndefined();
  });

  it('answers 503 naming the component that failed', async () => {
    // Prepare
    const handler = healthHandler({ store: ready, queue: ready, media: ready, fleet: failing('no worker capacity') });

    // Act
    const response = await handler();

    // Assess
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toEqual({
      status: 'unavailable',
      components: { store: 'ok', queue: 'ok', media: 'ok', fleet: 'not ready: no worker capacity' },
    });
    expect(response.headers).toMatchObject({ 'Cache-Control': 'no-store' });
  });

  it('answers 503 naming a component that does not answer in time', async () => {
    // Prepare
    vi.useFakeTimers();
    const handler = healthHandler({ store: hanging, queue: ready });

    // Act
    const pending = handler();
    await vi.advanceTimersByTimeAsync(2_000);
    const response = await pending;

    // Assess
    const body = JSON.parse(response.body) as { status: string; components: Record<string, string> };
    expect(response.statusCode).toBe(503);
    expect(body.status).toBe('unavailable');
    expect(body.components.queue).toBe('ok');
    expect(body.components.store).toMatch(/^not ready: .+/);
  });

  it('reports every failing component, even when a probe throws something that is not an Error', async () => {
    // Prepare
    const handler = healthHandler({
      store: failing('table not found'),
      queue: () => Promise.reject('queue missing'),
    });

    // Act
    const response = await handler();

    // Assess
    expect(response.statusCode).toBe(503);
    expect(JSON.parse(response.body)).toEqual({
      status: 'unavailable',
      components: { store: 'not ready: table not found', queue: 'not ready: queue missing' },
    });
  });
});
