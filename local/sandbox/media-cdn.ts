import { downloadEncryptedContent, encryptedStream, getMediaKeys, type MediaType, type proto } from '@whiskeysockets/baileys';
import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, globalAgent, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { rootCertificates } from 'node:tls';

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
/** Uploads larger than this are refused (WhatsApp's own limit is about 100 MiB for documents). */
const maxUploadBytes = 110 * 1024 * 1024;

/**
 * Media uploads by linked devices: Baileys always uploads to `https://<media_conn host>/mms/<type>/<token>`,
 * so the sandbox answers on a second, TLS listener with this self-signed certificate (CN
 * zapfleet-sandbox-media, SAN 127.0.0.1/localhost/::1, valid until 2126). Not a secret: it only
 * ever serves the sandbox. `trustSandboxMediaTls()` adds it to Node's global https agent.
 */
const sandboxMediaTls = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgynKitVsfeAFtGHkP
SmZAnXVj9+/kzoWFI1xP105+j22hRANCAASTfJHdF0s3y4E28BLHX3+JB3Vgok8Q
zIoc8dFt+SyOcxMq1O7QpfA1tjfomPvHImO0/hwlJd21nEa9zbAAZhQG
-----END PRIVATE KEY-----
`,
  cert: `-----BEGIN CERTIFICATE-----
MIIByTCCAW6gAwIBAgIUL26ZDVEnxCDxbR6g9npdboSYqocwCgYIKoZIzj0EAwIw
ITEfMB0GA1UEAwwWemFwZmxlZXQtc2FuZGJveC1tZWRpYTAgFw0yNjExMjUxMzU0
NDFaGA8yMTI2MTEwMTEzNTQ0MVowITEfMB0GA1UEAwwWemFwZmxlZXQtc2FuZGJv
eC1tZWRpYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABJN8kd0XSzfLgTbwEsdf
f4kHdWCiTxDMihzx0W35LI5zEyrU7tCl8DW2N+iY+8ciY7T+HCUl3bWcRr3NsABm
FAajgYEwfzAdBgNVHQ4EFgQUJwAN5B2FOyvIW+yiEz9LDwbAqzwwHwYDVR0jBBgw
FoAUJwAN5B2FOyvIW+yiEz9LDwbAqzwwDwYDVR0TAQH/BAUwAwEB/zAsBgNVHREE
JTAjhwR/AAABgglsb2NhbGhvc3SHEAAAAAAAAAAAAAAAAAAAAAEwCgYIKoZIzj0E
AwIDSQAwRgIhANJl/YN1kbpFoA6UDzRDRSmB4ScsKKdmXwTwo18MD6OTAiEAyE/k
eQ1rcOAKmsuj06oVhYnDmEWiXnSVvXt+J8zz02w=
-----END CERTIFICATE-----
`,
};

/**
 * Lets this process's https requests that use Node's global agent (Baileys' media upload does)
 * trust the sandbox's upload listener, on top of the usual roots. Process-wide, like
 * `trustSandboxRoot`: sandbox and test processes only.
 */
export const trustSandboxMediaTls = (): void => {
  const options = globalAgent.options as { ca?: string | Buffer | (string | Buffer)[] };
  const current = options.ca === undefined ? [...rootCertificates] : Array.isArray(options.ca) ? options.ca : [options.ca];
  if (!current.includes(sandboxMediaTls.cert)) options.ca = [...current, sandboxMediaTls.cert];
};

const mediaKinds = ['imageMessage', 'videoMessage', 'audioMessage', 'documentMessage', 'stickerMessage'] as const;
const typeOfKind: Record<(typeof mediaKinds)[number], MediaType> = {
  imageMessage: 'image',
  videoMessage: 'video',
  audioMessage: 'audio',
  documentMessage: 'document',
  stickerMessage: 'sticker',
};

export class MediaCdn {
  private readonly files = new Map<string, Buffer>();

  private readonly uploads: HttpsServer = createHttpsServer(sandboxMediaTls, (req, res) => void this.handleUpload(req, res));
  /** The `auth` the sandbox's `media_conn` hands out and the upload listener expects. */
  readonly uploadAuth = randomBytes(16).toString('base64url');

  constructor(private readonly origin: () => string) {}

  /** Starts the TLS upload listener; returns its `host:port` (the `media_conn` host name). */
  async listenUploads(host: string): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.uploads.once('error', reject);
      this.uploads.listen(0, host, () => resolve());
    });
    return `${host}:${(this.uploads.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.uploads.closeAllConnections();
    await new Promise<void>((resolve) => this.uploads.close(() => resolve()));
  }

  /** `POST /mms/<type>/<token>?auth=…`: stores the (already encrypted) file and answers WhatsApp's JSON. */
  private async handleUpload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://sandbox');
    if (req.method !== 'POST' || !url.pathname.startsWith('/mms/')) return void res.writeHead(404).end();
    if (url.searchParams.get('auth') !== this.uploadAuth) return void res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"unauthorized"}');
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxUploadBytes) return void res.writeHead(413).end();
      chunks.push(chunk);
    }
    const directPath = this.store(Buffer.concat(chunks));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: `${this.origin()}${directPath}&mms3=true`, direct_path: directPath }));
  }

  private store(ciphertext: Buffer): string {
    const file = randomBytes(16).toString('hex');
    const directPath = `/v/t62.7118-24/${file}.enc?ccb=11-4&oe=${Math.floor(Date.now() / 1000) + 14 * 86400}`;
    this.files.set(`/v/t62.7118-24/${file}.enc`, ciphertext);
    while (this.files.size > maxFiles) this.files.delete(this.files.keys().next().value as string);
    return directPath;
  }

  /**
   * What the contact gets when it downloads and decrypts the media of a message it received
   * (with the message's media key, from this CDN); `undefined` when the message has no media
   * or the file is not here.
   */
  async decrypt(message: proto.IMessage | undefined): Promise<{ type: MediaType; data: Buffer; media: Record<string, unknown> } | undefined> {
    const content = message?.documentWithCaptionMessage?.message ?? message?.viewOnceMessage?.message ?? message;
    const kind = mediaKinds.find((candidate) => content?.[candidate]);
    if (!content || !kind) return undefined;
    const media = content[kind] as { directPath?: string | null; mediaKey?: Uint8Array | null };
    if (!media.directPath || !media.mediaKey) return undefined;
    const path = new URL(media.directPath, 'http://sandbox').pathname;
    if (!this.files.has(path)) return undefined;
    const type = typeOfKind[kind];
    const stream = await downloadEncryptedContent(`${this.origin()}${media.directPath}`, await getMediaKeys(media.mediaKey, type));
    const parts: Buffer[] = [];
    for await (const chunk of stream as AsyncIterable<Buffer>) parts.push(chunk);
    return { type, data: Buffer.concat(parts), media: media as Record<string, unknown> };
  }

  /** Encrypts and "uploads" the media; returns the message content to send. */
  async upload(media: SandboxMedia): Promise<proto.IMessage> {
    const encrypted = await encryptedStream(media.data, media.type as MediaType);
    let ciphertext: Buffer;
    try {
      ciphertext = await readFile(encrypted.encFilePath);
    } finally {
      await rm(encrypted.encFilePath, { force: true });
    }
    const directPath = this.store(ciphertext);
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
