import { randomBytes, randomInt } from 'node:crypto';
import * as libsignal from 'libsignal';
import { Curve, proto } from '@whiskeysockets/baileys';
import type { KeyPair } from './noise-responder.ts';

/**
 * A simulated WhatsApp device with its own Signal store: a contact's phone, or the phone of a
 * linked number. It speaks real libsignal sessions with the Baileys device under test, so a
 * message it sends is only readable if Baileys' pre-keys and session handling are right.
 */

/** A pre-key bundle in wire form: 32-byte keys, as `<iq xmlns="encrypt">` carries them. */
export interface PreKeyBundle {
  registrationId: number;
  identityKey: Uint8Array;
  signedPreKey: { keyId: number; publicKey: Uint8Array; signature: Uint8Array };
  preKey?: { keyId: number; publicKey: Uint8Array };
}

/** A Signal peer address: WhatsApp uses the user part of the JID and the device number. */
export interface PeerAddress {
  user: string;
  device: number;
}

export type EncryptedType = 'pkmsg' | 'msg';

/** libsignal wants keys with the 0x05 type byte that WhatsApp strips on the wire. */
const withKeyType = (key: Uint8Array): Buffer =>
  key.length === 33 ? Buffer.from(key) : Buffer.concat([Buffer.from([5]), key]);

const toAddress = ({ user, device }: PeerAddress) => new libsignal.ProtocolAddress(user, device);

/** WhatsApp pads every Signal plaintext with 1–16 bytes whose value is the pad length. */
export function padMessage(bytes: Uint8Array): Buffer {
  const pad = randomInt(1, 17);
  return Buffer.concat([bytes, Buffer.alloc(pad, pad)]);
}

export function unpadMessage(bytes: Uint8Array): Uint8Array {
  const pad = bytes[bytes.length - 1];
  if (!pad || pad > bytes.length) throw new Error('invalid message padding');
  return bytes.subarray(0, bytes.length - pad);
}

export class SignalParty {
  readonly registrationId = randomInt(1, 16380);
  readonly identity: KeyPair = Curve.generateKeyPair();
  private readonly signedPreKey: { keyId: number; keyPair: KeyPair; signature: Uint8Array };
  private readonly preKeys = new Map<number, KeyPair>();
  private nextPreKeyId = randomInt(1, 1000);
  /** Serialised session records by address string, as a real store would keep them. */
  private readonly sessions = new Map<string, Uint8Array>();
  private readonly storage: libsignal.SignalStorage;

  constructor() {
    const keyPair = Curve.generateKeyPair();
    this.signedPreKey = {
      keyId: randomInt(1, 0xffffff),
      keyPair,
      signature: Curve.sign(this.identity.private, withKeyType(keyPair.public)),
    };
    this.storage = this.makeStorage();
  }

  /**
   * A fresh one-time pre-key bundle, as the server hands out for `<iq xmlns="encrypt"><key>`.
   * Each call mints a new pre-key (a real phone keeps a pool on the server; the effect is the
   * same: every session the other side builds consumes a different one).
   */
  issueBundle(): PreKeyBundle {
    const keyId = this.nextPreKeyId++ & 0xffffff;
    const keyPair = Curve.generateKeyPair();
    this.preKeys.set(keyId, keyPair);
    return {
      registrationId: this.registrationId,
      identityKey: this.identity.public,
      signedPreKey: {
        keyId: this.signedPreKey.keyId,
        publicKey: this.signedPreKey.keyPair.public,
        signature: this.signedPreKey.signature,
      },
      preKey: { keyId, publicKey: keyPair.public },
    };
  }

  hasSession(peer: PeerAddress): boolean {
    return this.sessions.has(toAddress(peer).toString());
  }

  /** Starts an outgoing session from the peer's bundle (the X3DH initiator side). */
  async startSession(peer: PeerAddress, bundle: PreKeyBundle): Promise<void> {
    await new libsignal.SessionBuilder(this.storage, toAddress(peer)).initOutgoing({
      registrationId: bundle.registrationId,
      identityKey: withKeyType(bundle.identityKey),
      signedPreKey: {
        keyId: bundle.signedPreKey.keyId,
        publicKey: withKeyType(bundle.signedPreKey.publicKey),
        signature: bundle.signedPreKey.signature,
      },
      // The runtime accepts a bundle without a one-time pre-key; its typings do not.
      preKey: (bundle.preKey
        ? { keyId: bundle.preKey.keyId, publicKey: withKeyType(bundle.preKey.publicKey) }
        : undefined) as PreKeyBundle['preKey'] & object,
    });
  }

  /** Encrypts a `proto.Message` for the peer; a session must exist (see `startSession`). */
  async encrypt(peer: PeerAddress, message: proto.IMessage): Promise<{ type: EncryptedType; ciphertext: Buffer }> {
    const plaintext = padMessage(proto.Message.encode(message).finish());
    const { type, body } = await new libsignal.SessionCipher(this.storage, toAddress(peer)).encrypt(plaintext);
    return { type: type === 3 ? 'pkmsg' : 'msg', ciphertext: Buffer.from(body, 'binary') };
  }

  async decrypt(peer: PeerAddress, type: EncryptedType, ciphertext: Uint8Array): Promise<proto.Message> {
    const cipher = new libsignal.SessionCipher(this.storage, toAddress(peer));
    const padded =
      type === 'pkmsg' ? await cipher.decryptPreKeyWhisperMessage(ciphertext) : await cipher.decryptWhisperMessage(ciphertext);
    return proto.Message.decode(unpadMessage(padded));
  }

  /**
   * Marks our outgoing session as known to the peer. Signal keeps sending PreKeyWhisperMessages
   * until the peer replies on the session; once the peer has acknowledged our first message
   * (a delivery receipt), it certainly holds the session, so later messages go as plain `msg`,
   * which is what WhatsApp traffic looks like after first contact.
   */
  confirmSession(peer: PeerAddress): void {
    const key = toAddress(peer).toString();
    const serialized = this.sessions.get(key);
    if (!serialized) return;
    const record = libsignal.SessionRecord.deserialize(serialized);
    const open = record.getOpenSession();
    if (!open?.pendingPreKey) return;
    delete open.pendingPreKey;
    this.sessions.set(key, record.serialize());
  }

  private makeStorage(): libsignal.SignalStorage {
    const ownIdentity = { privKey: Buffer.from(this.identity.private), pubKey: withKeyType(this.identity.public) };
    const ownSignedPreKey = {
      privKey: Buffer.from(this.signedPreKey.keyPair.private),
      pubKey: withKeyType(this.signedPreKey.keyPair.public),
    };
    return {
      loadSession: async (id) => {
        const serialized = this.sessions.get(id);
        return serialized ? libsignal.SessionRecord.deserialize(serialized) : undefined;
      },
      storeSession: async (id, record) => {
        this.sessions.set(id, record.serialize());
      },
      // Trust on first use, like WhatsApp clients: identity changes are not the sandbox's test.
      isTrustedIdentity: () => true,
      loadPreKey: async (id) => {
        const pair = this.preKeys.get(Number(id));
        return pair ? { privKey: Buffer.from(pair.private), pubKey: withKeyType(pair.public) } : undefined;
      },
      removePreKey: (id) => {
        this.preKeys.delete(Number(id));
      },
      loadSignedPreKey: () => ownSignedPreKey,
      getOurRegistrationId: () => this.registrationId,
      getOurIdentity: () => ownIdentity,
    };
  }
}

/** A WhatsApp-Web-style message id (`3EB0` + hex), unique enough for a sandbox. */
export const newMessageId = (): string => `3EB0${randomBytes(9).toString('hex').toUpperCase()}`;
