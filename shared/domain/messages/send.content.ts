import type { SendRequest } from './send.schemas.ts';

/**
 * What the send response says about a request (spec §2.3.1 and #19–#31), from the normalised
 * request alone:
 * - `messageTypeOf(request)` → `data.messageType`;
 * - `contentOf(request)` → `data.content`, the textual form also stored with the message;
 * - `successMessageOf(request)` → the envelope's `message`.
 * The rest of `data` (ids, chat, sender, media fields, mentions, replyTo) needs the send's result.
 */

export const messageTypeOf = (request: SendRequest): string => {
  switch (request.kind) {
    case 'media':
      return request.mediaType;
    case 'status':
      return request.type;
    case 'carousel':
    case 'form':
    case 'pix':
      return 'interactive';
    case 'button':
      return 'buttons';
    default:
      return request.kind;
  }
};

export const contentOf = (request: SendRequest): string => {
  switch (request.kind) {
    case 'text':
      return request.message;
    case 'media':
      return request.caption ?? '';
    case 'sticker':
      return '';
    case 'location': {
      const lines = [request.name === null ? null : `📍 ${request.name}`, request.address, `Lat: ${request.latitude}, Long: ${request.longitude}`];
      return lines.filter((line) => line !== null).join('\n');
    }
    case 'contact':
      return request.vcard.map((entry) => entry.fullName).join(', ');
    case 'reaction':
      return request.reaction;
    case 'poll':
      return [request.question, ...request.options.map((option, i) => `${i + 1}. ${option}`)].join('\n');
    case 'carousel': {
      const summary = `Carousel with ${request.cards.length} card(s)`;
      return request.message === null ? summary : `${request.message} - ${summary}`;
    }
    case 'button':
    case 'list':
      return request.contentText;
    case 'form':
      return request.message;
    case 'pix':
      return request.message ?? `PIX: ${request.merchantName}`;
    case 'status':
      return request.message ?? '';
  }
};

export const successMessageOf = (request: SendRequest): string => {
  if (request.kind === 'contact' && request.vcard.length > 1) return `${request.vcard.length} contacts sent successfully in one message`;
  if (request.kind === 'reaction' && request.remove) return 'Reaction removed successfully';
  return 'Message sent successfully';
};
