import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp, { type OutputInfo } from 'sharp';
import { detectMimeType, headOf, MediaRejected, type PreparedMedia } from './outgoing-media.ts';

/**
 * A sticker's image (spec §2.3 #21), on the runner: the downloaded or decoded file (outgoing-
 * media.ts) → WebP 512×512 with its transparency kept: the image is scaled to fit inside the
 * square, aspect ratio kept, and padded with transparent pixels; EXIF orientation is applied; an
 * animated GIF or WebP gives a static sticker of its first frame (D-decision of #21).
 *
 * Safety and memory: only PNG, JPEG, GIF and WebP are decoded (checked on the first bytes, so
 * SVG, TIFF, HEIF… never reach a decoder); libvips reads the file sequentially and refuses
 * images over `maxStickerInputPixels` before decoding them; a conversion is stopped after
 * `stickerTimeoutSeconds`. The scaled image is at most 512×512×4 bytes (1 MiB) in memory, then
 * encoded, lowering the quality until it fits WhatsApp's 100 KiB for static stickers.
 *
 * A refusal is a `MediaRejected` whose message is the 400's: `Invalid sticker image: …`.
 */

export const stickerSize = 512;
/** About 8 000 × 6 000: larger than any phone photo, small enough to decode safely. */
export const maxStickerInputPixels = 50_000_000;
export const stickerTimeoutSeconds = 30;
/** WhatsApp refuses static stickers over 100 KiB. */
export const maxStickerBytes = 100 * 1024;
const qualities = [80, 60, 40, 25] as const;
const stickerInputs = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);

export const notAnImage = 'Invalid sticker image: use a PNG, JPEG, GIF or WebP image';
export const undecodableImage = 'Invalid sticker image: the image could not be decoded';
export const imageTooLarge = (maxPixels: number) => `Invalid sticker image: larger than ${maxPixels / 1_000_000} megapixels`;

// Every conversion reads a different file: libvips' operation cache would only hold memory.
sharp.cache(false);


const rejectionOf = (error: unknown, maxPixels: number): MediaRejected => {
  const message = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(message)) return new MediaRejected(imageTooLarge(maxPixels));
  if (/timeout/i.test(message)) return new MediaRejected('Invalid sticker image: conversion timed out');
  return new MediaRejected(undecodableImage);
};

export interface StickerOptions {
  /** Where the WebP is written (default: the OS temp directory). */
  directory?: string;
  maxInputPixels?: number;
  timeoutSeconds?: number;
}

/** The input file as a 512×512 WebP sticker in a new temporary file; the caller removes both. */
export const convertToSticker = async (input: Pick<PreparedMedia, 'path'>, options: StickerOptions = {}): Promise<PreparedMedia> => {
  const format = detectMimeType(await headOf(input.path));
  if (format === null || !stickerInputs.has(format)) throw new MediaRejected(notAnImage);
  const maxPixels = options.maxInputPixels ?? maxStickerInputPixels;
  let pixels: { data: Buffer; info: OutputInfo };
  try {
    pixels = await sharp(input.path, { limitInputPixels: maxPixels, animated: false, pages: 1, page: 0, autoOrient: true })
      .timeout({ seconds: options.timeoutSeconds ?? stickerTimeoutSeconds })
      .resize(stickerSize, stickerSize, { fit: 'contain', background: { r: 0, g: 0, b: 0, alpha: 0 } })
      .ensureAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw rejectionOf(error, maxPixels);
  }
  const raw = { width: pixels.info.width, height: pixels.info.height, channels: pixels.info.channels as 4 };
  let webp = Buffer.alloc(0);
  for (const quality of qualities) {
    webp = await sharp(pixels.data, { raw }).webp({ quality, alphaQuality: 100, effort: 4 }).toBuffer();
    if (webp.length <= maxStickerBytes) break;
  }
  const path = join(options.directory ?? tmpdir(), `zapfleet-sticker-${randomBytes(12).toString('hex')}.webp`);
  await writeFile(path, webp, { mode: 0o600 });
  return { path, size: webp.length, mimeType: 'image/webp', remove: () => rm(path, { force: true }) };
};
