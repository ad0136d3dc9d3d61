import { signatureHeader, type AttemptOutcome, type WebhookRequest, type WebhookSender } from '../../domain/events/delivery.ts';
import type { OutboundTargetPolicy } from '../../domain/ports/outbound-target.port.ts';

export const webhookTimeoutMs = 10_000;

export interface WebhookSenderOptions {
  outbound: OutboundTargetPolicy;
  /** Connection plus response (spec §3.4: 10 s). */
  timeoutMs?: number;
  /** Tests inject a fetch; by default the global `fetch`. */
  fetch?: typeof fetch;
  /**
   * Another transport instead of `fetch`: the embedded stack uses undici's `request` (./undici-post.ts,
   * a fraction of fetch's CPU per attempt); Lambda bundles keep the global fetch, which costs no import.
   */
  post?: WebhookPost;
  now?: () => Date;
}

/** POSTs without following redirects and answers the status; the body is ignored and the connection released. */
export type WebhookPost = (url: string, init: { headers: Record<string, string>; body: string; signal: AbortSignal }) => Promise<number>;

const fetchPost =
  (fetcher: typeof fetch): WebhookPost =>
  async (url, init) => {
    const response = await fetcher(url, { method: 'POST', ...init, redirect: 'manual' });
    await response.body?.cancel().catch(() => undefined);
    return response.status;
  };

/**
 * One HTTP attempt of a webhook delivery (spec §3.4): POST of the envelope with the contract's
 * headers, no redirects, a 10 s timeout, any 2xx delivered. The destination is checked against
 * the outbound policy again at send time (DNS may have changed since the webhook was saved).
 */
export const createWebhookSender = (options: WebhookSenderOptions): WebhookSender => {
  const timeoutMs = options.timeoutMs ?? webhookTimeoutMs;
  const post = options.post ?? fetchPost(options.fetch ?? fetch);
  const now = options.now ?? (() => new Date());
  return {
    async send(request: WebhookRequest): Promise<AttemptOutcome> {
      const started = Date.now();
      const failed = (error: string, statusCode: number | null = null): AttemptOutcome => ({
        delivered: false,
        statusCode,
        error,
        latencyMs: Date.now() - started,
      });
      const verdict = await options.outbound.check(request.url);
      if (!verdict.allowed) return failed('destination address not allowed');
      const headers: Record<string, string> = {
        'Content-Type': 'application/json',
        'User-Agent': 'zapfleet-webhook/1',
        'X-Zapfleet-Event': request.event,
        'X-Zapfleet-Event-Id': request.eventId,
        'X-Zapfleet-Attempt': String(request.attempt),
      };
      if (request.authorization !== null) headers.Authorization = request.authorization;
      if (request.secret !== null) headers['X-Zapfleet-Signature'] = signatureHeader(request.secret, request.body, Math.floor(now().getTime() / 1000));
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), timeoutMs);
      try {
        const status = await post(request.url, { headers, body: request.body, signal: controller.signal });
        const latencyMs = Date.now() - started;
        if (status >= 200 && status < 300) return { delivered: true, statusCode: status, error: null, latencyMs };
        return { delivered: false, statusCode: status, error: `HTTP ${status}`, latencyMs };
      } catch (error) {
        if (controller.signal.aborted) return failed(`timeout after ${Math.round(timeoutMs / 1000)}s`);
        return failed(networkError(error));
      } finally {
        clearTimeout(timer);
      }
    },
  };
};

const networkError = (error: unknown): string => {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if (cause?.code) return `network error: ${cause.code}`;
  if (cause?.message) return `network error: ${cause.message}`;
  // undici's `request` throws the socket error itself.
  const code = (error as { code?: string }).code;
  if (code) return `network error: ${code}`;
  return `network error: ${error instanceof Error ? error.message : String(error)}`;
};
