import { proto, type BinaryNode } from '@whiskeysockets/baileys';
import { GroupCipher, GroupSessionBuilder, SenderKeyDistributionMessage, SenderKeyName, SenderKeyRecord } from '@whiskeysockets/baileys/lib/Signal/Group/index.js';
import { padMessage, unpadMessage } from './signal-party.ts';
import { iqError, iqResult, node, nowSeconds } from './stanzas.ts';

/**
 * Groups and sender keys for the sandbox (whatsapp-sandbox.ts): what a linked device needs to
 * send to a group or post a status, and what lets the simulated members read it.
 *
 * - `SandboxGroups`: groups created by tests (`createGroup`), answered to Baileys' group metadata
 *   query (`<iq xmlns="w:g2" to="…@g.us" type="get"><query request="interactive"/>`) in
 *   phone-number addressing: 404 `item-not-found` for an unknown group, 403 `forbidden` for a
 *   device whose account is not a participant.
 * - `SenderKeys`: each simulated phone's sender-key store. Group and status messages travel as
 *   one `skmsg` encrypted with the sender's key, whose distribution message (SKDM) comes to each
 *   member device inside its pairwise Signal copy; a phone that processed it can decrypt the `skmsg`.
 */

export interface SandboxGroup {
  jid: string;
  subject: string;
  creator: string;
  /** Number → role (`null` = plain member). */
  participants: Map<string, 'admin' | 'superadmin' | null>;
  announce: boolean;
  creation: number;
}

export interface CreateGroupInput {
  subject: string;
  /** The creator (a superadmin), usually the linked number under test. */
  creator: string;
  /** Other members' numbers. */
  participants: string[];
  admins?: string[];
  /** Announcement-only: only admins may send. */
  announce?: boolean;
}

export class SandboxGroups {
  private readonly groups = new Map<string, SandboxGroup>();
  private next = 120363000000000000n;

  create(input: CreateGroupInput): SandboxGroup {
    const jid = `${(this.next++).toString()}@g.us`;
    const participants = new Map<string, 'admin' | 'superadmin' | null>([[input.creator, 'superadmin']]);
    for (const number of input.participants) if (!participants.has(number)) participants.set(number, input.admins?.includes(number) ? 'admin' : null);
    const group: SandboxGroup = { jid, subject: input.subject, creator: input.creator, participants, announce: input.announce === true, creation: Number(nowSeconds()) };
    this.groups.set(jid, group);
    return group;
  }

  get(jid: string): SandboxGroup | undefined {
    return this.groups.get(jid);
  }

  /** `w:g2` IQs of a device of `number`: the metadata query; anything else is an empty result. */
  iq(number: string, iq: BinaryNode, userJid: (number: string) => string): BinaryNode {
    const target = iq.attrs.to ?? '';
    if (!target.endsWith('@g.us') || iq.attrs.type !== 'get') return iqResult(iq);
    const group = this.groups.get(target);
    if (!group) return iqError(iq, 404, 'item-not-found');
    if (!group.participants.has(number)) return iqError(iq, 403, 'forbidden');
    const participants = [...group.participants].map(([member, role]) => node('participant', { jid: userJid(member), ...(role ? { type: role } : {}) }));
    return iqResult(iq, [
      node(
        'group',
        {
          id: group.jid.split('@')[0] ?? '',
          subject: group.subject,
          s_t: String(group.creation),
          s_o: userJid(group.creator),
          creation: String(group.creation),
          creator: userJid(group.creator),
          addressing_mode: 'pn',
          size: String(group.participants.size),
        },
        [...participants, ...(group.announce ? [node('announcement', {})] : [])],
      ),
    ]);
  }
}

/** A sender: the user part of its JID and its device. */
export interface SenderAddress {
  user: string;
  device: number;
}

export class SenderKeys {
  /** `<receiver>|<group>::<sender>::<device>` → the receiver's record of that sender's key. */
  private readonly records = new Map<string, SenderKeyRecord>();

  private storeOf(receiver: string) {
    return {
      loadSenderKey: async (name: SenderKeyName) => this.records.get(`${receiver}|${name.toString()}`) ?? new SenderKeyRecord(),
      storeSenderKey: async (name: SenderKeyName, record: SenderKeyRecord) => {
        this.records.set(`${receiver}|${name.toString()}`, record);
      },
    };
  }

  private nameOf(groupId: string, sender: SenderAddress): SenderKeyName {
    return new SenderKeyName(groupId, { id: sender.user, deviceId: sender.device, toString: () => `${sender.user}::${sender.device}` } as never);
  }

  /** The receiver's phone processes a sender-key distribution message. */
  async process(receiver: string, groupId: string, sender: SenderAddress, distribution: Uint8Array): Promise<void> {
    const message = new SenderKeyDistributionMessage(null, null, null, null, distribution);
    await new GroupSessionBuilder(this.storeOf(receiver) as never).process(this.nameOf(groupId, sender), message);
  }

  has(receiver: string, groupId: string, sender: SenderAddress): boolean {
    return this.records.has(`${receiver}|${this.nameOf(groupId, sender).toString()}`);
  }

  /** Decrypts a `skmsg` as the receiver's phone. */
  async decrypt(receiver: string, groupId: string, sender: SenderAddress, ciphertext: Uint8Array): Promise<proto.Message> {
    const plaintext = await new GroupCipher(this.storeOf(receiver) as never, this.nameOf(groupId, sender)).decrypt(ciphertext);
    return proto.Message.decode(unpadMessage(plaintext));
  }

  /**
   * A member's phone writes to the group: its own sender key (created on first use) encrypts the
   * message; `distribution` is the SKDM each recipient device needs inside its pairwise copy.
   */
  async encrypt(senderNumber: string, groupId: string, message: proto.IMessage): Promise<{ distribution: Uint8Array; ciphertext: Uint8Array }> {
    const store = this.storeOf(senderNumber) as never;
    const name = this.nameOf(groupId, { user: senderNumber, device: 0 });
    const distribution = await new GroupSessionBuilder(store).create(name);
    const ciphertext = await new GroupCipher(store, name).encrypt(padMessage(proto.Message.encode(message).finish()));
    return { distribution: distribution.serialize(), ciphertext };
  }

  /** Receivers holding a key of this sender for this group or broadcast. */
  receivers(groupId: string, sender: SenderAddress): string[] {
    const suffix = `|${this.nameOf(groupId, sender).toString()}`;
    return [...this.records.keys()].filter((key) => key.endsWith(suffix)).map((key) => key.slice(0, -suffix.length));
  }
}

export interface CreateNewsletterInput {
  name: string;
  owner: string;
  admins?: string[];
  subscribers?: string[];
}

/** Baileys' `QueryIds.METADATA` (newsletter metadata through `w:mex`). */
const newsletterMetadataQuery = '6563316087068696';

/**
 * Channels created by tests (`createNewsletter`): Baileys' metadata query (`<iq xmlns="w:mex">`,
 * GraphQL-style JSON) answers the viewer's role (`OWNER`, `ADMIN`, `SUBSCRIBER`, else `GUEST`);
 * an unknown channel answers `null`. Posts to a channel travel in plaintext.
 */
export class SandboxNewsletters {
  private readonly channels = new Map<string, { jid: string; name: string; owner: string; admins: Set<string>; subscribers: Set<string> }>();
  private next = 120363400000000000n;

  create(input: CreateNewsletterInput): string {
    const jid = `${(this.next++).toString()}@newsletter`;
    this.channels.set(jid, { jid, name: input.name, owner: input.owner, admins: new Set(input.admins ?? []), subscribers: new Set(input.subscribers ?? []) });
    return jid;
  }

  has(jid: string): boolean {
    return this.channels.has(jid);
  }

  /** `w:mex` IQs of a device of `number`: the metadata query; anything else is an empty result. */
  iq(number: string, iq: BinaryNode): BinaryNode {
    const query = (iq.content as BinaryNode[] | undefined)?.find((part) => part.tag === 'query');
    if (query?.attrs.query_id !== newsletterMetadataQuery || !(query.content instanceof Uint8Array)) return iqResult(iq);
    const variables = (JSON.parse(Buffer.from(query.content).toString('utf8')) as { variables?: { input?: { key?: string } } }).variables;
    const channel = this.channels.get(variables?.input?.key ?? '');
    const role = !channel ? null : channel.owner === number ? 'OWNER' : channel.admins.has(number) ? 'ADMIN' : channel.subscribers.has(number) ? 'SUBSCRIBER' : 'GUEST';
    const metadata = channel
      ? { id: channel.jid, state: { type: 'ACTIVE' }, thread_metadata: { name: { text: channel.name }, subscribers_count: String(channel.subscribers.size) }, viewer_metadata: { role, mute: 'OFF' } }
      : null;
    return iqResult(iq, [node('result', {}, Buffer.from(JSON.stringify({ data: { xwa2_newsletter: metadata } })))]);
  }
}
