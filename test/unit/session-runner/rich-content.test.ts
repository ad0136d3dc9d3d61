import { describe, expect, it } from 'vitest';
import type { OutboundSend } from '../../../shared/domain/messages/send.command.ts';
import { parseSendRequest, type SendKind } from '../../../shared/domain/messages/send.schemas.ts';
import type { PreparedMedia } from '../../../session-runner/messaging/outgoing-media.ts';
import { nativeFlowButtonOf, richContentOf, statusOptionsOf, type RichMedia } from '../../../session-runner/messaging/rich-content.ts';

/** The interactive kinds and statuses as Baileys content (rich-content.ts): what the contact's phone is given. */

const sendOf = (kind: SendKind, body: Record<string, unknown>): OutboundSend => ({
  messageId: '3EB0AAAABBBBCCCCDDDD',
  timestamp: '2026-04-28T10:30:00Z',
  chatJid: '5511988887777@s.whatsapp.net',
  request: parseSendRequest(kind, kind === 'status' ? body : { number: '5511988887777', ...body }),
  quoted: null,
  exchange: {},
});
const noMedia: RichMedia = { files: new Map(), remove: async () => undefined };
const file = (path: string, mimeType: string): PreparedMedia => ({ path, size: 10, mimeType, remove: async () => undefined });

interface Relay {
  relay: { viewOnceMessage: { message: { messageContextInfo: unknown; interactiveMessage: Record<string, unknown> } } };
  relayNodes: { tag: string; content: { tag: string; attrs: Record<string, string>; content: { attrs: Record<string, string> }[] }[] }[];
}
const interactiveOf = (content: unknown) => (content as Relay).relay.viewOnceMessage.message.interactiveMessage;
const flowNameOf = (content: unknown) => (content as Relay).relayNodes[0]?.content[0]?.content[0]?.attrs.name;
const buttonsOf = (content: unknown) => (interactiveOf(content).nativeFlowMessage as { buttons: { name: string; buttonParamsJson: string }[] }).buttons;

describe('native flow buttons', () => {
  it.each([
    ['REPLY', 'yes', 'quick_reply', { display_text: 'Label', id: 'yes' }],
    ['URL', 'https://a.example/x', 'cta_url', { display_text: 'Label', url: 'https://a.example/x', merchant_url: 'https://a.example/x' }],
    ['CALL', '+5511999990000', 'cta_call', { display_text: 'Label', phone_number: '+5511999990000' }],
    ['COPY', 'CODE10', 'cta_copy', { display_text: 'Label', id: 'CODE10', copy_code: 'CODE10' }],
  ] as const)('maps a %s button to %s', (type, id, name, params) => {
    const button = nativeFlowButtonOf({ type, id, displayText: 'Label' });

    expect(button.name).toBe(name);
    expect(JSON.parse(button.buttonParamsJson)).toEqual(params);
  });
});

describe('richContentOf', () => {
  it('wraps a button message in viewOnceMessage with device-list metadata and a native_flow biz node', () => {
    const content = richContentOf(sendOf('button', { contentText: 'Pick', headerText: 'Head', footerText: 'Foot', buttons: [{ id: 'a', displayText: 'A' }] }), noMedia) as unknown as Relay;

    expect(content.relay.viewOnceMessage.message.messageContextInfo).toEqual({ deviceListMetadata: {}, deviceListMetadataVersion: 2 });
    expect(interactiveOf(content)).toMatchObject({ header: { title: 'Head', hasMediaAttachment: false }, body: { text: 'Pick' }, footer: { text: 'Foot' } });
    expect(content.relayNodes[0]).toMatchObject({ tag: 'biz', content: [{ tag: 'interactive', attrs: { type: 'native_flow', v: '1' } }] });
    expect(flowNameOf(content)).toBe('quick_reply');
  });

  it('names the flow "mixed" when button types differ', () => {
    const content = richContentOf(sendOf('button', { contentText: 'Pick', buttons: [{ id: 'a', displayText: 'A' }, { type: 'COPY', id: 'c', displayText: 'C' }] }), noMedia);

    expect(flowNameOf(content)).toBe('mixed');
  });

  it('puts a button header media as an upload placeholder and drops headerText', () => {
    const media: RichMedia = { files: new Map([['header', file('/tmp/x.pdf', 'application/pdf')]]), remove: async () => undefined };

    const content = richContentOf(sendOf('button', { contentText: 'Doc', headerText: 'ignored', buttons: [{ id: 'a', displayText: 'A' }], mediaUrl: 'https://a.example/files/report.pdf', mediaType: 'DOCUMENT' }), media);

    expect(interactiveOf(content).header).toEqual({ title: '', hasMediaAttachment: true, __upload: { kind: 'document', path: '/tmp/x.pdf', mimetype: 'application/pdf', fileName: 'report.pdf' } });
  });

  it('sends a list as one single_select button holding the sections', () => {
    const content = richContentOf(sendOf('list', { contentText: 'Menu', buttonText: 'Open', sections: [{ title: 'Food', rows: [{ id: 'r1', title: 'Pizza', description: 'Hot' }] }, { rows: [{ id: 'r2', title: 'Tea' }] }] }), noMedia);

    const [button] = buttonsOf(content);
    expect(button?.name).toBe('single_select');
    expect(JSON.parse(button?.buttonParamsJson ?? '')).toEqual({
      title: 'Open',
      sections: [
        { title: 'Food', highlight_label: '', rows: [{ header: '', title: 'Pizza', description: 'Hot', id: 'r1' }] },
        { title: '', highlight_label: '', rows: [{ header: '', title: 'Tea', description: '', id: 'r2' }] },
      ],
    });
    expect(interactiveOf(content).header).toBeUndefined();
  });

  it('sends a carousel of cards, a card image as an upload placeholder', () => {
    const media: RichMedia = { files: new Map([['card:1', file('/tmp/c.mp4', 'video/mp4')]]), remove: async () => undefined };
    const cards = [
      { header: { title: 'A' }, body: { text: 'a' }, buttons: [{ displayText: 'Go', id: 'go' }] },
      { header: { title: 'B', subtitle: 'b2', videoUrl: 'https://a.example/c.mp4' }, body: { text: 'b' }, footer: 'fb', buttons: [{ displayText: 'Site', id: 'https://a.example', type: 'URL' }] },
    ];

    const content = richContentOf(sendOf('carousel', { cards }), media);

    const interactive = interactiveOf(content);
    expect(interactive.body).toEqual({ text: '' });
    expect(interactive.footer).toBeUndefined();
    const carousel = interactive.carouselMessage as { cards: Record<string, unknown>[]; messageVersion: number };
    expect(carousel.messageVersion).toBe(1);
    expect(carousel.cards[0]).toMatchObject({ header: { title: 'A', hasMediaAttachment: false }, body: { text: 'a' } });
    expect(carousel.cards[1]).toMatchObject({ header: { title: 'B', subtitle: 'b2', hasMediaAttachment: true, __upload: { kind: 'video', path: '/tmp/c.mp4' } }, footer: { text: 'fb' } });
  });

  it('sends a form as a galaxy_message flow with the screen of its type and the visible fields', () => {
    const send = sendOf('form', { message: 'Join', formType: 'contact_details', buttonLabel: 'Fill in', flowToken: 'tok', flowId: '42', flowMessageVersion: '4', messageVersion: 3, fullNameVisible: true });

    const content = richContentOf(send, noMedia);

    const [button] = buttonsOf(content);
    expect(button?.name).toBe('galaxy_message');
    expect(JSON.parse(button?.buttonParamsJson ?? '')).toEqual({
      mode: 'published',
      flow_message_version: '4',
      flow_token: 'tok',
      flow_id: '42',
      flow_cta: 'Fill in',
      flow_action: 'navigate',
      flow_action_payload: { screen: 'CONTACT_DETAILS', data: { full_name_visible: true, phone_number_visible: false, email_visible: false, cpf_or_cnpj_visible: false, delivery_address_visible: false } },
    });
    expect(interactiveOf(content).nativeFlowMessage).toMatchObject({ messageVersion: 3 });
  });

  it('sends a PIX card as a payment_info button: static PIX code, items and total in cents', () => {
    const content = richContentOf(sendOf('pix', { merchantName: 'Loja', pixKey: '12345678000199', pixKeyType: 'CNPJ', message: 'Pay here', items: [{ name: 'A', unitPrice: 1.1, quantity: 3 }, { name: 'B' }] }), noMedia);

    expect(interactiveOf(content).body).toEqual({ text: 'Pay here' });
    const [button] = buttonsOf(content);
    expect(button?.name).toBe('payment_info');
    const params = JSON.parse(button?.buttonParamsJson ?? '');
    expect(params).toMatchObject({
      currency: 'BRL',
      total_amount: { value: 330, offset: 100 },
      reference_id: '3EB0AAAABBBBCCCCDDDD',
      payment_settings: [{ type: 'pix_static_code', pix_static_code: { merchant_name: 'Loja', key: '12345678000199', key_type: 'CNPJ' } }],
    });
    expect(params.order.items).toEqual([
      { retailer_id: 'item-1', product_id: 'item-1', name: 'A', amount: { value: 110, offset: 100 }, quantity: 3 },
      { retailer_id: 'item-2', product_id: 'item-2', name: 'B', amount: { value: 0, offset: 100 }, quantity: 1 },
    ]);
  });

  it('sends a text status as text with its colour and font, to the given audience', () => {
    const send = sendOf('status', { type: 'text', message: 'Open', backgroundColor: '#112233', font: 'monospace' });

    expect(richContentOf(send, noMedia)).toEqual({ text: 'Open' });
    expect(statusOptionsOf(send.request as never, ['5511@s.whatsapp.net'])).toEqual({ statusJidList: ['5511@s.whatsapp.net'], backgroundColor: '#112233', font: 10 });
  });

  it('sends a media status with the content its prepared file gives, and no text look', () => {
    const prepared = { audio: { url: '/tmp/a.ogg' }, mimetype: 'audio/ogg; codecs=opus', ptt: true, seconds: 4 };
    const media: RichMedia = { files: new Map([['status', file('/tmp/a.ogg', 'audio/ogg')]]), statusContent: prepared, remove: async () => undefined };
    const send = sendOf('status', { type: 'audio', mediaUrl: 'https://a.example/a.ogg', duration: 4, backgroundColor: '#112233' });

    expect(richContentOf(send, media)).toEqual(prepared);
    expect(statusOptionsOf(send.request as never, [])).toEqual({ statusJidList: [] });
  });
});
