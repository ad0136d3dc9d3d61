import type { OutboundSend, SendFailure } from '../../shared/domain/messages/send.command.ts';
import type { MessageStore } from '../../shared/domain/ports/message-store.port.ts';
import type { OutboundTargetPolicy } from '../../shared/domain/ports/outbound-target.port.ts';
import type { WaConnection, WaOutgoingContent, WaSendOptions } from '../../shared/domain/ports/wa-connection.port.ts';
import { linkPreviewOf, type LinkPreviewOptions } from './link-preview.ts';
import { prepareRichMedia, richContentOf, richKinds, statusOptionsOf, type RichMedia } from './rich-content.ts';

/**
 * What a send needs from WhatsApp or the network beyond the recipient check, resolved by the
 * runner before it reports `checked` (so a refusal is still seen by the waiting API):
 * - group recipients (spec §2.3.0): this account must be a participant (404 `Group not found or
 *   you are not a member of this group`), and an admin in an announcement-only group (403
 *   `Only admins can send messages to this group`); channel recipients: owner or admin (403
 *   `Not authorized to post in this channel`);
 * - mentions (text, media; groups only, D-decision: ignored in other chats, also `mentionAll`):
 *   `mention` as given, plus with `mentionAll` every participant except this account, as
 *   `mentionedJid` (a silent mention of everyone);
 * - `linkPreview` (text): link-preview.ts, best effort;
 * - interactive kinds and statuses: their media and content (rich-content.ts); a status goes to
 *   its audience (`statusJidList`): the private chats this instance has messages with (its
 *   address book as far as zapfleet knows it, README) and its own number.
 */

export class ChatRefused extends Error {
  constructor(
    readonly code: SendFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface SendExtras {
  /** The mentions to send and echo (resolved `mentionAll`); empty outside groups. */
  mentions: string[];
  /** The group's subject (`chat.name` / `chat.groupName`), for group recipients. */
  groupName?: string;
  /**
   * The content to send when built here (text, rich kinds); `null`: the sender's own mapping.
   * A text's link preview is fetched from the start, alongside pacing and typing, so it never
   * delays `checked`; it never rejects.
   */
  content(): Promise<WaOutgoingContent | null>;
  options: Pick<WaSendOptions, 'statusJidList' | 'backgroundColor' | 'font'>;
  remove(): Promise<void>;
}

export interface ExtrasDeps {
  instanceId: string;
  outbound: OutboundTargetPolicy;
  mediaDirectory?: string;
  messages: Pick<MessageStore, 'summaries'>;
  /** Link-preview limits (tests shorten them). */
  linkPreview?: Omit<LinkPreviewOptions, 'outbound'>;
}

/** The audience of a status: private chats with stored messages, and this account. */
const statusAudience = async (deps: ExtrasDeps, selfJid: string): Promise<string[]> => {
  const summaries = await deps.messages.summaries(deps.instanceId).catch(() => []);
  const jids = new Set<string>();
  for (const message of summaries) if (message.chatJid.endsWith('@s.whatsapp.net')) jids.add(message.chatJid);
  if (selfJid !== '') jids.add(selfJid);
  return [...jids];
};

export const prepareSendExtras = async (send: OutboundSend, conn: WaConnection, chatJid: string, deps: ExtrasDeps): Promise<SendExtras> => {
  const { request } = send;
  const selfJid = String((send.exchange.sender as { jid?: string } | undefined)?.jid ?? '');
  let participants: string[] = [];
  let groupName: string | undefined;
  if (chatJid.endsWith('@g.us') && conn.groupMetadata) {
    const group = await conn.groupMetadata(chatJid);
    if (!group) throw new ChatRefused('group_not_found', 'Group not found or you are not a member of this group');
    const me = group.participants.find((participant) => participant.isSelf);
    if (!me) throw new ChatRefused('group_not_found', 'Group not found or you are not a member of this group');
    if (group.announce && !me.isAdmin) throw new ChatRefused('group_admins_only', 'Only admins can send messages to this group');
    participants = group.participants.filter((participant) => !participant.isSelf).map((participant) => participant.jid);
    groupName = group.subject;
  }
  if (chatJid.endsWith('@newsletter') && conn.newsletterRole) {
    const role = await conn.newsletterRole(chatJid);
    if (role !== 'owner' && role !== 'admin') throw new ChatRefused('channel_forbidden', 'Not authorized to post in this channel');
  }

  const named = groupName === undefined ? {} : { groupName };
  const given = (send.exchange.mentions as string[] | undefined) ?? [];
  const mentionAll = 'mentionAll' in request && request.mentionAll && chatJid.endsWith('@g.us');
  const mentions = chatJid.endsWith('@g.us') ? [...new Set([...given, ...(mentionAll ? participants : [])])] : [];

  if (request.kind === 'text') {
    const preview = request.linkPreview ? linkPreviewOf(request.message, { outbound: deps.outbound, ...deps.linkPreview }).catch(() => null) : Promise.resolve(null);
    // `linkPreview: null` also stops Baileys from fetching a preview on its own (it would skip the outbound rules).
    const content = async () => ({ text: request.message, linkPreview: await preview, ...(mentions.length > 0 ? { mentions } : {}) });
    return { mentions, ...named, content, options: {}, remove: async () => undefined };
  }
  if (!richKinds.has(request.kind)) return { mentions, ...named, content: async () => null, options: {}, remove: async () => undefined };

  const media: RichMedia = await prepareRichMedia(send, { outbound: deps.outbound, ...(deps.mediaDirectory ? { directory: deps.mediaDirectory } : {}) });
  try {
    const content = richContentOf(send, media);
    const options = request.kind === 'status' ? statusOptionsOf(request, await statusAudience(deps, selfJid)) : {};
    return { mentions, ...named, content: async () => content, options, remove: () => media.remove() };
  } catch (error) {
    await media.remove();
    throw error;
  }
};
