/**
 * Closes open WebSocket streams (spec §3.7) when what admitted them goes away. Implemented by the
 * embedded hub (in process) and, on AWS, by the connection registry with the management API.
 * Best effort: a failure is logged by the caller and never undoes the change that caused it.
 */
export interface StreamControl {
  /** Every connection of the instance closes with 1008 `Instance deleted` (spec #6, D53). */
  instanceDeleted(ref: { accountId: string; instanceId: string }): Promise<void>;
  /**
   * Every connection of the account opened with a TokenAccount other than the current one closes
   * with 1008 `Token revoked` (spec Z8, D133); TokenInstance connections stay open.
   */
  accountTokenRotated(ref: { accountId: string; currentTokenHash: string }): Promise<void>;
}

/** Nothing to close: no stream is served by this process. */
export const noStreams: StreamControl = {
  instanceDeleted: async () => undefined,
  accountTokenRotated: async () => undefined,
};
