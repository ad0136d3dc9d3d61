import { createHash, randomBytes } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { LocalKeyring } from '../../../shared/adapters/keys/keyring.local.ts';
import { createSecretVault } from '../../../shared/adapters/keys/secret-vault.ts';
import { objectUrl, presignS3Get } from '../../../shared/adapters/s3/presign.ts';
import { spoolMediaToFile } from '../../../session-runner/baileys/media-download.ts';
import { mediaDownloadUrl } from '../../../session-runner/baileys/media-download.ts';
import type { WebhookRequest } from '../../../shared/domain/events/delivery.ts';
import { createMediaDelivery, maxBase64Bytes } from '../../../shared/domain/events/media.ts';
import type { EventRecord } from '../../../shared/domain/events/event.ts';
import { defaultSettings, emptyProfile, sealedFields, type InstanceAggregate } from '../../../shared/domain/instance/instance.ts';
import type { MediaBucket, MediaObjectStore, StoredMediaRef, WaMediaSource, WaMessageEvent } from '../../../shared/domain/ports/media.port.ts';
import type { OutboundTargetPolicy } from '../../../shared/domain/ports/outbound-target.port.ts';
import type { InstanceRepository } from '../../../shared/domain/ports/repositories.port.ts';
import type { Logger } from '../../../shared/domain/ports/runtime.port.ts';
import { createMediaIngest, extensionOf } from '../../../shared/domain/use-cases/media.use-cases.ts';

// Media in events (spec §3.2 `message.media`): presigning, delivery-time enrichment, ingestion.

const vault = createSecretVault(new LocalKeyring({ masterKeys: [{ id: 'k1', key: randomBytes(32) }] }));
const allowAll: OutboundTargetPolicy = { check: async () => ({ allowed: true }) };

const capture = () => {
  const lines: { level: string; message: string; fields: unknown }[] = [];
  const logger: Logger = {
    info: (message, fields) => lines.push({ level: 'info', message, fields }),
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
  };
  return { logger, lines };
};

/** An instance, optionally with its own S3 configuration (credentials sealed as the API stores them). */
const aggregateWith = async (s3: { bucket: string; endpoint: string | null; pathPrefix?: string | null } | null, mediaBase64 = false): Promise<InstanceAggregate> => {
  const id = 'inst-1';
  const cipher = await vault.newInstanceCipher(id);
  return {
    instance: {
      id,
      accountId: 'acc-1',
      name: 'sales',
      wrappedKey: cipher.wrappedKey,
      tokenHash: 'h',
      tokenSealed: cipher.seal(sealedFields.token, 'token'),
      status: 'connected',
      numberJid: null,
      profile: { ...emptyProfile },
      settings: { ...defaultSettings },
      proxy: null,
      s3: s3
        ? {
            region: 'us-east-1',
            bucket: s3.bucket,
            endpoint: s3.endpoint,
            pathPrefix: s3.pathPrefix ?? null,
            accessKeySealed: cipher.seal(sealedFields.s3AccessKey, 'AKIACUSTOMER'),
            secretKeySealed: cipher.seal(sealedFields.s3SecretKey, 'customer-secret'),
          }
        : null,
      websocket: null,
      createdAt: '2026-01-01T00:00:00Z',
      updatedAt: '2026-01-01T00:00:00Z',
    },
    webhooks: [
      { label: 'default', enabled: true, url: 'https://hooks.example.com', authorizationSealed: null, byEvents: false, events: [], mediaBase64, includeInstanceToken: true, secretSealed: null },
    ],
    chatwootRequest: null,
  };
};

const repositoryOf = (aggregate: InstanceAggregate): InstanceRepository => ({ get: async () => aggregate }) as unknown as InstanceRepository;

/** A fake object store that records which bucket (and credentials) each call used. */
const fakeObjects = (content: Buffer = Buffer.from('hello')) => {
  const calls: { op: string; target: MediaBucket; key: string }[] = [];
  const objects: MediaObjectStore = {
    put: async (target, key) => void calls.push({ op: 'put', target, key }),
    presignGet: async (target, key) => (calls.push({ op: 'presign', target, key }), `https://signed.example/${target.bucket}/${key}?X-Amz-Signature=abc`),
    read: async (target, key) => (calls.push({ op: 'read', target, key }), content),
    deletePrefix: async (target, key) => (calls.push({ op: 'deletePrefix', target, key }), 0),
  };
  return { objects, calls };
};

const recordWith = (stored: StoredMediaRef | null): EventRecord => ({
  id: '01EVENT',
  event: 'message.exchange',
  instanceId: 'inst-1',
  accountId: 'acc-1',
  instanceName: 'sales',
  timestamp: '2026-04-28T10:30:00.123Z',
  data: { id: 'MSG1', message: { id: 'MSG1', type: 'image', media: { type: 'image', url: 'https://mmg.whatsapp.net/x', mimetype: 'image/jpeg', size: 5, ...(stored ? { stored } : {}) } } },
});

const platformRef: StoredMediaRef = { store: 'platform', bucket: 'zapfleet-media', key: 'inst-1/MSG1.jpg', endpoint: null, size: 5, contentType: 'image/jpeg' };

describe('presigned GET URLs (Signature V4, query string)', () => {
  it('matches the example of the S3 documentation', () => {
    // Prepare: "Authenticating Requests: Using Query Parameters", example GET of test.txt.
    const input = {
      url: 'https://examplebucket.s3.amazonaws.com/test.txt',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      expiresSeconds: 86_400,
      now: new Date('2013-05-24T00:00:00Z'),
    };

    // Act
    const url = new URL(presignS3Get(input));

    // Assess
    expect(url.searchParams.get('X-Amz-Signature')).toBe('aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404');
    expect(url.searchParams.get('X-Amz-Credential')).toBe('AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request');
  });

  it('addresses AWS buckets virtual-hosted and custom endpoints path-style', () => {
    // Act / Assess
    expect(objectUrl({ bucket: 'acme', region: 'sa-east-1', endpoint: null }, 'media/a b.jpg')).toBe('https://acme.s3.sa-east-1.amazonaws.com/media/a%20b.jpg');
    expect(objectUrl({ bucket: 'acme', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000/' }, 'media/x.ogg')).toBe('http://127.0.0.1:9000/acme/media/x.ogg');
  });
});

describe('media at delivery time', () => {
  it('returns data without stored media untouched', async () => {
    // Prepare
    const { objects, calls } = fakeObjects();
    const media = createMediaDelivery({ objects, instances: repositoryOf(await aggregateWith(null)), vault, outbound: allowAll, logger: capture().logger });
    const record = recordWith(null);

    // Act
    const data = await media.enrich(record, { mediaBase64: true });

    // Assess
    expect(data).toBe(record.data);
    expect(calls).toEqual([]);
  });

  it('replaces the reference by a presigned s3Url, and adds base64 only when asked', async () => {
    // Prepare
    const { objects } = fakeObjects(Buffer.from('hello'));
    const media = createMediaDelivery({ objects, instances: repositoryOf(await aggregateWith(null)), vault, outbound: allowAll, logger: capture().logger });
    const record = recordWith(platformRef);

    // Act
    const plain = await media.enrich(record, { mediaBase64: false });
    const withBase64 = await media.enrich(record, { mediaBase64: true });

    // Assess
    expect((plain.message as { media: unknown }).media).toEqual({
      type: 'image',
      url: 'https://mmg.whatsapp.net/x',
      mimetype: 'image/jpeg',
      size: 5,
      s3Url: 'https://signed.example/zapfleet-media/inst-1/MSG1.jpg?X-Amz-Signature=abc',
    });
    expect((withBase64.message as { media: { base64: string } }).media.base64).toBe(Buffer.from('hello').toString('base64'));
    expect(JSON.stringify(record.data)).toContain('"stored"');
  });

  it('marks media over 10 MiB as base64Omitted without reading it', async () => {
    // Prepare
    const { objects, calls } = fakeObjects();
    const media = createMediaDelivery({ objects, instances: repositoryOf(await aggregateWith(null)), vault, outbound: allowAll, logger: capture().logger });

    // Act
    const data = await media.enrich(recordWith({ ...platformRef, size: maxBase64Bytes + 1 }), { mediaBase64: true });

    // Assess
    expect((data.message as { media: Record<string, unknown> }).media).toMatchObject({ base64Omitted: true });
    expect((data.message as { media: Record<string, unknown> }).media).not.toHaveProperty('base64');
    expect(calls.map((call) => call.op)).toEqual(['presign']);
  });

  it("uses an instance's credentials only for the bucket its S3 configuration still names", async () => {
    // Prepare
    const aggregate = await aggregateWith({ bucket: 'acme-media', endpoint: 'http://10.0.0.5:9000' });
    const { objects, calls } = fakeObjects();
    const { logger, lines } = capture();
    const media = createMediaDelivery({ objects, instances: repositoryOf(aggregate), vault, outbound: allowAll, logger });
    const ref: StoredMediaRef = { store: 'instance', bucket: 'acme-media', key: 'media/MSG1.jpg', endpoint: 'http://10.0.0.5:9000', size: 5, contentType: 'image/jpeg' };

    // Act
    const own = await media.enrich(recordWith(ref), { mediaBase64: false });
    const other = await media.enrich(recordWith({ ...ref, bucket: 'someone-elses-bucket' }), { mediaBase64: false });

    // Assess
    expect((own.message as { media: { s3Url: string } }).media.s3Url).toContain('/acme-media/media/MSG1.jpg');
    expect(calls).toEqual([
      { op: 'presign', key: 'media/MSG1.jpg', target: { kind: 'instance', bucket: 'acme-media', region: 'us-east-1', endpoint: 'http://10.0.0.5:9000', credentials: { accessKeyId: 'AKIACUSTOMER', secretAccessKey: 'customer-secret' } } },
    ]);
    expect((other.message as { media: Record<string, unknown> }).media).not.toHaveProperty('s3Url');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', message: 'media left out of the event' });
    expect(JSON.stringify(lines)).not.toContain('customer-secret');
  });

  it('refuses an instance endpoint that is no longer an allowed destination', async () => {
    // Prepare
    const aggregate = await aggregateWith({ bucket: 'acme-media', endpoint: 'http://169.254.169.254' });
    const { objects, calls } = fakeObjects();
    const refuse: OutboundTargetPolicy = { check: async () => ({ allowed: false, reason: 'address 169.254.169.254 is a link-local/metadata address' }) };
    const media = createMediaDelivery({ objects, instances: repositoryOf(aggregate), vault, outbound: refuse, logger: capture().logger });

    // Act
    const data = await media.enrich(recordWith({ store: 'instance', bucket: 'acme-media', key: 'k', endpoint: 'http://169.254.169.254', size: 5, contentType: 'image/jpeg' }), { mediaBase64: true });

    // Assess
    expect((data.message as { media: Record<string, unknown> }).media).not.toHaveProperty('s3Url');
    expect(calls).toEqual([]);
  });

  it("enriches a webhook body per the webhook's own mediaBase64, and passes other bodies through", async () => {
    // Prepare
    const { objects } = fakeObjects(Buffer.from('hello'));
    const media = createMediaDelivery({ objects, instances: repositoryOf(await aggregateWith(null, true)), vault, outbound: allowAll, logger: capture().logger });
    const sent: WebhookRequest[] = [];
    const inner = { send: async (request: WebhookRequest) => (sent.push(request), { delivered: true, statusCode: 200, error: null, latencyMs: 1 }) };
    const sender = media.webhookSender(inner, { accountId: 'acc-1', instanceName: 'sales', instanceId: 'inst-1', label: 'default' });
    const base = { url: 'https://hooks.example.com', event: 'message.exchange' as const, eventId: '01EVENT', attempt: 3, authorization: null, secret: null };
    const text = { ...base, body: JSON.stringify({ event: 'message.exchange', data: { id: 'T', message: { type: 'text' } }, id: '01EVENT' }) };

    // Act
    await sender.send(text);
    await sender.send({ ...base, body: JSON.stringify({ event: 'message.exchange', data: recordWith(platformRef).data, id: '01EVENT' }) });

    // Assess
    expect(sent[0]).toBe(text);
    const body = JSON.parse(sent[1]?.body ?? '{}') as { data: { message: { media: Record<string, unknown> } } };
    expect(body.data.message.media).toMatchObject({ s3Url: expect.stringContaining('X-Amz-Signature'), base64: Buffer.from('hello').toString('base64') });
    expect(body.data.message.media).not.toHaveProperty('stored');
  });
});

describe('media ingestion', () => {
  const source = (content: Buffer, overrides: Partial<WaMediaSource> = {}): WaMediaSource => ({
    mimetype: 'image/jpeg',
    fileName: null,
    declaredSize: content.length,
    sha256: createHash('sha256').update(content).digest(),
    open: async () => Readable.from([content.subarray(0, 7), content.subarray(7)]),
    ...overrides,
  });
  const eventWith = (media: WaMediaSource): WaMessageEvent => ({
    type: 'message',
    key: { remoteJid: '5511944443333@s.whatsapp.net', id: '3EB0ABC', fromMe: false },
    isGroup: false,
    isStatus: false,
    isHistory: false,
    text: null,
    pushName: null,
    exchange: { id: '3EB0ABC', media: { type: 'image', mimetype: 'image/jpeg' } },
    media,
  });
  const ref = { instanceId: 'inst-1', accountId: 'acc-1', instanceName: 'sales' };

  it("stores into the instance's bucket under its path prefix, else into the platform bucket per instance", async () => {
    // Prepare
    const content = randomBytes(100);
    const own = fakeObjects();
    const platform = fakeObjects();
    const withBucket = createMediaIngest({ instances: repositoryOf(await aggregateWith({ bucket: 'acme', endpoint: null, pathPrefix: 'media/' })), vault, outbound: allowAll, objects: own.objects, spool: spoolMediaToFile(), logger: capture().logger, platformBucket: 'zapfleet-media' });
    const without = createMediaIngest({ instances: repositoryOf(await aggregateWith(null)), vault, outbound: allowAll, objects: platform.objects, spool: spoolMediaToFile(), logger: capture().logger, platformBucket: 'zapfleet-media' });
    const first = eventWith(source(content));
    const second = eventWith(source(content));

    // Act
    await withBucket(ref, first);
    await without(ref, second);

    // Assess
    expect(first.exchange?.media).toMatchObject({ stored: { store: 'instance', bucket: 'acme', key: 'media/3EB0ABC.jpg', size: 100, endpoint: null } });
    expect(own.calls.map((call) => [call.target.kind, call.key])).toEqual([['instance', 'media/3EB0ABC.jpg']]);
    expect(second.exchange?.media).toMatchObject({ stored: { store: 'platform', bucket: 'zapfleet-media', key: 'inst-1/3EB0ABC.jpg', size: 100 } });
  });

  it('leaves the event without stored media when the content does not match its fileSha256, and logs why', async () => {
    // Prepare
    const { objects, calls } = fakeObjects();
    const { logger, lines } = capture();
    const ingest = createMediaIngest({ instances: repositoryOf(await aggregateWith(null)), vault, outbound: allowAll, objects, spool: spoolMediaToFile(), logger, platformBucket: 'zapfleet-media' });
    const event = eventWith(source(randomBytes(50), { sha256: randomBytes(32) }));

    // Act
    await ingest(ref, event);

    // Assess
    expect(event.exchange?.media).not.toHaveProperty('stored');
    expect(calls).toEqual([]);
    expect(lines).toEqual([{ level: 'warn', message: 'media not stored', fields: { instanceId: 'inst-1', messageId: '3EB0ABC', reason: 'content does not match its fileSha256' } }]);
  });

  it('does not download media announced above the cap, and stops a download that grows past it', async () => {
    // Prepare
    let opened = 0;
    const big = source(randomBytes(64), { declaredSize: 1_000, open: async () => (opened++, Readable.from([randomBytes(64)])) });
    const lying = source(randomBytes(64), { declaredSize: 10 });
    const { objects, calls } = fakeObjects();
    const ingest = createMediaIngest({ instances: repositoryOf(await aggregateWith(null)), vault, outbound: allowAll, objects, spool: spoolMediaToFile(), logger: capture().logger, platformBucket: 'zapfleet-media', maxBytes: 32 });
    const first = eventWith(big);
    const second = eventWith(lying);

    // Act
    await ingest(ref, first);
    await ingest(ref, second);

    // Assess
    expect(opened).toBe(0);
    expect(calls).toEqual([]);
    expect(first.exchange?.media).not.toHaveProperty('stored');
    expect(second.exchange?.media).not.toHaveProperty('stored');
  });

  it('spools a verified download to a private file', async () => {
    // Prepare
    const content = randomBytes(3_000);

    // Act
    const file = await spoolMediaToFile()(source(content), { maxBytes: 10_000 });

    // Assess
    expect((await readFile(file.path)).equals(content)).toBe(true);
    expect((await stat(file.path)).mode & 0o777).toBe(0o600);
    await file.remove();
    await expect(stat(file.path)).rejects.toThrow();
  });

  it('names object keys by MIME type, then file name', () => {
    // Act / Assess
    expect(extensionOf('audio/ogg; codecs=opus', null)).toBe('ogg');
    expect(extensionOf('application/vnd.openxmlformats-officedocument.wordprocessingml.document', 'contrato.DOCX')).toBe('docx');
    expect(extensionOf(null, null)).toBe('bin');
  });
});

describe('media download location', () => {
  it("downloads from WhatsApp's CDN or the configured media origin, never from a URL the sender chose elsewhere", () => {
    // Act / Assess
    expect(mediaDownloadUrl({ directPath: '/v/t62.7118-24/abc.enc?ccb=11-4', url: 'https://evil.example/x' })).toBe('https://mmg.whatsapp.net/v/t62.7118-24/abc.enc?ccb=11-4');
    expect(mediaDownloadUrl({ directPath: '/v/t62/abc.enc' }, 'http://127.0.0.1:4000')).toBe('http://127.0.0.1:4000/v/t62/abc.enc');
    expect(mediaDownloadUrl({ url: 'https://mmg.whatsapp.net/d/f/abc.enc' })).toBe('https://mmg.whatsapp.net/d/f/abc.enc');
    expect(() => mediaDownloadUrl({ url: 'http://169.254.169.254/latest/meta-data' })).toThrow('media has no downloadable location');
  });
});
