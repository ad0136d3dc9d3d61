/**
 * Polls `probe` until it returns a truthy value (sync or async), then returns it; throws
 * `timed out waiting for <what>` after `timeoutMs`. For e2e tests that wait on a running stack.
 */
export const waitFor = async <T>(
  probe: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  what: string,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
};
