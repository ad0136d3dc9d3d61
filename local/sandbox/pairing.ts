import { createCipheriv, createDecipheriv, createHmac, hkdfSync, pbkdf2, randomBytes, randomInt } from 'node:crypto';
import { promisify } from 'node:util';
import { Curve, WA_ADV_ACCOUNT_SIG_PREFIX, WA_ADV_DEVICE_SIG_PREFIX, proto } from '@whiskeysockets/baileys';
import type { KeyPair } from './noise-responder.ts';

/**
 * The phone's side of linking a companion device: reading the QR, signing the device identity
 * (ADV) and the pairing-code key exchange. Baileys verifies all of it in
 * Utils/validate-connection.js (`configureSuccessfulPairing`) and Socket/messages-recv.js
 * (`link_code_companion_reg`).
 */

/** What a companion's QR carries (Baileys' `buildPairingQRData`). */
export interface ScannedQr {
  ref: string;
  noiseKey: Buffer;
  identityKey: Buffer;
  /** Only ever shown in the QR: the server never sees it, so a scan is what proves presence. */
  advSecret: Buffer;
  platformId: string;
}

export function parseQr(qr: string): ScannedQr {
  const fields = qr.slice(qr.indexOf('#') + 1).split(',');
  const [ref, noiseKey, identityKey, advSecret, platformId] = fields;
  if (fields.length < 4 || !ref || !noiseKey || !identityKey || !advSecret) {
    throw new Error('not a WhatsApp linking QR');
  }
  return {
    ref,
    noiseKey: Buffer.from(noiseKey, 'base64'),
    identityKey: Buffer.from(identityKey, 'base64'),
    advSecret: Buffer.from(advSecret, 'base64'),
    platformId: platformId ?? '',
  };
}

export interface DeviceIdentityInput {
  /** The primary phone's identity key: it signs for the account. */
  accountKey: KeyPair;
  companionIdentityKey: Uint8Array;
  advSecret: Uint8Array;
  keyIndex: number;
}

/**
 * The `<device-identity>` of `pair-success`: the account signs the companion's identity key and
 * the whole is authenticated with HMAC under the ADV secret the companion generated.
 */
export function signDeviceIdentity({ accountKey, companionIdentityKey, advSecret, keyIndex }: DeviceIdentityInput): {
  bytes: Uint8Array;
  details: Uint8Array;
} {
  const details = proto.ADVDeviceIdentity.encode({
    rawId: randomInt(1, 0x7fffffff),
    timestamp: Math.floor(Date.now() / 1000),
    keyIndex,
  }).finish();
  const accountSignature = Curve.sign(
    accountKey.private,
    Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, details, companionIdentityKey]),
  );
  const signed = proto.ADVSignedDeviceIdentity.encode({
    details,
    accountSignatureKey: accountKey.public,
    accountSignature,
  }).finish();
  const hmac = createHmac('sha256', advSecret).update(signed).digest();
  return { bytes: proto.ADVSignedDeviceIdentityHMAC.encode({ details: signed, hmac }).finish(), details };
}

/**
 * Checks the companion's counter-signature in its `pair-device-sign` reply: proof that the
 * device holding the identity key accepted this account.
 */
export function verifyDeviceSignature(
  replyBytes: Uint8Array,
  deviceDetails: Uint8Array,
  companionIdentityKey: Uint8Array,
  accountKey: Uint8Array,
): boolean {
  const reply = proto.ADVSignedDeviceIdentity.decode(replyBytes);
  if (!reply.deviceSignature) return false;
  const signed = Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, deviceDetails, companionIdentityKey, accountKey]);
  return Curve.verify(companionIdentityKey, signed, reply.deviceSignature);
}

// ---- pairing code ------------------------------------------------------------------------

const pbkdf2Async = promisify(pbkdf2);

/** Baileys' `derivePairingCodeKey`: PBKDF2-SHA256, 2 << 16 rounds, 32 bytes. */
const pairingCodeKey = (code: string, salt: Uint8Array): Promise<Buffer> =>
  pbkdf2Async(Buffer.from(code), salt, 2 << 16, 32, 'sha256');

function aesCtr(key: Uint8Array, iv: Uint8Array, data: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([cipher.update(data), cipher.final()]);
}

const hkdf32 = (ikm: Uint8Array, salt: Uint8Array, info: string): Buffer =>
  Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.from(info), 32));

/** Unwraps `salt(32) ‖ iv(16) ‖ AES-CTR(ephemeral public key)` with the code the user typed. */
export async function unwrapWithCode(wrapped: Uint8Array, code: string): Promise<Buffer> {
  const key = await pairingCodeKey(code, wrapped.subarray(0, 32));
  return aesCtr(key, wrapped.subarray(32, 48), wrapped.subarray(48, 80));
}

export async function wrapWithCode(publicKey: Uint8Array, code: string): Promise<Buffer> {
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  return Buffer.concat([salt, iv, aesCtr(await pairingCodeKey(code, salt), iv, publicKey)]);
}

export interface LinkCodeFinish {
  /** `link_code_pairing_wrapped_key_bundle` from the companion's `companion_finish`. */
  wrappedKeyBundle: Uint8Array;
  companionEphemeralKey: Uint8Array;
  primaryEphemeral: KeyPair;
  primaryIdentity: KeyPair;
}

/**
 * Opens the companion's key bundle and derives the ADV secret both sides now share. Throws
 * when the bundle does not authenticate, which is how a mistyped code shows up: the two sides
 * derived different ephemeral keys from it.
 */
export function completeLinkCode({ wrappedKeyBundle, companionEphemeralKey, primaryEphemeral, primaryIdentity }: LinkCodeFinish): {
  companionIdentityKey: Buffer;
  advSecret: Buffer;
} {
  const companionShared = Curve.sharedKey(primaryEphemeral.private, companionEphemeralKey);
  const salt = wrappedKeyBundle.subarray(0, 32);
  const iv = wrappedKeyBundle.subarray(32, 44);
  const sealed = wrappedKeyBundle.subarray(44);
  const key = hkdf32(companionShared, salt, 'link_code_pairing_key_bundle_encryption_key');
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  const bundle = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  const companionIdentityKey = bundle.subarray(0, 32);
  if (!bundle.subarray(32, 64).equals(Buffer.from(primaryIdentity.public))) {
    throw new Error('key bundle names another primary identity');
  }
  const random = bundle.subarray(64, 96);
  const identityShared = Curve.sharedKey(primaryIdentity.private, companionIdentityKey);
  const advSecret = hkdf32(Buffer.concat([companionShared, identityShared, random]), Buffer.alloc(0), 'adv_secret');
  return { companionIdentityKey, advSecret };
}
