import { generateWAMessageFromContent, prepareWAMessageMedia, proto, type BinaryNode, type WAMessage, type WASocket } from '@whiskeysockets/baileys';

/**
 * Messages Baileys' `sendMessage` cannot build (interactive native flows, carousels: see
 * session-runner/messaging/rich-content.ts) travel as `{ relay, relayNodes? }`: the message in
 * WhatsApp's proto shape, and extra stanza nodes (`<biz>`). Media inside them is given as
 * `__upload: { kind, path, mimetype, fileName? }` placeholders, uploaded here (encrypted, to
 * WhatsApp's media hosts) and replaced by `<kind>Message`. The quote context is added as
 * Baileys does for its own messages; the message goes out with `relayMessage`.
 */

export interface RelayContent {
  relay: Record<string, unknown>;
  relayNodes?: BinaryNode[];
}

export const isRelayContent = (content: Record<string, unknown>): content is RelayContent & Record<string, unknown> =>
  typeof content.relay === 'object' && content.relay !== null;

interface Placeholder {
  kind: 'image' | 'video' | 'document';
  path: string;
  mimetype: string;
  fileName?: string;
}

/** Replaces every `__upload` placeholder (depth first) by the uploaded media message. */
const resolveUploads = async (value: unknown, upload: WASocket['waUploadToServer']): Promise<unknown> => {
  if (Array.isArray(value)) return Promise.all(value.map((item) => resolveUploads(item, upload)));
  if (typeof value !== 'object' || value === null || value instanceof Uint8Array) return value;
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (key === '__upload') {
      const placeholder = item as Placeholder;
      const prepared = await prepareWAMessageMedia(
        { [placeholder.kind]: { url: placeholder.path }, mimetype: placeholder.mimetype, ...(placeholder.fileName ? { fileName: placeholder.fileName } : {}) } as never,
        { upload },
      );
      const field = `${placeholder.kind}Message` as const;
      out[field] = (prepared as unknown as Record<string, unknown>)[field];
    } else {
      out[key] = await resolveUploads(item, upload);
    }
  }
  return out;
};

/** Sends a relay content; resolves the message as sent. */
export const relaySend = async (
  sock: WASocket,
  toJid: string,
  content: RelayContent,
  options: { messageId: string; timestamp: Date; quoted: WAMessage | null },
): Promise<WAMessage> => {
  const message = proto.Message.fromObject((await resolveUploads(content.relay, sock.waUploadToServer)) as Record<string, unknown>);
  const full = generateWAMessageFromContent(toJid, message, {
    userJid: sock.user?.id ?? '',
    messageId: options.messageId,
    timestamp: options.timestamp,
    ...(options.quoted ? { quoted: options.quoted } : {}),
  });
  await sock.relayMessage(toJid, full.message as proto.IMessage, { messageId: options.messageId, ...(content.relayNodes?.length ? { additionalNodes: content.relayNodes } : {}) });
  return full;
};
