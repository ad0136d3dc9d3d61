import type { ErrorCode } from '../domain/errors/domain-error.ts';

interface ErrorRendering {
  status: number;
  /** The exact `error.message` of the contract; `null` means "use the error's detail". */
  message: string | null;
}

/** The one place where domain error codes become HTTP statuses and contract messages. */
export const errorMap = {
  'request.body_too_large': { status: 413, message: 'Request body too large' },
  'request.invalid_body': { status: 400, message: 'Invalid request body' },
  'route.not_found': { status: 404, message: 'Route not found' },
  'route.method_not_allowed': { status: 405, message: 'Method not allowed' },
  'auth.missing_token': { status: 401, message: 'Missing token in header, Authorization header, or query parameter' },
  'auth.invalid_token': { status: 401, message: 'Invalid token' },
  'auth.instance_mismatch': { status: 403, message: 'Instance token does not match the requested instance' },
  'auth.invalid_admin_key': { status: 401, message: 'Invalid admin key' },
  'rate_limit.exceeded': { status: 429, message: 'Rate limit exceeded. Try again later.' },
  'instance.name_required': { status: 400, message: 'Instance name is required' },
  'instance.not_found': { status: 404, message: 'Instance not found' },
  'instance.conflict': { status: 409, message: 'Instance or token already exists' },
  'instance.already_connected': { status: 409, message: 'Instance is already connected' },
  'instance.no_saved_session': { status: 400, message: 'Instance has no saved session — call /connect first' },
  'instance.connect_timeout': { status: 504, message: 'Timed out waiting for QR code' },
  'instance.connect_failed': { status: 500, message: null },
  'instance.reconnect_failed': { status: 500, message: null },
  'instance.logout_failed': { status: 500, message: 'Failed to logout instance' },
  'instance.not_connected': { status: 503, message: 'Instance is not connected to WhatsApp' },
  'whatsapp.rate_limited': { status: 429, message: 'WhatsApp rate limit reached. Try again later.' },
  'account.quota_exceeded': { status: 403, message: 'Account instance quota exceeded' },
  'account.not_found': { status: 404, message: 'Account not found' },
  'account.has_instances': { status: 409, message: 'Account still has instances' },
  'validation.failed': { status: 400, message: null },
  internal: { status: 500, message: 'Internal server error' },
  'idempotency.different_request': { status: 409, message: 'Idempotency key already used with a different request' },
  'idempotency.in_progress': { status: 409, message: 'A request with this idempotency key is still in progress' },
  'message.quoted_not_found': { status: 404, message: 'Quoted message not found' },
  'message.number_not_registered': { status: 400, message: 'Number not registered on WhatsApp' },
  /** `Failed to send message: <reason>` (spec §2.3.2): the detail is the whole message. */
  'message.send_failed': { status: 500, message: null },
  /** 501 (spec §0.9): a kind this server cannot send yet; the detail names it. */
  'message.unsupported': { status: 501, message: null },
  'message.participant_required': { status: 400, message: 'participant is required for reactions to group messages not sent by this instance' },
  'message.group_not_found': { status: 404, message: 'Group not found or you are not a member of this group' },
  'message.group_admins_only': { status: 403, message: 'Only admins can send messages to this group' },
  'message.channel_forbidden': { status: 403, message: 'Not authorized to post in this channel' },
} as const satisfies Record<ErrorCode, ErrorRendering>;

export const renderError = (code: ErrorCode, detail?: string): { status: number; message: string } => {
  const rendering: ErrorRendering = errorMap[code];
  return { status: rendering.status, message: rendering.message ?? detail ?? 'Invalid request body' };
};
