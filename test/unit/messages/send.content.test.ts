import { describe, expect, it } from 'vitest';
import { contentOf, messageTypeOf, successMessageOf } from '../../../shared/domain/messages/send.content.ts';
import { parseSendRequest, type SendKind } from '../../../shared/domain/messages/send.schemas.ts';

const NUMBER = '5511999990001';
const request = (kind: SendKind, body: Record<string, unknown>) => parseSendRequest(kind, kind === 'status' ? body : { number: NUMBER, ...body });
const card = { header: { title: 'T' }, body: { text: 'B' }, buttons: [{ displayText: 'Go', id: 'go' }] };

describe('response fields of each send (spec §2.3.1, #19–#31)', () => {
  it.each([
    ['text', { message: 'Hi @5511988887777' }, 'text', 'Hi @5511988887777'],
    ['media', { mediaType: 'video', mediaUrl: 'https://a.example/v.mp4', message: 'Watch' }, 'video', 'Watch'],
    ['media', { mediaType: 'document', mediaUrl: 'https://a.example/f.pdf' }, 'document', ''],
    ['sticker', { imageUrl: 'https://a.example/s.png' }, 'sticker', ''],
    ['location', { latitude: -23.5505, longitude: -46.6333, name: 'Praça da Sé', address: 'São Paulo' }, 'location', '📍 Praça da Sé\nSão Paulo\nLat: -23.5505, Long: -46.6333'],
    ['location', { latitude: 1.5, longitude: 2, address: 'Somewhere' }, 'location', 'Somewhere\nLat: 1.5, Long: 2'],
    ['location', { latitude: 1.5, longitude: 2 }, 'location', 'Lat: 1.5, Long: 2'],
    ['contact', { vcard: [{ fullName: 'Ana', phone: '1' }, { fullName: 'Bruno', phone: '2' }] }, 'contact', 'Ana, Bruno'],
    ['reaction', { messageId: 'M1', reaction: '❤️' }, 'reaction', '❤️'],
    ['reaction', { messageId: 'M1', reaction: 'remove' }, 'reaction', ''],
    ['poll', { question: 'Lunch?', options: ['Pizza', 'Sushi'] }, 'poll', 'Lunch?\n1. Pizza\n2. Sushi'],
    ['carousel', { message: 'Our picks', cards: [card, card] }, 'interactive', 'Our picks - Carousel with 2 card(s)'],
    ['carousel', { cards: [card] }, 'interactive', 'Carousel with 1 card(s)'],
    ['button', { contentText: 'Pick', buttons: [{ id: 'y', displayText: 'Yes' }] }, 'buttons', 'Pick'],
    ['list', { contentText: 'Menu', buttonText: 'Open', sections: [{ rows: [{ id: 'r', title: 'R' }] }] }, 'list', 'Menu'],
    ['form', { message: 'Fill in', formType: 'contact_details' }, 'interactive', 'Fill in'],
    ['pix', { merchantName: 'Loja Azul', pixKey: '12345678901', pixKeyType: 'CPF', message: 'Pay here' }, 'interactive', 'Pay here'],
    ['pix', { merchantName: 'Loja Azul', pixKey: '12345678901', pixKeyType: 'CPF' }, 'interactive', 'PIX: Loja Azul'],
    ['status', { type: 'text', message: 'Open today' }, 'text', 'Open today'],
    ['status', { type: 'image', mediaUrl: 'https://a.example/i.jpg' }, 'image', ''],
  ] as const)('%s %j → %s, %j', (kind, body, messageType, content) => {
    // Prepare
    const parsed = request(kind, body);

    // Act
    const result = { messageType: messageTypeOf(parsed), content: contentOf(parsed) };

    // Assess
    expect(result).toEqual({ messageType, content });
  });

  it.each([
    ['text', { message: 'hi' }, 'Message sent successfully'],
    ['contact', { vcard: { fullName: 'Ana', phone: '1' } }, 'Message sent successfully'],
    ['contact', { vcard: [{ fullName: 'Ana', phone: '1' }, { fullName: 'Bia', phone: '2' }, { fullName: 'Caio', phone: '3' }] }, '3 contacts sent successfully in one message'],
    ['reaction', { messageId: 'M1', reaction: '👍' }, 'Message sent successfully'],
    ['reaction', { messageId: 'M1', reaction: '' }, 'Reaction removed successfully'],
  ] as const)('%s %j → %s', (kind, body, expected) => {
    // Act
    const message = successMessageOf(request(kind, body));

    // Assess
    expect(message).toBe(expected);
  });
});
