/**
 * A sealed secret or a wrapped data key could not be opened: it was tampered with, moved to
 * another instance or field, or the key that sealed it is not configured.
 *
 * The message is fixed on purpose: callers log errors, and nothing derived from ciphertexts,
 * keys or plaintexts may end up in a log line.
 */
export class SecretUnreadableError extends Error {
  readonly code = 'secret.unreadable';

  constructor(options?: { cause?: unknown }) {
    super('Secret could not be read', options);
    this.name = 'SecretUnreadableError';
  }
}
