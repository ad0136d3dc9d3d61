import type { Clock } from '../ports/runtime.port.ts';
import type { SendOutcome, SendOutcomeStore } from './send.command.ts';

/**
 * How the API waits for the runner's outcome of a send (shared/domain/use-cases/send-message.use-cases.ts
 * step 5). Two implementations:
 * - polling (AWS, where the API and the runner are different processes): reads the outcome item,
 *   fast at first, then backing off;
 * - in-process (the embedded stack, where the runner records outcomes in the API's own process):
 *   the runner's outcome write signals the waiting request, with a slow poll of the store as a
 *   safety net (an outcome recorded by another process, a signal missed).
 */
export interface SendOutcomeWaiter {
  /**
   * Resolves with the first outcome seen for which `settled` holds, or at `deadline` (epoch ms)
   * with the last outcome seen (`null`: none yet).
   */
  waitFor(instanceId: string, messageId: string, settled: (outcome: SendOutcome) => boolean, deadline: number): Promise<SendOutcome | null>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls the outcome item: 25 ms eight times, then ×1.5 up to 500 ms. */
export const pollingOutcomeWaiter = (deps: { outcomes: Pick<SendOutcomeStore, 'get'>; clock: Clock; sleep?: (ms: number) => Promise<void> }): SendOutcomeWaiter => ({
  async waitFor(instanceId, messageId, settled, deadline) {
    const sleep = deps.sleep ?? defaultSleep;
    let last: SendOutcome | null = null;
    for (let poll = 0; ; poll++) {
      // Fast at first (an undelayed send is acknowledged within a round trip or two), then backing
      // off: when the runner is behind, hundreds of waiting requests polling at a fixed pace would
      // take the store's capacity from the runner that has to catch up.
      await sleep(poll < 8 ? 25 : Math.min(500, 25 * 1.5 ** (poll - 7)));
      last = (await deps.outcomes.get(instanceId, messageId)) ?? last;
      if (last && settled(last)) return last;
      if (deps.clock.now().getTime() >= deadline) return last;
    }
  },
});

export interface InProcessSendOutcomes {
  /** The store the runner records through: each write, once stored, signals the requests waiting for it. */
  store: SendOutcomeStore;
  waiter: SendOutcomeWaiter;
}

/**
 * Outcome notification within one process. `safetyPollMs` (default 1 s): how long a waiting
 * request goes without a signal before it reads the store itself. Outcomes recorded in the last
 * `recentMs` (default 30 s) are kept, so a request that starts waiting after the runner's write
 * (a fast failure) still sees it without a read.
 */
export const createInProcessSendOutcomes = (
  store: SendOutcomeStore,
  options: { clock?: Clock; safetyPollMs?: number; recentMs?: number } = {},
): InProcessSendOutcomes => {
  const clock = options.clock ?? { now: () => new Date() };
  const safetyPollMs = options.safetyPollMs ?? 1_000;
  const recentMs = options.recentMs ?? 30_000;
  const listeners = new Map<string, Set<(outcome: SendOutcome) => void>>();
  /** Insertion-ordered (oldest first), so pruning stops at the first fresh entry. */
  const recent = new Map<string, { outcome: SendOutcome; at: number }>();
  const keyOf = (instanceId: string, messageId: string) => `${instanceId}#${messageId}`;

  const remember = (key: string, outcome: SendOutcome) => {
    const now = clock.now().getTime();
    for (const [old, entry] of recent) {
      if (now - entry.at < recentMs) break;
      recent.delete(old);
    }
    recent.delete(key);
    recent.set(key, { outcome, at: now });
  };

  /** The next outcome signalled for `key` within `ms`, else `null`. */
  const next = (key: string, ms: number) =>
    new Promise<SendOutcome | null>((resolve) => {
      const waiting = listeners.get(key) ?? new Set();
      listeners.set(key, waiting);
      const done = (outcome: SendOutcome | null) => {
        clearTimeout(timer);
        waiting.delete(listener);
        if (waiting.size === 0 && listeners.get(key) === waiting) listeners.delete(key);
        resolve(outcome);
      };
      const listener = (outcome: SendOutcome) => done(outcome);
      waiting.add(listener);
      const timer = setTimeout(() => done(null), Math.max(0, ms));
    });

  return {
    store: {
      async record(instanceId, messageId, outcome) {
        await store.record(instanceId, messageId, outcome);
        const key = keyOf(instanceId, messageId);
        remember(key, outcome);
        for (const listener of [...(listeners.get(key) ?? [])]) listener(outcome);
      },
      get: (instanceId, messageId) => store.get(instanceId, messageId),
    },
    waiter: {
      async waitFor(instanceId, messageId, settled, deadline) {
        const key = keyOf(instanceId, messageId);
        let last = recent.get(key)?.outcome ?? null;
        for (;;) {
          if (last && settled(last)) return last;
          const remaining = deadline - clock.now().getTime();
          if (remaining <= 0) return last;
          const signalled = await next(key, Math.min(remaining, safetyPollMs));
          // No signal in time: the safety net reads the store (an outcome recorded elsewhere).
          // An outcome recorded here while that read was under way signalled nobody: `recent`, read
          // after it, has it (and is the latest this process recorded).
          last = signalled ?? (await store.get(instanceId, messageId).then((stored) => recent.get(key)?.outcome ?? stored)) ?? last;
        }
      },
    },
  };
};
