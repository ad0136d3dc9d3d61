import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A small KMS speaking the AWS JSON 1.1 protocol (`X-Amz-Target: TrentService.<Operation>`), so
 * the real `@aws-sdk/client-kms` can be tested end to end: there is no KMS emulator.
 *
 * Ciphertext blobs are real AES-256-GCM under a per-key secret held by the fake; they embed the
 * key id and bind the encryption context (sorted, as KMS matches it regardless of order), so a
 * Decrypt with another context fails with `InvalidCiphertextException`, as on AWS.
 * Only GenerateDataKey, Encrypt and Decrypt are implemented.
 */
export interface KmsFake {
  /** `http://127.0.0.1:<port>`, for `new KMSClient({ endpoint })`. */
  readonly endpoint: string;
  /** The first key id. */
  readonly keyId: string;
  readonly keyIds: readonly string[];
  readonly region: string;
  /** Every request received, in order; `target` is the full `X-Amz-Target` value. */
  readonly calls: { target: string }[];
  arnOf(keyId: string): string;
  stop(): Promise<void>;
}

export interface KmsFakeOptions {
  keyIds?: string[];
  region?: string;
}

const ACCOUNT = '111122223333';
const BLOB_MAGIC = Buffer.from('ZFK1', 'ascii');
const IV_BYTES = 12;
const TAG_BYTES = 16;
const JSON_11 = 'application/x-amz-json-1.1';

class KmsError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;

export async function startKmsFake(options: KmsFakeOptions = {}): Promise<KmsFake> {
  const keyIds = options.keyIds ?? [randomUUID()];
  const firstKeyId = keyIds[0];
  if (firstKeyId === undefined) throw new Error('startKmsFake needs at least one key id');
  const region = options.region ?? 'us-east-1';
  const secrets = new Map(keyIds.map((id) => [id, randomBytes(32)]));
  const calls: { target: string }[] = [];
  const arnOf = (keyId: string) => `arn:aws:kms:${region}:${ACCOUNT}:key/${keyId}`;

  const resolveKey = (keyIdOrArn: unknown): string => {
    if (typeof keyIdOrArn !== 'string' || keyIdOrArn.length === 0) {
      throw new KmsError('ValidationException', 'KeyId is required');
    }
    const id = keyIdOrArn.startsWith('arn:') ? keyIdOrArn.slice(keyIdOrArn.lastIndexOf('/') + 1) : keyIdOrArn;
    if (!secrets.has(id) || (keyIdOrArn.startsWith('arn:') && keyIdOrArn !== arnOf(id))) {
      throw new KmsError('NotFoundException', `Key '${keyIdOrArn}' does not exist`);
    }
    return id;
  };

  const seal = (keyId: string, plaintext: Buffer, context: Record<string, string>): Buffer => {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', secretOf(secrets, keyId), iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(canonicalContext(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const id = Buffer.from(keyId, 'utf8');
    return Buffer.concat([BLOB_MAGIC, Buffer.from([id.length]), id, iv, cipher.getAuthTag(), ciphertext]);
  };

  const open = (blob: Buffer, context: Record<string, string>): { keyId: string; plaintext: Buffer } => {
    const invalid = () => new KmsError('InvalidCiphertextException', 'The ciphertext is invalid or the encryption context does not match');
    if (blob.length < BLOB_MAGIC.length + 1 || !blob.subarray(0, BLOB_MAGIC.length).equals(BLOB_MAGIC)) throw invalid();
    const idLength = blob[BLOB_MAGIC.length] ?? 0;
    let offset = BLOB_MAGIC.length + 1;
    const keyId = blob.subarray(offset, (offset += idLength)).toString('utf8');
    const iv = blob.subarray(offset, (offset += IV_BYTES));
    const tag = blob.subarray(offset, (offset += TAG_BYTES));
    const ciphertext = blob.subarray(offset);
    if (tag.length !== TAG_BYTES) throw invalid();
    if (!secrets.has(keyId)) throw new KmsError('NotFoundException', `Key '${arnOf(keyId)}' does not exist`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', secretOf(secrets, keyId), iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(canonicalContext(context));
      decipher.setAuthTag(tag);
      return { keyId, plaintext: Buffer.concat([decipher.update(ciphertext), decipher.final()]) };
    } catch {
      // The GCM failure is the answer itself: KMS reports it as an invalid ciphertext.
      throw invalid();
    }
  };

  const operations: Record<string, (input: Json) => Json> = {
    GenerateDataKey(input) {
      const keyId = resolveKey(input.KeyId);
      const bytes = dataKeyLength(input);
      const plaintext = randomBytes(bytes);
      const blob = seal(keyId, plaintext, encryptionContext(input));
      return { KeyId: arnOf(keyId), CiphertextBlob: blob.toString('base64'), Plaintext: plaintext.toString('base64') };
    },
    Encrypt(input) {
      const keyId = resolveKey(input.KeyId);
      if (typeof input.Plaintext !== 'string') throw new KmsError('ValidationException', 'Plaintext is required');
      const blob = seal(keyId, Buffer.from(input.Plaintext, 'base64'), encryptionContext(input));
      return { KeyId: arnOf(keyId), CiphertextBlob: blob.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
    Decrypt(input) {
      if (typeof input.CiphertextBlob !== 'string') throw new KmsError('ValidationException', 'CiphertextBlob is required');
      const requestedKeyId = input.KeyId === undefined ? undefined : resolveKey(input.KeyId);
      const { keyId, plaintext } = open(Buffer.from(input.CiphertextBlob, 'base64'), encryptionContext(input));
      if (requestedKeyId !== undefined && requestedKeyId !== keyId) {
        throw new KmsError('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext');
      }
      return { KeyId: arnOf(keyId), Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
    },
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const target = String(req.headers['x-amz-target'] ?? '');
    calls.push({ target });
    const body = await readBody(req);
    try {
      if (req.method !== 'POST') throw new KmsError('UnknownOperationException', 'Only POST is supported');
      if (!String(req.headers.authorization ?? '').startsWith('AWS4-HMAC-SHA256 ')) {
        throw new KmsError('MissingAuthenticationTokenException', 'Request is missing a SigV4 Authorization header');
      }
      const operation = target.startsWith('TrentService.') ? operations[target.slice('TrentService.'.length)] : undefined;
      if (operation === undefined) throw new KmsError('UnknownOperationException', `Unsupported target '${target}'`);
      let input: unknown;
      try {
        input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
      } catch {
        throw new KmsError('SerializationException', 'Request body is not valid JSON');
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new KmsError('SerializationException', 'Request body must be a JSON object');
      }
      reply(res, 200, operation(input as Json));
    } catch (error) {
      const failure = error instanceof KmsError ? error : new KmsError('KMSInternalException', String(error), 500);
      reply(res, failure.status, { __type: failure.type, message: failure.message });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => res.destroy(error instanceof Error ? error : new Error(String(error))));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    keyId: firstKeyId,
    keyIds,
    region,
    calls,
    arnOf,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // The SDK keeps connections alive; without this, close() waits for them to time out.
        server.closeAllConnections();
      }),
  };
}

function reply(res: ServerResponse, status: number, body: Json): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': JSON_11,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function encryptionContext(input: Json): Record<string, string> {
  const context = input.EncryptionContext ?? {};
  if (typeof context !== 'object' || context === null || Array.isArray(context)) {
    throw new KmsError('ValidationException', 'EncryptionContext must be a map of strings');
  }
  for (const value of Object.values(context)) {
    if (typeof value !== 'string') throw new KmsError('ValidationException', 'EncryptionContext must be a map of strings');
  }
  return context as Record<string, string>;
}

function canonicalContext(context: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify(Object.keys(context).sort().map((name) => [name, context[name]])), 'utf8');
}

function dataKeyLength(input: Json): number {
  if (input.KeySpec === 'AES_256') return 32;
  if (input.KeySpec === 'AES_128') return 16;
  if (typeof input.NumberOfBytes === 'number' && Number.isInteger(input.NumberOfBytes) && input.NumberOfBytes >= 1 && input.NumberOfBytes <= 1024) {
    return input.NumberOfBytes;
  }
  throw new KmsError('ValidationException', 'Either KeySpec (AES_256 | AES_128) or NumberOfBytes (1-1024) is required');
}

function secretOf(secrets: ReadonlyMap<string, Buffer>, keyId: string): Buffer {
  const secret = secrets.get(keyId);
  if (secret === undefined) throw new KmsError('NotFoundException', `Key '${keyId}' does not exist`);
  return secret;
}
