import { describe, expect, it } from 'vitest';
import { sqsSafeJson } from '../../../shared/adapters/sqs/sqs-json.ts';

describe('sqsSafeJson', () => {
  it('writes characters above U+FFFF as escaped surrogate pairs that parse back to the same value', () => {
    // Prepare
    const value = { text: 'olá 👋🏽 𝄞 ✓', nested: ['🎉'], lone: '\ud800' };

    // Act
    const json = sqsSafeJson(value);

    // Assess
    expect([...json].every((char) => (char.codePointAt(0) as number) <= 0xfffd)).toBe(true);
    expect(json).toContain('\\ud83d\\udc4b');
    expect(JSON.parse(json)).toEqual(value);
  });
});
