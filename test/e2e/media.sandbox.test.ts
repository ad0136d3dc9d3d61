import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startFauxqs, type FauxqsServer } from 'fauxqs';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * Incoming media end to end (issue 4, part 5): the sandbox's contact sends media encrypted the
 * way WhatsApp does and serves it from its media CDN; the runner downloads and decrypts it with
 * Baileys, stores it (platform bucket, or the instance's own S3 bucket), and each delivery
 * carries a fresh presigned `media.s3Url`, plus `media.base64` when the channel asks for it.
 */

interface Received {
  path: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads are asserted field by field
  body: { event: string; id: string; data: Record<string, any>; instanceData: { instance: string } };
}

describe('media through the sandbox', () => {
  let stack: TestStack;
  let receiver: Server;
  let customer: FauxqsServer;
  let customerS3: S3Client;
  const received: Received[] = [];
  const hookUrl = () => `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

  beforeAll(async () => {
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
        // `/flaky` refuses the first message.exchange it gets, so that one is retried.
        const refuse = req.url === '/flaky' && received.filter((r) => r.path === '/flaky' && r.body.event === 'message.exchange').length === 1;
        res.writeHead(refuse ? 500 : 200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    // The customer's own S3-compatible store: a second fauxqs, reached at a private address.
    customer = await startFauxqs({ port: 0, logger: false, host: '127.0.0.1' });
    customer.createBucket('acme-media');
    customerS3 = new S3Client({ endpoint: customer.address, region: 'us-east-1', credentials: { accessKeyId: 'AKIACUSTOMER', secretAccessKey: 'customer-secret' }, forcePathStyle: true });
    stack = await startTestStack(
      { ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200', ZAPFLEET_ALLOW_PRIVATE_TARGETS: 'true' },
      { defaultRateLimits: { global: 100_000 }, retryDelaysMs: Array.from({ length: 9 }, () => 300) },
    );
  });
  afterAll(async () => {
    await stack?.stop();
    customerS3?.destroy();
    await customer?.stop();
    await new Promise((resolve) => receiver.close(resolve));
  });

  /** Creates a connected instance whose events go to the receiver; returns its token. */
  const connected = async (name: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name, webhookEnabled: true, webhookURL: hookUrl(), ...extra } });
    expect(created.status).toBe(201);
    const token = created.body.instance.token as string;
    await stack.call('GET', `/api/instance/connect/${name}`, { token });
    await waitFor(() => received.find((r) => r.body.instanceData.instance === name && r.body.event === 'instance.state' && r.body.data.state === 'connected'), `${name} connected`);
    return token;
  };

  const inbound = async (name: string, token: string, body: Record<string, unknown>): Promise<string> => {
    const sent = await stack.call('POST', `/sandbox/inbound/${name}`, { token, body: { from: '5511944443333', pushName: 'Maria', ...body } });
    expect(sent.status).toBe(202);
    return sent.body.messageId as string;
  };

  const exchangeOf = (messageId: string) =>
    waitFor(() => received.find((r) => r.body.event === 'message.exchange' && r.body.data.id === messageId), `message.exchange ${messageId}`);

  it('stores an inbound image in the platform bucket and delivers a presigned s3Url that serves the original bytes', async () => {
    // Prepare
    const token = await connected('media-platform');
    const image = randomBytes(48_213);

    // Act
    const messageId = await inbound('media-platform', token, { text: 'Olha isso', media: { type: 'image', base64: image.toString('base64'), mimetype: 'image/png' } });
    const hook = await exchangeOf(messageId);

    // Assess
    const message = hook.body.data.message;
    expect(message).toMatchObject({ id: messageId, type: 'image', direction: 'incoming', content: { text: 'Olha isso' } });
    expect(message.media).toMatchObject({ type: 'image', mimetype: 'image/png', size: image.length });
    expect(message.media).not.toHaveProperty('stored');
    expect(message.media).not.toHaveProperty('base64');
    const s3Url = new URL(message.media.s3Url as string);
    expect(s3Url.pathname).toMatch(new RegExp(`^/zapfleet-media/[0-9a-f-]+/${messageId}\\.png$`));
    expect(s3Url.searchParams.get('X-Amz-Expires')).toBe('3600');
    expect(s3Url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    const fetched = await fetch(s3Url);
    expect(fetched.status).toBe(200);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(image)).toBe(true);
  });

  it('deleting the instance removes its media from the platform bucket: the URL no longer serves it', async () => {
    // Prepare
    const token = await connected('media-deleted');
    const messageId = await inbound('media-deleted', token, { media: { type: 'image', base64: randomBytes(2_000).toString('base64'), mimetype: 'image/png' } });
    const s3Url = (await exchangeOf(messageId)).body.data.message.media.s3Url as string;
    expect((await fetch(s3Url)).status).toBe(200);

    // Act
    const deleted = await stack.call('DELETE', '/api/instance/delete/media-deleted', { token: stack.accountToken });

    // Assess: the runner handles the delete from its queue, then the object is gone.
    expect(deleted.status).toBe(200);
    await waitFor(async () => (await fetch(s3Url)).status === 404, 'the stored media to be deleted');
  });

  it('adds the same bytes as base64 to the webhook and the WebSocket that ask for mediaBase64', async () => {
    // Prepare
    const token = await connected('media-base64', { webhookMediaBase64: true, websocketEnabled: true, websocketMediaBase64: true });
    const frames: Received['body'][] = [];
    const socket = new WebSocket(`${stack.url.replace('http', 'ws')}/ws/media-base64?token=${token}`);
    socket.on('message', (data) => frames.push(JSON.parse(String(data))));
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), randomBytes(5_000)]);

    // Act
    const messageId = await inbound('media-base64', token, { media: { type: 'document', base64: `data:application/pdf;base64,${pdf.toString('base64')}`, fileName: 'proposta.pdf' } });
    const hook = await exchangeOf(messageId);
    const frame = await waitFor(() => frames.find((f) => f.event === 'message.exchange' && f.data.id === messageId), 'the WebSocket frame');
    socket.close();

    // Assess
    expect(hook.body.data.message.type).toBe('document');
    expect(hook.body.data.message.media).toMatchObject({ type: 'document', mimetype: 'application/pdf', fileName: 'proposta.pdf', size: pdf.length, base64: pdf.toString('base64') });
    expect(hook.body.data.message.media.s3Url).toMatch(/\/zapfleet-media\/.+\.pdf\?/);
    expect(frame.id).toBe(hook.body.id);
    expect(frame.data.message.media).toMatchObject({ base64: pdf.toString('base64'), s3Url: expect.stringContaining('X-Amz-Signature=') });
    expect(frame.data.message.media).not.toHaveProperty('stored');
  });

  it("stores the media of an instance with its own S3 configuration in that bucket, under its path prefix", async () => {
    // Prepare
    const token = await connected('media-own-s3', {
      s3Enabled: true,
      s3Region: 'us-east-1',
      s3Bucket: 'acme-media',
      s3AccessKey: 'AKIACUSTOMER',
      s3SecretKey: 'customer-secret',
      s3Endpoint: customer.address,
      s3PathPrefix: 'media/',
    });
    const voice = randomBytes(20_000);

    // Act
    const messageId = await inbound('media-own-s3', token, { media: { type: 'audio', base64: voice.toString('base64'), ptt: true } });
    const hook = await exchangeOf(messageId);

    // Assess: the object is in the customer's bucket, and the URL points there, not at the platform bucket.
    const media = hook.body.data.message.media;
    expect(media).toMatchObject({ type: 'ptt', mimetype: 'audio/ogg; codecs=opus', size: voice.length });
    expect(media.s3Url.startsWith(`${customer.address}/acme-media/media/${messageId}.ogg?`)).toBe(true);
    const object = await customerS3.send(new GetObjectCommand({ Bucket: 'acme-media', Key: `media/${messageId}.ogg` }));
    expect(Buffer.from(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).equals(voice)).toBe(true);
    const fetched = await fetch(media.s3Url);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(voice)).toBe(true);
  });

  it('presigns again when a delivery is retried, and the retried URL serves the media', async () => {
    // Prepare
    const flakyUrl = hookUrl().replace(/\/hook$/, '/flaky');
    const token = await connected('media-retry', { webhookURL: flakyUrl });
    const video = randomBytes(30_000);

    // Act
    const messageId = await inbound('media-retry', token, { media: { type: 'video', base64: video.toString('base64') } });
    const attempts = await waitFor(() => {
      const found = received.filter((r) => r.path === '/flaky' && r.body.event === 'message.exchange' && r.body.data.id === messageId);
      return found.length >= 2 && found;
    }, 'the retried delivery');

    // Assess
    const [first, retried] = attempts as [Received, Received];
    expect(retried.body.id).toBe(first.body.id);
    expect(retried.body.data.message.media).not.toHaveProperty('stored');
    const fetched = await fetch(retried.body.data.message.media.s3Url as string);
    expect(Buffer.from(await fetched.arrayBuffer()).equals(video)).toBe(true);
  });

  it('still delivers the message when its media cannot be stored, without s3Url', async () => {
    // Prepare: the instance's bucket does not exist.
    const token = await connected('media-no-bucket', {
      s3Enabled: true,
      s3Region: 'us-east-1',
      s3Bucket: 'missing-bucket',
      s3AccessKey: 'AKIACUSTOMER',
      s3SecretKey: 'customer-secret',
      s3Endpoint: customer.address,
    });

    // Act
    const messageId = await inbound('media-no-bucket', token, { text: 'foto', media: { type: 'image', base64: randomBytes(1_000).toString('base64') } });
    const hook = await exchangeOf(messageId);

    // Assess
    expect(hook.body.data.message).toMatchObject({ type: 'image', content: { text: 'foto' }, media: { type: 'image', mimetype: 'image/jpeg', size: 1_000 } });
    expect(hook.body.data.message.media).not.toHaveProperty('s3Url');
    expect(hook.body.data.message.media).not.toHaveProperty('stored');
  });

  it('refuses an inbound media of an unknown type or with content that is not base64', async () => {
    // Prepare
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name: 'media-invalid' } });
    const token = created.body.instance.token as string;

    // Act
    const badType = await stack.call('POST', '/sandbox/inbound/media-invalid', { token, body: { from: '5511944443333', media: { type: 'gif', base64: 'AAAA' } } });
    const badBase64 = await stack.call('POST', '/sandbox/inbound/media-invalid', { token, body: { from: '5511944443333', media: { type: 'image', base64: 'not base64!' } } });
    const badShape = await stack.call('POST', '/sandbox/inbound/media-invalid', { token, body: { from: '5511944443333', media: 'image' } });

    // Assess
    expect(badType).toMatchObject({ status: 400, body: { success: false, error: { message: "Invalid media.type. Use 'image', 'video', 'audio', 'document' or 'sticker'" } } });
    expect(badBase64).toMatchObject({ status: 400, body: { success: false, error: { message: 'Invalid base64 media' } } });
    expect(badShape).toMatchObject({ status: 400, body: { success: false, error: { message: "Invalid request body: 'media' must be an object" } } });
  });
});
