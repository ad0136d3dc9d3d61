import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../../shared/domain/errors/domain-error.ts';
import {
  brazilianNinthDigitVariant,
  normalisePhoneNumber,
  parseRecipient,
  recipientOf,
  registrationCandidates,
} from '../../../shared/domain/numbers.ts';

describe('recipients (spec §0.12)', () => {
  it.each([
    ['5511999990001', { kind: 'user', jid: '5511999990001@s.whatsapp.net', digits: '5511999990001' }],
    ['+55 (11) 99999-0001', { kind: 'user', jid: '5511999990001@s.whatsapp.net', digits: '5511999990001' }],
    ['1.415.555.0100', { kind: 'user', jid: '14155550100@s.whatsapp.net', digits: '14155550100' }],
    ['12345678', { kind: 'user', jid: '12345678@s.whatsapp.net', digits: '12345678' }],
    ['123456789012345', { kind: 'user', jid: '123456789012345@s.whatsapp.net', digits: '123456789012345' }],
    ['5511999990001@s.whatsapp.net', { kind: 'user', jid: '5511999990001@s.whatsapp.net', digits: '5511999990001' }],
    ['5511999990001@c.us', { kind: 'user', jid: '5511999990001@s.whatsapp.net', digits: '5511999990001' }],
    ['5511999990001@S.WhatsApp.Net', { kind: 'user', jid: '5511999990001@s.whatsapp.net', digits: '5511999990001' }],
    ['123456789012345@lid', { kind: 'lid', jid: '123456789012345@lid' }],
    ['120363025246125486@g.us', { kind: 'group', jid: '120363025246125486@g.us' }],
    ['5511999990001-1609459200@g.us', { kind: 'group', jid: '5511999990001-1609459200@g.us' }],
    ['120363198765432101@newsletter', { kind: 'newsletter', jid: '120363198765432101@newsletter' }],
  ])('%s → %j', (value, expected) => {
    // Act
    const recipient = parseRecipient(value);

    // Assess
    expect(recipient).toEqual(expected);
  });

  it.each([
    '',
    '1234567',
    '1234567890123456',
    '55 11 9999-000a',
    '+55#11999990001',
    '5511999990001@broadcast',
    'status@broadcast',
    '5511999990001@',
    '@s.whatsapp.net',
    'abc@lid',
    '1203630252461254861203@g.us',
    'group@g.us',
    'news@newsletter',
    '5511999990001:12@s.whatsapp.net',
  ])('%j is not a recipient: 400 Invalid number: <value>', (value) => {
    // Act
    const act = () => recipientOf(value);

    // Assess
    expect(parseRecipient(value)).toBeNull();
    expect(act).toThrow(ValidationError);
    expect(act).toThrow(`Invalid number: ${value}`);
  });

  it('keeps the digits-only helper used by pairing codes', () => {
    // Act
    const digits = normalisePhoneNumber('+55 11 99999-0001');

    // Assess
    expect(digits).toBe('5511999990001');
    expect(() => normalisePhoneNumber('123@g.us')).toThrow('Invalid number: 123@g.us');
  });
});

describe('Brazilian ninth digit', () => {
  it.each([
    ['5511987654321', '551187654321'],
    ['551187654321', '5511987654321'],
    ['5521912345678', '552112345678'],
    ['558196543210', '5581996543210'],
    ['556271234567', '5562971234567'],
  ])('%s ↔ %s', (given, variant) => {
    // Act
    const result = brazilianNinthDigitVariant(given);

    // Assess
    expect(result).toBe(variant);
  });

  it.each([
    ['a landline (8 digits starting with 2–5)', '551132345678'],
    ['an area code with a zero', '5501987654321'],
    ['a mobile without the leading 9 but 13 digits', '5511887654321'],
    ['another country', '14155550100'],
    ['a too-short Brazilian number', '5511987654'],
  ])('has no variant for %s', (_, digits) => {
    // Act
    const result = brazilianNinthDigitVariant(digits);

    // Assess
    expect(result).toBeNull();
  });

  it('checks the number as given first, then its variant', () => {
    // Act
    const withNine = registrationCandidates(recipientOf('+55 11 98765-4321'));
    const withoutNine = registrationCandidates(recipientOf('551187654321@s.whatsapp.net'));

    // Assess
    expect(withNine).toEqual(['5511987654321@s.whatsapp.net', '551187654321@s.whatsapp.net']);
    expect(withoutNine).toEqual(['551187654321@s.whatsapp.net', '5511987654321@s.whatsapp.net']);
  });

  it('checks other numbers once and never checks lids, groups or channels', () => {
    // Act
    const foreign = registrationCandidates(recipientOf('14155550100'));
    const others = ['123456789012345@lid', '120363025246125486@g.us', '120363198765432101@newsletter'].map((jid) => registrationCandidates(recipientOf(jid)));

    // Assess
    expect(foreign).toEqual(['14155550100@s.whatsapp.net']);
    expect(others).toEqual([[], [], []]);
  });
});
