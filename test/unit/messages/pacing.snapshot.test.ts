import { describe, expect, it } from 'vitest';
import { createPacer } from '../../../shared/domain/messages/pacing.ts';

/**
 * The durable part of pacing (what a runner restart or a shard move must not reset): a new pacer
 * restored from another's snapshot keeps the day's first contacts and the pauses.
 */

const START = Date.parse('2026-04-28T10:30:00Z');
const hour = 60 * 60_000;
const chat = (n: number) => `55119999900${String(n).padStart(2, '0')}@s.whatsapp.net`;

const pacerAt = (clock: { now: number }, firstContactsPerDay = 2) =>
  createPacer({ minGapMs: 0, jitterMs: 0, firstContactsPerDay }, { clock: { now: () => new Date(clock.now) }, random: () => 0 });

describe('pacing snapshots', () => {
  it('keeps the daily first-contact count in a restored pacer: the cap still applies, known contacts do not count twice', () => {
    // Prepare
    const clock = { now: START };
    const before = pacerAt(clock);
    before.reserve('i-1', { to: chat(1), firstContact: true });
    clock.now += hour;
    before.reserve('i-1', { to: chat(2), firstContact: true });
    const after = pacerAt(clock);

    // Act
    after.restore('i-1', before.snapshot('i-1'));
    const third = after.reserve('i-1', { to: chat(3), firstContact: true });
    const retry = after.reserve('i-1', { to: chat(2), firstContact: true });
    const fresh = after.reserve('i-2', { to: chat(3), firstContact: true });

    // Assess: the oldest first contact leaves the rolling 24 h at START + 24 h.
    expect(third).toEqual({ kind: 'daily_cap', until: new Date(START + 24 * hour) });
    expect(retry).toEqual({ kind: 'send', at: new Date(START + hour) });
    expect(fresh.kind).toBe('send');
  });

  it('drops first contacts older than 24 h on restore, and keeps a pause with its back-off', () => {
    // Prepare
    const clock = { now: START };
    const before = pacerAt(clock, 1);
    before.reserve('i-1', { to: chat(1), firstContact: true });
    const notice = before.report('i-1', { kind: 'rate_limited' });
    const snapshot = before.snapshot('i-1');
    clock.now += 25 * hour;
    const after = pacerAt(clock, 1);

    // Act
    after.restore('i-1', { ...snapshot, pausedUntil: clock.now + hour });
    const paused = after.reserve('i-1', { to: chat(2), firstContact: true });
    clock.now += 2 * hour;
    const resumed = after.reserve('i-1', { to: chat(2), firstContact: true });
    const again = after.report('i-1', { kind: 'rate_limited' });

    // Assess: the second rate limit in a row pauses twice as long as the first (15 → 30 min).
    expect(notice?.until).toEqual(new Date(START + 15 * 60_000));
    expect(paused).toEqual({ kind: 'paused', until: new Date(START + 26 * hour) });
    expect(resumed.kind).toBe('send');
    expect(again?.until).toEqual(new Date(clock.now + 30 * 60_000));
  });
});
