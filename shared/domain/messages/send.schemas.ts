import { z } from 'zod';
import { DomainError, ValidationError } from '../errors/domain-error.ts';
import { invalidNumber, parseRecipient, statusBroadcastJid, type Recipient } from '../numbers.ts';
import { idempotencyKeyOf } from './idempotency.ts';
import { contractMessage, fail, isAbsoluteHttpUrl, isBlank, stringArray } from '../validation.ts';

/**
 * Bodies of the 13 send routes `POST /api/message/<kind>/:instance` (spec §2.3, decisions D71–D90).
 *
 * API
 * - `sendBodySchemas[kind]` (or `TextSendBody`, `MediaSendBody`, …): a zod schema for the JSON body.
 *   Use it as the handler's `body` (`httpHandler(env, route, { body: TextSendBody }, …)`): the
 *   `jsonBody` middleware then answers `Invalid request body` (not an object), the type errors
 *   (`Invalid request body: '<field>' must be <type>`) and the field rules, in the order of the
 *   endpoint's request table (spec §0.6 steps 7–8), each with the contract's exact text (400).
 *   The output is the normalised request of that kind (`SendRequest`, discriminated by `kind`).
 * - `idempotencyKeyOf(header, request.idempotencyKey)` (./idempotency.ts): the last field of every
 *   table, so the handler calls it right after the body parsed (the header is not in the body).
 * - `parseSendRequest(kind, body, { idempotencyKeyHeader })`: both steps at once (throws
 *   `ValidationError`), for callers outside the middy wrapper.
 *
 * Reading of the order rule: endpoint tables list their own fields first and "shared fields"
 * last, so `{}` on `/text` answers `Message is required` before `Number is required`; the shared
 * fields keep the order of §2.3.0 (number, delay, replyTo, replyPrivate, mention, mentionAll,
 * source, idempotencyKey). Checks that need WhatsApp or stored data (`Quoted message not found`,
 * `Number not registered on WhatsApp`, the reaction's `participant` rule for unknown targets,
 * downloads and their size cap) are not validation and belong to the use case.
 *
 * Normalisation: `number`/`to` → `to: Recipient` (`number` wins, D71; the raw value is kept in
 * `number`); `delay` seconds 0–60 (default 0); blank optional strings → `null`; `source`
 * default `"api"`; `mention[]` → recipients (duplicates removed). Decisions taken here where the
 * contract names no message: non-http(s), non-`data:` media URLs → `Failed to download media:
 * invalid URL`; bad `duration`/`waveform`/pix `items` values → `Invalid request body: …`;
 * pix `items[].quantity` defaults to 1 and `unitPrice` to 0.
 */

export const sendKinds = ['text', 'media', 'sticker', 'location', 'contact', 'reaction', 'poll', 'carousel', 'button', 'list', 'form', 'pix', 'status'] as const;
export type SendKind = (typeof sendKinds)[number];

export const sendLimits = {
  delaySeconds: 60,
  source: 64,
  text: 65_536,
  reaction: 16,
  question: 255,
  pollOptions: { min: 2, max: 12, length: 100 },
  vcards: 50,
  cards: 10,
  cardButtons: 3,
  buttons: 3,
  sections: 10,
  rowsPerSection: 10,
  rows: 100,
  waveform: 64,
} as const;

export const defaultSource = 'api';
export const defaultFormButtonLabel = 'Open form';

/** Where the bytes of a media message come from: fetched by URL, or decoded from base64. */
export type MediaSource =
  | { kind: 'url'; url: string }
  /** `data` is the base64 text without whitespace; `mimeType` comes from a `data:` URL, if any. */
  | { kind: 'base64'; data: string; mimeType: string | null };

/** Fields of every send. `idempotencyKey` is the body's value only, see `idempotencyKeyOf`. */
interface SendBase {
  source: string;
  idempotencyKey: string | null;
}

/** Recipient, typing delay and quoting: every kind except `reaction` and `status`. */
export interface Addressed {
  /** The raw `number` (or `to`) as sent, for messages that echo it. */
  number: string;
  to: Recipient;
  delay: number;
  replyTo: string | null;
  replyPrivate: boolean;
}

export interface Mentions {
  mention: Recipient[];
  mentionAll: boolean;
}

export interface TextSend extends SendBase, Addressed, Mentions {
  kind: 'text';
  message: string;
  linkPreview: boolean;
}

export const mediaTypes = ['image', 'video', 'audio', 'document'] as const;
export type MediaType = (typeof mediaTypes)[number];

export interface MediaSend extends SendBase, Addressed, Mentions {
  kind: 'media';
  mediaType: MediaType;
  media: MediaSource;
  /** `null` for audio (no caption) and when absent. */
  caption: string | null;
  mimeType: string | null;
  /** The given name, else the last path segment of the URL, else `file` (D80). */
  fileName: string;
  /** Audio only: voice note (PTT) unless `isVoice: false`; always `false` for other types. */
  isVoice: boolean;
  duration: number | null;
  waveform: number[] | null;
}

export interface StickerSend extends SendBase, Addressed {
  kind: 'sticker';
  image: MediaSource;
}

export interface LocationSend extends SendBase, Addressed {
  kind: 'location';
  latitude: number;
  longitude: number;
  name: string | null;
  address: string | null;
}

export interface VcardEntry {
  fullName: string;
  phone: string;
  organization: string | null;
  email: string | null;
  url: string | null;
}

export interface ContactSend extends SendBase, Addressed {
  kind: 'contact';
  vcard: VcardEntry[];
}

export interface ReactionSend extends SendBase {
  kind: 'reaction';
  number: string;
  to: Recipient;
  messageId: string;
  /** The emoji, `""` for a removal. */
  reaction: string;
  remove: boolean;
  /** `null`: take it from the stored target, else `false` (D84). */
  fromMe: boolean | null;
  participant: Recipient | null;
}

export interface PollSend extends SendBase, Addressed {
  kind: 'poll';
  question: string;
  options: string[];
  /** Clamped to 1…options.length. */
  maxAnswer: number;
}

export const buttonTypes = ['REPLY', 'URL', 'CALL', 'COPY'] as const;
export type ButtonType = (typeof buttonTypes)[number];

export interface InteractiveButton {
  type: ButtonType;
  /** Reply id, URL, phone number or code to copy, by `type`. */
  id: string;
  displayText: string;
}

export interface CarouselCard {
  header: { title: string; subtitle: string | null; imageUrl: string | null; videoUrl: string | null };
  body: { text: string };
  footer: string | null;
  buttons: InteractiveButton[];
}

export interface CarouselSend extends SendBase, Addressed {
  kind: 'carousel';
  message: string | null;
  footer: string | null;
  cards: CarouselCard[];
}

export const buttonMediaTypes = ['IMAGE', 'VIDEO', 'DOCUMENT'] as const;
export type ButtonMediaType = (typeof buttonMediaTypes)[number];

export interface ButtonSend extends SendBase, Addressed {
  kind: 'button';
  contentText: string;
  buttons: InteractiveButton[];
  /** Ignored by the sender when `media` is set. */
  headerText: string | null;
  footerText: string | null;
  media: { url: string; mediaType: ButtonMediaType } | null;
}

export interface ListSection {
  title: string | null;
  rows: { id: string; title: string; description: string | null }[];
}

export interface ListSend extends SendBase, Addressed {
  kind: 'list';
  contentText: string;
  buttonText: string;
  sections: ListSection[];
  headerText: string | null;
  footerText: string | null;
}

export const formTypes = ['contact_details', 'registration_offer'] as const;
export type FormType = (typeof formTypes)[number];

export interface FormSend extends SendBase, Addressed {
  kind: 'form';
  message: string;
  /** `null` only when `buttonParamsJSON` is given (then every other flow field is ignored). */
  formType: FormType | null;
  buttonLabel: string;
  /** `null`: the use case generates a ULID and returns it in `data.flowToken` (D88). */
  flowToken: string | null;
  flowId: string | null;
  flowMessageVersion: string | null;
  messageVersion: number | null;
  /** The verbatim JSON text; already checked to parse. */
  buttonParamsJSON: string | null;
  visible: { fullName: boolean; phoneNumber: boolean; email: boolean; cpfOrCnpj: boolean; deliveryAddress: boolean };
  offerName: string | null;
  offerDescription: string | null;
}

export const pixKeyTypes = ['CPF', 'CNPJ', 'EMAIL', 'PHONE', 'RANDOM'] as const;
export type PixKeyType = (typeof pixKeyTypes)[number];

export interface PixItem {
  name: string;
  description: string | null;
  quantity: number;
  unitPrice: number;
}

export interface PixSend extends SendBase, Addressed {
  kind: 'pix';
  merchantName: string;
  pixKey: string;
  pixKeyType: PixKeyType;
  message: string | null;
  items: PixItem[];
}

export const statusTypes = ['text', 'image', 'video', 'audio'] as const;
export type StatusType = (typeof statusTypes)[number];
/** Story fonts known to WhatsApp clients; anything else falls back to `system` (D90). */
export const statusFonts = ['system', 'serif', 'sans-serif', 'monospace', 'script', 'condensed'] as const;

export interface StatusSend extends SendBase {
  kind: 'status';
  to: { kind: 'status'; jid: typeof statusBroadcastJid };
  type: StatusType;
  /** The text of a text status; the caption (or `null`) of an image/video; `null` for audio. */
  message: string | null;
  /** `null` for text. */
  media: MediaSource | null;
  mimeType: string | null;
  fileName: string | null;
  backgroundColor: string | null;
  font: (typeof statusFonts)[number];
  isVoice: boolean;
  duration: number | null;
  waveform: number[] | null;
}

export type SendRequest =
  | TextSend
  | MediaSend
  | StickerSend
  | LocationSend
  | ContactSend
  | ReactionSend
  | PollSend
  | CarouselSend
  | ButtonSend
  | ListSend
  | FormSend
  | PixSend
  | StatusSend;

// ── JSON types ───────────────────────────────────────────────────────────────

const str = () => z.string().nullish();
const bool = () => z.boolean().nullish();
/** "must be an integer" whatever was sent (zod would say "a number" for a string). */
const integer = () => z.custom<number>((value) => Number.isInteger(value), { params: { expectedType: 'an integer' } });
const int = () => integer().nullish();
const num = () => z.number().nullish();
const objects = <T extends z.ZodRawShape>(shape: T) => z.array(z.object(shape)).nullish();

const addressedShape = { number: str(), to: str(), delay: int(), replyTo: str(), replyPrivate: bool() };
const mentionShape = { mention: stringArray(), mentionAll: bool() };
const tailShape = { source: str(), idempotencyKey: str() };

// ── Field rules ──────────────────────────────────────────────────────────────

/** Thrown inside a rule to stop at the first failing field with the contract's message. */
class Rejection extends Error {
  constructor(
    message: string,
    readonly path: PropertyKey[] = [],
  ) {
    super(message);
  }
}

const reject = (message: string, path: PropertyKey[] = []): never => {
  throw new Rejection(message, path);
};

/** Runs a body's rules in table order; the first rejection becomes the single issue. */
const rules =
  <I, O>(build: (body: I) => O) =>
  (body: I, ctx: z.RefinementCtx): O => {
    try {
      return build(body);
    } catch (error) {
      if (!(error instanceof Rejection)) throw error;
      fail(ctx, error.message, error.path);
      return z.NEVER;
    }
  };

/** Characters as a person counts them (code points), so an emoji is not two. */
const lengthOf = (value: string): number => {
  let count = 0;
  for (const _ of value) count++;
  return count;
};

const tooLong = (field: string, max: number) => `Invalid request body: '${field}' must be at most ${max} characters`;

const optionalText = (value: string | null | undefined): string | null => (isBlank(value) ? null : (value as string));

const required = (value: string | null | undefined, message: string): string => {
  if (isBlank(value)) reject(message);
  return value as string;
};

const recipientOrReject = (value: string): Recipient => parseRecipient(value) ?? reject(invalidNumber(value));

interface AddressedInput {
  number?: string | null;
  to?: string | null;
  delay?: number | null;
  replyTo?: string | null;
  replyPrivate?: boolean | null;
}

const recipientField = (body: { number?: string | null; to?: string | null }): { number: string; to: Recipient } => {
  const number = body.number ?? body.to;
  if (isBlank(number)) reject('Number is required');
  return { number: number as string, to: recipientOrReject(number as string) };
};

const addressed = (body: AddressedInput): Addressed => {
  const recipient = recipientField(body);
  const delay = body.delay ?? 0;
  if (delay < 0 || delay > sendLimits.delaySeconds) reject('Invalid delay: must be between 0 and 60 seconds');
  return { ...recipient, delay, replyTo: optionalText(body.replyTo), replyPrivate: body.replyPrivate ?? false };
};

const mentions = (body: { mention?: string[] | null; mentionAll?: boolean | null }): Mentions => {
  const byJid = new Map<string, Recipient>();
  for (const value of body.mention ?? []) {
    const recipient = recipientOrReject(value);
    byJid.set(recipient.jid, recipient);
  }
  return { mention: [...byJid.values()], mentionAll: body.mentionAll ?? false };
};

const tail = (body: { source?: string | null; idempotencyKey?: string | null }): SendBase => {
  if (typeof body.source === 'string' && lengthOf(body.source) > sendLimits.source) reject(tooLong('source', sendLimits.source));
  return { source: isBlank(body.source) ? defaultSource : (body.source as string), idempotencyKey: body.idempotencyKey ?? null };
};

const dataUrl = /^data:([^,]*?),/i;

/** Standard or URL-safe base64, padding optional; `null` when it cannot be decoded. */
const cleanBase64 = (text: string): string | null => {
  const data = text.replace(/\s+/g, '');
  if (data === '' || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(data)) return null;
  if (data.length % 4 === 1 || (data.includes('=') && data.length % 4 !== 0)) return null;
  return data;
};

/** A `data:` URL → base64 source; `Invalid base64 media` when it is not base64 or undecodable. */
const fromDataUrl = (value: string): MediaSource => {
  const header = dataUrl.exec(value);
  const params = header?.[1]?.split(';') ?? [];
  if (!header || params.at(-1)?.toLowerCase() !== 'base64') return reject('Invalid base64 media');
  const data = cleanBase64(value.slice(header[0].length)) ?? reject('Invalid base64 media');
  const mimeType = params.length > 1 && params[0] !== '' ? (params[0] as string).toLowerCase() : null;
  return { kind: 'base64', data, mimeType };
};

/** `mediaUrl`-like fields: an http(s) URL to download, or a `data:` URL with base64 content. */
const mediaFromUrl = (value: string): MediaSource => {
  if (/^data:/i.test(value)) return fromDataUrl(value);
  if (!isAbsoluteHttpUrl(value, { allowUserInfo: true })) reject('Failed to download media: invalid URL');
  return { kind: 'url', url: value };
};

/** `mediaBase64`: raw base64 or a `data:` URL. */
const mediaFromBase64 = (value: string): MediaSource => {
  if (/^data:/i.test(value)) return fromDataUrl(value);
  return { kind: 'base64', data: cleanBase64(value) ?? reject('Invalid base64 media'), mimeType: null };
};

const fileNameOf = (media: MediaSource): string => {
  if (media.kind !== 'url') return 'file';
  const segment = new URL(media.url).pathname.split('/').at(-1) ?? '';
  try {
    return decodeURIComponent(segment) || 'file';
  } catch {
    return segment || 'file';
  }
};

const audioDetails = (body: { duration?: number | null; waveform?: number[] | null }) => {
  if (typeof body.duration === 'number' && body.duration < 0) reject("Invalid request body: 'duration' must be at least 0", ['duration']);
  const waveform = body.waveform ?? null;
  if (waveform && (waveform.length > sendLimits.waveform || waveform.some((value) => value < 0 || value > 100))) {
    reject("Invalid request body: 'waveform' must have at most 64 values between 0 and 100", ['waveform']);
  }
  return { duration: body.duration ?? null, waveform };
};

const buttonTypeOf = (value: string | null | undefined): ButtonType => {
  if (value === null || value === undefined) return 'REPLY';
  const upper = value.toUpperCase();
  return (buttonTypes as readonly string[]).includes(upper) ? (upper as ButtonType) : reject("Invalid button type. Use 'REPLY', 'URL', 'CALL' or 'COPY'");
};

// ── Bodies, fields in the order of each request table ────────────────────────

/** #19 `POST /api/message/text/:instance`. */
export const TextSendBody = z
  .object({ message: str(), linkPreview: bool(), ...addressedShape, ...mentionShape, ...tailShape })
  .transform(
    rules((body): TextSend => {
      const message = required(body.message, 'Message is required');
      if (lengthOf(message) > sendLimits.text) reject(tooLong('message', sendLimits.text));
      return { kind: 'text', message, linkPreview: body.linkPreview ?? false, ...addressed(body), ...mentions(body), ...tail(body) };
    }),
  );

/** #20 `POST /api/message/media/:instance`. */
export const MediaSendBody = z
  .object({
    mediaType: str(),
    mediaUrl: str(),
    mediaBase64: str(),
    message: str(),
    mimeType: str(),
    fileName: str(),
    isVoice: bool(),
    duration: int(),
    waveform: z.array(integer()).nullish(),
    ...addressedShape,
    ...mentionShape,
    ...tailShape,
  })
  .transform(
    rules((body): MediaSend => {
      const mediaType = body.mediaType ?? '';
      if (!(mediaTypes as readonly string[]).includes(mediaType)) reject("Invalid mediaType. Use 'image', 'video', 'audio' or 'document'");
      const hasUrl = !isBlank(body.mediaUrl);
      const hasBase64 = !isBlank(body.mediaBase64);
      if (hasUrl && hasBase64) reject('Send either mediaUrl or mediaBase64, not both');
      if (!hasUrl && !hasBase64) reject('mediaUrl or mediaBase64 is required');
      const media = hasUrl ? mediaFromUrl(body.mediaUrl as string) : mediaFromBase64(body.mediaBase64 as string);
      const audio = mediaType === 'audio';
      return {
        kind: 'media',
        mediaType: mediaType as MediaType,
        media,
        caption: audio ? null : optionalText(body.message),
        mimeType: optionalText(body.mimeType) ?? (media.kind === 'base64' ? media.mimeType : null),
        fileName: optionalText(body.fileName) ?? fileNameOf(media),
        isVoice: audio && body.isVoice !== false,
        ...audioDetails(body),
        ...addressed(body),
        ...mentions(body),
        ...tail(body),
      };
    }),
  );

/** #21 `POST /api/message/sticker/:instance`. */
export const StickerSendBody = z.object({ imageUrl: str(), ...addressedShape, ...tailShape }).transform(
  rules((body): StickerSend => {
    const image = mediaFromUrl(required(body.imageUrl, 'imageUrl is required'));
    return { kind: 'sticker', image, ...addressed(body), ...tail(body) };
  }),
);

/** #22 `POST /api/message/location/:instance`. */
export const LocationSendBody = z
  .object({ latitude: num(), longitude: num(), name: str(), address: str(), ...addressedShape, ...tailShape })
  .transform(
    rules((body): LocationSend => {
      const { latitude, longitude } = body;
      if (latitude === null || latitude === undefined || longitude === null || longitude === undefined || (latitude === 0 && longitude === 0)) {
        return reject('Latitude and longitude are required');
      }
      if (Math.abs(latitude) > 90 || Math.abs(longitude) > 180) reject('Invalid coordinates');
      return { kind: 'location', latitude, longitude, name: optionalText(body.name), address: optionalText(body.address), ...addressed(body), ...tail(body) };
    }),
  );

const vcardEntryShape = { fullName: str(), phone: str(), organization: str(), email: str(), url: str() };
const isPlainObject = (value: unknown): boolean => value !== null && typeof value === 'object' && !Array.isArray(value);

/** #23 `POST /api/message/contact/:instance`; a single `vcard` object counts as a one-item array. */
export const ContactSendBody = z
  .object({
    vcard: z.preprocess((value) => (isPlainObject(value) ? [value] : value), objects(vcardEntryShape)),
    ...addressedShape,
    ...tailShape,
  })
  .transform(
    rules((body): ContactSend => {
      const entries = body.vcard ?? [];
      if (entries.length === 0) reject('At least one vcard entry is required');
      if (entries.length > sendLimits.vcards) reject('Too many vcard entries (max 50)');
      const vcard = entries.map((entry) => {
        if (isBlank(entry.fullName) || isBlank(entry.phone)) reject('Each vcard entry requires fullName and phone');
        return {
          fullName: entry.fullName as string,
          phone: entry.phone as string,
          organization: optionalText(entry.organization),
          email: optionalText(entry.email),
          url: optionalText(entry.url),
        };
      });
      return { kind: 'contact', vcard, ...addressed(body), ...tail(body) };
    }),
  );

/** #24 `POST /api/message/reaction/:instance`: no delay, replyTo or mentions. */
export const ReactionSendBody = z
  .object({ number: str(), to: str(), messageId: str(), reaction: str(), fromMe: bool(), participant: str(), ...tailShape })
  .transform(
    rules((body): ReactionSend => {
      const recipient = recipientField(body);
      const messageId = required(body.messageId, 'messageId is required');
      const reaction = body.reaction;
      if (reaction === null || reaction === undefined) return reject('Reaction is required');
      const remove = reaction === '' || reaction === 'remove';
      if (!remove && (isBlank(reaction) || lengthOf(reaction) > sendLimits.reaction)) reject('Reaction is required');
      const participantText = optionalText(body.participant);
      const participant = participantText === null ? null : recipientOrReject(participantText);
      if (participant && (participant.kind === 'group' || participant.kind === 'newsletter')) reject(invalidNumber(participantText as string));
      return {
        kind: 'reaction',
        ...recipient,
        messageId,
        reaction: remove ? '' : reaction,
        remove,
        fromMe: body.fromMe ?? null,
        participant,
        ...tail(body),
      };
    }),
  );

/** #25 `POST /api/message/poll/:instance`. */
export const PollSendBody = z
  .object({ question: str(), options: stringArray(), maxAnswer: int(), ...addressedShape, ...tailShape })
  .transform(
    rules((body): PollSend => {
      const question = required(body.question, 'Question is required');
      if (lengthOf(question) > sendLimits.question) reject('Question is required');
      const options = body.options ?? [];
      if (options.length < sendLimits.pollOptions.min || options.length > sendLimits.pollOptions.max) reject('Poll must have between 2 and 12 options');
      const invalidOption = options.some((option) => isBlank(option) || lengthOf(option) > sendLimits.pollOptions.length);
      if (invalidOption || new Set(options).size !== options.length) reject('Poll options must be unique and non-empty');
      const maxAnswer = Math.min(Math.max(body.maxAnswer ?? 1, 1), options.length);
      return { kind: 'poll', question, options, maxAnswer, ...addressed(body), ...tail(body) };
    }),
  );

const cardShape = {
  header: z.object({ title: str(), subtitle: str(), imageUrl: str(), videoUrl: str() }).nullish(),
  body: z.object({ text: str() }).nullish(),
  footer: str(),
  buttons: objects({ displayText: str(), id: str(), type: str() }),
};

/** #26 `POST /api/message/carousel/:instance`. */
export const CarouselSendBody = z
  .object({ message: str(), footer: str(), cards: objects(cardShape), ...addressedShape, ...tailShape })
  .transform(
    rules((body): CarouselSend => {
      const cardsIn = body.cards ?? [];
      if (cardsIn.length < 1 || cardsIn.length > sendLimits.cards) reject('Cards must have between 1 and 10 items');
      const cards = cardsIn.map((card, i): CarouselCard => {
        const title = required(card.header?.title, `cards[${i}].header.title is required`);
        const imageUrl = optionalText(card.header?.imageUrl);
        const videoUrl = optionalText(card.header?.videoUrl);
        if (imageUrl !== null && videoUrl !== null) reject(`cards[${i}] may have imageUrl or videoUrl, not both`);
        const text = required(card.body?.text, `cards[${i}].body.text is required`);
        const buttonsIn = card.buttons ?? [];
        if (buttonsIn.length < 1 || buttonsIn.length > sendLimits.cardButtons) reject(`cards[${i}] must have between 1 and 3 buttons`);
        const buttons = buttonsIn.map((button, j): InteractiveButton => {
          if (isBlank(button.displayText) || isBlank(button.id)) reject(`cards[${i}].buttons[${j}] requires displayText and id`);
          return { type: buttonTypeOf(button.type), id: button.id as string, displayText: button.displayText as string };
        });
        return {
          header: { title, subtitle: optionalText(card.header?.subtitle), imageUrl, videoUrl },
          body: { text },
          footer: optionalText(card.footer),
          buttons,
        };
      });
      return { kind: 'carousel', message: optionalText(body.message), footer: optionalText(body.footer), cards, ...addressed(body), ...tail(body) };
    }),
  );

/** #27 `POST /api/message/button/:instance`; button types are case-insensitive, `mediaType` is upper-case. */
export const ButtonSendBody = z
  .object({
    contentText: str(),
    buttons: objects({ type: str(), id: str(), displayText: str() }),
    headerText: str(),
    footerText: str(),
    mediaUrl: str(),
    mediaType: str(),
    ...addressedShape,
    ...tailShape,
  })
  .transform(
    rules((body): ButtonSend => {
      const contentText = required(body.contentText, 'contentText is required');
      const buttonsIn = body.buttons ?? [];
      if (buttonsIn.length < 1 || buttonsIn.length > sendLimits.buttons) reject('Buttons must have between 1 and 3 items');
      const buttons = buttonsIn.map((button): InteractiveButton => {
        if (isBlank(button.id) || isBlank(button.displayText)) reject('Each button requires id and displayText');
        return { type: buttonTypeOf(button.type), id: button.id as string, displayText: button.displayText as string };
      });
      const mediaUrl = optionalText(body.mediaUrl);
      const mediaType = optionalText(body.mediaType);
      if (mediaUrl !== null && mediaType === null) reject('mediaType is required when mediaUrl is set');
      if (mediaType !== null && !(buttonMediaTypes as readonly string[]).includes(mediaType)) reject("Invalid mediaType. Use 'IMAGE', 'VIDEO' or 'DOCUMENT'");
      return {
        kind: 'button',
        contentText,
        buttons,
        headerText: optionalText(body.headerText),
        footerText: optionalText(body.footerText),
        media: mediaUrl === null ? null : { url: mediaUrl, mediaType: mediaType as ButtonMediaType },
        ...addressed(body),
        ...tail(body),
      };
    }),
  );

/** #28 `POST /api/message/list/:instance`. */
export const ListSendBody = z
  .object({
    contentText: str(),
    buttonText: str(),
    sections: objects({ title: str(), rows: objects({ id: str(), title: str(), description: str() }) }),
    headerText: str(),
    footerText: str(),
    ...addressedShape,
    ...tailShape,
  })
  .transform(
    rules((body): ListSend => {
      const contentText = required(body.contentText, 'contentText is required');
      const buttonText = required(body.buttonText, 'buttonText is required');
      const sectionsIn = body.sections ?? [];
      if (sectionsIn.length < 1 || sectionsIn.length > sendLimits.sections) reject('Sections must have between 1 and 10 items');
      const seen = new Set<string>();
      const sections = sectionsIn.map((section): ListSection => {
        const rowsIn = section.rows ?? [];
        if (rowsIn.length < 1 || rowsIn.length > sendLimits.rowsPerSection) reject('Each section must have between 1 and 10 rows');
        const rows = rowsIn.map((row) => {
          if (isBlank(row.id) || isBlank(row.title)) reject('Each row requires id and title');
          if (seen.has(row.id as string)) reject('Row ids must be unique');
          seen.add(row.id as string);
          return { id: row.id as string, title: row.title as string, description: optionalText(row.description) };
        });
        return { title: optionalText(section.title), rows };
      });
      return {
        kind: 'list',
        contentText,
        buttonText,
        sections,
        headerText: optionalText(body.headerText),
        footerText: optionalText(body.footerText),
        ...addressed(body),
        ...tail(body),
      };
    }),
  );

const isJson = (text: string): boolean => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
};

/** #29 `POST /api/message/form/:instance`. */
export const FormSendBody = z
  .object({
    message: str(),
    formType: str(),
    buttonLabel: str(),
    flowToken: str(),
    flowId: str(),
    flowMessageVersion: str(),
    messageVersion: int(),
    buttonParamsJSON: str(),
    fullNameVisible: bool(),
    phoneNumberVisible: bool(),
    emailVisible: bool(),
    cpfOrCnpjVisible: bool(),
    deliveryAddressVisible: bool(),
    offerName: str(),
    offerDescription: str(),
    ...addressedShape,
    ...tailShape,
  })
  .transform(
    rules((body): FormSend => {
      const message = required(body.message, 'Message is required');
      const escapeHatch = body.buttonParamsJSON ?? null;
      const formType = escapeHatch === null ? (body.formType ?? '') : null;
      if (formType !== null && !(formTypes as readonly string[]).includes(formType)) {
        reject("Invalid formType. Use 'contact_details' or 'registration_offer'");
      }
      if (escapeHatch !== null && !isJson(escapeHatch)) reject('buttonParamsJSON must be a valid JSON string');
      return {
        kind: 'form',
        message,
        formType: formType as FormType | null,
        buttonLabel: optionalText(body.buttonLabel) ?? defaultFormButtonLabel,
        flowToken: optionalText(body.flowToken),
        flowId: optionalText(body.flowId),
        flowMessageVersion: optionalText(body.flowMessageVersion),
        messageVersion: body.messageVersion ?? null,
        buttonParamsJSON: escapeHatch,
        visible: {
          fullName: body.fullNameVisible ?? false,
          phoneNumber: body.phoneNumberVisible ?? false,
          email: body.emailVisible ?? false,
          cpfOrCnpj: body.cpfOrCnpjVisible ?? false,
          deliveryAddress: body.deliveryAddressVisible ?? false,
        },
        offerName: optionalText(body.offerName),
        offerDescription: optionalText(body.offerDescription),
        ...addressed(body),
        ...tail(body),
      };
    }),
  );

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const pixKeyRules: Record<PixKeyType, (key: string) => boolean> = {
  CPF: (key) => /^\d{11}$/.test(key),
  CNPJ: (key) => /^\d{14}$/.test(key),
  EMAIL: (key) => key.includes('@'),
  PHONE: (key) => /^\+?\d{10,13}$/.test(key),
  RANDOM: (key) => uuidPattern.test(key),
};

/** #30 `POST /api/message/pix/:instance`; `pixKeyType` is matched case-insensitively. */
export const PixSendBody = z
  .object({
    merchantName: str(),
    pixKey: str(),
    pixKeyType: str(),
    message: str(),
    items: objects({ name: str(), description: str(), quantity: int(), unitPrice: num() }),
    ...addressedShape,
    ...tailShape,
  })
  .transform(
    rules((body): PixSend => {
      const merchantName = required(body.merchantName, 'merchantName is required');
      const pixKey = required(body.pixKey, 'pixKey is required');
      const pixKeyType = (body.pixKeyType ?? '').toUpperCase();
      if (!(pixKeyTypes as readonly string[]).includes(pixKeyType)) reject("Invalid pixKeyType. Use 'CPF', 'CNPJ', 'EMAIL', 'PHONE' or 'RANDOM'");
      if (!pixKeyRules[pixKeyType as PixKeyType](pixKey)) reject(`Invalid pixKey for pixKeyType ${pixKeyType}`);
      const items = (body.items ?? []).map((item, i): PixItem => {
        if (isBlank(item.name)) reject(`Invalid request body: 'items[${i}].name' is required`, ['items', i, 'name']);
        const quantity = item.quantity ?? 1;
        if (quantity < 1) reject(`Invalid request body: 'items[${i}].quantity' must be at least 1`, ['items', i, 'quantity']);
        const unitPrice = item.unitPrice ?? 0;
        if (unitPrice < 0) reject(`Invalid request body: 'items[${i}].unitPrice' must be at least 0`, ['items', i, 'unitPrice']);
        return { name: item.name as string, description: optionalText(item.description), quantity, unitPrice };
      });
      return { kind: 'pix', merchantName, pixKey, pixKeyType: pixKeyType as PixKeyType, message: optionalText(body.message), items, ...addressed(body), ...tail(body) };
    }),
  );

const colourPattern = /^#([0-9a-f]{6}|[0-9a-f]{8})$/i;

/** #31 `POST /api/message/status/:instance`: no number, delay, replyTo or mentions. */
export const StatusSendBody = z
  .object({
    type: str(),
    message: str(),
    mediaUrl: str(),
    mimeType: str(),
    fileName: str(),
    backgroundColor: str(),
    font: str(),
    isVoice: bool(),
    duration: int(),
    waveform: z.array(integer()).nullish(),
    ...tailShape,
  })
  .transform(
    rules((body): StatusSend => {
      const type = body.type ?? '';
      if (!(statusTypes as readonly string[]).includes(type)) reject("Invalid type. Use 'text', 'image', 'video' or 'audio'");
      const isText = type === 'text';
      const message = isText ? required(body.message, 'Message is required') : type === 'audio' ? null : optionalText(body.message);
      const media = isText ? null : mediaFromUrl(required(body.mediaUrl, 'mediaUrl is required for media status'));
      const backgroundColor = isText ? optionalText(body.backgroundColor) : null;
      if (backgroundColor !== null && !colourPattern.test(backgroundColor)) reject('Invalid backgroundColor');
      const fontName = (body.font ?? '').toLowerCase();
      const font = (statusFonts as readonly string[]).includes(fontName) ? (fontName as (typeof statusFonts)[number]) : 'system';
      return {
        kind: 'status',
        to: { kind: 'status', jid: statusBroadcastJid },
        type: type as StatusType,
        message,
        media,
        mimeType: optionalText(body.mimeType),
        fileName: optionalText(body.fileName),
        backgroundColor,
        font,
        isVoice: type === 'audio' && body.isVoice !== false,
        ...audioDetails(body),
        ...tail(body),
      };
    }),
  );

/** The body schema of each send route, by the route's last path segment before `:instance`. */
export const sendBodySchemas = {
  text: TextSendBody,
  media: MediaSendBody,
  sticker: StickerSendBody,
  location: LocationSendBody,
  contact: ContactSendBody,
  reaction: ReactionSendBody,
  poll: PollSendBody,
  carousel: CarouselSendBody,
  button: ButtonSendBody,
  list: ListSendBody,
  form: FormSendBody,
  pix: PixSendBody,
  status: StatusSendBody,
} as const satisfies Record<SendKind, z.ZodType<SendRequest>>;

export type SendRequestOf<K extends SendKind> = z.output<(typeof sendBodySchemas)[K]>;

/**
 * Body → normalised request, with the final idempotency key (header or body, §0.15), or a
 * `DomainError` carrying the contract's message. `body` is the parsed JSON (`{}` for an empty body).
 */
export const parseSendRequest = <K extends SendKind>(kind: K, body: unknown, options: { idempotencyKeyHeader?: string | null } = {}): SendRequestOf<K> => {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new DomainError('request.invalid_body');
  const result = sendBodySchemas[kind].safeParse(body);
  if (!result.success) throw new ValidationError(contractMessage(result.error.issues));
  const request = result.data as SendRequestOf<K>;
  return { ...request, idempotencyKey: idempotencyKeyOf(options.idempotencyKeyHeader, request.idempotencyKey) };
};
