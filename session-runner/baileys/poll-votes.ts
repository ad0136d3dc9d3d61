import { createHash } from 'node:crypto';
import { decryptPollVote, getKeyAuthor, jidNormalizedUser, proto, type WAMessage } from '@whiskeysockets/baileys';

/**
 * Poll votes (spec §3.2 `poll_vote`: `{pollMessageId, selectedOptions}`). WhatsApp encrypts each
 * vote with the poll's secret (`messageContextInfo.messageSecret` of the poll as sent), so a vote
 * is read with the poll it answers, from the message store; the vote names the chosen options by
 * SHA-256 of their text, which the poll's options turn back into names. Baileys 7 leaves both
 * steps to the application (its own decryption in processMessage is disabled).
 */
export interface PollVote {
  pollMessageId: string;
  /** Option names; `[]` = the vote was withdrawn. An option the poll does not have is left out. */
  selectedOptions: string[];
}

/** The poll a vote message answers (its key, from this account's point of view), or `null`. */
export const pollKeyOf = (message: WAMessage): proto.IMessageKey | null => message.message?.pollUpdateMessage?.pollCreationMessageKey ?? null;

const optionsOf = (poll: proto.IMessage) =>
  (poll.pollCreationMessage ?? poll.pollCreationMessageV2 ?? poll.pollCreationMessageV3)?.options?.map((option) => option.optionName ?? '') ?? null;

const sha256Hex = (value: Uint8Array) => createHash('sha256').update(value).digest('hex');

/**
 * Decrypts `message` (a `pollUpdateMessage`) with `poll` (the poll creation message as stored);
 * `null` when `poll` is not a poll with a secret or the vote does not decrypt with it.
 * `selfJid`: this account's user JID (the poll's author when it was sent from here).
 */
export const decryptedPollVote = (message: WAMessage, poll: proto.IMessage, selfJid: string): PollVote | null => {
  const update = message.message?.pollUpdateMessage;
  const pollKey = update?.pollCreationMessageKey;
  const secret = poll.messageContextInfo?.messageSecret;
  const options = optionsOf(poll);
  if (!update?.vote?.encPayload || !update.vote.encIv || !pollKey?.id || !secret || !options || !message.key) return null;
  try {
    const vote = decryptPollVote(
      { encPayload: update.vote.encPayload, encIv: update.vote.encIv },
      {
        pollEncKey: secret,
        pollCreatorJid: jidNormalizedUser(getKeyAuthor(pollKey, selfJid)),
        pollMsgId: pollKey.id,
        voterJid: jidNormalizedUser(getKeyAuthor(message.key, selfJid)),
      },
    );
    const names = new Map(options.map((name) => [sha256Hex(Buffer.from(name)), name]));
    const selectedOptions = (vote.selectedOptions ?? []).flatMap((hash) => {
      const name = names.get(Buffer.from(hash).toString('hex'));
      return name === undefined ? [] : [name];
    });
    return { pollMessageId: pollKey.id, selectedOptions };
  } catch {
    return null;
  }
};

/** Encodes a message's content for the store (`StoredMessage.raw`). */
export const encodedMessage = (content: proto.IMessage | null | undefined): Uint8Array | undefined =>
  content ? proto.Message.encode(content).finish() : undefined;

/** The stored form back (Baileys' `getMessage`); `undefined` when it does not decode. */
export const decodedMessage = (raw: Uint8Array | null): proto.IMessage | undefined => {
  if (!raw) return undefined;
  try {
    return proto.Message.decode(raw);
  } catch {
    return undefined;
  }
};
