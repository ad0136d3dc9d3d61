import { ValidationError } from './errors/domain-error.ts';

/**
 * A recipient/number input (spec §0.12): a plain international number, separators removed,
 * 8–15 digits; `@c.us` is an alias of `@s.whatsapp.net`. Returns the digits.
 */
export const normalisePhoneNumber = (value: string): string => {
  const bare = value.replace(/@(c\.us|s\.whatsapp\.net)$/, '');
  const digits = bare.replace(/[+\s\-.()]/g, '');
  if (!/^\d{8,15}$/.test(digits)) throw new ValidationError(`Invalid number: ${value}`);
  return digits;
};
