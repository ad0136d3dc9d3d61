import { downloadEncryptedContent, getMediaKeys, getUrlFromDirectPath, normalizeMessageContent, type MediaType, type WAMessage } from '@whiskeysockets/baileys';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Agent, ProxyAgent, Socks5ProxyAgent, type Dispatcher } from 'undici';
import type { WaMediaSource } from '../../shared/domain/ports/media.port.ts';
import type { WaConnectionOptions } from '../../shared/domain/ports/wa-connection.port.ts';
import type { MediaSpooler } from '../../shared/domain/use-cases/media.use-cases.ts';

/**
 * Incoming media, downloaded the way WhatsApp clients do: the encrypted file from the media CDN
 * (`directPath` on `mmg.whatsapp.net`, or the sandbox's media origin), decrypted by Baileys with
 * keys expanded from the message's `mediaKey`, then checked against the message's `fileSha256`.
 */

const kinds: Record<string, MediaType> = {
  imageMessage: 'image',
  videoMessage: 'video',
  audioMessage: 'audio',
  documentMessage: 'document',
  stickerMessage: 'sticker',
  ptvMessage: 'ptv',
};

/** A silent CDN must not hold a download slot for ever (undici's defaults are 5 minutes). */
const timeouts = { headersTimeout: 30_000, bodyTimeout: 30_000, connectTimeout: 15_000 };

/**
 * The dispatcher media downloads go through: the instance's proxy (HTTP CONNECT, or SOCKS5)
 * when one is configured, else a direct agent; both with timeouts.
 */
export const mediaDispatcher = (proxy: WaConnectionOptions['proxy']): Dispatcher => {
  const options = { headersTimeout: timeouts.headersTimeout, bodyTimeout: timeouts.bodyTimeout, connect: { timeout: timeouts.connectTimeout } };
  if (!proxy) return new Agent(options);
  if (proxy.protocol === 'socks5') {
    return new Socks5ProxyAgent(`socks5://${proxy.host}:${proxy.port}`, {
      headersTimeout: timeouts.headersTimeout,
      bodyTimeout: timeouts.bodyTimeout,
      ...(proxy.username ? { username: proxy.username, password: proxy.password ?? '' } : {}),
    });
  }
  const token = proxy.username ? `Basic ${Buffer.from(`${proxy.username}:${proxy.password ?? ''}`).toString('base64')}` : undefined;
  return new ProxyAgent({ uri: `${proxy.protocol}://${proxy.host}:${proxy.port}`, ...(token ? { token } : {}), ...options });
};

const bytesOf = (value: Uint8Array | string | null | undefined): Uint8Array | null => {
  if (!value) return null;
  return typeof value === 'string' ? Buffer.from(value, 'base64') : value;
};

const numberOf = (value: unknown): number | null => {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number') return value;
  if (typeof (value as { toNumber?: () => number }).toNumber === 'function') return (value as { toNumber(): number }).toNumber();
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : null;
};

/**
 * Where the encrypted file is. WhatsApp's CDN only: a `url` the sender chose is used only when it
 * is an https URL on a `whatsapp.net` host, so a crafted message cannot make the runner fetch
 * arbitrary addresses. `mediaOrigin` (sandbox mode) replaces the CDN origin for `directPath`.
 */
export const mediaDownloadUrl = (media: { url?: string | null; directPath?: string | null }, mediaOrigin?: string): string => {
  if (media.directPath?.startsWith('/')) return mediaOrigin ? `${mediaOrigin.replace(/\/+$/, '')}${media.directPath}` : getUrlFromDirectPath(media.directPath);
  if (!mediaOrigin && media.url) {
    const url = new URL(media.url);
    if (url.protocol === 'https:' && (url.hostname === 'whatsapp.net' || url.hostname.endsWith('.whatsapp.net'))) return url.toString();
  }
  throw new Error('media has no downloadable location');
};

/** The downloadable media of a Baileys message, or `undefined` (no media, or no key to decrypt it). */
export const mediaSourceOf = (message: WAMessage, options: { mediaOrigin?: string; dispatcher?: () => Dispatcher }): WaMediaSource | undefined => {
  const content = normalizeMessageContent(message.message);
  if (!content) return undefined;
  const kind = Object.keys(kinds).find((candidate) => content[candidate as keyof typeof content]);
  if (!kind) return undefined;
  const media = content[kind as keyof typeof content] as {
    url?: string | null;
    directPath?: string | null;
    mediaKey?: Uint8Array | string | null;
    mimetype?: string | null;
    fileName?: string | null;
    fileLength?: unknown;
    fileSha256?: Uint8Array | string | null;
  };
  const mediaKey = bytesOf(media.mediaKey);
  if (!mediaKey || (!media.directPath && !media.url)) return undefined;
  const type = kinds[kind] as MediaType;
  return {
    mimetype: media.mimetype ?? null,
    fileName: media.fileName ?? null,
    declaredSize: numberOf(media.fileLength),
    sha256: bytesOf(media.fileSha256),
    async open(): Promise<Readable> {
      const url = mediaDownloadUrl(media, options.mediaOrigin);
      const keys = await getMediaKeys(mediaKey, type);
      return downloadEncryptedContent(url, keys, { options: options.dispatcher ? ({ dispatcher: options.dispatcher() } as unknown as RequestInit) : {} });
    },
  };
};

class MediaRejectedError extends Error {
  override name = 'MediaRejectedError';
}

/**
 * Streams a source to a private temporary file, never holding more than a chunk in memory:
 * refuses more than `maxBytes`, and content whose SHA-256 is not the announced one.
 */
export const spoolMediaToFile =
  (directory: string = tmpdir()): MediaSpooler =>
  async (source, { maxBytes }) => {
    const path = join(directory, `zapfleet-media-${randomBytes(12).toString('hex')}`);
    const remove = () => rm(path, { force: true });
    const hash = createHash('sha256');
    let size = 0;
    try {
      const stream = await source.open();
      await pipeline(
        stream,
        async function* (chunks: AsyncIterable<Buffer>) {
          for await (const chunk of chunks) {
            size += chunk.length;
            if (size > maxBytes) throw new MediaRejectedError(`larger than ${maxBytes} bytes`);
            hash.update(chunk);
            yield chunk;
          }
        },
        createWriteStream(path, { mode: 0o600 }),
      );
      const digest = hash.digest();
      if (source.sha256 && !digest.equals(Buffer.from(source.sha256))) throw new MediaRejectedError('content does not match its fileSha256');
      return { path, size, remove };
    } catch (error) {
      await remove();
      throw error;
    }
  };
