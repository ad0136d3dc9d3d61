import type { SendCommand } from '../../session-runner/messaging/sender.ts';
import { parseRecipient, type Recipient } from '../../shared/domain/numbers.ts';

/** When the fixture commands were issued and their messages stamped. */
export const sentAt = '2026-04-28T10:30:00Z';

type Request = SendCommand['send']['request'];
type Exchange = SendCommand['send']['exchange'];

/**
 * A `send` command of instance `sales` (`i-1`, account `a-1`) as the API enqueues it; the outgoing
 * exchange follows the request unless `exchange` says otherwise.
 */
export const sendCommandOf = (messageId: string, chatJid: string, request: Request, exchange: Partial<Exchange> = {}): SendCommand => ({
  type: 'send',
  commandId: `c-${messageId}`,
  instanceId: 'i-1',
  accountId: 'a-1',
  instanceName: 'sales',
  issuedAt: sentAt,
  send: {
    messageId,
    timestamp: sentAt,
    chatJid,
    request,
    quoted: null,
    exchange: {
      id: messageId,
      type: request.kind === 'media' ? request.mediaType : request.kind,
      direction: 'outgoing',
      fromMe: true,
      timestamp: sentAt,
      chat: { jid: chatJid, type: chatJid.endsWith('@g.us') ? 'group' : 'private' },
      content: {},
      ...exchange,
    } as Exchange,
  },
});

/** The fields every parsed send request carries, addressed to `digits`. */
export const requestFieldsTo = (digits: string, delay = 0) => ({
  source: 'api',
  idempotencyKey: null,
  number: digits,
  to: parseRecipient(digits),
  delay,
  replyTo: null,
  replyPrivate: false,
  mention: [] as Recipient[],
  mentionAll: false,
});
