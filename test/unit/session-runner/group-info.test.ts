import type { WASocket } from '@whiskeysockets/baileys';
import { describe, expect, it } from 'vitest';
import { GroupMetadataCache, groupInfoOf, newsletterRoleOf } from '../../../session-runner/baileys/group-info.ts';

/** The Baileys adapter's group and channel lookups for the send checks (spec §2.3.0). */

/** Baileys' IQ errors: a Boom with WhatsApp's code in `data`, or an HTTP-like status in `output`. */
const iqError = (text: string, code: { data?: number; statusCode?: number }) =>
  Object.assign(new Error(text), { data: code.data, output: { statusCode: code.statusCode ?? 500 } });

const socket = (overrides: Partial<Record<'groupMetadata' | 'newsletterMetadata', (...args: unknown[]) => Promise<unknown>>>): WASocket =>
  ({ user: { id: '5511999999999:3@s.whatsapp.net', lid: '200000000000001:3@lid' }, ...overrides }) as unknown as WASocket;

describe('groupInfoOf', () => {
  it('marks this account by phone number or LID, and prefers participants’ phone numbers', async () => {
    const sock = socket({
      groupMetadata: async () => ({
        id: '120363025246125486@g.us',
        subject: 'Sales',
        announce: true,
        participants: [
          { id: '200000000000001@lid', admin: 'superadmin' },
          { id: '200000000000002@lid', phoneNumber: '5511988887777@s.whatsapp.net', admin: null },
          { id: '5511977776666@s.whatsapp.net', admin: 'admin' },
        ],
      }),
    });

    expect(await groupInfoOf(sock, '120363025246125486@g.us')).toEqual({
      jid: '120363025246125486@g.us',
      subject: 'Sales',
      announce: true,
      participants: [
        { jid: '200000000000001@lid', isAdmin: true, isSelf: true },
        { jid: '5511988887777@s.whatsapp.net', isAdmin: false, isSelf: false },
        { jid: '5511977776666@s.whatsapp.net', isAdmin: true, isSelf: false },
      ],
    });
  });

  it.each([
    ['item-not-found (404)', iqError('item-not-found', { data: 404 })],
    ['forbidden (403)', iqError('forbidden', { data: 403 })],
    ['not-authorized (401)', iqError('not-authorized', { statusCode: 401 })],
  ])('is null when WhatsApp answers %s', async (_case, error) => {
    const sock = socket({ groupMetadata: async () => Promise.reject(error) });

    expect(await groupInfoOf(sock, '120363025246125486@g.us')).toBeNull();
  });

  it('keeps the metadata it fetched for relayMessage, and nothing once expired or refused', async () => {
    const metadata = { id: '120363025246125486@g.us', subject: 'Sales', participants: [{ id: '5511999999999@s.whatsapp.net', admin: 'superadmin' }] };
    const sock = socket({ groupMetadata: async (jid) => (jid === metadata.id ? metadata : Promise.reject(iqError('item-not-found', { data: 404 }))) });
    const fresh = new GroupMetadataCache();
    const expired = new GroupMetadataCache(-1);

    await groupInfoOf(sock, metadata.id, fresh);
    await groupInfoOf(sock, metadata.id, expired);
    await groupInfoOf(sock, '120363999999999999@g.us', fresh);

    expect(fresh.get(metadata.id)).toBe(metadata);
    expect(expired.get(metadata.id)).toBeUndefined();
    expect(fresh.get('120363999999999999@g.us')).toBeUndefined();
  });

  it('throws other failures (the send fails with 500)', async () => {
    const sock = socket({ groupMetadata: async () => Promise.reject(iqError('Timed Out', { statusCode: 408 })) });

    await expect(groupInfoOf(sock, '120363025246125486@g.us')).rejects.toThrow('Timed Out');
  });
});

describe('newsletterRoleOf', () => {
  it.each([
    ['OWNER', 'owner'],
    ['ADMIN', 'admin'],
    ['SUBSCRIBER', 'subscriber'],
    [undefined, 'guest'],
  ])('viewer role %s → %s', async (role, expected) => {
    const sock = socket({ newsletterMetadata: async () => ({ id: '1@newsletter', viewer_metadata: role ? { role } : undefined }) });

    expect(await newsletterRoleOf(sock, '1@newsletter')).toBe(expected);
  });

  it('is null for an unknown channel', async () => {
    const sock = socket({ newsletterMetadata: async () => null });

    expect(await newsletterRoleOf(sock, '1@newsletter')).toBeNull();
  });
});
