import { createWebhookSender } from '../../shared/adapters/http/webhook-sender.ts';
import type { WebhookSender } from '../../shared/domain/events/delivery.ts';
import type { OutboundTargetPolicy } from '../../shared/domain/ports/outbound-target.port.ts';
import type { Clock } from '../../shared/domain/ports/runtime.port.ts';
import { createEmfMetrics, defaultMetricsNamespace, metricServices, withWebhookMetrics, type Metrics } from '../../shared/observability/metrics.emf.ts';

/**
 * The webhook attempts' metrics of the functions that make them (dispatcher, retry sweep): service
 * `dispatcher`, in the stage's namespace (`ZAPFLEET_METRICS_NAMESPACE`, set by infra), as EMF lines
 * the dashboard's webhook graphs read. The caller flushes after every invocation, since a Lambda
 * is frozen once its handler returns.
 */
export const webhookMetrics = (
  deps: { outbound: OutboundTargetPolicy; clock: Clock },
  options: { env?: NodeJS.ProcessEnv; write?: (line: string) => void; sender?: WebhookSender } = {},
): { metrics: Metrics; sender: WebhookSender } => {
  const env = options.env ?? process.env;
  const metrics = createEmfMetrics({ namespace: env.ZAPFLEET_METRICS_NAMESPACE || defaultMetricsNamespace, service: metricServices.dispatcher, ...(options.write ? { write: options.write } : {}) });
  const sender = withWebhookMetrics(options.sender ?? createWebhookSender({ outbound: deps.outbound, now: () => deps.clock.now() }), metrics);
  return { metrics, sender };
};
