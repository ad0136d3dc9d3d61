import { describe, expect, it } from 'vitest';
import { ConfigError, loadEmbeddedConfig } from '../../../local/config.ts';

/** ZAPFLEET_MESSAGE_RETENTION_DAYS of the embedded stack (README "Configuration"). */

const base = { ZAPFLEET_DATA_DIR: '/tmp/zapfleet-config-test' };

describe('message retention configuration', () => {
  it('keeps messages 30 days by default', () => {
    // Act
    const config = loadEmbeddedConfig(base);

    // Assess
    expect(config.messageRetentionSeconds).toBe(30 * 86_400);
  });

  it('reads the retention in days', () => {
    // Act
    const config = loadEmbeddedConfig({ ...base, ZAPFLEET_MESSAGE_RETENTION_DAYS: '7' });

    // Assess
    expect(config.messageRetentionSeconds).toBe(7 * 86_400);
  });

  it.each([
    ['0', 'ZAPFLEET_MESSAGE_RETENTION_DAYS: ZAPFLEET_MESSAGE_RETENTION_DAYS must be between 1 and 3650'],
    ['3651', 'ZAPFLEET_MESSAGE_RETENTION_DAYS: ZAPFLEET_MESSAGE_RETENTION_DAYS must be between 1 and 3650'],
    ['a month', 'ZAPFLEET_MESSAGE_RETENTION_DAYS: ZAPFLEET_MESSAGE_RETENTION_DAYS must be a whole number'],
  ])('stops the start naming the variable for %s', (value, line) => {
    // Act
    const load = () => loadEmbeddedConfig({ ...base, ZAPFLEET_MESSAGE_RETENTION_DAYS: value });

    // Assess
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(`Invalid configuration:\n- ${line}`);
  });
});
