import { getContentType, jidNormalizedUser, normalizeMessageContent, type proto, type WAMessage } from '@whiskeysockets/baileys';
import { interactiveReplyOf } from './interactive-reply.ts';

/**
 * Baileys messages → the contract's `message.exchange` data (spec §3.2). Media is described
 * (type, mimetype, size…) but not downloaded here; fields that do not apply are absent.
 */

const seconds = (value: unknown): number => {
  if (typeof value === 'number') return value;
  if (value && typeof (value as { toNumber?: () => number }).toNumber === 'function') return (value as { toNumber(): number }).toNumber();
  return Number(value ?? 0);
};

const rfc3339Seconds = (epochSeconds: number): string => `${new Date(epochSeconds * 1000).toISOString().slice(0, 19)}Z`;

/** Phone-number JID and LID of an address, whichever Baileys knows. */
const addressOf = (jid: string | null | undefined, alt: string | null | undefined): { jid: string; lid?: string } => {
  const main = jidNormalizedUser(jid ?? '');
  const other = alt ? jidNormalizedUser(alt) : undefined;
  if (main.endsWith('@lid')) return other && !other.endsWith('@lid') ? { jid: other, lid: main } : { jid: main, lid: main };
  return other?.endsWith('@lid') ? { jid: main, lid: other } : { jid: main };
};

const chatType = (jid: string): 'private' | 'group' | 'newsletter' | 'status' =>
  jid === 'status@broadcast' ? 'status' : jid.endsWith('@g.us') ? 'group' : jid.endsWith('@newsletter') ? 'newsletter' : 'private';

const mediaKinds = ['imageMessage', 'videoMessage', 'audioMessage', 'documentMessage', 'stickerMessage', 'ptvMessage'] as const;

const mediaOf = (kind: (typeof mediaKinds)[number], content: proto.IMessage) => {
  const media = content[kind] as
    | { url?: string | null; mimetype?: string | null; fileLength?: unknown; seconds?: number | null; width?: number | null; height?: number | null; fileName?: string | null; ptt?: boolean | null }
    | null
    | undefined;
  if (!media) return undefined;
  const type = kind === 'audioMessage' && media.ptt ? 'ptt' : kind === 'ptvMessage' ? 'ptv' : kind.replace('Message', '');
  return {
    type,
    url: media.url ?? null,
    mimetype: media.mimetype ?? null,
    fileName: media.fileName ?? null,
    size: media.fileLength === undefined || media.fileLength === null ? null : seconds(media.fileLength),
    duration: media.seconds ?? null,
    width: media.width ?? null,
    height: media.height ?? null,
  };
};

/** `null` for protocol messages that are not user-visible exchanges. */
export const toMessageExchange = (message: WAMessage, selfJid: string | null, source: string | null = null): Record<string, unknown> | null => {
  const key = message.key;
  if (!key?.remoteJid || !key.id) return null;
  const content = normalizeMessageContent(message.message);
  if (!content) return null;
  const contentType = getContentType(content);
  const fromMe = key.fromMe === true;
  const chatJid = jidNormalizedUser(key.remoteJid);
  const isGroup = chatJid.endsWith('@g.us');
  const senderAddress = fromMe
    ? { jid: selfJid ?? '' }
    : addressOf(isGroup ? key.participant : key.remoteJid, isGroup ? key.participantAlt : key.remoteJidAlt);
  const result: Record<string, unknown> = {
    id: key.id,
    type: 'unknown',
    direction: fromMe ? 'outgoing' : 'incoming',
    fromMe,
    timestamp: rfc3339Seconds(seconds(message.messageTimestamp)),
    chat: { jid: chatJid, type: chatType(chatJid) },
    sender: { ...senderAddress, ...(!fromMe && message.pushName ? { name: message.pushName } : {}) },
    content: {},
  };
  if (fromMe) result.source = source ?? 'device';

  const contextInfo = (content[contentType as keyof proto.IMessage] as { contextInfo?: proto.IContextInfo | null } | undefined)?.contextInfo;
  if (contextInfo?.stanzaId) {
    const quoted = contextInfo.quotedMessage;
    result.replyTo = {
      messageId: contextInfo.stanzaId,
      sender: contextInfo.participant ? jidNormalizedUser(contextInfo.participant) : null,
      content: quoted?.conversation ?? quoted?.extendedTextMessage?.text ?? null,
    };
  }
  if (contextInfo?.mentionedJid?.length) result.mentions = contextInfo.mentionedJid.map((jid) => jidNormalizedUser(jid));
  if (contextInfo?.isForwarded) result.isForwarded = true;

  switch (contentType) {
    case 'conversation':
      return { ...result, type: 'text', content: { text: content.conversation ?? '' } };
    case 'extendedTextMessage':
      return { ...result, type: 'text', content: { text: content.extendedTextMessage?.text ?? '' } };
    case 'locationMessage': {
      const location = content.locationMessage;
      return {
        ...result,
        type: 'location',
        content: { latitude: location?.degreesLatitude ?? null, longitude: location?.degreesLongitude ?? null, ...(location?.name ? { name: location.name } : {}), ...(location?.address ? { address: location.address } : {}) },
      };
    }
    case 'contactMessage':
      return { ...result, type: 'contact', content: { contacts: [{ displayName: content.contactMessage?.displayName ?? '', vcard: content.contactMessage?.vcard ?? '' }] } };
    case 'contactsArrayMessage':
      return {
        ...result,
        type: 'contact',
        content: { contacts: (content.contactsArrayMessage?.contacts ?? []).map((contact) => ({ displayName: contact.displayName ?? '', vcard: contact.vcard ?? '' })) },
      };
    case 'reactionMessage':
      return { ...result, type: 'reaction', content: { emoji: content.reactionMessage?.text ?? '', targetMessageId: content.reactionMessage?.key?.id ?? null } };
    case 'pollCreationMessage':
    case 'pollCreationMessageV2':
    case 'pollCreationMessageV3': {
      const poll = content.pollCreationMessage ?? content.pollCreationMessageV2 ?? content.pollCreationMessageV3;
      return { ...result, type: 'poll', content: { question: poll?.name ?? '', options: (poll?.options ?? []).map((option) => option.optionName ?? ''), maxAnswer: poll?.selectableOptionsCount ?? 0 } };
    }
    case 'protocolMessage': {
      const protocol = content.protocolMessage;
      if (protocol?.type === 0) {
        return { ...result, type: 'message_revoke', content: {}, revoke: { targetMessageId: protocol.key?.id ?? null, revokedBy: senderAddress.jid } };
      }
      if (protocol?.editedMessage) {
        const edited = protocol.editedMessage;
        return {
          ...result,
          type: 'message_edit',
          content: { text: edited.conversation ?? edited.extendedTextMessage?.text ?? '' },
          isEdit: true,
          edit: { targetMessageId: protocol.key?.id ?? null },
        };
      }
      return null;
    }
    case 'editedMessage':
      return null;
    default: {
      // Button, list and form replies (interactive-reply.ts).
      const reply = interactiveReplyOf(contentType, content);
      if (reply) return { ...result, ...reply };
      const kind = mediaKinds.find((candidate) => candidate === contentType);
      if (kind) {
        const media = mediaOf(kind, content);
        const caption = (content[kind] as { caption?: string | null } | null | undefined)?.caption;
        const type = kind === 'ptvMessage' ? 'video' : kind.replace('Message', '');
        return { ...result, type, content: caption ? { text: caption } : {}, media };
      }
      if (contentType === 'senderKeyDistributionMessage' || contentType === 'messageContextInfo' || contentType === undefined) return null;
      return result;
    }
  }
};

/** `messages.update` status codes (WebMessageInfo.Status) → `message.status` statuses. */
export const statusName = (status: number | null | undefined): string | null => {
  switch (status) {
    case 0:
      return 'server_error';
    case 3:
      return 'delivered';
    case 4:
      return 'read';
    case 5:
      return 'played';
    default:
      return null;
  }
};
