import {
  S_WHATSAPP_NET,
  getAllBinaryNodeChildren,
  getBinaryNodeChild,
  jidDecode,
  type BinaryNode,
} from '@whiskeysockets/baileys';
import type { PreKeyBundle } from './signal-party.ts';

/** Small builders and readers for the binary-node stanzas the sandbox speaks. */

export const nowSeconds = (): string => Math.floor(Date.now() / 1000).toString();

export const node = (tag: string, attrs: Record<string, string> = {}, content?: BinaryNode['content']): BinaryNode =>
  content === undefined ? { tag, attrs } : { tag, attrs, content };

/** The server's answer to an `<iq>`: Baileys matches it to the query by `id` alone. */
export const iqResult = (iq: BinaryNode, content?: BinaryNode[]): BinaryNode =>
  node('iq', { from: S_WHATSAPP_NET, type: 'result', id: iq.attrs.id ?? '' }, content);

export const iqError = (iq: BinaryNode, code: number, text: string): BinaryNode =>
  node('iq', { from: S_WHATSAPP_NET, type: 'error', id: iq.attrs.id ?? '' }, [node('error', { code: String(code), text })]);

export const children = (parent: BinaryNode | undefined): BinaryNode[] => (parent ? getAllBinaryNodeChildren(parent) : []);

export const child = getBinaryNodeChild;

export function bytesOf(n: BinaryNode | undefined): Buffer | undefined {
  const content = n?.content;
  if (content instanceof Uint8Array) return Buffer.from(content);
  if (typeof content === 'string') return Buffer.from(content, 'utf8');
  return undefined;
}

export const textOf = (n: BinaryNode | undefined): string | undefined => bytesOf(n)?.toString('utf8');

/** Big-endian unsigned integer, as WhatsApp encodes ids and registration numbers. */
export function uintOfBytes(bytes: Uint8Array | null | undefined): number | undefined {
  return bytes && bytes.length > 0 && bytes.length <= 6 ? Buffer.from(bytes).readUIntBE(0, bytes.length) : undefined;
}

export const uintOf = (n: BinaryNode | undefined): number | undefined => uintOfBytes(bytesOf(n));

export function bigEndian(value: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  out.writeUIntBE(value, 0, length);
  return out;
}

/** The `<user>` entry of a pre-key fetch answer (`<iq xmlns="encrypt" type="get"><key>`). */
export function bundleNode(jid: string, bundle: PreKeyBundle): BinaryNode {
  const content: BinaryNode[] = [
    node('registration', {}, bigEndian(bundle.registrationId, 4)),
    node('type', {}, Buffer.from([5])),
    node('identity', {}, Buffer.from(bundle.identityKey)),
    node('skey', {}, [
      node('id', {}, bigEndian(bundle.signedPreKey.keyId, 3)),
      node('value', {}, Buffer.from(bundle.signedPreKey.publicKey)),
      node('signature', {}, Buffer.from(bundle.signedPreKey.signature)),
    ]),
  ];
  if (bundle.preKey) {
    content.push(
      node('key', {}, [
        node('id', {}, bigEndian(bundle.preKey.keyId, 3)),
        node('value', {}, Buffer.from(bundle.preKey.publicKey)),
      ]),
    );
  }
  return node('user', { jid }, content);
}

/** Reads the `<skey>` of an upload or rotation. */
export function readSignedPreKey(skey: BinaryNode | undefined): PreKeyBundle['signedPreKey'] | undefined {
  const keyId = uintOf(child(skey, 'id'));
  const publicKey = bytesOf(child(skey, 'value'));
  const signature = bytesOf(child(skey, 'signature'));
  return keyId !== undefined && publicKey && signature ? { keyId, publicKey, signature } : undefined;
}

export interface ParsedJid {
  user: string;
  device: number;
  server: string;
}

export function parseJid(jid: string | undefined): ParsedJid | undefined {
  const decoded = jidDecode(jid);
  if (!decoded?.user) return undefined;
  return { user: decoded.user, device: decoded.device ?? 0, server: decoded.server };
}

/** Phone numbers the sandbox treats as registered WhatsApp users (API.md §0.12: 8–15 digits). */
export const isWellFormedNumber = (value: string): boolean => /^\d{8,15}$/.test(value);
