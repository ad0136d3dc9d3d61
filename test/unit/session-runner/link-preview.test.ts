import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { OutboundTargetPolicy } from '../../../shared/domain/ports/outbound-target.port.ts';
import { firstUrlOf, linkPreviewOf, pageInfoOf } from '../../../session-runner/messaging/link-preview.ts';

/** Link previews (spec #19 `linkPreview`): best effort, under the outbound-target rules, never failing the send. */

const allowAll: OutboundTargetPolicy = { check: async () => ({ allowed: true }) };
const blockHost = (host: string): OutboundTargetPolicy => ({ check: async (url) => (new URL(url).hostname === host ? { allowed: false, reason: 'private address' } : { allowed: true }) });

/** A fetch double serving fixed responses by URL, recording what was asked. */
const fakeFetch = (routes: Record<string, () => Response>) => {
  const asked: string[] = [];
  const fetchDouble = (async (input: string | URL | Request) => {
    const url = String(input);
    asked.push(url);
    const route = routes[url];
    return route ? route() : new Response('not found', { status: 404 });
  }) as typeof fetch;
  return { fetch: fetchDouble, asked };
};
const html = (body: string) => () => new Response(body, { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } });

describe('firstUrlOf', () => {
  it.each([
    ['see https://a.example/x?y=1, ok', 'https://a.example/x?y=1'],
    ['(http://a.example/path).', 'http://a.example/path'],
    ['two: https://one.example and https://two.example', 'https://one.example'],
    ['no scheme: a.example', null],
    ['ftp://a.example/file', null],
    ['', null],
  ])('%j → %j', (text, url) => {
    expect(firstUrlOf(text)).toBe(url);
  });
});

describe('pageInfoOf', () => {
  it('prefers Open Graph tags, decodes entities and resolves a relative image', () => {
    const page = `<html><head><title>T</title><meta content="OG &quot;title&quot;" property="og:title"><meta name='description' content='Desc &amp; more'><meta property="og:image" content="/img.png"></head></html>`;

    expect(pageInfoOf(page, 'https://a.example/post/1')).toEqual({ title: 'OG "title"', description: 'Desc & more', image: 'https://a.example/img.png' });
  });

  it('falls back to <title> and ignores non-http images', () => {
    expect(pageInfoOf('<title>\n  Plain   title </title><meta property="og:image" content="javascript:alert(1)">', 'https://a.example/')).toEqual({ title: 'Plain title', description: null, image: null });
  });
});

describe('linkPreviewOf', () => {
  it('builds title, description and a small JPEG thumbnail, following a redirect', async () => {
    const image = await sharp({ create: { width: 600, height: 300, channels: 3, background: '#3366ff' } }).png().toBuffer();
    const { fetch } = fakeFetch({
      'https://a.example/go': () => new Response(null, { status: 301, headers: { location: '/post' } }),
      'https://a.example/post': html('<meta property="og:title" content="Post"><meta property="og:description" content="About"><meta property="og:image" content="https://cdn.example/i.png">'),
      'https://cdn.example/i.png': () => new Response(image, { headers: { 'content-type': 'image/png' } }),
    });

    const preview = await linkPreviewOf('look https://a.example/go', { outbound: allowAll, fetch });

    expect(preview).toMatchObject({ 'canonical-url': 'https://a.example/post', 'matched-text': 'https://a.example/go', title: 'Post', description: 'About' });
    const meta = await sharp(preview?.jpegThumbnail).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 192 });
  });

  it('is null when the target is refused by the outbound rules, before any request', async () => {
    const { fetch, asked } = fakeFetch({ 'http://10.0.0.1/': html('<title>internal</title>') });

    expect(await linkPreviewOf('http://10.0.0.1/', { outbound: blockHost('10.0.0.1'), fetch })).toBeNull();
    expect(asked).toEqual([]);
  });

  it('is null when a redirect leads to a refused target', async () => {
    const { fetch, asked } = fakeFetch({ 'https://a.example/r': () => new Response(null, { status: 302, headers: { location: 'http://169.254.169.254/latest' } }) });

    expect(await linkPreviewOf('https://a.example/r', { outbound: blockHost('169.254.169.254'), fetch })).toBeNull();
    expect(asked).toEqual(['https://a.example/r']);
  });

  it('keeps the preview without a thumbnail when the image is refused or too large', async () => {
    const { fetch } = fakeFetch({
      'https://a.example/p': html('<title>P</title><meta property="og:image" content="https://cdn.example/big.png">'),
      'https://cdn.example/big.png': () => new Response(Buffer.alloc(2048), { headers: { 'content-type': 'image/png', 'content-length': '2048' } }),
    });

    const preview = await linkPreviewOf('https://a.example/p', { outbound: allowAll, fetch, maxImageBytes: 1024 });

    expect(preview).toEqual({ 'canonical-url': 'https://a.example/p', 'matched-text': 'https://a.example/p', title: 'P' });
  });

  it.each([
    ['a non-HTML page', () => new Response('{}', { headers: { 'content-type': 'application/json' } })],
    ['a page without a title', html('<p>nothing</p>')],
    ['an error status', () => new Response('no', { status: 500, headers: { 'content-type': 'text/html' } })],
    ['a network failure', () => {
      throw new TypeError('fetch failed');
    }],
  ])('is null for %s', async (_case, route) => {
    const { fetch } = fakeFetch({ 'https://a.example/x': route });

    expect(await linkPreviewOf('https://a.example/x', { outbound: allowAll, fetch })).toBeNull();
  });

  it('reads at most maxPageBytes of a long page (the head comes first)', async () => {
    const page = `<title>Long</title>${'x'.repeat(10_000)}<meta property="og:description" content="too far">`;
    const { fetch } = fakeFetch({ 'https://a.example/long': html(page) });

    expect(await linkPreviewOf('https://a.example/long', { outbound: allowAll, fetch, maxPageBytes: 1024 })).toEqual({ 'canonical-url': 'https://a.example/long', 'matched-text': 'https://a.example/long', title: 'Long' });
  });

  it('is null for a text without a URL, without fetching', async () => {
    const { fetch, asked } = fakeFetch({});

    expect(await linkPreviewOf('hello there', { outbound: allowAll, fetch })).toBeNull();
    expect(asked).toEqual([]);
  });
});
