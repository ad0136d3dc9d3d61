import type { ChatType } from './message.ts';
import type { QuotedMessage } from './send.command.ts';
import { contentOf, messageTypeOf } from './send.content.ts';
import type { SendRequest, VcardEntry } from './send.schemas.ts';

/**
 * The outgoing message of a send, in the contract's shapes, from the normalised request:
 * - `outgoingExchangeOf` → the `message.exchange` `data.message` (spec §3.2), stored with the
 *   message and published by the runner once WhatsApp has it;
 * - `vcardOf` → the vCard 3.0 text of a contact entry (sent to WhatsApp and echoed in events).
 * Sender and chat names are added where known; the runner only changes `chat.jid` (ninth digit).
 */

export const chatTypeOfJid = (jid: string): ChatType =>
  jid === 'status@broadcast' ? 'status' : jid.endsWith('@g.us') ? 'group' : jid.endsWith('@newsletter') ? 'newsletter' : 'private';

const escapeVcard = (value: string): string => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/,/g, '\\,').replace(/;/g, '\\;');

/** vCard 3.0 with WhatsApp's `waid` parameter, so the card offers "Message" / "Add contact". */
export const vcardOf = (entry: VcardEntry): string => {
  const digits = entry.phone.replace(/\D/g, '');
  const lines = ['BEGIN:VCARD', 'VERSION:3.0', `FN:${escapeVcard(entry.fullName)}`];
  if (entry.organization) lines.push(`ORG:${escapeVcard(entry.organization)};`);
  lines.push(digits === '' ? `TEL;type=CELL;type=VOICE:${entry.phone}` : `TEL;type=CELL;type=VOICE;waid=${digits}:+${digits}`);
  if (entry.email) lines.push(`EMAIL:${entry.email}`);
  if (entry.url) lines.push(`URL:${entry.url}`);
  lines.push('END:VCARD');
  return lines.join('\n');
};

/** `message.content` of the exchange, by type (spec §3.2). */
const exchangeContentOf = (request: SendRequest): Record<string, unknown> => {
  switch (request.kind) {
    case 'text':
      return { text: request.message };
    case 'media':
      return request.caption === null ? {} : { text: request.caption };
    case 'sticker':
      return {};
    case 'location':
      return {
        latitude: request.latitude,
        longitude: request.longitude,
        ...(request.name === null ? {} : { name: request.name }),
        ...(request.address === null ? {} : { address: request.address }),
      };
    case 'contact':
      return { contacts: request.vcard.map((entry) => ({ displayName: entry.fullName, vcard: vcardOf(entry) })) };
    case 'reaction':
      return { emoji: request.reaction, targetMessageId: request.messageId };
    case 'poll':
      return { question: request.question, options: request.options, maxAnswer: request.maxAnswer };
    case 'status':
      return request.type === 'audio' || request.message === null ? {} : { text: request.message };
    default:
      return { text: contentOf(request) };
  }
};

/** The exchange `type` of an outgoing message: the response's `messageType`, except audio notes. */
const exchangeTypeOf = (request: SendRequest): string => messageTypeOf(request);

export interface OutgoingContext {
  messageId: string;
  timestamp: string;
  chatJid: string;
  /** The instance's own JID (`numberJid`), `''` when unknown. */
  selfJid: string;
  source: string;
  mentions: string[];
  quoted: QuotedMessage | null;
}

export const quotedView = (quoted: QuotedMessage, selfJid: string): Record<string, unknown> => ({
  messageId: quoted.messageId,
  sender: quoted.fromMe ? selfJid : (quoted.participant ?? quoted.chatJid),
  ...(quoted.text === null ? {} : { content: quoted.text }),
});

export const outgoingExchangeOf = (request: SendRequest, context: OutgoingContext): Record<string, unknown> => ({
  id: context.messageId,
  type: exchangeTypeOf(request),
  direction: 'outgoing',
  fromMe: true,
  timestamp: context.timestamp,
  chat: { jid: context.chatJid, type: chatTypeOfJid(context.chatJid) },
  sender: { jid: context.selfJid },
  content: exchangeContentOf(request),
  ...(context.quoted ? { replyTo: quotedView(context.quoted, context.selfJid) } : {}),
  ...(context.mentions.length > 0 ? { mentions: context.mentions } : {}),
  source: context.source,
});
