import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { proto } from '@whiskeysockets/baileys';

/**
 * A contact's vote on a poll, as WhatsApp clients encrypt it: AES-256-GCM under a key derived
 * from the poll's secret (`messageContextInfo.messageSecret` of the poll creation message), the
 * poll's id and author and the voter; the options are named by the SHA-256 of their text.
 */
export const pollVoteMessage = (input: {
  poll: proto.IMessage;
  pollMessageId: string;
  /** The poll's author and the voter, user JIDs (`<digits>@s.whatsapp.net`). */
  pollCreatorJid: string;
  voterJid: string;
  /** Option names; `[]` withdraws the vote. */
  options: string[];
}): proto.IMessage => {
  const secret = input.poll.messageContextInfo?.messageSecret;
  if (!secret) throw new Error(`message ${input.pollMessageId} is not a poll with a secret`);
  const sign = Buffer.concat([Buffer.from(input.pollMessageId), Buffer.from(input.pollCreatorJid), Buffer.from(input.voterJid), Buffer.from('Poll Vote'), Buffer.from([1])]);
  const key0 = createHmac('sha256', new Uint8Array(32)).update(secret).digest();
  const key = createHmac('sha256', key0).update(sign).digest();
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(`${input.pollMessageId}\u0000${input.voterJid}`));
  const vote = proto.Message.PollVoteMessage.encode({ selectedOptions: input.options.map((option) => createHash('sha256').update(option).digest()) }).finish();
  const encPayload = Buffer.concat([cipher.update(vote), cipher.final(), cipher.getAuthTag()]);
  return {
    pollUpdateMessage: {
      // From the voter's side: the poll is the other party's message in this chat.
      pollCreationMessageKey: { remoteJid: input.pollCreatorJid, fromMe: false, id: input.pollMessageId },
      vote: { encPayload, encIv: iv },
      senderTimestampMs: Date.now(),
    },
  };
};
