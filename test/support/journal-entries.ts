import type { JournaledSendCommand, SendJournalEntry } from '../../shared/domain/messages/send-journal.ts';
import { sendCommandOf, sentAt } from './send-commands.ts';

const chatJid = '4915112340001@s.whatsapp.net';

/** The command a journal entry keeps: a text send of instance `sales` (account `a-1`), its exchange reduced to the text. */
export const journaledCommandOf = (instanceId: string, messageId: string, text: string): JournaledSendCommand => {
  const command = sendCommandOf(messageId, chatJid, { kind: 'text', message: text } as JournaledSendCommand['send']['request']);
  return { ...command, instanceId, send: { ...command.send, exchange: { id: messageId, content: { text } } } };
};

/**
 * A journal entry of runner A on shard 1 (instance `i-1` unless told), accepted, with the command
 * of a send of `text`; `fields` replace any of that, the command included.
 */
export const journalEntryOf = (fields: Partial<SendJournalEntry> & Pick<SendJournalEntry, 'messageId'>, text = 'hello'): SendJournalEntry => {
  const instanceId = fields.instanceId ?? 'i-1';
  return {
    shard: 1,
    instanceId,
    accountId: 'a-1',
    instanceName: 'sales',
    chatJid,
    runnerId: 'runner-a',
    phase: 'accepted',
    acceptedAt: sentAt,
    seq: 1,
    command: journaledCommandOf(instanceId, fields.messageId, text),
    ...fields,
  };
};
