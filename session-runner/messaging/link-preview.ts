import sharp from 'sharp';
import type { OutboundTargetPolicy } from '../../shared/domain/ports/outbound-target.port.ts';

/**
 * `linkPreview: true` on text sends (spec #19): a preview of the first URL in the text, built by
 * the runner, best effort. The page (and its preview image) is fetched under the outbound-target
 * rules (every redirect hop checked), within a total time budget and size caps; title and
 * description come from Open Graph tags, else `<title>` / `<meta name="description">`; the
 * thumbnail is the `og:image` scaled to a small JPEG. Any failure gives `null`, and the text is
 * sent without a preview: a preview never fails a send.
 *
 * Only `http://` and `https://` URLs are previewed (a bare `example.com` is not fetched).
 */

/** Baileys' `WAUrlInfo` (what `sendMessage`'s `linkPreview` takes). */
export interface LinkPreview {
  'canonical-url': string;
  'matched-text': string;
  title: string;
  description?: string;
  jpegThumbnail?: Buffer;
}

export interface LinkPreviewOptions {
  outbound: OutboundTargetPolicy;
  /** Total budget for the page and its image (default 5 s). */
  timeoutMs?: number;
  /** At most this much of the page is read (default 512 KiB: the head is near the top). */
  maxPageBytes?: number;
  /** Preview images above this are skipped (default 2 MiB). */
  maxImageBytes?: number;
  fetch?: typeof fetch;
}

const urlPattern = /\bhttps?:\/\/[^\s<>"'`]+/i;
const maxRedirects = 3;
const thumbnailWidth = 192;

/** The first http(s) URL of a text, without trailing punctuation; `null` without one. */
export const firstUrlOf = (text: string): string | null => {
  const match = urlPattern.exec(text)?.[0];
  if (!match) return null;
  const trimmed = match.replace(/[.,;:!?)\]}]+$/, '');
  try {
    return new URL(trimmed).protocol.startsWith('http') ? trimmed : null;
  } catch {
    return null;
  }
};

const entities: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };
const decodeEntities = (value: string): string =>
  value.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, name: string) => {
    if (name.startsWith('#x') || name.startsWith('#X')) return String.fromCodePoint(parseInt(name.slice(2), 16));
    if (name.startsWith('#')) return String.fromCodePoint(parseInt(name.slice(1), 10));
    return entities[name.toLowerCase()] ?? whole;
  });

const attributesOf = (tag: string): Record<string, string> => {
  const attrs: Record<string, string> = {};
  for (const match of tag.matchAll(/([a-zA-Z_:.-]+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s>]+))/g)) {
    attrs[(match[1] ?? '').toLowerCase()] = decodeEntities(match[3] ?? match[4] ?? match[5] ?? '');
  }
  return attrs;
};

/** Title, description and image URL of an HTML page (Open Graph first). */
export const pageInfoOf = (html: string, pageUrl: string): { title: string | null; description: string | null; image: string | null } => {
  const meta = new Map<string, string>();
  for (const match of html.matchAll(/<meta\b[^>]*>/gi)) {
    const attrs = attributesOf(match[0]);
    const key = (attrs.property ?? attrs.name ?? '').toLowerCase();
    if (key !== '' && attrs.content !== undefined && !meta.has(key)) meta.set(key, attrs.content.trim());
  }
  const titleTag = /<title\b[^>]*>([\s\S]*?)<\/title>/i.exec(html)?.[1];
  const title = meta.get('og:title') || meta.get('twitter:title') || (titleTag ? decodeEntities(titleTag).replace(/\s+/g, ' ').trim() : '') || null;
  const description = meta.get('og:description') || meta.get('description') || meta.get('twitter:description') || null;
  const imageRef = meta.get('og:image') || meta.get('og:image:url') || meta.get('twitter:image') || null;
  let image: string | null = null;
  if (imageRef) {
    try {
      const resolved = new URL(imageRef, pageUrl);
      image = /^https?:$/.test(resolved.protocol) ? resolved.toString() : null;
    } catch {
      image = null;
    }
  }
  return { title, description, image };
};

/** GET with every hop checked; the body is read up to `maxBytes` (longer bodies are cut, or refused when `strict`). */
const guardedGet = async (url: string, options: LinkPreviewOptions, signal: AbortSignal, maxBytes: number, strict: boolean): Promise<{ body: Buffer; type: string; url: string } | null> => {
  const doFetch = options.fetch ?? fetch;
  let target = url;
  for (let hop = 0; hop <= maxRedirects; hop++) {
    const verdict = await options.outbound.check(target);
    if (!verdict.allowed) return null;
    const response = await doFetch(target, { redirect: 'manual', signal, headers: { accept: 'text/html,image/*;q=0.9,*/*;q=0.5', 'user-agent': 'WhatsApp/2.23 zapfleet-link-preview' } });
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      await response.body?.cancel().catch(() => undefined);
      target = new URL(location, target).toString();
      if (!/^https?:$/.test(new URL(target).protocol)) return null;
      continue;
    }
    if (!response.ok || !response.body) {
      await response.body?.cancel().catch(() => undefined);
      return null;
    }
    const declared = Number(response.headers.get('content-length') ?? NaN);
    if (strict && Number.isFinite(declared) && declared > maxBytes) {
      await response.body.cancel().catch(() => undefined);
      return null;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const reader = response.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(Buffer.from(value));
      size += value.byteLength;
      if (size > maxBytes) {
        await reader.cancel().catch(() => undefined);
        if (strict) return null;
        break;
      }
    }
    return { body: Buffer.concat(chunks).subarray(0, maxBytes), type: response.headers.get('content-type') ?? '', url: target };
  }
  return null;
};

const thumbnailOf = async (imageUrl: string, options: LinkPreviewOptions, signal: AbortSignal): Promise<Buffer | undefined> => {
  const image = await guardedGet(imageUrl, options, signal, options.maxImageBytes ?? 2 * 1024 * 1024, true).catch(() => null);
  if (!image) return undefined;
  return sharp(image.body, { limitInputPixels: 40_000_000 })
    .resize({ width: thumbnailWidth, withoutEnlargement: true })
    .jpeg({ quality: 60 })
    .toBuffer()
    .catch(() => undefined);
};

/** The preview of the first URL of `text`, or `null` (no URL, not allowed, unreachable, not HTML, no title). */
export const linkPreviewOf = async (text: string, options: LinkPreviewOptions): Promise<LinkPreview | null> => {
  const url = firstUrlOf(text);
  if (url === null) return null;
  const signal = AbortSignal.timeout(options.timeoutMs ?? 5_000);
  try {
    const page = await guardedGet(url, options, signal, options.maxPageBytes ?? 512 * 1024, false);
    if (!page || !/html/i.test(page.type)) return null;
    const info = pageInfoOf(page.body.toString('utf8'), page.url);
    if (info.title === null) return null;
    const jpegThumbnail = info.image ? await thumbnailOf(info.image, options, signal) : undefined;
    return {
      'canonical-url': page.url,
      'matched-text': url,
      title: info.title,
      ...(info.description ? { description: info.description } : {}),
      ...(jpegThumbnail ? { jpegThumbnail } : {}),
    };
  } catch {
    return null;
  }
};
