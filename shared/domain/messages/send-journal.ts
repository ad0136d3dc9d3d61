import type { SessionCommand } from '../fleet/commands.ts';

/**
 * Sends a runner has taken off its shard queue and not yet finished (issue 5: sends left pending
 * by a stopped runner).
 *
 * Why a journal: the runner takes a send command off the queue as soon as it is in the
 * instance's send lane (session-runner/messaging/sender.ts), because pacing and typing may hold
 * it for minutes and a FIFO group with a message in flight blocks every later command of the
 * instance. A runner that stops then leaves the send in no queue: the journal entry (with the
 * command itself) is what lets the next owner of the shard finish it.
 *
 * A send goes through two journal phases:
 * - `accepted`: written (with the command) before the command leaves the queue. The send has not
 *   started: it may wait in the lane for a pacing gap or show "typing…" (`typingFrom`). A runner
 *   that stops (deploy, rebalance, crash) leaves it `accepted`, and the runner that next acquires
 *   the shard **adopts** it (the entry moves to that runner, conditionally) and sends it from its
 *   own lane, same message id, before it consumes the shard queue: the instance's adopted sends go
 *   out in the order they were first accepted (`seq`), ahead of the commands still queued. A
 *   typing delay already under way is not shown again from zero: only its remaining part is.
 * - `sending`: written, conditionally, right before the message goes to WhatsApp. Past this point
 *   the send may have reached WhatsApp, so it is **never sent again** (at most once): the next
 *   owner reports it failed (outcome `failed`, message `error`, `message.status` `server_error`)
 *   with the `sending` reason below.
 * An entry whose send already has an outcome (`sent`/`failed`) is just removed. An `accepted`
 * entry without its command (too large for the item, and no overflow bucket configured) is
 * reported failed with the `accepted` reason. A redelivered command whose send is journaled or
 * has an outcome is dropped, so an adopted send is never sent twice. A runner that is still alive
 * (self-fenced, slow) and finds its entry adopted or claimed drops the send without writing
 * anything: whoever holds the entry owns the outcome.
 */

export type SendJournalPhase = 'accepted' | 'sending';

export type JournaledSendCommand = Extract<SessionCommand, { type: 'send' }>;

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
  /** RFC 3339: when the send was first accepted by a runner (kept when adopted). */
  acceptedAt: string;
  /** Acceptance order (milliseconds × 1000 + a counter, kept when adopted): an instance's adopted sends go out in this order. */
  seq: number;
  /** The send command, so the next owner can send it (`null`: it could not be kept, see the adapter). */
  command: JournaledSendCommand | null;
  /** ISO 8601 (ms): when the typing delay started (`composing`), if it did. */
  typingFrom?: string;
}

export type SendJournalKey = Pick<SendJournalEntry, 'shard' | 'instanceId' | 'messageId' | 'runnerId'>;

/** Port: the in-flight sends of each shard (DynamoDB adapter: shared/adapters/dynamodb/send-journal.dynamodb.ts). */
export interface SendJournal {
  /** Journals an accepted send; `false` when it already is (a redelivered command). */
  open(entry: SendJournalEntry): Promise<boolean>;
  /** Notes that the typing delay started; `false` when the entry is not this runner's any more (do not send). */
  markTyping(key: SendJournalKey, at: string): Promise<boolean>;
  /** Moves this runner's entry to `sending`; `false` when it is not this runner's any more (resolved elsewhere: do not send). */
  markSending(key: SendJournalKey): Promise<boolean>;
  /** Removes this runner's entry; `false` when another runner already claimed it (it owns the outcome). */
  close(key: SendJournalKey): Promise<boolean>;
  /** Every entry of a shard (strongly consistent), the commands read back. */
  list(shard: number): Promise<SendJournalEntry[]>;
  /** Removes another runner's entry if it is still as listed (same runner and phase); `false` when it changed. */
  claim(entry: SendJournalEntry): Promise<boolean>;
  /** Moves an `accepted` entry still as listed (same runner, still `accepted`) to `runnerId`; `false` when it changed. */
  adopt(entry: SendJournalEntry, runnerId: string): Promise<boolean>;
}

/** The `reason` of a send resolved after its runner stopped (outcome `failed`, code `failed`). */
export const abandonedSendReasons = {
  accepted: 'not sent: the worker stopped before sending it; send it again',
  sending: 'the worker stopped while sending it; it may or may not have reached WhatsApp (not retried, to avoid a duplicate)',
} as const satisfies Record<SendJournalPhase, string>;

/** Orders adopted sends: per instance, by first acceptance. */
export const byAcceptance = (a: SendJournalEntry, b: SendJournalEntry): number =>
  a.instanceId === b.instanceId ? a.seq - b.seq || a.acceptedAt.localeCompare(b.acceptedAt) : a.instanceId.localeCompare(b.instanceId);
