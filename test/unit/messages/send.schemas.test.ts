import { describe, expect, it } from 'vitest';
import { isDomainError } from '../../../shared/domain/errors/domain-error.ts';
import { parseSendRequest, sendKinds, type SendKind } from '../../../shared/domain/messages/send.schemas.ts';
import { renderError } from '../../../shared/http/error-map.ts';

const NUMBER = '5511999990001';
const JID = `${NUMBER}@s.whatsapp.net`;

/** A minimal valid body of each kind (spec §2.3 examples). */
const valid: Record<SendKind, Record<string, unknown>> = {
  text: { number: NUMBER, message: 'Hi there' },
  media: { number: NUMBER, mediaType: 'image', mediaUrl: 'https://cdn.example.com/a/photo.jpg' },
  sticker: { number: NUMBER, imageUrl: 'https://cdn.example.com/sticker.png' },
  location: { number: NUMBER, latitude: -23.5505, longitude: -46.6333 },
  contact: { number: NUMBER, vcard: { fullName: 'Ana Souza', phone: '+55 11 98888-7777' } },
  reaction: { number: NUMBER, messageId: '3EB0C767D26A1D8E5F12', reaction: '👍' },
  poll: { number: NUMBER, question: 'Lunch?', options: ['Pizza', 'Sushi'] },
  carousel: { number: NUMBER, cards: [{ header: { title: 'Shoes' }, body: { text: 'On sale' }, buttons: [{ displayText: 'Buy', id: 'buy-1' }] }] },
  button: { number: NUMBER, contentText: 'Pick one', buttons: [{ id: 'yes', displayText: 'Yes' }] },
  list: { number: NUMBER, contentText: 'Menu', buttonText: 'Open', sections: [{ title: 'Food', rows: [{ id: 'r1', title: 'Pizza' }] }] },
  form: { number: NUMBER, message: 'Tell us about you', formType: 'contact_details' },
  pix: { number: NUMBER, merchantName: 'Loja Azul', pixKey: '12345678901', pixKeyType: 'CPF' },
  status: { type: 'text', message: 'Open today until 6pm' },
};

/** The response a client would get for `body`: status and `error.message`, or the parsed request. */
function outcome(kind: SendKind, body: unknown, header?: string | null): { status: number; message: string } | { request: unknown } {
  try {
    return { request: parseSendRequest(kind, body, { idempotencyKeyHeader: header }) };
  } catch (error) {
    if (!isDomainError(error)) throw error;
    return renderError(error.code, error.detail);
  }
}

const rejected = (message: string) => ({ status: 400, message });

const addressedKinds = sendKinds.filter((kind) => kind !== 'status');
const delayedKinds = sendKinds.filter((kind) => kind !== 'status' && kind !== 'reaction');

describe('every send route accepts its minimal body', () => {
  it.each(sendKinds)('%s', (kind) => {
    // Act
    const result = outcome(kind, valid[kind]);

    // Assess
    expect(result).toMatchObject({ request: { kind, source: 'api', idempotencyKey: null } });
  });
});

describe('shared errors (spec §2.3.2)', () => {
  it.each(addressedKinds)('%s: number missing or blank → Number is required', (kind) => {
    // Prepare
    const { number: _number, ...withoutNumber } = valid[kind];

    // Act
    const missing = outcome(kind, withoutNumber);
    const blank = outcome(kind, { ...withoutNumber, number: '   ' });
    const blankTo = outcome(kind, { ...withoutNumber, to: '' });

    // Assess
    expect([missing, blank, blankTo]).toEqual([rejected('Number is required'), rejected('Number is required'), rejected('Number is required')]);
  });

  it.each(addressedKinds)('%s: an invalid number → Invalid number: <value>', (kind) => {
    // Act
    const result = outcome(kind, { ...valid[kind], number: '12-34' });

    // Assess
    expect(result).toEqual(rejected('Invalid number: 12-34'));
  });

  it.each(delayedKinds.flatMap((kind) => [[kind, -1] as const, [kind, 61] as const]))('%s: delay %d → Invalid delay', (kind, delay) => {
    // Act
    const result = outcome(kind, { ...valid[kind], delay });

    // Assess
    expect(result).toEqual(rejected('Invalid delay: must be between 0 and 60 seconds'));
  });

  it.each(sendKinds)('%s: a source over 64 characters', (kind) => {
    // Act
    const atLimit = outcome(kind, { ...valid[kind], source: 'x'.repeat(64) });
    const over = outcome(kind, { ...valid[kind], source: 'x'.repeat(65) });

    // Assess
    expect(atLimit).toMatchObject({ request: { source: 'x'.repeat(64) } });
    expect(over).toEqual(rejected("Invalid request body: 'source' must be at most 64 characters"));
  });

  it.each(sendKinds)('%s: idempotency key errors', (kind) => {
    // Act
    const mismatch = outcome(kind, { ...valid[kind], idempotencyKey: 'order-1' }, 'order-2');
    const invalidHeader = outcome(kind, valid[kind], 'x'.repeat(256));
    const invalidBody = outcome(kind, { ...valid[kind], idempotencyKey: 'café' });
    const empty = outcome(kind, { ...valid[kind], idempotencyKey: '' });

    // Assess
    expect(mismatch).toEqual(rejected('Idempotency key mismatch between header and body'));
    expect(invalidHeader).toEqual(rejected('Invalid idempotency key'));
    expect(invalidBody).toEqual(rejected('Invalid idempotency key'));
    expect(empty).toEqual(rejected('Invalid idempotency key'));
  });

  it.each(sendKinds)('%s: the key comes from the header or the body', (kind) => {
    // Act
    const fromHeader = outcome(kind, valid[kind], 'order-1');
    const fromBody = outcome(kind, { ...valid[kind], idempotencyKey: 'order-1' });
    const both = outcome(kind, { ...valid[kind], idempotencyKey: 'order-1' }, 'order-1');

    // Assess
    for (const result of [fromHeader, fromBody, both]) expect(result).toMatchObject({ request: { idempotencyKey: 'order-1' } });
  });
});

describe('body parsing and types (spec §0.2, §0.6 step 7)', () => {
  it.each([null, [], 'text', 5])('a body that is not an object (%j) → Invalid request body', (body) => {
    // Act
    const result = outcome('text', body);

    // Assess
    expect(result).toEqual(rejected('Invalid request body'));
  });

  it.each([
    ['text', { number: 5511999990001, message: 'x' }, "Invalid request body: 'number' must be a string"],
    ['text', { to: true, message: 'x' }, "Invalid request body: 'to' must be a string"],
    ['text', { number: NUMBER, message: 'x', delay: '5' }, "Invalid request body: 'delay' must be an integer"],
    ['text', { number: NUMBER, message: 'x', delay: 1.5 }, "Invalid request body: 'delay' must be an integer"],
    ['text', { number: NUMBER, message: 'x', linkPreview: 'true' }, "Invalid request body: 'linkPreview' must be a boolean"],
    ['text', { number: NUMBER, message: 'x', mention: NUMBER }, "Invalid request body: 'mention' must be an array of strings"],
    ['text', { number: NUMBER, message: 'x', replyPrivate: 1 }, "Invalid request body: 'replyPrivate' must be a boolean"],
    ['media', { ...valid.media, waveform: [1, 'x'] }, "Invalid request body: 'waveform[1]' must be an integer"],
    ['location', { number: NUMBER, latitude: '-23.5', longitude: 1 }, "Invalid request body: 'latitude' must be a number"],
    ['contact', { number: NUMBER, vcard: 'BEGIN:VCARD' }, "Invalid request body: 'vcard' must be an array"],
    ['contact', { number: NUMBER, vcard: [{ fullName: 'Ana', phone: 5511 }] }, "Invalid request body: 'vcard[0].phone' must be a string"],
    ['poll', { number: NUMBER, question: 'q', options: ['a', 2] }, "Invalid request body: 'options' must be an array of strings"],
    ['carousel', { number: NUMBER, cards: [{ header: { title: 7 } }] }, "Invalid request body: 'cards[0].header.title' must be a string"],
    ['carousel', { number: NUMBER, cards: [{ header: 'x' }] }, "Invalid request body: 'cards[0].header' must be an object"],
    ['list', { ...valid.list, sections: [{ rows: [{ id: 1, title: 't' }] }] }, "Invalid request body: 'sections[0].rows[0].id' must be a string"],
    ['form', { ...valid.form, messageVersion: '3' }, "Invalid request body: 'messageVersion' must be an integer"],
    ['pix', { ...valid.pix, items: [{ name: 'Tea', unitPrice: '5' }] }, "Invalid request body: 'items[0].unitPrice' must be a number"],
    ['status', { type: 'text', message: 'x', isVoice: 'no' }, "Invalid request body: 'isVoice' must be a boolean"],
  ] as const)('%s %j → %s', (kind, body, expected) => {
    // Act
    const result = outcome(kind, body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('reports a wrong type before any field rule', () => {
    // Prepare: the message and number are missing, but source has the wrong type
    const body = { source: 5 };

    // Act
    const result = outcome('text', body);

    // Assess
    expect(result).toEqual(rejected("Invalid request body: 'source' must be a string"));
  });

  it('treats null as an absent optional field and ignores unknown fields', () => {
    // Act
    const result = outcome('text', { number: NUMBER, message: 'hi', delay: null, replyTo: null, mention: null, source: null, extra: { x: 1 } });

    // Assess
    expect(result).toEqual({
      request: {
        kind: 'text',
        message: 'hi',
        linkPreview: false,
        number: NUMBER,
        to: { kind: 'user', jid: JID, digits: NUMBER },
        delay: 0,
        replyTo: null,
        replyPrivate: false,
        mention: [],
        mentionAll: false,
        source: 'api',
        idempotencyKey: null,
      },
    });
  });
});

describe('order of field rules follows the request table (spec §0.6 step 8)', () => {
  it.each([
    ['text', {}, 'Message is required'],
    ['text', { message: 'x', delay: 99 }, 'Number is required'],
    ['text', { message: 'x', number: 'bad', delay: 99 }, 'Invalid number: bad'],
    ['text', { message: 'x', number: NUMBER, delay: 99, source: 'x'.repeat(65) }, 'Invalid delay: must be between 0 and 60 seconds'],
    ['text', { message: 'x', number: NUMBER, mention: ['nope'], source: 'x'.repeat(65) }, 'Invalid number: nope'],
    ['media', { mediaUrl: 'https://a.example/x.png' }, "Invalid mediaType. Use 'image', 'video', 'audio' or 'document'"],
    ['reaction', {}, 'Number is required'],
    ['reaction', { number: NUMBER }, 'messageId is required'],
    ['pix', { pixKey: '1', pixKeyType: 'X' }, 'merchantName is required'],
    ['pix', { merchantName: 'm', pixKey: '1', pixKeyType: 'X' }, "Invalid pixKeyType. Use 'CPF', 'CNPJ', 'EMAIL', 'PHONE' or 'RANDOM'"],
    ['status', { message: 'x' }, "Invalid type. Use 'text', 'image', 'video' or 'audio'"],
  ] as const)('%s %j → %s', (kind, body, expected) => {
    // Act
    const result = outcome(kind, body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });
});

describe('#19 text', () => {
  it.each([
    [{ number: NUMBER }, 'Message is required'],
    [{ number: NUMBER, message: '' }, 'Message is required'],
    [{ number: NUMBER, message: '   ' }, 'Message is required'],
    [{ number: NUMBER, message: 'x'.repeat(65_537) }, "Invalid request body: 'message' must be at most 65536 characters"],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('text', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('accepts 65 536 characters, the alias `to`, mentions, quoting and a label', () => {
    // Prepare
    const body = {
      to: '+55 (11) 99999-0001',
      message: 'x'.repeat(65_536),
      linkPreview: true,
      delay: 60,
      replyTo: '3EB0AA11BB22CC33DD44',
      replyPrivate: true,
      mention: ['5511988887777', '5511988887777@s.whatsapp.net', '123456789012345@lid'],
      mentionAll: true,
      source: 'crm',
    };

    // Act
    const result = outcome('text', body);

    // Assess
    expect(result).toEqual({
      request: {
        kind: 'text',
        message: 'x'.repeat(65_536),
        linkPreview: true,
        number: '+55 (11) 99999-0001',
        to: { kind: 'user', jid: JID, digits: NUMBER },
        delay: 60,
        replyTo: '3EB0AA11BB22CC33DD44',
        replyPrivate: true,
        mention: [
          { kind: 'user', jid: '5511988887777@s.whatsapp.net', digits: '5511988887777' },
          { kind: 'lid', jid: '123456789012345@lid' },
        ],
        mentionAll: true,
        source: 'crm',
        idempotencyKey: null,
      },
    });
  });

  it('prefers `number` over `to` (D71)', () => {
    // Act
    const result = outcome('text', { number: '120363025246125486@g.us', to: NUMBER, message: 'hi' });

    // Assess
    expect(result).toMatchObject({ request: { number: '120363025246125486@g.us', to: { kind: 'group', jid: '120363025246125486@g.us' } } });
  });
});

describe('#20 media', () => {
  const base = { number: NUMBER, mediaType: 'document' };

  it.each([
    [{ ...valid.media, mediaType: 'gif' }, "Invalid mediaType. Use 'image', 'video', 'audio' or 'document'"],
    [{ number: NUMBER, mediaUrl: 'https://a.example/x' }, "Invalid mediaType. Use 'image', 'video', 'audio' or 'document'"],
    [{ ...base, mediaUrl: 'https://a.example/x.pdf', mediaBase64: 'aGVsbG8=' }, 'Send either mediaUrl or mediaBase64, not both'],
    [base, 'mediaUrl or mediaBase64 is required'],
    [{ ...base, mediaUrl: '', mediaBase64: '  ' }, 'mediaUrl or mediaBase64 is required'],
    [{ ...base, mediaBase64: 'not base64!' }, 'Invalid base64 media'],
    [{ ...base, mediaBase64: 'aGVsbG8=x' }, 'Invalid base64 media'],
    [{ ...base, mediaBase64: 'data:application/pdf;base64,@@@' }, 'Invalid base64 media'],
    [{ ...base, mediaUrl: 'data:text/plain,hello' }, 'Invalid base64 media'],
    [{ ...base, mediaUrl: 'ftp://files.example/x.pdf' }, 'Failed to download media: invalid URL'],
    [{ ...base, mediaUrl: 'https://a.example/x.pdf', duration: -1 }, "Invalid request body: 'duration' must be at least 0"],
    [{ ...base, mediaUrl: 'https://a.example/x.pdf', waveform: [0, 101] }, "Invalid request body: 'waveform' must have at most 64 values between 0 and 100"],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('media', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('defaults audio to a voice note without caption, named after the URL', () => {
    // Act
    const result = outcome('media', { number: NUMBER, mediaType: 'audio', mediaUrl: 'https://cdn.example.com/v/note%201.ogg?x=1', message: 'ignored' });

    // Assess
    expect(result).toMatchObject({
      request: {
        kind: 'media',
        mediaType: 'audio',
        media: { kind: 'url', url: 'https://cdn.example.com/v/note%201.ogg?x=1' },
        caption: null,
        mimeType: null,
        fileName: 'note 1.ogg',
        isVoice: true,
        duration: null,
        waveform: null,
      },
    });
  });

  it('keeps an ordinary audio file when isVoice is false', () => {
    // Act
    const result = outcome('media', { number: NUMBER, mediaType: 'audio', mediaUrl: 'https://cdn.example.com/a.mp3', isVoice: false, duration: 12 });

    // Assess
    expect(result).toMatchObject({ request: { isVoice: false, duration: 12 } });
  });

  it('decodes a data: URL in mediaBase64 and takes its MIME type; a bare host names the file "file"', () => {
    // Act
    const fromData = outcome('media', { ...base, mediaBase64: 'data:application/pdf;base64,JVBERi0x\nLjQK', message: 'Invoice' });
    const raw = outcome('media', { ...base, mediaBase64: 'JVBERi0xLjQK', mimeType: 'application/pdf', fileName: 'invoice.pdf' });
    const bareUrl = outcome('media', { ...base, mediaUrl: 'https://cdn.example.com/' });

    // Assess
    expect(fromData).toMatchObject({
      request: { media: { kind: 'base64', data: 'JVBERi0xLjQK', mimeType: 'application/pdf' }, mimeType: 'application/pdf', caption: 'Invoice', fileName: 'file', isVoice: false },
    });
    expect(raw).toMatchObject({ request: { media: { kind: 'base64', data: 'JVBERi0xLjQK', mimeType: null }, mimeType: 'application/pdf', fileName: 'invoice.pdf' } });
    expect(bareUrl).toMatchObject({ request: { fileName: 'file' } });
  });
});

describe('#21 sticker', () => {
  it.each([
    [{ number: NUMBER }, 'imageUrl is required'],
    [{ number: NUMBER, imageUrl: ' ' }, 'imageUrl is required'],
    [{ number: NUMBER, imageUrl: 'data:image/png;base64,%%%' }, 'Invalid base64 media'],
    [{ number: NUMBER, imageUrl: 'sticker.png' }, 'Failed to download media: invalid URL'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('sticker', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('accepts a data: URL and has no mentions', () => {
    // Act
    const result = outcome('sticker', { number: NUMBER, imageUrl: 'data:image/webp;base64,UklGRg==', mention: [NUMBER] });

    // Assess
    expect(result).toMatchObject({ request: { kind: 'sticker', image: { kind: 'base64', data: 'UklGRg==', mimeType: 'image/webp' } } });
    expect(result).not.toHaveProperty('request.mention');
  });
});

describe('#22 location', () => {
  it.each([
    [{ number: NUMBER }, 'Latitude and longitude are required'],
    [{ number: NUMBER, latitude: 10 }, 'Latitude and longitude are required'],
    [{ number: NUMBER, longitude: 10 }, 'Latitude and longitude are required'],
    [{ number: NUMBER, latitude: 0, longitude: 0 }, 'Latitude and longitude are required'],
    [{ number: NUMBER, latitude: 90.1, longitude: 0 }, 'Invalid coordinates'],
    [{ number: NUMBER, latitude: -10, longitude: -180.5 }, 'Invalid coordinates'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('location', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('accepts the edges and one zero coordinate', () => {
    // Act
    const result = outcome('location', { number: NUMBER, latitude: 0, longitude: -180, name: 'Null Island West', address: '' });

    // Assess
    expect(result).toMatchObject({ request: { kind: 'location', latitude: 0, longitude: -180, name: 'Null Island West', address: null } });
  });
});

describe('#23 contact', () => {
  const entry = { fullName: 'Ana', phone: '5511988887777' };

  it.each([
    [{ number: NUMBER }, 'At least one vcard entry is required'],
    [{ number: NUMBER, vcard: [] }, 'At least one vcard entry is required'],
    [{ number: NUMBER, vcard: [entry, { fullName: 'Bruno' }] }, 'Each vcard entry requires fullName and phone'],
    [{ number: NUMBER, vcard: { phone: '1' } }, 'Each vcard entry requires fullName and phone'],
    [{ number: NUMBER, vcard: Array.from({ length: 51 }, () => entry) }, 'Too many vcard entries (max 50)'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('contact', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('treats a single object as a one-item array and accepts 50 entries', () => {
    // Act
    const single = outcome('contact', { number: NUMBER, vcard: { ...entry, organization: 'Acme', email: 'ana@example.com' } });
    const fifty = outcome('contact', { number: NUMBER, vcard: Array.from({ length: 50 }, () => entry) });

    // Assess
    expect(single).toMatchObject({
      request: { vcard: [{ fullName: 'Ana', phone: '5511988887777', organization: 'Acme', email: 'ana@example.com', url: null }] },
    });
    expect(fifty).toMatchObject({ request: { kind: 'contact' } });
  });
});

describe('#24 reaction', () => {
  const base = { number: NUMBER, messageId: '3EB0C767D26A1D8E5F12' };

  it.each([
    [{ number: NUMBER, reaction: '👍' }, 'messageId is required'],
    [{ ...base, messageId: ' ' }, 'messageId is required'],
    [base, 'Reaction is required'],
    [{ ...base, reaction: null }, 'Reaction is required'],
    [{ ...base, reaction: '  ' }, 'Reaction is required'],
    [{ ...base, reaction: '👍'.repeat(17) }, 'Reaction is required'],
    [{ ...base, reaction: '👍', participant: 'x' }, 'Invalid number: x'],
    [{ ...base, reaction: '👍', participant: '120363025246125486@g.us' }, 'Invalid number: 120363025246125486@g.us'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('reaction', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it.each(['', 'remove'])('%j removes the reaction', (reaction) => {
    // Act
    const result = outcome('reaction', { ...base, reaction });

    // Assess
    expect(result).toMatchObject({ request: { reaction: '', remove: true } });
  });

  it('keeps fromMe unknown unless given and normalises the participant; ignores delay', () => {
    // Act
    const result = outcome('reaction', { ...base, number: '120363025246125486@g.us', reaction: '👨‍👩‍👧‍👦', participant: '5511988887777', delay: 99 });

    // Assess
    expect(result).toEqual({
      request: {
        kind: 'reaction',
        number: '120363025246125486@g.us',
        to: { kind: 'group', jid: '120363025246125486@g.us' },
        messageId: '3EB0C767D26A1D8E5F12',
        reaction: '👨‍👩‍👧‍👦',
        remove: false,
        fromMe: null,
        participant: { kind: 'user', jid: '5511988887777@s.whatsapp.net', digits: '5511988887777' },
        source: 'api',
        idempotencyKey: null,
      },
    });
  });
});

describe('#25 poll', () => {
  const base = { number: NUMBER, question: 'Lunch?' };

  it.each([
    [{ number: NUMBER, options: ['a', 'b'] }, 'Question is required'],
    [{ ...base, question: 'q'.repeat(256), options: ['a', 'b'] }, 'Question is required'],
    [base, 'Poll must have between 2 and 12 options'],
    [{ ...base, options: ['a'] }, 'Poll must have between 2 and 12 options'],
    [{ ...base, options: Array.from({ length: 13 }, (_, i) => `o${i}`) }, 'Poll must have between 2 and 12 options'],
    [{ ...base, options: ['a', 'a'] }, 'Poll options must be unique and non-empty'],
    [{ ...base, options: ['a', ' '] }, 'Poll options must be unique and non-empty'],
    [{ ...base, options: ['a', 'b'.repeat(101)] }, 'Poll options must be unique and non-empty'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('poll', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it.each([
    [undefined, 1],
    [0, 1],
    [-3, 1],
    [2, 2],
    [9, 3],
  ])('maxAnswer %j becomes %d with three options', (maxAnswer, expected) => {
    // Act
    const result = outcome('poll', { ...base, options: ['a', 'b', 'c'], maxAnswer });

    // Assess
    expect(result).toMatchObject({ request: { question: 'Lunch?', options: ['a', 'b', 'c'], maxAnswer: expected } });
  });
});

describe('#26 carousel', () => {
  const button = { displayText: 'Buy', id: 'buy' };
  const card = { header: { title: 'Shoes' }, body: { text: 'On sale' }, buttons: [button] };
  const withCard = (override: Record<string, unknown>) => ({ number: NUMBER, cards: [card, { ...card, ...override }] });

  it.each([
    [{ number: NUMBER }, 'Cards must have between 1 and 10 items'],
    [{ number: NUMBER, cards: [] }, 'Cards must have between 1 and 10 items'],
    [{ number: NUMBER, cards: Array.from({ length: 11 }, () => card) }, 'Cards must have between 1 and 10 items'],
    [withCard({ header: { subtitle: 's' } }), 'cards[1].header.title is required'],
    [withCard({ header: undefined }), 'cards[1].header.title is required'],
    [withCard({ body: { text: '' } }), 'cards[1].body.text is required'],
    [withCard({ buttons: [] }), 'cards[1] must have between 1 and 3 buttons'],
    [withCard({ buttons: [button, button, button, button] }), 'cards[1] must have between 1 and 3 buttons'],
    [withCard({ buttons: [button, { displayText: 'Call' }] }), 'cards[1].buttons[1] requires displayText and id'],
    [withCard({ buttons: [{ ...button, type: 'LINK' }] }), "Invalid button type. Use 'REPLY', 'URL', 'CALL' or 'COPY'"],
    [withCard({ header: { title: 't', imageUrl: 'https://a.example/i.png', videoUrl: 'https://a.example/v.mp4' } }), 'cards[1] may have imageUrl or videoUrl, not both'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('carousel', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('normalises cards: REPLY by default, types upper-cased', () => {
    // Act
    const result = outcome('carousel', {
      number: NUMBER,
      message: 'Our picks',
      cards: [{ ...card, header: { title: 'Shoes', imageUrl: 'https://a.example/i.png' }, buttons: [button, { displayText: 'Site', id: 'https://a.example', type: 'url' }] }],
    });

    // Assess
    expect(result).toMatchObject({
      request: {
        kind: 'carousel',
        message: 'Our picks',
        footer: null,
        cards: [
          {
            header: { title: 'Shoes', subtitle: null, imageUrl: 'https://a.example/i.png', videoUrl: null },
            body: { text: 'On sale' },
            footer: null,
            buttons: [
              { type: 'REPLY', id: 'buy', displayText: 'Buy' },
              { type: 'URL', id: 'https://a.example', displayText: 'Site' },
            ],
          },
        ],
      },
    });
  });
});

describe('#27 button', () => {
  const base = { number: NUMBER, contentText: 'Pick one' };
  const button = { id: 'yes', displayText: 'Yes' };

  it.each([
    [{ number: NUMBER, buttons: [button] }, 'contentText is required'],
    [base, 'Buttons must have between 1 and 3 items'],
    [{ ...base, buttons: [button, button, button, button] }, 'Buttons must have between 1 and 3 items'],
    [{ ...base, buttons: [{ id: 'yes' }] }, 'Each button requires id and displayText'],
    [{ ...base, buttons: [{ ...button, type: 'VOTE' }] }, "Invalid button type. Use 'REPLY', 'URL', 'CALL' or 'COPY'"],
    [{ ...base, buttons: [button], mediaUrl: 'https://a.example/i.png' }, 'mediaType is required when mediaUrl is set'],
    [{ ...base, buttons: [button], mediaUrl: 'https://a.example/i.png', mediaType: 'image' }, "Invalid mediaType. Use 'IMAGE', 'VIDEO' or 'DOCUMENT'"],
    [{ ...base, buttons: [button], mediaUrl: 'https://a.example/i.png', mediaType: 'AUDIO' }, "Invalid mediaType. Use 'IMAGE', 'VIDEO' or 'DOCUMENT'"],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('button', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('accepts case-insensitive types and header media', () => {
    // Act
    const result = outcome('button', {
      ...base,
      buttons: [button, { type: 'call', id: '+5511999990001', displayText: 'Call us' }, { type: 'Copy', id: 'PROMO10', displayText: 'Copy code' }],
      headerText: 'Hello',
      mediaUrl: 'https://a.example/i.png',
      mediaType: 'IMAGE',
    });

    // Assess
    expect(result).toMatchObject({
      request: {
        kind: 'button',
        contentText: 'Pick one',
        buttons: [
          { type: 'REPLY', id: 'yes', displayText: 'Yes' },
          { type: 'CALL', id: '+5511999990001', displayText: 'Call us' },
          { type: 'COPY', id: 'PROMO10', displayText: 'Copy code' },
        ],
        headerText: 'Hello',
        footerText: null,
        media: { url: 'https://a.example/i.png', mediaType: 'IMAGE' },
      },
    });
  });
});

describe('#28 list', () => {
  const row = { id: 'r1', title: 'Pizza' };
  const base = { number: NUMBER, contentText: 'Menu', buttonText: 'Open' };

  it.each([
    [{ number: NUMBER, buttonText: 'Open' }, 'contentText is required'],
    [{ number: NUMBER, contentText: 'Menu' }, 'buttonText is required'],
    [base, 'Sections must have between 1 and 10 items'],
    [{ ...base, sections: Array.from({ length: 11 }, (_, i) => ({ rows: [{ id: `r${i}`, title: 't' }] })) }, 'Sections must have between 1 and 10 items'],
    [{ ...base, sections: [{ title: 'Empty', rows: [] }] }, 'Each section must have between 1 and 10 rows'],
    [{ ...base, sections: [{ rows: Array.from({ length: 11 }, (_, i) => ({ id: `r${i}`, title: 't' })) }] }, 'Each section must have between 1 and 10 rows'],
    [{ ...base, sections: [{ rows: [{ id: 'r1' }] }] }, 'Each row requires id and title'],
    [{ ...base, sections: [{ rows: [row] }, { rows: [{ ...row, title: 'Again' }] }] }, 'Row ids must be unique'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('list', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('accepts 10 sections of 10 rows', () => {
    // Prepare
    const sections = Array.from({ length: 10 }, (_, s) => ({ title: `S${s}`, rows: Array.from({ length: 10 }, (_, r) => ({ id: `${s}-${r}`, title: 't' })) }));

    // Act
    const result = outcome('list', { ...base, sections, footerText: 'Bye' });

    // Assess
    expect(result).toMatchObject({ request: { kind: 'list', footerText: 'Bye', headerText: null } });
  });
});

describe('#29 form', () => {
  it.each([
    [{ number: NUMBER, formType: 'contact_details' }, 'Message is required'],
    [{ number: NUMBER, message: 'Fill' }, "Invalid formType. Use 'contact_details' or 'registration_offer'"],
    [{ number: NUMBER, message: 'Fill', formType: 'survey' }, "Invalid formType. Use 'contact_details' or 'registration_offer'"],
    [{ number: NUMBER, message: 'Fill', buttonParamsJSON: '{not json' }, 'buttonParamsJSON must be a valid JSON string'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('form', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('defaults the button label and leaves the flow token to the use case', () => {
    // Act
    const result = outcome('form', { number: NUMBER, message: 'Fill', formType: 'registration_offer', emailVisible: true, offerName: 'Club' });

    // Assess
    expect(result).toMatchObject({
      request: {
        formType: 'registration_offer',
        buttonLabel: 'Open form',
        flowToken: null,
        buttonParamsJSON: null,
        visible: { fullName: false, phoneNumber: false, email: true, cpfOrCnpj: false, deliveryAddress: false },
        offerName: 'Club',
      },
    });
  });

  it('ignores formType when buttonParamsJSON is given', () => {
    // Act
    const result = outcome('form', { number: NUMBER, message: 'Fill', formType: 'survey', buttonParamsJSON: '{"flow_id":"1"}' });

    // Assess
    expect(result).toMatchObject({ request: { formType: null, buttonParamsJSON: '{"flow_id":"1"}' } });
  });
});

describe('#30 pix', () => {
  const base = { number: NUMBER, merchantName: 'Loja Azul' };

  it.each([
    [{ number: NUMBER, pixKey: '12345678901', pixKeyType: 'CPF' }, 'merchantName is required'],
    [{ ...base, pixKeyType: 'CPF' }, 'pixKey is required'],
    [{ ...base, pixKey: '12345678901' }, "Invalid pixKeyType. Use 'CPF', 'CNPJ', 'EMAIL', 'PHONE' or 'RANDOM'"],
    [{ ...base, pixKey: '12345678901', pixKeyType: 'IBAN' }, "Invalid pixKeyType. Use 'CPF', 'CNPJ', 'EMAIL', 'PHONE' or 'RANDOM'"],
    [{ ...base, pixKey: '123.456.789-01', pixKeyType: 'CPF' }, 'Invalid pixKey for pixKeyType CPF'],
    [{ ...base, pixKey: '1234567800019', pixKeyType: 'CNPJ' }, 'Invalid pixKey for pixKeyType CNPJ'],
    [{ ...base, pixKey: 'loja.example.com', pixKeyType: 'EMAIL' }, 'Invalid pixKey for pixKeyType EMAIL'],
    [{ ...base, pixKey: '119999', pixKeyType: 'PHONE' }, 'Invalid pixKey for pixKeyType PHONE'],
    [{ ...base, pixKey: 'not-a-uuid', pixKeyType: 'RANDOM' }, 'Invalid pixKey for pixKeyType RANDOM'],
    [{ ...base, pixKey: '12345678901', pixKeyType: 'CPF', items: [{ quantity: 1 }] }, "Invalid request body: 'items[0].name' is required"],
    [{ ...base, pixKey: '12345678901', pixKeyType: 'CPF', items: [{ name: 'Tea', quantity: 0 }] }, "Invalid request body: 'items[0].quantity' must be at least 1"],
    [{ ...base, pixKey: '12345678901', pixKeyType: 'CPF', items: [{ name: 'Tea', unitPrice: -1 }] }, "Invalid request body: 'items[0].unitPrice' must be at least 0"],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('pix', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it.each([
    ['CNPJ', '12345678000195'],
    ['email', 'pix@loja.example'],
    ['PHONE', '+5511999990001'],
    ['RANDOM', '123E4567-E89B-42D3-A456-426614174000'],
  ])('accepts a %s key', (pixKeyType, pixKey) => {
    // Act
    const result = outcome('pix', { ...base, pixKey, pixKeyType });

    // Assess
    expect(result).toMatchObject({ request: { pixKey, pixKeyType: pixKeyType.toUpperCase() } });
  });

  it('defaults item quantity and price', () => {
    // Act
    const result = outcome('pix', { ...base, pixKey: '12345678901', pixKeyType: 'CPF', items: [{ name: 'Tea', unitPrice: 4.5 }, { name: 'Cake', quantity: 2 }] });

    // Assess
    expect(result).toMatchObject({
      request: {
        message: null,
        items: [
          { name: 'Tea', description: null, quantity: 1, unitPrice: 4.5 },
          { name: 'Cake', description: null, quantity: 2, unitPrice: 0 },
        ],
      },
    });
  });
});

describe('#31 status', () => {
  it.each([
    [{}, "Invalid type. Use 'text', 'image', 'video' or 'audio'"],
    [{ type: 'sticker' }, "Invalid type. Use 'text', 'image', 'video' or 'audio'"],
    [{ type: 'text' }, 'Message is required'],
    [{ type: 'image', message: 'caption' }, 'mediaUrl is required for media status'],
    [{ type: 'text', message: 'hi', backgroundColor: 'red' }, 'Invalid backgroundColor'],
    [{ type: 'text', message: 'hi', backgroundColor: '#12345' }, 'Invalid backgroundColor'],
  ])('%# → %s', (body, expected) => {
    // Act
    const result = outcome('status', body);

    // Assess
    expect(result).toEqual(rejected(expected));
  });

  it('posts a text status to status@broadcast; unknown fonts fall back to system', () => {
    // Act
    const result = outcome('status', { type: 'text', message: 'Open today', backgroundColor: '#FF00AA33', font: 'Comic', number: 'ignored' });

    // Assess
    expect(result).toEqual({
      request: {
        kind: 'status',
        to: { kind: 'status', jid: 'status@broadcast' },
        type: 'text',
        message: 'Open today',
        media: null,
        mimeType: null,
        fileName: null,
        backgroundColor: '#FF00AA33',
        font: 'system',
        isVoice: false,
        duration: null,
        waveform: null,
        source: 'api',
        idempotencyKey: null,
      },
    });
  });

  it('takes media by URL and ignores the colour of a media status; audio is a voice note', () => {
    // Act
    const image = outcome('status', { type: 'image', mediaUrl: 'https://a.example/i.jpg', message: 'New!', backgroundColor: 'bad', font: 'serif' });
    const audio = outcome('status', { type: 'audio', mediaUrl: 'https://a.example/a.ogg', message: 'no caption' });

    // Assess
    expect(image).toMatchObject({ request: { media: { kind: 'url', url: 'https://a.example/i.jpg' }, message: 'New!', backgroundColor: null, font: 'serif' } });
    expect(audio).toMatchObject({ request: { message: null, isVoice: true } });
  });
});
