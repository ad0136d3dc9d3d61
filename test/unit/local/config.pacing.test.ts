import { describe, expect, it } from 'vitest';
import { ConfigError, loadEmbeddedConfig } from '../../../local/config.ts';

/** ZAPFLEET_PACING_* of the embedded stack (README "Configuration"). */

const base = { ZAPFLEET_DATA_DIR: '/tmp/zapfleet-config-test' };

describe('pacing configuration', () => {
  it('defaults to pacing on with 2–5 s between sends and 100 new contacts a day', () => {
    // Act
    const config = loadEmbeddedConfig(base);

    // Assess
    expect(config.pacing).toEqual({ enabled: true, minGapMs: 2_000, jitterMs: 3_000, firstContactsPerDay: 100 });
  });

  it('turns pacing off by default in sandbox mode, unless asked for', () => {
    // Act
    const sandbox = loadEmbeddedConfig({ ...base, ZAPFLEET_DRIVER: 'sandbox' });
    const pacedSandbox = loadEmbeddedConfig({ ...base, ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_PACING_ENABLED: 'true' });
    const unpaced = loadEmbeddedConfig({ ...base, ZAPFLEET_PACING_ENABLED: 'false' });

    // Assess
    expect(sandbox.pacing.enabled).toBe(false);
    expect(pacedSandbox.pacing.enabled).toBe(true);
    expect(unpaced.pacing.enabled).toBe(false);
  });

  it('reads the gap range and the daily cap', () => {
    // Act
    const config = loadEmbeddedConfig({ ...base, ZAPFLEET_PACING_MIN_GAP_MS: '500', ZAPFLEET_PACING_MAX_GAP_MS: '1500', ZAPFLEET_PACING_DAILY_NEW_CONTACTS: '20' });

    // Assess
    expect(config.pacing).toEqual({ enabled: true, minGapMs: 500, jitterMs: 1_000, firstContactsPerDay: 20 });
  });

  it.each([
    [{ ZAPFLEET_PACING_ENABLED: 'yes' }, "ZAPFLEET_PACING_ENABLED: ZAPFLEET_PACING_ENABLED must be 'true' or 'false'"],
    [{ ZAPFLEET_PACING_MIN_GAP_MS: '1.5' }, 'ZAPFLEET_PACING_MIN_GAP_MS: ZAPFLEET_PACING_MIN_GAP_MS must be a whole number'],
    [{ ZAPFLEET_PACING_MAX_GAP_MS: '-1' }, 'ZAPFLEET_PACING_MAX_GAP_MS: ZAPFLEET_PACING_MAX_GAP_MS must be a whole number'],
    [{ ZAPFLEET_PACING_MIN_GAP_MS: '3600001' }, 'ZAPFLEET_PACING_MIN_GAP_MS: ZAPFLEET_PACING_MIN_GAP_MS must be between 0 and 3600000'],
    [{ ZAPFLEET_PACING_DAILY_NEW_CONTACTS: 'many' }, 'ZAPFLEET_PACING_DAILY_NEW_CONTACTS: ZAPFLEET_PACING_DAILY_NEW_CONTACTS must be a whole number'],
    [
      { ZAPFLEET_PACING_MIN_GAP_MS: '3000', ZAPFLEET_PACING_MAX_GAP_MS: '1000' },
      'ZAPFLEET_PACING_MAX_GAP_MS: ZAPFLEET_PACING_MAX_GAP_MS must not be less than ZAPFLEET_PACING_MIN_GAP_MS',
    ],
  ])('stops the start naming the variable for %o', (env, line) => {
    // Act
    const load = () => loadEmbeddedConfig({ ...base, ...env });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`Invalid configuration:\n- ${line}`);
  });
});
