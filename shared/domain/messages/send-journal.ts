/**
 * Sends a runner has taken off its shard queue and not yet finished (issue 5: sends left pending
 * by a crashed runner).
 *
 * Why a journal: the runner takes a send command off the queue as soon as it is in the
 * instance's send lane (session-runner/messaging/sender.ts), because pacing and typing may hold
 * it for minutes and a FIFO group with a message in flight blocks every later command of the
 * instance. A runner that dies then leaves the send in no queue, and its message `pending`.
 *
 * Delivery guarantee: **at most once**. A send goes through two journal phases:
 * - `accepted`: written before the command leaves the queue (a runner that dies before it sees
 *   the command again; a redelivered command whose send is journaled or has an outcome is dropped);
 * - `sending`: written, conditionally, right before the message goes to WhatsApp. Past this point
 *   the send may have reached WhatsApp, so it is never sent again.
 * The runner that next acquires the shard resolves the entries of other runners: an entry whose
 * send has an outcome (`sent`/`failed`) is just removed; otherwise the send is reported failed
 * (outcome `failed`, message status `error`, `message.status` `server_error`) with one of the
 * reasons below. A runner that is still alive (self-fenced, slow) and finds its entry claimed
 * drops the send without writing anything: whoever removes the entry owns the outcome.
 */

export type SendJournalPhase = 'accepted' | 'sending';

export interface SendJournalEntry {
  shard: number;
  instanceId: string;
  accountId: string;
  instanceName: string;
  messageId: string;
  /** The chat the send was addressed to (before the ninth-digit check). */
  chatJid: string;
  runnerId: string;
  phase: SendJournalPhase;
  /** RFC 3339: when the runner accepted the command. */
  acceptedAt: string;
}

type EntryKey = Pick<SendJournalEntry, 'shard' | 'instanceId' | 'messageId' | 'runnerId'>;

/** Port: the in-flight sends of each shard (DynamoDB adapter: shared/adapters/dynamodb/send-journal.dynamodb.ts). */
export interface SendJournal {
  /** Journals an accepted send; `false` when it already is (a redelivered command). */
  open(entry: SendJournalEntry): Promise<boolean>;
  /** Moves this runner's entry to `sending`; `false` when it is not this runner's any more (resolved elsewhere: do not send). */
  markSending(key: EntryKey): Promise<boolean>;
  /** Removes this runner's entry; `false` when another runner already claimed it (it owns the outcome). */
  close(key: EntryKey): Promise<boolean>;
  /** Every entry of a shard (strongly consistent). */
  list(shard: number): Promise<SendJournalEntry[]>;
  /** Removes another runner's entry if it is still as listed (same runner and phase); `false` when it changed. */
  claim(entry: SendJournalEntry): Promise<boolean>;
}

/** The `reason` of a send resolved after its runner stopped (outcome `failed`, code `failed`). */
export const abandonedSendReasons = {
  accepted: 'not sent: the worker stopped before sending it; send it again',
  sending: 'the worker stopped while sending it; it may or may not have reached WhatsApp (not retried, to avoid a duplicate)',
} as const satisfies Record<SendJournalPhase, string>;
