import { randomBytes } from 'node:crypto';
import type { WAMessage } from '@whiskeysockets/baileys';
import { describe, expect, it } from 'vitest';
import { decodedMessage, decryptedPollVote, encodedMessage } from '../../../session-runner/baileys/poll-votes.ts';
import { pollVoteMessage } from '../../../local/sandbox/poll-vote.ts';

const self = '5511988880000@s.whatsapp.net';
const voter = '5511977770001@s.whatsapp.net';
const poll = { messageContextInfo: { messageSecret: randomBytes(32) }, pollCreationMessage: { name: 'Lunch?', options: [{ optionName: 'Pizza' }, { optionName: 'Sushi' }], selectableOptionsCount: 2 } };

/** A contact's vote as Baileys hands it over: the poll's key already from this account's side. */
const voteFrom = (options: string[], secretOf = poll): WAMessage => {
  const content = pollVoteMessage({ poll: secretOf, pollMessageId: 'POLL1', pollCreatorJid: self, voterJid: voter, options });
  const update = content.pollUpdateMessage as NonNullable<typeof content.pollUpdateMessage>;
  return { key: { remoteJid: voter, fromMe: false, id: 'VOTE1' }, message: { pollUpdateMessage: { ...update, pollCreationMessageKey: { remoteJid: voter, fromMe: true, id: 'POLL1' } } } };
};

describe('poll votes', () => {
  it('reads the chosen option names, in the order voted', () => {
    expect(decryptedPollVote(voteFrom(['Sushi', 'Pizza']), poll, self)).toEqual({ pollMessageId: 'POLL1', selectedOptions: ['Sushi', 'Pizza'] });
  });

  it('reads a withdrawn vote as no options, and leaves out an option the poll does not have', () => {
    expect(decryptedPollVote(voteFrom([]), poll, self)?.selectedOptions).toEqual([]);
    expect(decryptedPollVote(voteFrom(['Pizza', 'Tacos']), poll, self)?.selectedOptions).toEqual(['Pizza']);
  });

  it('cannot read a vote with another poll’s secret, nor with a message that is not a poll', () => {
    const other = { ...poll, messageContextInfo: { messageSecret: randomBytes(32) } };
    expect(decryptedPollVote(voteFrom(['Pizza'], other), poll, self)).toBeNull();
    expect(decryptedPollVote(voteFrom(['Pizza']), { conversation: 'hi' }, self)).toBeNull();
  });

  it('stores a message in its WhatsApp encoding and reads it back; garbage reads as nothing', () => {
    expect(decodedMessage(encodedMessage(poll) ?? null)?.pollCreationMessage?.name).toBe('Lunch?');
    expect(decodedMessage(Uint8Array.from([0xff, 0xff, 0xff]))).toBeUndefined();
    expect(decodedMessage(null)).toBeUndefined();
  });
});
