import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { MediaSend, MediaSource } from '../../shared/domain/messages/send.schemas.ts';
import type { OutboundTargetPolicy } from '../../shared/domain/ports/outbound-target.port.ts';
import type { WaOutgoingContent } from '../../shared/domain/ports/wa-connection.port.ts';

/**
 * The file of a media send (spec §2.3 #20), on the runner: downloaded from `mediaUrl` (outbound-
 * target rules checked for every hop, 60 s, at most 100 MiB, streamed to a private temporary
 * file, never held whole in memory) or decoded from base64; its MIME type is the given one, else
 * detected from the first bytes (`detectMimeType`), else guessed from the file name. Baileys then
 * reads the file by path (`{ url: <path> }`), encrypts it and uploads it to WhatsApp's media hosts.
 *
 * A refusal is a `MediaRejected` whose message is the contract's (`Failed to download media: …`,
 * `Media too large (max 100 MiB)`, `Invalid base64 media`): a 400 when the API sees it in time.
 */

export const maxMediaBytes = 100 * 1024 * 1024;
export const mediaDownloadTimeoutMs = 60_000;
const tooLarge = 'Media too large (max 100 MiB)';
const maxRedirects = 5;

export class MediaRejected extends Error {
  override name = 'MediaRejected';
}

export interface PreparedMedia {
  path: string;
  size: number;
  mimeType: string;
  remove(): Promise<void>;
}

export interface MediaFetchOptions {
  /** Outbound-target rules; without one, every public target is allowed (tests only). */
  outbound?: OutboundTargetPolicy;
  timeoutMs?: number;
  maxBytes?: number;
  directory?: string;
  fetch?: typeof fetch;
}

const ascii = (bytes: Uint8Array, start: number, text: string): boolean =>
  bytes.length >= start + text.length && [...text].every((char, i) => bytes[start + i] === char.charCodeAt(0));
const startsWith = (bytes: Uint8Array, prefix: number[]): boolean => bytes.length >= prefix.length && prefix.every((byte, i) => bytes[i] === byte);

/** MIME type from the first bytes (at least 16 are needed for some formats); `null` when unknown. */
export const detectMimeType = (head: Uint8Array): string | null => {
  if (startsWith(head, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(head, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (ascii(head, 0, 'GIF87a') || ascii(head, 0, 'GIF89a')) return 'image/gif';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WEBP')) return 'image/webp';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'audio/wav';
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'AVI ')) return 'video/x-msvideo';
  if (ascii(head, 0, '%PDF-')) return 'application/pdf';
  if (ascii(head, 0, 'OggS')) return 'audio/ogg';
  if (ascii(head, 0, 'fLaC')) return 'audio/flac';
  if (ascii(head, 0, '#!AMR')) return 'audio/amr';
  if (ascii(head, 0, 'ID3') || (head.length >= 2 && head[0] === 0xff && ((head[1] ?? 0) & 0xe0) === 0xe0 && ((head[1] ?? 0) & 0x06) !== 0)) return 'audio/mpeg';
  if (ascii(head, 4, 'ftyp')) {
    const brand = String.fromCharCode(...head.subarray(8, 12));
    if (brand === 'qt  ') return 'video/quicktime';
    if (brand.startsWith('M4A') || brand.startsWith('M4B')) return 'audio/mp4';
    if (brand.startsWith('3gp') || brand.startsWith('3g2')) return 'video/3gpp';
    if (brand === 'heic' || brand === 'heix' || brand === 'mif1') return 'image/heic';
    return 'video/mp4';
  }
  if (startsWith(head, [0x1a, 0x45, 0xdf, 0xa3])) return 'video/webm';
  if (startsWith(head, [0x50, 0x4b, 0x03, 0x04])) return 'application/zip';
  if (startsWith(head, [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])) return 'application/msword';
  return null;
};

const byExtension: Record<string, string> = {
  pdf: 'application/pdf',
  txt: 'text/plain',
  csv: 'text/csv',
  json: 'application/json',
  zip: 'application/zip',
  doc: 'application/msword',
  docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint',
  pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  mp4: 'video/mp4',
  mp3: 'audio/mpeg',
  ogg: 'audio/ogg',
};

/** Defaults when neither the caller, the bytes nor the file name tell. */
const fallbackOf: Record<MediaSend['mediaType'], string> = { image: 'image/jpeg', video: 'video/mp4', audio: 'audio/mpeg', document: 'application/octet-stream' };

/** The MIME type to send: the caller's, else the bytes' (a ZIP named `.docx` is a Word file), else the name's, else the type's default. */
export const mimeTypeOf = (given: string | null, head: Uint8Array, fileName: string, mediaType: MediaSend['mediaType']): string => {
  if (given) return given;
  const extension = fileName.includes('.') ? (fileName.split('.').at(-1) ?? '').toLowerCase() : '';
  const detected = detectMimeType(head);
  if (detected && !(detected === 'application/zip' && byExtension[extension])) return detected;
  return byExtension[extension] ?? detected ?? fallbackOf[mediaType];
};

const tempPath = (directory: string) => join(directory, `zapfleet-out-${randomBytes(12).toString('hex')}`);

/** Stops the stream once more than `maxBytes` went through. */
const capped = (maxBytes: number) => {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes) callback(new MediaRejected(tooLarge));
      else callback(null, chunk);
    },
  });
};

const reasonOf = (error: unknown): string => {
  if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) return 'timeout';
  const cause = error instanceof Error ? (error.cause as { code?: string; message?: string } | undefined) : undefined;
  if (cause?.code) return cause.code;
  return error instanceof Error ? error.message : String(error);
};

/** GETs the URL, following redirects itself so every hop passes the outbound-target rules. */
const download = async (url: string, path: string, options: MediaFetchOptions): Promise<void> => {
  const doFetch = options.fetch ?? fetch;
  const maxBytes = options.maxBytes ?? maxMediaBytes;
  const signal = AbortSignal.timeout(options.timeoutMs ?? mediaDownloadTimeoutMs);
  let target = url;
  for (let hop = 0; ; hop++) {
    if (options.outbound) {
      const verdict = await options.outbound.check(target);
      if (!verdict.allowed) throw new MediaRejected(`Failed to download media: ${verdict.reason}`);
    }
    let response: Response;
    try {
      response = await doFetch(target, { redirect: 'manual', signal });
    } catch (error) {
      throw new MediaRejected(`Failed to download media: ${reasonOf(error)}`);
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel().catch(() => undefined);
      if (hop >= maxRedirects) throw new MediaRejected('Failed to download media: too many redirects');
      target = new URL(location, target).toString();
      if (!/^https?:$/.test(new URL(target).protocol)) throw new MediaRejected('Failed to download media: invalid redirect');
      continue;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      throw new MediaRejected(`Failed to download media: HTTP ${response.status}`);
    }
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      throw new MediaRejected(tooLarge);
    }
    try {
      await pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), capped(maxBytes), createWriteStream(path, { mode: 0o600 }));
    } catch (error) {
      if (error instanceof MediaRejected) throw error;
      throw new MediaRejected(`Failed to download media: ${reasonOf(error)}`);
    }
    return;
  }
};

/** Decodes base64 to the file in slices, so the decoded copy is never whole in memory next to the text. */
const decode = async (data: string, path: string, maxBytes: number): Promise<void> => {
  if (Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0) > maxBytes) throw new MediaRejected(tooLarge);
  const slice = 4 * 64 * 1024;
  async function* chunks() {
    for (let at = 0; at < data.length; at += slice) yield Buffer.from(data.slice(at, at + slice), 'base64');
  }
  await pipeline(Readable.from(chunks()), createWriteStream(path, { mode: 0o600 }));
};

/** The first 32 bytes of a spooled file: enough for `detectMimeType`. */
export const headOf = async (path: string): Promise<Uint8Array> => {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(32);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
};

/** Fetches or decodes the media to a temporary file; the caller removes it once sent. */
export const prepareMedia = async (source: MediaSource, request: Pick<MediaSend, 'mimeType' | 'fileName' | 'mediaType'>, options: MediaFetchOptions = {}): Promise<PreparedMedia> => {
  const path = tempPath(options.directory ?? tmpdir());
  const remove = () => rm(path, { force: true });
  try {
    if (source.kind === 'url') await download(source.url, path, options);
    else await decode(source.data, path, options.maxBytes ?? maxMediaBytes);
    const { size } = await stat(path);
    if (size === 0) throw new MediaRejected(source.kind === 'url' ? 'Failed to download media: empty file' : 'Invalid base64 media');
    const mimeType = mimeTypeOf(request.mimeType ?? (source.kind === 'base64' ? source.mimeType : null), await headOf(path), request.fileName, request.mediaType);
    return { path, size, mimeType, remove };
  } catch (error) {
    await remove();
    throw error;
  }
};

/** Baileys' content for a prepared media send (`AnyMediaMessageContent`). */
export const mediaContentOf = (request: MediaSend, media: PreparedMedia, mentions: string[]): WaOutgoingContent => {
  const file = { url: media.path };
  const caption = request.caption === null ? {} : { caption: request.caption };
  const mentioned = mentions.length > 0 ? { mentions } : {};
  const seconds = request.duration === null ? {} : { seconds: request.duration };
  switch (request.mediaType) {
    case 'image':
      return { image: file, mimetype: media.mimeType, ...caption, ...mentioned };
    case 'video':
      return { video: file, mimetype: media.mimeType, ...caption, ...seconds, ...mentioned };
    case 'audio':
      return { audio: file, mimetype: media.mimeType, ptt: request.isVoice, ...seconds, ...mentioned };
    case 'document':
      return { document: file, mimetype: media.mimeType, fileName: request.fileName, ...caption, ...mentioned };
  }
};
