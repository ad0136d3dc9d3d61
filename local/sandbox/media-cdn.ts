import { encryptedStream, type MediaType, type proto } from '@whiskeysockets/baileys';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The sandbox's media CDN: media a simulated contact sends is encrypted exactly as WhatsApp
 * clients do (Baileys' own `encryptedStream`: a random 32-byte media key, HKDF-expanded to
 * iv/cipherKey/macKey, AES-256-CBC, a 10-byte HMAC-SHA256 mac appended; `fileSha256` of the
 * plaintext, `fileEncSha256` of what is served) and the ciphertext is served over HTTP at its
 * `directPath`, as `mmg.whatsapp.net` does. Baileys in sandbox mode is pointed at this origin.
 */

export type SandboxMediaType = 'image' | 'video' | 'audio' | 'document' | 'sticker';

export interface SandboxMedia {
  type: SandboxMediaType;
  data: Buffer;
  mimetype: string;
  fileName?: string;
  /** Image, video and document only. */
  caption?: string;
  /** Audio only: a voice note. */
  ptt?: boolean;
}

/** Files kept for download; the oldest go first (the sandbox lives in memory). */
const maxFiles = 500;

export class MediaCdn {
  private readonly files = new Map<string, Buffer>();

  constructor(private readonly origin: () => string) {}

  /** Encrypts and "uploads" the media; returns the message content to send. */
  async upload(media: SandboxMedia): Promise<proto.IMessage> {
    const encrypted = await encryptedStream(media.data, media.type as MediaType);
    let ciphertext: Buffer;
    try {
      ciphertext = await readFile(encrypted.encFilePath);
    } finally {
      await rm(encrypted.encFilePath, { force: true });
    }
    const file = randomBytes(16).toString('hex');
    const directPath = `/v/t62.7118-24/${file}.enc?ccb=11-4&oe=${Math.floor(Date.now() / 1000) + 14 * 86400}`;
    this.files.set(`/v/t62.7118-24/${file}.enc`, ciphertext);
    while (this.files.size > maxFiles) this.files.delete(this.files.keys().next().value as string);
    const common = {
      url: `${this.origin()}${directPath}&mms3=true`,
      directPath,
      mediaKey: encrypted.mediaKey,
      mimetype: media.mimetype,
      fileLength: encrypted.fileLength,
      fileSha256: encrypted.fileSha256,
      fileEncSha256: encrypted.fileEncSha256,
      mediaKeyTimestamp: Math.floor(Date.now() / 1000),
    };
    switch (media.type) {
      case 'image':
        return { imageMessage: { ...common, ...(media.caption ? { caption: media.caption } : {}) } };
      case 'video':
        return { videoMessage: { ...common, ...(media.caption ? { caption: media.caption } : {}) } };
      case 'audio':
        return { audioMessage: { ...common, ptt: media.ptt === true } };
      case 'document':
        return { documentMessage: { ...common, fileName: media.fileName ?? 'file', ...(media.caption ? { caption: media.caption } : {}) } };
      case 'sticker':
        return { stickerMessage: common };
    }
  }

  /** Serves `GET <directPath>`; false when the request is not for the CDN. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = new URL(req.url ?? '/', 'http://sandbox').pathname;
    if (!path.startsWith('/v/')) return false;
    const file = this.files.get(path);
    if (req.method !== 'GET' || !file) {
      res.writeHead(req.method === 'GET' ? 404 : 405).end();
      return true;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': file.length }).end(file);
    return true;
  }
}
