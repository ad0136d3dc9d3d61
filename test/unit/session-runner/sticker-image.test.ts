import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaRejected } from '../../../session-runner/messaging/outgoing-media.ts';
import { convertToSticker, maxStickerBytes, notAnImage, undecodableImage } from '../../../session-runner/messaging/sticker-image.ts';

/**
 * Stickers (spec §2.3 #21) with the real sharp/libvips: any PNG, JPEG, GIF or WebP becomes a
 * 512×512 WebP with transparent padding; an animated GIF gives its first frame; anything else is
 * refused with the 400's message. Fixtures are made here with sharp.
 */

interface Pixel {
  r: number;
  g: number;
  b: number;
  alpha: number;
}

/** Decodes the WebP the way a WhatsApp client would and reads one pixel. */
const pixelAt = async (webp: Buffer, x: number, y: number): Promise<Pixel> => {
  const { data, info } = await sharp(webp).ensureAlpha().raw().toBuffer({ resolveWithObject: true });
  const at = (y * info.width + x) * info.channels;
  return { r: data[at] as number, g: data[at + 1] as number, b: data[at + 2] as number, alpha: data[at + 3] as number };
};

const opaqueRed = { r: 255, g: 0, b: 0, alpha: 1 };

describe('convertToSticker', () => {
  let directory = '';
  const input = async (name: string, bytes: Buffer) => {
    const path = join(directory, name);
    await writeFile(path, bytes);
    return { path };
  };

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'sticker-test-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('turns a wide JPEG (no alpha) into a 512×512 WebP, scaled to fit, padded with transparent rows above and below', async () => {
    // Prepare: 800×400, so the image fills 512×256 and 128 transparent rows pad each side.
    const jpeg = await sharp({ create: { width: 800, height: 400, channels: 3, background: opaqueRed } }).jpeg().toBuffer();

    // Act
    const sticker = await convertToSticker(await input('wide.jpg', jpeg), { directory });

    // Assess
    const webp = await readFile(sticker.path);
    const metadata = await sharp(webp).metadata();
    expect(sticker).toMatchObject({ mimeType: 'image/webp', size: webp.length });
    expect(metadata).toMatchObject({ format: 'webp', width: 512, height: 512, hasAlpha: true });
    expect(webp.subarray(0, 4).toString('latin1')).toBe('RIFF');
    expect(webp.subarray(8, 12).toString('latin1')).toBe('WEBP');
    expect((await pixelAt(webp, 10, 10)).alpha).toBe(0);
    expect((await pixelAt(webp, 10, 500)).alpha).toBe(0);
    const centre = await pixelAt(webp, 256, 256);
    expect(centre.alpha).toBe(255);
    expect(centre.r).toBeGreaterThan(200);
    expect(centre.g).toBeLessThan(50);
  });

  it('keeps the transparency of a PNG', async () => {
    // Prepare: a 100×100 transparent PNG with an opaque red 50×50 square in its middle.
    const square = await sharp({ create: { width: 50, height: 50, channels: 4, background: opaqueRed } }).png().toBuffer();
    const png = await sharp({ create: { width: 100, height: 100, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } })
      .composite([{ input: square, left: 25, top: 25 }])
      .png()
      .toBuffer();

    // Act
    const sticker = await convertToSticker(await input('square.png', png), { directory });

    // Assess: scaled ×5.12, the square covers 128…384; outside it stays transparent.
    const webp = await readFile(sticker.path);
    expect(await sharp(webp).metadata()).toMatchObject({ width: 512, height: 512, hasAlpha: true });
    expect((await pixelAt(webp, 60, 256)).alpha).toBe(0);
    expect((await pixelAt(webp, 256, 256)).alpha).toBe(255);
  });

  it('makes a static sticker of the first frame of an animated GIF', async () => {
    // Prepare: two 64×64 frames, red then blue.
    const frame = (r: number, b: number) => Buffer.alloc(64 * 64 * 4).fill(Buffer.from([r, 0, b, 255]));
    const gif = await sharp(Buffer.concat([frame(255, 0), frame(0, 255)]), { raw: { width: 64, height: 128, channels: 4, pageHeight: 64 } })
      .gif({ delay: [100, 100], loop: 0 })
      .toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(2);

    // Act
    const sticker = await convertToSticker(await input('anim.gif', gif), { directory });

    // Assess
    const webp = await readFile(sticker.path);
    const metadata = await sharp(webp).metadata();
    expect(metadata).toMatchObject({ format: 'webp', width: 512, height: 512 });
    expect(metadata.pages ?? 1).toBe(1);
    const centre = await pixelAt(webp, 256, 256);
    expect(centre.r).toBeGreaterThan(200);
    expect(centre.b).toBeLessThan(50);
  });

  it('keeps a detailed photo within WhatsApp’s 100 KiB for a static sticker', async () => {
    // Prepare: noise compresses badly, the worst case for the encoder.
    const noisy = await sharp({ create: { width: 1024, height: 1024, channels: 3, background: opaqueRed, noise: { type: 'gaussian', mean: 128, sigma: 60 } } })
      .png()
      .toBuffer();

    // Act
    const sticker = await convertToSticker(await input('noise.png', noisy), { directory });

    // Assess
    expect(sticker.size).toBeLessThanOrEqual(maxStickerBytes);
    expect(await sharp(await readFile(sticker.path)).metadata()).toMatchObject({ width: 512, height: 512 });
  });

  it.each([
    ['a PDF', Buffer.from('%PDF-1.4\n1 0 obj << >> endobj\n%%EOF\n'), notAnImage],
    ['an SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>'), notAnImage],
    ['a PNG whose data is cut off', Buffer.from('89504e470d0a1a0a0000000d49484452000000c8000000c808060000', 'hex'), undecodableImage],
  ])('refuses %s with the 400 message and leaves no file behind', async (_case, bytes, message) => {
    // Prepare
    const source = await input('input', bytes);

    // Act
    const error = await convertToSticker(source, { directory }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(MediaRejected);
    expect((error as Error).message).toBe(message);
    expect(await readdir(directory)).toEqual(['input']);
  });

  it('refuses an image over the pixel limit before decoding it', async () => {
    // Prepare
    const png = await sharp({ create: { width: 400, height: 300, channels: 3, background: opaqueRed } }).png().toBuffer();

    // Act
    const error = await convertToSticker(await input('big.png', png), { directory, maxInputPixels: 100_000 }).catch((caught: unknown) => caught);

    // Assess
    expect(error).toBeInstanceOf(MediaRejected);
    expect((error as Error).message).toBe('Invalid sticker image: larger than 0.1 megapixels');
  });
});
