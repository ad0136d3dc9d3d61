import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';
import type { EventRecord } from '../../shared/domain/events/event.ts';
import { createPacer } from '../../shared/domain/messages/pacing.ts';
import type { SendOutcome } from '../../shared/domain/messages/send.command.ts';
import type { WaConnection, WaOutgoingContent } from '../../shared/domain/ports/wa-connection.port.ts';
import type { SenderDeps } from '../../session-runner/messaging/sender.ts';
import { sentAt } from './send-commands.ts';
import { silentLogger } from './http-env.ts';

export { silentLogger };

/** A clock standing at `at` (the fixture commands' time unless told). */
export const fixedClock = (at: string = sentAt): SenderDeps['clock'] => ({ now: () => new Date(at) });

/** A clock standing at `at` until `advance` moves it on by hand. */
export const handClock = (at: string = sentAt) => {
  let nowMs = Date.parse(at);
  const clock: SenderDeps['clock'] = { now: () => new Date(nowMs) };
  return { clock, advance: (ms: number) => void (nowMs += ms) };
};

/**
 * A connected WhatsApp session where every number is on WhatsApp and sending does nothing; the
 * methods a test watches or scripts (`send`, `groupMetadata`, `sendChatPresence`, …) come as overrides.
 */
export const fakeConnection = (overrides: Partial<WaConnection> = {}): WaConnection => ({
  requestPairingCode: async () => '',
  sendPresence: async () => undefined,
  rejectCall: async () => undefined,
  sendText: async () => '',
  markRead: async () => undefined,
  logout: async () => undefined,
  stop: () => undefined,
  onWhatsApp: async (jids) => jids.map((jid) => ({ jid, exists: true })),
  ...overrides,
});

/**
 * A `fakeConnection` that keeps each content sent with the bytes of the file Baileys would read:
 * the `url` of the first of `fields` (`document`, `image`, …) the content has.
 */
export const fileReadingConnection = (...fields: string[]) => {
  const sent: { content: WaOutgoingContent; bytes: Buffer }[] = [];
  const connection = fakeConnection({
    send: async (_to, content) => {
      const file = fields.map((field) => content[field]).find((value) => value !== undefined && value !== null) as { url: string };
      sent.push({ content, bytes: await readFile(file.url) });
    },
  });
  return { connection, sent };
};

/**
 * The stores a sender writes to, in memory: `outcomes` (the outcome store as a map), `events`
 * (what was published, in order); `deps()` builds a sender's dependencies over them, so several
 * senders (runners) can share them. Messages are stored nowhere unless `messages` says otherwise;
 * there is no pacing, no waiting (`sleep` resolves at once) and event ids count up (`e-1`, `e-2`, …).
 */
export const senderFakes = (options: { clock?: SenderDeps['clock']; messages?: Partial<SenderDeps['messages']> } = {}) => {
  const outcomes = new Map<string, SendOutcome>();
  const events: EventRecord[] = [];
  const clock = options.clock ?? fixedClock();
  let ids = 0;
  const deps = (overrides: Partial<SenderDeps> = {}): SenderDeps => ({
    messages: { save: async () => undefined, updateStatus: async () => true, summaries: async () => [], ...options.messages },
    outcomes: {
      record: async (_instanceId, messageId, outcome) => void outcomes.set(messageId, outcome),
      get: async (_instanceId, messageId) => outcomes.get(messageId) ?? null,
    },
    events: { publish: async (record) => void events.push(record) },
    newEventId: () => `e-${++ids}`,
    pacer: createPacer({ enabled: false }, { clock, random: () => 0 }),
    clock,
    logger: silentLogger,
    sleep: async () => undefined,
    ...overrides,
  });
  return { outcomes, events, clock, deps };
};

/**
 * A fresh temporary directory for each test of the enclosing `describe` (handed to `use` before
 * the test), removed with its content afterwards.
 */
export const useTemporaryDirectory = (prefix: string, use: (directory: string) => void): void => {
  let directory = '';
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), prefix));
    use(directory);
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });
};
