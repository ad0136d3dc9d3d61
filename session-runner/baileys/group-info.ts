import { jidNormalizedUser, type GroupMetadata, type WASocket } from '@whiskeysockets/baileys';
import type { WaGroupInfo } from '../../shared/domain/ports/wa-connection.port.ts';

/**
 * Groups and channels as the sender checks them (spec §2.3.0): WhatsApp answers a group query
 * with 404 (`item-not-found`) for an unknown group and 401/403 when this account is not a
 * participant; both are "not found or not a member" (`null`). Other failures are thrown.
 */

/** Baileys' IQ errors carry WhatsApp's code in `data` (a number) or as the Boom status. */
const statusOf = (error: unknown): number => {
  const data = (error as { data?: unknown }).data;
  return typeof data === 'number' ? data : Number((error as { output?: { statusCode?: number } }).output?.statusCode);
};

const isAbsent = (error: unknown): boolean => {
  const status = statusOf(error);
  return status === 404 || status === 403 || status === 401 || /item-not-found|forbidden|not-authorized/i.test(String((error as Error).message));
};

/**
 * A socket's group metadata, kept briefly: the send check fetches it, and Baileys' `relayMessage`
 * reads it back (`cachedGroupMetadata`) instead of asking WhatsApp a second time for the same send.
 */
export class GroupMetadataCache {
  private readonly entries = new Map<string, { metadata: GroupMetadata; expiresAt: number }>();

  constructor(private readonly ttlMs = 30_000) {}

  get(jid: string): GroupMetadata | undefined {
    const entry = this.entries.get(jid);
    if (entry && entry.expiresAt > Date.now()) return entry.metadata;
    this.entries.delete(jid);
    return undefined;
  }

  set(jid: string, metadata: GroupMetadata): void {
    for (const [key, entry] of this.entries) if (entry.expiresAt <= Date.now()) this.entries.delete(key);
    this.entries.set(jid, { metadata, expiresAt: Date.now() + this.ttlMs });
  }
}

const userOf = (jid: string | undefined): string => (jid ?? '').split('@')[0]?.split(':')[0] ?? '';

export const groupInfoOf = async (sock: WASocket, groupJid: string, cache?: GroupMetadataCache): Promise<WaGroupInfo | null> => {
  try {
    const metadata = await sock.groupMetadata(groupJid);
    cache?.set(groupJid, metadata);
    // This account appears under its phone number or, in LID-addressed groups, its LID.
    const own = new Set([userOf(sock.user?.id), userOf(sock.user?.lid)].filter((user) => user !== ''));
    return {
      jid: metadata.id,
      subject: metadata.subject,
      announce: metadata.announce === true,
      // A LID-addressed group lists phone numbers in `phoneNumber` when WhatsApp shares them.
      participants: metadata.participants.map((participant) => ({
        jid: jidNormalizedUser(participant.phoneNumber ?? participant.id),
        isAdmin: participant.admin === 'admin' || participant.admin === 'superadmin',
        isSelf: [participant.id, participant.phoneNumber, participant.lid].some((jid) => own.has(userOf(jid))),
      })),
    };
  } catch (error) {
    if (isAbsent(error)) return null;
    throw error;
  }
};

export const newsletterRoleOf = async (sock: WASocket, newsletterJid: string): Promise<'owner' | 'admin' | 'subscriber' | 'guest' | null> => {
  try {
    const metadata = (await sock.newsletterMetadata('jid', newsletterJid)) as { viewer_metadata?: { role?: string } } | null;
    const role = metadata?.viewer_metadata?.role?.toLowerCase();
    return role === 'owner' || role === 'admin' || role === 'subscriber' ? role : metadata ? 'guest' : null;
  } catch (error) {
    if (isAbsent(error)) return null;
    throw error;
  }
};
