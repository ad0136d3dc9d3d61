import {
  DecryptCommand,
  GenerateDataKeyCommand,
  IncorrectKeyException,
  InvalidCiphertextException,
  type KMSClient,
} from '@aws-sdk/client-kms';
import { SecretUnreadableError } from '../../domain/errors/secret-unreadable.error.ts';
import type { KeyContext, Keyring } from '../../domain/ports/keyring.port.ts';

const PREFIX = 'kms.v1.';
const KEY_BYTES = 32;

/**
 * Envelope encryption with AWS KMS. Wrapped form: `kms.v1.<base64 CiphertextBlob>`.
 * `context` becomes the KMS encryption context, so it is logged in CloudTrail in plain text:
 * identifiers only. The client is injected so one is shared per process (and tests can point it
 * at the KMS fake).
 */
export class KmsKeyring implements Keyring {
  constructor(
    private readonly client: KMSClient,
    private readonly keyId: string,
  ) {}

  async generateDataKey(context: KeyContext): Promise<{ plaintext: Buffer; wrapped: string }> {
    const out = await this.client.send(
      new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } }),
    );
    if (out.Plaintext?.length !== KEY_BYTES || out.CiphertextBlob === undefined || out.CiphertextBlob.length === 0) {
      throw new Error('KMS GenerateDataKey returned no usable data key');
    }
    return {
      plaintext: Buffer.from(out.Plaintext),
      wrapped: PREFIX + Buffer.from(out.CiphertextBlob).toString('base64'),
    };
  }

  async unwrapDataKey(wrapped: string, context: KeyContext): Promise<Buffer> {
    const blob = wrapped.startsWith(PREFIX) ? decodeBase64(wrapped.slice(PREFIX.length)) : undefined;
    if (blob === undefined || blob.length === 0) throw new SecretUnreadableError();

    let plaintext: Uint8Array | undefined;
    try {
      // KeyId pins the key: KMS then refuses a blob made under any other key instead of using it.
      const out = await this.client.send(
        new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: { ...context }, KeyId: this.keyId }),
      );
      plaintext = out.Plaintext;
    } catch (error) {
      // Both mean "this blob cannot be opened here" (tampered, other context, other key): a data
      // problem, not an outage. Throttling, network and permission errors propagate unchanged.
      if (error instanceof InvalidCiphertextException || error instanceof IncorrectKeyException) {
        throw new SecretUnreadableError({ cause: error });
      }
      throw error;
    }
    if (plaintext?.length !== KEY_BYTES) throw new Error('KMS Decrypt returned no usable data key');
    return Buffer.from(plaintext);
  }
}

function decodeBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, 'base64');
  // Buffer.from skips invalid characters; only a lossless round trip is accepted.
  return bytes.toString('base64') === text ? bytes : undefined;
}
