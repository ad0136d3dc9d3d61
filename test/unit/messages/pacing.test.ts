import { describe, expect, it } from 'vitest';
import { createPacer, defaultPacingConfig, type PacingConfig } from '../../../shared/domain/messages/pacing.ts';

const START = Date.parse('2026-04-28T10:30:00Z');
const minute = 60_000;
const hour = 60 * minute;

/** A hand-moved clock and a scripted random source (cycled). */
function setup(config: Partial<PacingConfig> = {}, randoms: number[] = [0]) {
  let now = START;
  let draw = 0;
  const pacer = createPacer(config, {
    clock: { now: () => new Date(now) },
    random: () => randoms[draw++ % randoms.length] as number,
  });
  return { pacer, advance: (ms: number) => (now += ms), at: (offsetMs: number) => new Date(START + offsetMs) };
}

const chat = (n: number) => `55119999900${String(n).padStart(2, '0')}@s.whatsapp.net`;
const existing = (n: number) => ({ to: chat(n), firstContact: false });
const newContact = (n: number) => ({ to: chat(n), firstContact: true });

describe('minimum gap with jitter', () => {
  it('sends the first message at once and spaces the next ones by the gap plus jitter', () => {
    // Prepare
    const { pacer, at } = setup({ minGapMs: 2_000, jitterMs: 3_000 }, [0, 0.5, 0.999]);

    // Act
    const decisions = [1, 2, 3, 4].map((n) => pacer.reserve('i-1', existing(n)));

    // Assess: gaps 2000 + 0, 2000 + 1500, 2000 + 2997
    expect(decisions).toEqual([
      { kind: 'send', at: at(0) },
      { kind: 'send', at: at(2_000) },
      { kind: 'send', at: at(5_500) },
      { kind: 'send', at: at(10_497) },
    ]);
  });

  it('does not wait when the gap has already passed, and paces instances independently', () => {
    // Prepare
    const { pacer, advance, at } = setup({ minGapMs: 2_000, jitterMs: 0 });
    pacer.reserve('i-1', existing(1));

    // Act
    const otherInstance = pacer.reserve('i-2', existing(1));
    advance(10_000);
    const later = pacer.reserve('i-1', existing(2));

    // Assess
    expect(otherInstance).toEqual({ kind: 'send', at: at(0) });
    expect(later).toEqual({ kind: 'send', at: at(10_000) });
  });

  it('uses defaults of 2–5 s between sends', () => {
    // Prepare
    const { pacer, at } = setup({}, [0.5]);
    pacer.reserve('i-1', existing(1));

    // Act
    const second = pacer.reserve('i-1', existing(2));

    // Assess
    expect(defaultPacingConfig).toMatchObject({ enabled: true, minGapMs: 2_000, jitterMs: 3_000, firstContactsPerDay: 100 });
    expect(second).toEqual({ kind: 'send', at: at(3_500) });
  });
});

describe('daily cap on first contacts', () => {
  it('refuses a new contact beyond the cap until the oldest leaves the 24 h window; known chats still flow', () => {
    // Prepare
    const { pacer, advance, at } = setup({ minGapMs: 0, jitterMs: 0, firstContactsPerDay: 3 });
    pacer.reserve('i-1', newContact(1));
    advance(hour);
    pacer.reserve('i-1', newContact(2));
    pacer.reserve('i-1', newContact(3));

    // Act
    const fourth = pacer.reserve('i-1', newContact(4));
    const knownChat = pacer.reserve('i-1', existing(9));
    const sameNewContactAgain = pacer.reserve('i-1', newContact(2));
    advance(23 * hour);
    const afterWindow = pacer.reserve('i-1', newContact(4));

    // Assess
    expect(fourth).toEqual({ kind: 'daily_cap', until: at(24 * hour) });
    expect(knownChat.kind).toBe('send');
    expect(sameNewContactAgain.kind).toBe('send');
    expect(afterWindow).toEqual({ kind: 'send', at: at(24 * hour) });
  });

  it('has no cap and no gap when pacing is disabled', () => {
    // Prepare
    const { pacer, at } = setup({ enabled: false, firstContactsPerDay: 1 });

    // Act
    const decisions = [1, 2, 3].map((n) => pacer.reserve('i-1', newContact(n)));

    // Assess
    expect(decisions).toEqual([1, 2, 3].map(() => ({ kind: 'send', at: at(0) })));
  });
});

describe('automatic pause', () => {
  it('pauses every send on a rate limit, doubling while it repeats, and reports each pause', () => {
    // Prepare
    const { pacer, advance, at } = setup({ minGapMs: 0, jitterMs: 0, rateLimitPauseMs: 15 * minute, maxPauseMs: 40 * minute });

    // Act
    const first = pacer.report('i-1', { kind: 'rate_limited' });
    const duringPause = pacer.reserve('i-1', existing(1));
    advance(15 * minute);
    const second = pacer.report('i-1', { kind: 'rate_limited' });
    advance(30 * minute);
    const third = pacer.report('i-1', { kind: 'rate_limited' });

    // Assess
    expect(first).toEqual({ instanceId: 'i-1', reason: 'rate_limited', scope: 'all', until: at(15 * minute) });
    expect(duringPause).toEqual({ kind: 'paused', until: at(15 * minute) });
    expect(second).toMatchObject({ until: at(45 * minute) });
    expect(third).toMatchObject({ until: at(85 * minute) });
  });

  it('starts again from the base pause after a successful send, and honours a longer retry-after', () => {
    // Prepare
    const { pacer, advance, at } = setup({ rateLimitPauseMs: 15 * minute });
    pacer.report('i-1', { kind: 'rate_limited' });
    advance(15 * minute);

    // Act
    const afterPause = pacer.reserve('i-1', existing(1));
    pacer.report('i-1', { kind: 'sent' });
    const again = pacer.report('i-1', { kind: 'rate_limited', retryAfterMs: hour });

    // Assess
    expect(afterPause).toEqual({ kind: 'send', at: at(15 * minute) });
    expect(again).toMatchObject({ until: at(75 * minute) });
  });

  it('does not report a pause that does not extend the current one', () => {
    // Prepare
    const { pacer } = setup({ rateLimitPauseMs: 15 * minute });
    pacer.report('i-1', { kind: 'rate_limited', retryAfterMs: 2 * hour });

    // Act
    const shorter = pacer.report('i-1', { kind: 'rate_limited', retryAfterMs: minute });

    // Assess
    expect(shorter).toBeNull();
  });

  it('on a reach-out refusal pauses first contacts only', () => {
    // Prepare
    const { pacer, advance, at } = setup({ minGapMs: 0, jitterMs: 0 });

    // Act
    const notice = pacer.report('i-1', { kind: 'reach_out_limited' });
    const newChat = pacer.reserve('i-1', newContact(1));
    const knownChat = pacer.reserve('i-1', existing(2));
    advance(24 * hour);
    const nextDay = pacer.reserve('i-1', newContact(1));

    // Assess
    expect(notice).toEqual({ instanceId: 'i-1', reason: 'reach_out_limited', scope: 'first_contacts', until: at(24 * hour) });
    expect(newChat).toEqual({ kind: 'first_contacts_paused', until: at(24 * hour) });
    expect(knownChat.kind).toBe('send');
    expect(nextDay.kind).toBe('send');
  });

  it('keeps pauses when pacing is disabled; resume clears them', () => {
    // Prepare
    const { pacer, at } = setup({ enabled: false });
    pacer.report('i-1', { kind: 'rate_limited' });

    // Act
    const paused = pacer.reserve('i-1', existing(1));
    pacer.resume('i-1');
    const resumed = pacer.reserve('i-1', existing(1));

    // Assess
    expect(paused.kind).toBe('paused');
    expect(resumed).toEqual({ kind: 'send', at: at(0) });
  });
});

it('rejects a negative setting', () => {
  // Act
  const act = () => createPacer({ minGapMs: -1 }, { clock: { now: () => new Date() }, random: Math.random });

  // Assess
  expect(act).toThrow('Invalid pacing config: minGapMs must be a non-negative number');
});
