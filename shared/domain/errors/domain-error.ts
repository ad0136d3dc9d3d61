/**
 * Domain failures carry a stable dotted code and no HTTP status; `shared/http/error-map.ts`
 * is the one table that turns a code into the contract's status and exact message.
 */
export const errorCodes = [
  'request.body_too_large',
  'request.invalid_body',
  'route.not_found',
  'route.method_not_allowed',
  'auth.missing_token',
  'auth.invalid_token',
  'auth.instance_mismatch',
  'auth.invalid_admin_key',
  'rate_limit.exceeded',
  'instance.name_required',
  'instance.not_found',
  'instance.conflict',
  'instance.already_connected',
  'instance.no_saved_session',
  'instance.connect_timeout',
  'instance.connect_failed',
  'instance.reconnect_failed',
  'instance.logout_failed',
  'whatsapp.rate_limited',
  'instance.not_connected',
  'account.quota_exceeded',
  'account.not_found',
  'account.has_instances',
  'validation.failed',
  'internal',
  'idempotency.different_request',
  'idempotency.in_progress',
  'message.quoted_not_found',
  'message.number_not_registered',
  'message.send_failed',
  'message.unsupported',
  'message.participant_required',
  'message.group_not_found',
  'message.group_admins_only',
  'message.channel_forbidden',
] as const;

export type ErrorCode = (typeof errorCodes)[number];

export class DomainError extends Error {
  constructor(
    readonly code: ErrorCode,
    /** Overrides the table's message where the contract has a placeholder (`<detail>`). */
    readonly detail?: string,
  ) {
    super(detail ?? code);
    this.name = 'DomainError';
  }
}

/** A 400 whose whole message is given (validation texts differ per endpoint). */
export class ValidationError extends DomainError {
  constructor(message: string) {
    super('validation.failed', message);
    this.name = 'ValidationError';
  }
}

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;
