import { ValidationError } from './errors/domain-error.ts';

/**
 * Numbers and JIDs given by clients (spec §0.12).
 *
 * - `normalisePhoneNumber(value)` → digits of a plain number or user JID; throws
 *   `Invalid number: <value>` (used by pairing codes and the sandbox).
 * - `parseRecipient(value)` → a `Recipient` (user, lid, group, newsletter) or `null` when the value
 *   is neither a plain number nor a JID of those kinds; `recipientOf(value)` throws instead.
 * - `registrationCandidates(recipient)` → the user JIDs to check against WhatsApp, in order: the
 *   number as given, then its Brazilian ninth-digit variant; empty for recipients that are not
 *   checked (lid, group, newsletter).
 */

const separators = /[+\s\-.()]/g;

/**
 * A recipient/number input (spec §0.12): a plain international number, separators removed,
 * 8–15 digits; `@c.us` is an alias of `@s.whatsapp.net`. Returns the digits.
 */
export const normalisePhoneNumber = (value: string): string => {
  const bare = value.replace(/@(c\.us|s\.whatsapp\.net)$/, '');
  const digits = bare.replace(separators, '');
  if (!/^\d{8,15}$/.test(digits)) throw new ValidationError(`Invalid number: ${value}`);
  return digits;
};

export const userServer = 's.whatsapp.net';
export const statusBroadcastJid = 'status@broadcast';

export type Recipient =
  /** A phone number: `<digits>@s.whatsapp.net`; checked against WhatsApp before sending. */
  | { kind: 'user'; jid: string; digits: string }
  /** A hidden identity: `<digits>@lid`. */
  | { kind: 'lid'; jid: string }
  /** A group or community: `<id>@g.us`. */
  | { kind: 'group'; jid: string }
  /** A channel: `<digits>@newsletter`. */
  | { kind: 'newsletter'; jid: string };

const phoneDigits = /^\d{8,15}$/;
/** LIDs are opaque numeric ids, typically 14–15 digits. */
const lidUser = /^\d{1,20}$/;
/** New groups: an 18-digit id; old groups: `<creator number>-<unix time>`. */
const groupUser = /^\d{1,20}(-\d{1,20})?$/;
const newsletterUser = /^\d{1,25}$/;

const userRecipient = (digits: string): Recipient => ({ kind: 'user', jid: `${digits}@${userServer}`, digits });

/** A plain number or a user/lid/group/newsletter JID → its recipient; `null` when invalid. */
export const parseRecipient = (value: string): Recipient | null => {
  const at = value.lastIndexOf('@');
  if (at < 0) {
    const digits = value.replace(separators, '');
    return phoneDigits.test(digits) ? userRecipient(digits) : null;
  }
  const user = value.slice(0, at);
  const server = value.slice(at + 1).toLowerCase();
  switch (server) {
    case userServer:
    case 'c.us': {
      // Kept as lenient as `normalisePhoneNumber`: a formatted number before the suffix is accepted.
      const digits = user.replace(separators, '');
      return phoneDigits.test(digits) ? userRecipient(digits) : null;
    }
    case 'lid':
      return lidUser.test(user) ? { kind: 'lid', jid: `${user}@lid` } : null;
    case 'g.us':
      return groupUser.test(user) ? { kind: 'group', jid: `${user}@g.us` } : null;
    case 'newsletter':
      return newsletterUser.test(user) ? { kind: 'newsletter', jid: `${user}@newsletter` } : null;
    default:
      return null;
  }
};

/** `parseRecipient`, throwing the contract's 400 `Invalid number: <value>`. */
export const recipientOf = (value: string): Recipient => {
  const recipient = parseRecipient(value);
  if (!recipient) throw new ValidationError(invalidNumber(value));
  return recipient;
};

export const invalidNumber = (value: string): string => `Invalid number: ${value}`;

/**
 * The Brazilian ninth digit (spec §0.12): mobile numbers gained a leading `9` (2012–2016), but
 * accounts registered before keep an 8-digit WhatsApp id, so either form may be the registered one.
 * `55` + a two-digit area code (no zero digit) + `9` + 8 digits ↔ `55` + area code + 8 digits
 * starting with 6–9 (8-digit numbers starting with 2–5 are landlines: no variant).
 * Returns the other form, or `null` when the number has none.
 */
export const brazilianNinthDigitVariant = (digits: string): string | null => {
  const withNine = /^55([1-9]{2})9(\d{8})$/.exec(digits);
  if (withNine) return `55${withNine[1]}${withNine[2]}`;
  const withoutNine = /^55([1-9]{2})([6-9]\d{7})$/.exec(digits);
  if (withoutNine) return `55${withoutNine[1]}9${withoutNine[2]}`;
  return null;
};

/** The JIDs to look up on WhatsApp for a recipient, in the order to try them. */
export const registrationCandidates = (recipient: Recipient): string[] => {
  if (recipient.kind !== 'user') return [];
  const variant = brazilianNinthDigitVariant(recipient.digits);
  return variant === null ? [recipient.jid] : [recipient.jid, `${variant}@${userServer}`];
};
