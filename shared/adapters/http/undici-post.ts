import { request } from 'undici';
import type { WebhookPost } from './webhook-sender.ts';

/**
 * Webhook POSTs through undici's `request` (no WHATWG streams: a fraction of `fetch`'s CPU per
 * attempt). The embedded stack's transport; Lambda bundles leave undici out and use `fetch`.
 * `request` never follows redirects.
 */
export const undiciPost: WebhookPost = async (url, init) => {
  const response = await request(url, { method: 'POST', ...init });
  await response.body.dump().catch(() => undefined);
  return response.statusCode;
};
