import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SecretUnreadableError } from '../../domain/errors/secret-unreadable.error.ts';
import type { KeyContext, Keyring } from '../../domain/ports/keyring.port.ts';
import { MASTER_KEY_ID_PATTERN, type LocalKeyMaterial } from './local-key-file.ts';

const PREFIX = 'local';
const VERSION = 'v1';
const KEY_BYTES = 32;
const GCM_IV_BYTES = 12;
// Fixed explicitly: without authTagLength, Node accepts truncated tags on decrypt.
const GCM_TAG_BYTES = 16;

/**
 * The embedded stack's stand-in for KMS: data keys are wrapped with AES-256-GCM under a master key
 * from the data dir. Wrapped form: `local.v1.<keyId>.<iv>.<ciphertext>.<tag>` (base64url).
 * The newest master key wraps; any configured key unwraps, so rotation never strands old data.
 */
export class LocalKeyring implements Keyring {
  private readonly keys: ReadonlyMap<string, Buffer>;
  private readonly currentKeyId: string;

  constructor(material: Pick<LocalKeyMaterial, 'masterKeys'>) {
    const keys = new Map<string, Buffer>();
    for (const { id, key } of material.masterKeys) {
      if (!MASTER_KEY_ID_PATTERN.test(id)) throw new Error(`Master key id "${id}" must match ${MASTER_KEY_ID_PATTERN.source}`);
      if (key.length !== KEY_BYTES) throw new Error(`Master key "${id}" must be ${KEY_BYTES} bytes`);
      if (keys.has(id)) throw new Error(`Master key id "${id}" is configured twice`);
      keys.set(id, key);
    }
    const newest = material.masterKeys.at(-1);
    if (newest === undefined) throw new Error('LocalKeyring needs at least one master key');
    this.keys = keys;
    this.currentKeyId = newest.id;
  }

  async generateDataKey(context: KeyContext): Promise<{ plaintext: Buffer; wrapped: string }> {
    const plaintext = randomBytes(KEY_BYTES);
    const keyId = this.currentKeyId;
    const iv = randomBytes(GCM_IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.masterKey(keyId), iv, { authTagLength: GCM_TAG_BYTES });
    cipher.setAAD(additionalData(keyId, context));
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const wrapped = [PREFIX, VERSION, keyId, iv, ciphertext, cipher.getAuthTag()]
      .map((part) => (typeof part === 'string' ? part : part.toString('base64url')))
      .join('.');
    return { plaintext, wrapped };
  }

  async unwrapDataKey(wrapped: string, context: KeyContext): Promise<Buffer> {
    const parts = wrapped.split('.');
    if (parts.length !== 6 || parts[0] !== PREFIX || parts[1] !== VERSION) throw new SecretUnreadableError();
    const [, , keyId = '', ivText = '', ciphertextText = '', tagText = ''] = parts;
    const masterKey = this.keys.get(keyId);
    const iv = decodeBase64Url(ivText);
    const ciphertext = decodeBase64Url(ciphertextText);
    const tag = decodeBase64Url(tagText);
    if (
      masterKey === undefined ||
      iv?.length !== GCM_IV_BYTES ||
      ciphertext?.length !== KEY_BYTES ||
      tag?.length !== GCM_TAG_BYTES
    ) {
      throw new SecretUnreadableError();
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', masterKey, iv, { authTagLength: GCM_TAG_BYTES });
      decipher.setAAD(additionalData(keyId, context));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch (error) {
      throw new SecretUnreadableError({ cause: error });
    }
  }

  private masterKey(keyId: string): Buffer {
    const key = this.keys.get(keyId);
    if (key === undefined) throw new Error(`Master key "${keyId}" is not configured`);
    return key;
  }
}

/**
 * Canonical (sorted) context, like KMS encryption context matching, where pair order does not
 * matter. The key id is bound too, so a wrapped key cannot be relabelled to another master key.
 */
function additionalData(keyId: string, context: KeyContext): Buffer {
  const pairs = Object.keys(context)
    .sort()
    .map((name) => [name, context[name]]);
  return Buffer.from(JSON.stringify([`${PREFIX}.${VERSION}`, keyId, pairs]), 'utf8');
}

/** Strict base64url: `Buffer.from` skips invalid characters, so only a lossless round trip counts. */
function decodeBase64Url(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : undefined;
}
