import { afterEach, describe, expect, it, vi } from 'vitest';
import type { WebhookRequest } from '../../../shared/domain/events/delivery.ts';
import type { SessionRepository } from '../../../shared/domain/ports/session-repository.port.ts';
import { createEmfMetrics, metricNames, recordCommandMetrics, startRunnerMetrics, withSessionMetrics, withWebhookMetrics } from '../../../shared/observability/metrics.emf.ts';

type EmfDocument = {
  _aws: { Timestamp: number; CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[] };
  [key: string]: unknown;
};

const capture = () => {
  const lines: string[] = [];
  const metrics = createEmfMetrics({ namespace: 'Zapfleet/test', service: 'session-runner', write: (line) => lines.push(line), now: () => 1_700_000_000_000 });
  const documents = () => lines.map((line) => JSON.parse(line) as EmfDocument);
  return { metrics, lines, documents };
};

const ref = { instanceId: 'i-1', accountId: 'a-1', instanceName: 'one' };

describe('EMF metrics', () => {
  it('writes a counter as one EMF document with its namespace, unit and dimensions', () => {
    // Prepare
    const { metrics, documents } = capture();

    // Act
    metrics.count(metricNames.sessionStateChanges, 1, { State: 'connected' });
    metrics.count(metricNames.sessionStateChanges, 2, { State: 'connected' });
    metrics.flush();

    // Assess
    expect(documents()).toEqual([
      {
        _aws: {
          Timestamp: 1_700_000_000_000,
          CloudWatchMetrics: [{ Namespace: 'Zapfleet/test', Dimensions: [['Service', 'State']], Metrics: [{ Name: 'SessionStateChanges', Unit: 'Count' }] }],
        },
        Service: 'session-runner',
        State: 'connected',
        SessionStateChanges: 3,
      },
    ]);
  });

  it('keeps dimension sets apart and writes nothing when nothing was recorded', () => {
    // Prepare
    const { metrics, documents, lines } = capture();
    metrics.flush();
    expect(lines).toHaveLength(0);

    // Act
    metrics.count(metricNames.commands, 1, { Outcome: 'handled' });
    metrics.count(metricNames.commands, 1, { Outcome: 'failed' });
    metrics.flush();
    metrics.flush();

    // Assess
    expect(documents().map((document) => [document.Outcome, document.Commands])).toEqual([
      ['handled', 1],
      ['failed', 1],
    ]);
  });

  it('sends observations as value arrays of at most 100', () => {
    // Prepare
    const { metrics, documents } = capture();

    // Act
    for (let i = 0; i < 150; i += 1) metrics.observe(metricNames.webhookLatency, i, 'Milliseconds');
    metrics.flush();

    // Assess
    const values = documents().map((document) => document.WebhookLatency as number[]);
    expect(values.map((list) => list.length)).toEqual([100, 50]);
    expect(documents()[0]?._aws.CloudWatchMetrics[0]?.Metrics).toEqual([{ Name: 'WebhookLatency', Unit: 'Milliseconds' }]);
  });

  it('counts webhook attempts by outcome and records their latency', async () => {
    // Prepare
    const { metrics, documents } = capture();
    let delivered = true;
    const sender = withWebhookMetrics(
      { send: async () => ({ delivered, statusCode: delivered ? 200 : 500, error: delivered ? null : 'HTTP 500', latencyMs: delivered ? 40 : 90 }) },
      metrics,
    );

    // Act
    await sender.send({} as WebhookRequest);
    delivered = false;
    const outcome = await sender.send({} as WebhookRequest);
    metrics.flush();

    // Assess
    expect(outcome.statusCode).toBe(500);
    const byName = documents().map((document) => ({ outcome: document.Outcome, attempts: document.WebhookAttempts, latency: document.WebhookLatency }));
    expect(byName).toEqual([
      { outcome: 'delivered', attempts: 1, latency: undefined },
      { outcome: undefined, attempts: undefined, latency: [40, 90] },
      { outcome: 'failed', attempts: 1, latency: undefined },
    ]);
  });

  it('counts recorded state changes and automatic reconnects, not changes of deleted instances', async () => {
    // Prepare
    const { metrics, documents } = capture();
    let gone = false;
    const sessions = withSessionMetrics({ recordState: async () => (gone ? undefined : 'disconnected') } as unknown as SessionRepository, metrics);

    // Act
    await sessions.recordState(ref, { state: 'connecting', reason: 'reconnect' });
    await sessions.recordState(ref, { state: 'connecting', reason: 'api_connect' });
    gone = true;
    await sessions.recordState(ref, { state: 'connected', reason: 'connected' });
    metrics.flush();

    // Assess
    expect(documents().map((document) => [document.State ?? null, document.SessionStateChanges ?? document.Reconnects])).toEqual([
      ['connecting', 2],
      [null, 1],
    ]);
  });

  describe('runner gauges', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('writes sessions connected and shards held once a minute, with whatever else was recorded', () => {
      // Prepare
      vi.useFakeTimers();
      const { metrics, documents } = capture();
      let sessions = 3;
      const gauges = startRunnerMetrics(metrics, { sessionsConnected: () => sessions, shardsHeld: () => 2 });
      metrics.count(metricNames.reconnects);

      // Act
      vi.advanceTimersByTime(60_000);
      sessions = 5;
      vi.advanceTimersByTime(60_000);
      gauges.stop();
      vi.advanceTimersByTime(60_000);

      // Assess
      expect(documents().map((document) => [document.SessionsConnected ?? document.ShardsHeld ?? document.Reconnects, Object.keys(document).find((key) => key !== '_aws' && key !== 'Service')])).toEqual([
        [1, 'Reconnects'],
        [[3], 'SessionsConnected'],
        [[2], 'ShardsHeld'],
        [[5], 'SessionsConnected'],
        [[2], 'ShardsHeld'],
      ]);
    });
  });

  describe('recordCommandMetrics (the shard consumer events of the runner)', () => {
    it('counts handled and failed commands by outcome and records their lag from issuedAt', () => {
      // Prepare
      const { metrics, documents } = capture();
      const onEvent = recordCommandMetrics(metrics, () => Date.parse('2026-01-01T00:00:03.000Z'));

      // Act
      onEvent({ type: 'handled', command: { issuedAt: '2026-01-01T00:00:00.000Z' } });
      onEvent({ type: 'handled', command: { issuedAt: '2026-01-01T00:00:02.500Z' } });
      onEvent({ type: 'failed', command: { issuedAt: '2026-01-01T00:00:01.000Z' } });
      onEvent({ type: 'malformed' });
      metrics.flush();

      // Assess
      const byMetric = documents().map((document) => [document._aws.CloudWatchMetrics[0]?.Metrics[0]?.Name, document.Outcome ?? null, document.Commands ?? document.CommandLag]);
      expect(byMetric).toEqual([
        ['Commands', 'handled', 2],
        ['CommandLag', null, [3_000, 500, 2_000]],
        ['Commands', 'failed', 1],
      ]);
    });
  });
});
