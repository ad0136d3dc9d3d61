/**
 * Decides whether zapfleet may open a connection to a customer-supplied URL
 * (webhooks, Chatwoot base URLs, custom S3 endpoints, media by URL).
 */
export interface OutboundTargetPolicy {
  /** Resolves the URL's host and returns `{ allowed: false, reason }` for forbidden addresses. */
  check(url: string): Promise<OutboundVerdict>;
}

export type OutboundVerdict = { allowed: true } | { allowed: false; reason: string };
