/**
 * Anti-ban pacing per instance (issue 5 part 4): pure policy, no I/O. The runner keeps one
 * `Pacer` per process and asks it before every send of the instances it owns.
 *
 * API
 * - `createPacer(config?, { clock, random })`: `config` is merged over `defaultPacingConfig`;
 *   `random()` returns [0, 1) (inject a fixed one in tests).
 * - `pacer.reserve(instanceId, { to, firstContact })` before a send → a `PacingDecision`:
 *   `{ kind: 'send', at }` reserves the instance's next slot (wait until `at`, then run the
 *   typing `delay`, then send); otherwise the send must not go out now: `paused` (WhatsApp
 *   throttled the instance), `first_contacts_paused` (WhatsApp refused reach-outs to new
 *   contacts) or `daily_cap` (the rolling 24 h budget of first contacts is used up), each with
 *   `until`. `firstContact` is the caller's call: no earlier message with `to` in the store.
 *   A reserved slot is not given back: a send that fails still spaced the instance.
 * - `pacer.report(instanceId, outcome)` after a send: `sent`, `rate_limited` (WhatsApp 429 /
 *   `rate-overlimit`), `reach_out_limited` (reach-out time lock) with an optional `retryAfterMs`.
 *   Returns a `PauseNotice` when a pause starts or grows, for the caller to publish (the sender
 *   publishes it as `instance.state` with reason `sending_paused`); `null` otherwise.
 * - `pacer.resume(instanceId)` clears pauses (operator action); `pacer.forget(instanceId)` drops
 *   the state when the instance leaves the runner.
 * - `pacer.snapshot(instanceId)` / `pacer.restore(instanceId, snapshot)`: the state that must
 *   survive a runner restart or a shard move (the first contacts of the last 24 h and the pauses),
 *   kept in a `PacingStateStore` by the sender. The gap itself is not kept: after a move the
 *   first send may come up to one gap early.
 *
 * Policy: consecutive sends of one instance are at least `minGapMs` + a random share of
 * `jitterMs` apart; at most `firstContactsPerDay` distinct new contacts in any 24 h; a rate limit
 * pauses every send for `rateLimitPauseMs`, doubling with each consecutive rate limit up to
 * `maxPauseMs`, reset by a successful send; a reach-out refusal pauses first contacts only (the
 * existing chats still work) for `reachOutPauseMs`. `enabled: false` removes the gap and the
 * cap (benchmarks) but keeps the pauses, because sending into a throttle only makes it worse.
 */

import type { Clock } from '../ports/runtime.port.ts';

export interface PacingConfig {
  enabled: boolean;
  minGapMs: number;
  jitterMs: number;
  firstContactsPerDay: number;
  rateLimitPauseMs: number;
  maxPauseMs: number;
  reachOutPauseMs: number;
}

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;

/**
 * Defaults: 2–5 s between sends (about 12–30 messages a minute, below what WhatsApp treats as
 * bulk behaviour), 100 new contacts a day, 15 min pause on a first rate limit up to 6 h, 24 h
 * without first contacts after a reach-out refusal.
 */
export const defaultPacingConfig: PacingConfig = {
  enabled: true,
  minGapMs: 2_000,
  jitterMs: 3_000,
  firstContactsPerDay: 100,
  rateLimitPauseMs: 15 * minute,
  maxPauseMs: 6 * hour,
  reachOutPauseMs: day,
};

export type PacingDecision =
  | { kind: 'send'; at: Date }
  | { kind: 'paused'; until: Date }
  | { kind: 'first_contacts_paused'; until: Date }
  | { kind: 'daily_cap'; until: Date };

export type SendOutcome = { kind: 'sent' } | { kind: 'rate_limited'; retryAfterMs?: number } | { kind: 'reach_out_limited'; retryAfterMs?: number };

export interface PauseNotice {
  instanceId: string;
  reason: 'rate_limited' | 'reach_out_limited';
  /** `all` sends, or only `first_contacts`. */
  scope: 'all' | 'first_contacts';
  until: Date;
}

export interface Pacer {
  reserve(instanceId: string, send: { to: string; firstContact: boolean }): PacingDecision;
  report(instanceId: string, outcome: SendOutcome): PauseNotice | null;
  resume(instanceId: string): void;
  forget(instanceId: string): void;
  snapshot(instanceId: string): PacingSnapshot;
  /** Takes over a stored state; first contacts older than 24 h are dropped. */
  restore(instanceId: string, snapshot: PacingSnapshot): void;
}

/** The durable part of an instance's pacing state (times in ms since the epoch). */
export interface PacingSnapshot {
  /** First contacts of the last 24 h, oldest first. */
  firstContacts: { to: string; at: number }[];
  pausedUntil: number;
  firstContactsPausedUntil: number;
  consecutiveRateLimits: number;
}

/** Port: one pacing state per instance (DynamoDB adapter: shared/adapters/dynamodb/pacing-state.dynamodb.ts). */
export interface PacingStateStore {
  load(instanceId: string): Promise<PacingSnapshot | null>;
  save(instanceId: string, snapshot: PacingSnapshot): Promise<void>;
}

interface InstancePacing {
  /** Time of the last reserved send slot (ms). */
  lastSlot: number | null;
  /** First contacts of the last 24 h, oldest first. */
  firstContacts: { to: string; at: number }[];
  pausedUntil: number;
  firstContactsPausedUntil: number;
  consecutiveRateLimits: number;
}

const positive = (value: number, name: string): number => {
  if (!Number.isFinite(value) || value < 0) throw new Error(`Invalid pacing config: ${name} must be a non-negative number`);
  return value;
};

export const createPacer = (config: Partial<PacingConfig> = {}, deps: { clock: Clock; random: () => number }): Pacer => {
  const settings = { ...defaultPacingConfig, ...config };
  for (const name of ['minGapMs', 'jitterMs', 'firstContactsPerDay', 'rateLimitPauseMs', 'maxPauseMs', 'reachOutPauseMs'] as const) {
    positive(settings[name], name);
  }
  const instances = new Map<string, InstancePacing>();
  const stateOf = (instanceId: string): InstancePacing => {
    let state = instances.get(instanceId);
    if (!state) {
      state = { lastSlot: null, firstContacts: [], pausedUntil: 0, firstContactsPausedUntil: 0, consecutiveRateLimits: 0 };
      instances.set(instanceId, state);
    }
    return state;
  };

  return {
    reserve(instanceId, send) {
      const now = deps.clock.now().getTime();
      const state = stateOf(instanceId);
      if (state.pausedUntil > now) return { kind: 'paused', until: new Date(state.pausedUntil) };
      state.firstContacts = state.firstContacts.filter((contact) => contact.at > now - day);
      // A first contact is paused even when it was tried before (a retry after a refusal); the daily
      // cap counts each new contact once.
      if (send.firstContact && state.firstContactsPausedUntil > now) return { kind: 'first_contacts_paused', until: new Date(state.firstContactsPausedUntil) };
      const newContact = send.firstContact && !state.firstContacts.some((contact) => contact.to === send.to);
      if (newContact) {
        if (settings.enabled && state.firstContacts.length >= settings.firstContactsPerDay) {
          const oldest = state.firstContacts[0]?.at ?? now;
          return { kind: 'daily_cap', until: new Date(oldest + day) };
        }
      }
      let at = now;
      if (settings.enabled && state.lastSlot !== null) {
        const gap = settings.minGapMs + Math.floor(deps.random() * settings.jitterMs);
        at = Math.max(now, state.lastSlot + gap);
      }
      state.lastSlot = at;
      if (newContact) state.firstContacts.push({ to: send.to, at: now });
      return { kind: 'send', at: new Date(at) };
    },

    report(instanceId, outcome) {
      const now = deps.clock.now().getTime();
      const state = stateOf(instanceId);
      switch (outcome.kind) {
        case 'sent':
          state.consecutiveRateLimits = 0;
          return null;
        case 'rate_limited': {
          state.consecutiveRateLimits++;
          const backoff = Math.min(settings.rateLimitPauseMs * 2 ** (state.consecutiveRateLimits - 1), settings.maxPauseMs);
          const until = now + Math.max(backoff, outcome.retryAfterMs ?? 0);
          if (until <= state.pausedUntil) return null;
          state.pausedUntil = until;
          return { instanceId, reason: 'rate_limited', scope: 'all', until: new Date(until) };
        }
        case 'reach_out_limited': {
          const until = now + (outcome.retryAfterMs ?? settings.reachOutPauseMs);
          if (until <= state.firstContactsPausedUntil) return null;
          state.firstContactsPausedUntil = until;
          return { instanceId, reason: 'reach_out_limited', scope: 'first_contacts', until: new Date(until) };
        }
      }
    },

    resume(instanceId) {
      const state = stateOf(instanceId);
      state.pausedUntil = 0;
      state.firstContactsPausedUntil = 0;
      state.consecutiveRateLimits = 0;
    },

    forget(instanceId) {
      instances.delete(instanceId);
    },

    snapshot(instanceId) {
      const now = deps.clock.now().getTime();
      const state = stateOf(instanceId);
      return {
        firstContacts: state.firstContacts.filter((contact) => contact.at > now - day).map((contact) => ({ ...contact })),
        pausedUntil: state.pausedUntil,
        firstContactsPausedUntil: state.firstContactsPausedUntil,
        consecutiveRateLimits: state.consecutiveRateLimits,
      };
    },

    restore(instanceId, snapshot) {
      const now = deps.clock.now().getTime();
      const state = stateOf(instanceId);
      state.firstContacts = snapshot.firstContacts.filter((contact) => contact.at > now - day).sort((a, b) => a.at - b.at);
      state.pausedUntil = snapshot.pausedUntil;
      state.firstContactsPausedUntil = snapshot.firstContactsPausedUntil;
      state.consecutiveRateLimits = snapshot.consecutiveRateLimits;
    },
  };
};
