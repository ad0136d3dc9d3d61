import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectMimeType, MediaRejected, mimeTypeOf, prepareMedia } from '../../../session-runner/messaging/outgoing-media.ts';

const bytes = (...parts: (string | number[])[]): Uint8Array => Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))));

describe('detectMimeType', () => {
  it.each([
    ['JPEG', bytes([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]), 'image/jpeg'],
    ['PNG', bytes([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]), 'image/png'],
    ['GIF', bytes('GIF89a', [1, 0, 1, 0]), 'image/gif'],
    ['WebP', bytes('RIFF', [0x24, 0, 0, 0], 'WEBPVP8 '), 'image/webp'],
    ['WAV', bytes('RIFF', [0x24, 0, 0, 0], 'WAVEfmt '), 'audio/wav'],
    ['PDF', bytes('%PDF-1.7\n'), 'application/pdf'],
    ['MP4', bytes([0, 0, 0, 0x18], 'ftypisom', [0, 0, 2, 0]), 'video/mp4'],
    ['QuickTime', bytes([0, 0, 0, 0x14], 'ftypqt  '), 'video/quicktime'],
    ['M4A', bytes([0, 0, 0, 0x20], 'ftypM4A '), 'audio/mp4'],
    ['3GP', bytes([0, 0, 0, 0x14], 'ftyp3gp4'), 'video/3gpp'],
    ['WebM', bytes([0x1a, 0x45, 0xdf, 0xa3, 0x9f]), 'video/webm'],
    ['OGG', bytes('OggS', [0, 2]), 'audio/ogg'],
    ['MP3 with ID3', bytes('ID3', [4, 0]), 'audio/mpeg'],
    ['MP3 frame', bytes([0xff, 0xfb, 0x90, 0x64]), 'audio/mpeg'],
    ['ZIP', bytes([0x50, 0x4b, 0x03, 0x04, 0x14]), 'application/zip'],
  ])('recognises %s', (_name, head, expected) => {
    expect(detectMimeType(head)).toBe(expected);
  });

  it('answers null for text and for too few bytes', () => {
    expect(detectMimeType(bytes('hello, world'))).toBeNull();
    expect(detectMimeType(bytes([0xff, 0xd8]))).toBeNull();
    expect(detectMimeType(new Uint8Array())).toBeNull();
  });
});

describe('mimeTypeOf', () => {
  const zip = bytes([0x50, 0x4b, 0x03, 0x04, 0x14]);

  it('prefers the given type, then the bytes, then the file name, then the media type’s default', () => {
    expect(mimeTypeOf('image/x-custom', bytes('%PDF-'), 'a.pdf', 'image')).toBe('image/x-custom');
    expect(mimeTypeOf(null, bytes('%PDF-'), 'file', 'document')).toBe('application/pdf');
    expect(mimeTypeOf(null, bytes('a,b\n1,2\n'), 'table.csv', 'document')).toBe('text/csv');
    expect(mimeTypeOf(null, bytes('plain'), 'file', 'document')).toBe('application/octet-stream');
    expect(mimeTypeOf(null, bytes('plain'), 'file', 'video')).toBe('video/mp4');
  });

  it('names a ZIP by its extension when it is an Office file', () => {
    expect(mimeTypeOf(null, zip, 'report.docx', 'document')).toBe('application/vnd.openxmlformats-officedocument.wordprocessingml.document');
    expect(mimeTypeOf(null, zip, 'archive.bin', 'document')).toBe('application/zip');
  });
});

describe('prepareMedia', () => {
  let directory = '';
  const request = { mimeType: null, fileName: 'file', mediaType: 'document' as const };
  const respond = (body: ConstructorParameters<typeof Response>[0], init: ConstructorParameters<typeof Response>[1] = {}) => (async () => new Response(body, init)) as unknown as typeof fetch;

  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'outgoing-media-test-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('decodes base64 to a temporary file with its size and detected type, removed on request', async () => {
    const content = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(300_000, 7)]);

    const media = await prepareMedia({ kind: 'base64', data: content.toString('base64'), mimeType: null }, request, { directory });

    expect(media).toMatchObject({ size: content.length, mimeType: 'application/pdf' });
    expect((await readFile(media.path)).equals(content)).toBe(true);
    await media.remove();
    expect(await readdir(directory)).toEqual([]);
  });

  it('refuses a download over the size cap, leaving no file behind', async () => {
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 4; i++) controller.enqueue(new Uint8Array(1000));
        controller.close();
      },
    });

    const result = prepareMedia({ kind: 'url', url: 'https://files.example/big.bin' }, request, { directory, maxBytes: 2500, fetch: respond(stream) });

    await expect(result).rejects.toEqual(new MediaRejected('Media too large (max 100 MiB)'));
    expect(await readdir(directory)).toEqual([]);
  });

  it('reports a non-2xx answer and a refused target as download failures', async () => {
    const [notFound, refused] = await Promise.allSettled([
      prepareMedia({ kind: 'url', url: 'https://files.example/missing' }, request, { directory, fetch: respond('no', { status: 404 }) }),
      prepareMedia({ kind: 'url', url: 'https://files.example/a' }, request, {
        directory,
        outbound: { check: async () => ({ allowed: false, reason: 'private address' }) },
        fetch: respond('never'),
      }),
    ]);

    expect(notFound).toEqual({ status: 'rejected', reason: new MediaRejected('Failed to download media: HTTP 404') });
    expect(refused).toEqual({ status: 'rejected', reason: new MediaRejected('Failed to download media: private address') });
    expect(await readdir(directory)).toEqual([]);
  });

  it('checks every redirect hop against the outbound-target rules', async () => {
    const checked: string[] = [];
    const fetchDouble = (async (url: string) =>
      url === 'https://files.example/a' ? new Response(null, { status: 302, headers: { location: 'http://169.254.169.254/latest' } }) : new Response('secret')) as unknown as typeof fetch;

    const result = prepareMedia({ kind: 'url', url: 'https://files.example/a' }, request, {
      directory,
      fetch: fetchDouble,
      outbound: {
        check: async (url) => {
          checked.push(url);
          return url.includes('169.254') ? { allowed: false, reason: 'link-local address' } : { allowed: true };
        },
      },
    });

    await expect(result).rejects.toThrow('Failed to download media: link-local address');
    expect(checked).toEqual(['https://files.example/a', 'http://169.254.169.254/latest']);
  });
});
