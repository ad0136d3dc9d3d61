import { createCipheriv, createDecipheriv, createHash, hkdfSync } from 'node:crypto';
import {
  Curve,
  NOISE_MODE,
  NOISE_WA_HEADER,
  decodeBinaryNode,
  encodeBinaryNode,
  proto,
  type BinaryNode,
} from '@whiskeysockets/baileys';

/**
 * The responder (server) side of WhatsApp's Noise handshake, `Noise_XX_25519_AESGCM_SHA256`,
 * and the framed transport that follows it. It mirrors the initiator in Baileys'
 * Utils/noise-handler.js step for step: any divergence in the hash chain or key schedule makes
 * Baileys fail the handshake, so the order of `authenticate`/`mixIntoKey` calls below matters.
 */

/** Curve25519 key pair in Baileys' format: 32-byte keys, no 0x05 type prefix. */
export interface KeyPair {
  public: Uint8Array;
  private: Uint8Array;
}

/** The edge's static key and the certificate chain that vouches for it. */
export interface EdgeIdentity {
  rootKey: KeyPair;
  staticKey: KeyPair;
  certChain: Uint8Array;
}

const INTERMEDIATE_SERIAL = 1;
const LEAF_SERIAL = 2;
/** WA_CERT_DETAILS.SERIAL: Baileys accepts an intermediate only if issued by serial 0. */
const ROOT_SERIAL = 0;

/**
 * Makes a root key, an intermediate signed by it and a leaf (the edge's static key) signed by
 * the intermediate, the same shape as WhatsApp's `WhatsAppLongTerm1` chain. Clients trust the
 * chain once `WA_CERT_DETAILS.PUBLIC_KEY` is set to `rootKey.public`.
 */
export function makeEdgeIdentity(): EdgeIdentity {
  const rootKey = Curve.generateKeyPair();
  const intermediateKey = Curve.generateKeyPair();
  const staticKey = Curve.generateKeyPair();
  const now = Math.floor(Date.now() / 1000);
  const validity = { notBefore: now - 3600, notAfter: now + 10 * 365 * 24 * 3600 };
  const details = proto.CertChain.NoiseCertificate.Details;
  const intermediateDetails = details
    .encode({ serial: INTERMEDIATE_SERIAL, issuerSerial: ROOT_SERIAL, key: intermediateKey.public, ...validity })
    .finish();
  const leafDetails = details
    .encode({ serial: LEAF_SERIAL, issuerSerial: INTERMEDIATE_SERIAL, key: staticKey.public, ...validity })
    .finish();
  const certChain = proto.CertChain.encode({
    intermediate: { details: intermediateDetails, signature: Curve.sign(rootKey.private, intermediateDetails) },
    leaf: { details: leafDetails, signature: Curve.sign(intermediateKey.private, leafDetails) },
  }).finish();
  return { rootKey, staticKey, certChain };
}

const sha256 = (data: Uint8Array): Buffer => createHash('sha256').update(data).digest();

function nonce(counter: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(counter, 8);
  return iv;
}

function sealGcm(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function openGcm(key: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array): Buffer {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

function hkdf64(ikm: Uint8Array, salt: Uint8Array): [Buffer, Buffer] {
  const out = Buffer.from(hkdfSync('sha256', ikm, salt, Buffer.alloc(0), 64));
  return [out.subarray(0, 32), out.subarray(32)];
}

/** Symmetric state of the handshake phase (hash chain, chaining key, cipher key, nonce). */
class HandshakeState {
  private hash: Buffer;
  private salt: Buffer;
  private key: Buffer;
  private counter = 0;

  constructor() {
    // NOISE_MODE is exactly 32 bytes, so (as in Noise) it is used as the initial hash directly.
    this.hash = Buffer.from(NOISE_MODE);
    this.salt = this.hash;
    this.key = this.hash;
  }

  authenticate(data: Uint8Array): void {
    this.hash = sha256(Buffer.concat([this.hash, data]));
  }

  mixIntoKey(sharedSecret: Uint8Array): void {
    [this.salt, this.key] = hkdf64(sharedSecret, this.salt);
    this.counter = 0;
  }

  encrypt(plaintext: Uint8Array): Buffer {
    const sealed = sealGcm(this.key, nonce(this.counter++), this.hash, plaintext);
    this.authenticate(sealed);
    return sealed;
  }

  decrypt(sealed: Uint8Array): Buffer {
    const plaintext = openGcm(this.key, nonce(this.counter++), this.hash, sealed);
    this.authenticate(sealed);
    return plaintext;
  }

  /** The initiator writes with the first half and reads with the second; we do the opposite. */
  split(): { encKey: Buffer; decKey: Buffer } {
    const [initiatorWrite, initiatorRead] = hkdf64(new Uint8Array(0), this.salt);
    return { encKey: initiatorRead, decKey: initiatorWrite };
  }
}

class TransportState {
  private readCounter = 0;
  private writeCounter = 0;
  constructor(
    private readonly encKey: Buffer,
    private readonly decKey: Buffer,
  ) {}
  encrypt(plaintext: Uint8Array): Buffer {
    return sealGcm(this.encKey, nonce(this.writeCounter++), Buffer.alloc(0), plaintext);
  }
  decrypt(sealed: Uint8Array): Buffer {
    return openGcm(this.decKey, nonce(this.readCounter++), Buffer.alloc(0), sealed);
  }
}

/** What the responder hands up once the handshake has finished. */
export interface HandshakeResult {
  /** The client's static Noise key (creds.noiseKey.public): the device's transport identity. */
  clientStaticKey: Uint8Array;
  payload: proto.ClientPayload;
}

/**
 * One client connection's Noise state: feed it raw WebSocket bytes with `receive`, and it
 * answers the handshake through `write`, then yields the client payload and decoded nodes.
 */
export class NoiseResponder {
  private buffered = Buffer.alloc(0);
  private introSeen = false;
  private readonly handshake = new HandshakeState();
  private ephemeral: KeyPair | null = null;
  private transport: TransportState | null = null;

  constructor(
    private readonly identity: EdgeIdentity,
    private readonly write: (bytes: Buffer) => void,
  ) {}

  /**
   * Consumes bytes and returns what they completed: the handshake result (once) and binary
   * nodes. Must be called in arrival order and awaited before the next call: the transport
   * nonces are counters, so frames cannot be decrypted out of order.
   */
  async receive(chunk: Uint8Array): Promise<Array<HandshakeResult | BinaryNode>> {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    const out: Array<HandshakeResult | BinaryNode> = [];
    if (!this.introSeen) {
      if (this.buffered.length < NOISE_WA_HEADER.length) return out;
      const intro = this.buffered.subarray(0, NOISE_WA_HEADER.length);
      // Baileys prefixes an `ED` routing header only when the server gave it routing info,
      // which this edge never does; anything but `WA` 6 3 is a client we do not speak to.
      if (!intro.equals(NOISE_WA_HEADER)) throw new Error(`unexpected intro ${intro.toString('hex')}`);
      this.handshake.authenticate(intro);
      this.buffered = this.buffered.subarray(NOISE_WA_HEADER.length);
      this.introSeen = true;
    }
    while (this.buffered.length >= 3) {
      const size = this.buffered.readUIntBE(0, 3);
      if (this.buffered.length < size + 3) break;
      const frame = this.buffered.subarray(3, size + 3);
      this.buffered = this.buffered.subarray(size + 3);
      if (this.transport) {
        out.push(await decodeBinaryNode(this.transport.decrypt(frame)));
      } else if (!this.ephemeral) {
        this.answerClientHello(frame);
      } else {
        out.push(this.finishHandshake(frame));
      }
    }
    return out;
  }

  /** Encrypts and frames one node for the client. */
  send(node: BinaryNode): void {
    if (!this.transport) throw new Error('Noise transport not established');
    this.write(frameBytes(this.transport.encrypt(encodeBinaryNode(node))));
  }

  private answerClientHello(frame: Buffer): void {
    const clientEphemeral = proto.HandshakeMessage.decode(frame).clientHello?.ephemeral;
    if (!clientEphemeral || clientEphemeral.length !== 32) throw new Error('client hello without ephemeral key');
    const hs = this.handshake;
    hs.authenticate(clientEphemeral);
    const ephemeral = Curve.generateKeyPair();
    this.ephemeral = ephemeral;
    hs.authenticate(ephemeral.public);
    hs.mixIntoKey(Curve.sharedKey(ephemeral.private, clientEphemeral));
    const sealedStatic = hs.encrypt(this.identity.staticKey.public);
    hs.mixIntoKey(Curve.sharedKey(this.identity.staticKey.private, clientEphemeral));
    const sealedPayload = hs.encrypt(this.identity.certChain);
    const hello = proto.HandshakeMessage.encode({
      serverHello: { ephemeral: ephemeral.public, static: sealedStatic, payload: sealedPayload },
    }).finish();
    this.write(frameBytes(hello));
  }

  private finishHandshake(frame: Buffer): HandshakeResult {
    const finish = proto.HandshakeMessage.decode(frame).clientFinish;
    if (!finish?.static || !finish.payload || !this.ephemeral) throw new Error('malformed client finish');
    const hs = this.handshake;
    const clientStaticKey = hs.decrypt(finish.static);
    hs.mixIntoKey(Curve.sharedKey(this.ephemeral.private, clientStaticKey));
    const payload = proto.ClientPayload.decode(hs.decrypt(finish.payload));
    const { encKey, decKey } = hs.split();
    this.transport = new TransportState(encKey, decKey);
    return { clientStaticKey, payload };
  }
}

function frameBytes(data: Uint8Array): Buffer {
  const header = Buffer.alloc(3);
  header.writeUIntBE(data.length, 0, 3);
  return Buffer.concat([header, data]);
}

export const isHandshakeResult = (item: HandshakeResult | BinaryNode): item is HandshakeResult =>
  'payload' in item && 'clientStaticKey' in item;
