import type { MediaSend, StickerSend } from '../../shared/domain/messages/send.schemas.ts';
import type { WaOutgoingContent } from '../../shared/domain/ports/wa-connection.port.ts';
import { mediaContentOf, prepareMedia, type MediaFetchOptions, type PreparedMedia } from './outgoing-media.ts';
import { convertToSticker, stickerSize, type StickerOptions } from './sticker-image.ts';
import { convertToVoiceNote, type VoiceNoteOptions } from './voice-note.ts';

/**
 * The file of a send that carries one (spec §2.3 #20 media, #21 sticker), ready for Baileys:
 * fetched or decoded (outgoing-media.ts), then, for a voice note, converted to OGG/Opus
 * (voice-note.ts) and, for a sticker, to a 512×512 WebP (sticker-image.ts). The original file is
 * removed once converted; the caller removes the result once sent. Refusals are `MediaRejected`.
 */

export interface OutgoingFile extends PreparedMedia {
  /** Seconds, when given or computed (voice notes): the response's `mediaDuration`. */
  seconds: number | null;
  /** Baileys' content (`AnyMediaMessageContent`), reading the file by path. */
  content: WaOutgoingContent;
  /** The outgoing `message.exchange` `media` object (spec §3.2). */
  exchangeMedia: Record<string, unknown>;
}

export interface OutgoingFileOptions extends MediaFetchOptions {
  sticker?: Omit<StickerOptions, 'directory'>;
  voiceNote?: Omit<VoiceNoteOptions, 'directory'>;
}

/** Runs `convert` on the prepared file and removes the original, whatever the result. */
const converted = async <T extends PreparedMedia>(original: PreparedMedia, convert: (input: PreparedMedia) => Promise<T>): Promise<T> => {
  try {
    return await convert(original);
  } finally {
    await original.remove().catch(() => undefined);
  }
};

export const prepareOutgoingFile = async (request: MediaSend | StickerSend, mentions: string[], options: OutgoingFileOptions = {}): Promise<OutgoingFile> => {
  const directory = options.directory ? { directory: options.directory } : {};
  if (request.kind === 'sticker') {
    const source = await prepareMedia(request.image, { mimeType: null, fileName: 'sticker', mediaType: 'image' }, options);
    const sticker = await converted(source, (input) => convertToSticker(input, { ...options.sticker, ...directory }));
    return {
      ...sticker,
      seconds: null,
      content: { sticker: { url: sticker.path }, mimetype: sticker.mimeType, width: stickerSize, height: stickerSize, isAnimated: false },
      exchangeMedia: { type: 'sticker', mimetype: sticker.mimeType, fileName: null, size: sticker.size, width: stickerSize, height: stickerSize },
    };
  }
  const source = await prepareMedia(request.media, request, options);
  if (request.mediaType === 'audio' && request.isVoice) {
    const note = await converted(source, (input) => convertToVoiceNote(input, { ...options.voiceNote, ...directory }));
    const seconds = request.duration ?? note.seconds;
    return {
      ...note,
      seconds,
      content: {
        audio: { url: note.path },
        mimetype: note.mimeType,
        ptt: true,
        seconds,
        waveform: Uint8Array.from(request.waveform ?? note.waveform),
        ...(mentions.length > 0 ? { mentions } : {}),
      },
      exchangeMedia: { type: 'ptt', mimetype: note.mimeType, fileName: null, size: note.size, duration: seconds },
    };
  }
  return {
    ...source,
    seconds: request.duration,
    content: mediaContentOf(request, source, mentions),
    exchangeMedia: { type: request.mediaType, mimetype: source.mimeType, fileName: request.mediaType === 'document' ? request.fileName : null, size: source.size, duration: request.duration },
  };
};
