import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { proto } from '@whiskeysockets/baileys';
import { startTestStack, type TestStack } from '../support/stack.ts';
import { waitFor } from '../support/wait-for.ts';

/**
 * The interactive kinds (#26–#30), statuses (#31), mentions, link previews and group recipients
 * end to end: HTTP → API → runner (real Baileys) → WhatsApp sandbox, whose simulated contacts
 * decrypt what they got; the tests read the message as the contact's phone decoded it.
 */

/** A 1×1 PNG. */
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

/** One second of a 440 Hz tone, 8 kHz mono 16-bit PCM WAV. */
const wav = (() => {
  const samples = 8000;
  const data = Buffer.alloc(samples * 2);
  for (let i = 0; i < samples; i++) data.writeInt16LE(Math.round(Math.sin((2 * Math.PI * 440 * i) / 8000) * 8000), i * 2);
  const header = Buffer.alloc(44);
  header.write('RIFF', 0);
  header.writeUInt32LE(36 + data.length, 4);
  header.write('WAVEfmt ', 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(8000, 24);
  header.writeUInt32LE(16000, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write('data', 36);
  header.writeUInt32LE(data.length, 40);
  return Buffer.concat([header, data]);
})();

/** The interactive message inside WhatsApp Web's `viewOnceMessage` wrapper. */
const interactiveOf = (message: proto.IMessage | undefined) => message?.viewOnceMessage?.message?.interactiveMessage;
const paramsOf = (button: { buttonParamsJson?: string | null } | undefined) => JSON.parse(button?.buttonParamsJson ?? 'null') as Record<string, unknown>;

describe('interactive messages, statuses, mentions and groups through the sandbox', () => {
  let stack: TestStack;
  let site: Server;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- event payloads are asserted field by field
  const hooks: { event: string; data: Record<string, any> }[] = [];
  let siteUrl = '';
  let token = '';
  let selfNumber = '';

  const send = (kind: string, body: unknown) => stack.call('POST', `/api/message/${kind}/rich`, { token, body });
  const received = (messageId: string) => stack.sandbox?.outboundMessage(messageId);
  const stanzaOf = (messageId: string) => (stack.sandbox?.outbound(selfNumber) ?? []).find((message) => message.id === messageId);

  beforeAll(async () => {
    site = createServer((req, res) => {
      if (req.url === '/hook') {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          hooks.push(JSON.parse(body));
          res.writeHead(200).end();
        });
      } else if (req.url === '/article') {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
          `<!doctype html><html><head><title>Fallback title</title><meta property="og:title" content="Zapfleet &amp; friends"><meta name="description" content="All about fleets"><meta property="og:image" content="/cover.png"></head><body>hi</body></html>`,
        );
      } else if (req.url === '/cover.png' || req.url === '/card.png') {
        res.writeHead(200, { 'content-type': 'image/png' }).end(png);
      } else if (req.url === '/tone.wav') {
        res.writeHead(200, { 'content-type': 'audio/wav' }).end(wav);
      } else if (req.url === '/moved') {
        res.writeHead(302, { location: '/article' }).end();
      } else {
        res.writeHead(404).end('not found');
      }
    });
    await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
    siteUrl = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
    stack = await startTestStack({ ZAPFLEET_DRIVER: 'sandbox', ZAPFLEET_SANDBOX_SCAN_MS: '200' }, { defaultRateLimits: { global: 100_000 } });
    const created = await stack.call('POST', '/api/instance/new', { token: stack.accountToken, body: { name: 'rich', webhookEnabled: true, webhookURL: `${siteUrl}/hook` } });
    token = created.body.instance.token as string;
    await stack.call('GET', '/api/instance/connect/rich', { token });
    const instance = await waitFor(async () => {
      const listed = await stack.call('GET', '/api/instance/list', { token });
      const found = listed.body.instances?.[0];
      return found?.status === 'connected' ? found : null;
    }, 'the instance to connect');
    selfNumber = (instance.numberJid as string).split('@')[0] as string;
  }, 90_000);
  afterAll(async () => {
    await stack?.stop();
    await new Promise((resolve) => site?.close(resolve));
  });

  it('sends buttons as a native flow: each type becomes its WhatsApp button, the contact gets body, header and footer', async () => {
    const response = await send('button', {
      number: '5511955550001',
      contentText: 'Pick one',
      headerText: 'Menu',
      footerText: 'Reply below',
      buttons: [
        { id: 'yes', displayText: 'Yes' },
        { type: 'url', id: 'https://example.com/shop', displayText: 'Shop' },
        { type: 'CALL', id: '+5511999990000', displayText: 'Call us' },
      ],
    });

    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ success: true, message: 'Message sent successfully', status: 'sent', data: { messageType: 'buttons', content: 'Pick one', chat: { jid: '5511955550001@s.whatsapp.net', type: 'private' } } });
    const interactive = interactiveOf(received(response.body.data.messageId));
    expect(interactive).toMatchObject({ header: { title: 'Menu' }, body: { text: 'Pick one' }, footer: { text: 'Reply below' } });
    const buttons = interactive?.nativeFlowMessage?.buttons ?? [];
    expect(buttons.map((button) => button.name)).toEqual(['quick_reply', 'cta_url', 'cta_call']);
    // The stanza tells WhatsApp it carries a native flow (`<biz>`), as WhatsApp Web's do.
    expect(stanzaOf(response.body.data.messageId)?.nativeFlow).toBe('mixed');
    expect(buttons.map(paramsOf)).toEqual([
      { display_text: 'Yes', id: 'yes' },
      { display_text: 'Shop', url: 'https://example.com/shop', merchant_url: 'https://example.com/shop' },
      { display_text: 'Call us', phone_number: '+5511999990000' },
    ]);
  });

  it('sends buttons with an image header downloaded from a URL and uploaded as the header attachment', async () => {
    const response = await send('button', { number: '5511955550002', contentText: 'Look', buttons: [{ type: 'COPY', id: 'CODE10', displayText: 'Copy code' }], mediaUrl: `${siteUrl}/card.png`, mediaType: 'IMAGE' });

    expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'buttons', content: 'Look' } });
    const interactive = interactiveOf(received(response.body.data.messageId));
    expect(interactive?.header).toMatchObject({ hasMediaAttachment: true, imageMessage: { mimetype: 'image/png' } });
    expect(paramsOf(interactive?.nativeFlowMessage?.buttons?.[0])).toEqual({ display_text: 'Copy code', id: 'CODE10', copy_code: 'CODE10' });
  });

  it('answers 400 when a button header image cannot be downloaded, and nothing reaches the contact', async () => {
    const response = await send('button', { number: '5511955550003', contentText: 'Look', buttons: [{ id: 'a', displayText: 'A' }], mediaUrl: `${siteUrl}/missing.png`, mediaType: 'IMAGE' });

    expect(response.status).toBe(400);
    expect(response.body).toEqual({ success: false, error: { message: 'Failed to download media: HTTP 404' } });
    expect((stack.sandbox?.outbound(selfNumber) ?? []).filter((message) => message.to === '5511955550003@s.whatsapp.net')).toEqual([]);
  });

  it('sends a list as a single-select native flow with its sections and rows', async () => {
    const response = await send('list', {
      number: '5511955550004',
      contentText: 'Our menu',
      buttonText: 'See options',
      headerText: 'Lunch',
      footerText: 'Pick one',
      sections: [
        { title: 'Mains', rows: [{ id: 'm1', title: 'Pizza', description: 'Cheese' }, { id: 'm2', title: 'Pasta' }] },
        { title: 'Drinks', rows: [{ id: 'd1', title: 'Juice' }] },
      ],
    });

    expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'list', content: 'Our menu' } });
    const interactive = interactiveOf(received(response.body.data.messageId));
    expect(interactive).toMatchObject({ header: { title: 'Lunch' }, body: { text: 'Our menu' }, footer: { text: 'Pick one' } });
    const [opener] = interactive?.nativeFlowMessage?.buttons ?? [];
    expect(opener?.name).toBe('single_select');
    expect(stanzaOf(response.body.data.messageId)?.nativeFlow).toBe('single_select');
    expect(paramsOf(opener)).toEqual({
      title: 'See options',
      sections: [
        { title: 'Mains', highlight_label: '', rows: [{ header: '', title: 'Pizza', description: 'Cheese', id: 'm1' }, { header: '', title: 'Pasta', description: '', id: 'm2' }] },
        { title: 'Drinks', highlight_label: '', rows: [{ header: '', title: 'Juice', description: '', id: 'd1' }] },
      ],
    });
  });

  it('sends a carousel: cards with title, image, body, footer and buttons, after the intro text', async () => {
    const response = await send('carousel', {
      number: '5511955550005',
      message: 'New arrivals',
      footer: 'Swipe',
      cards: [
        { header: { title: 'Shoes', subtitle: 'Size 40', imageUrl: `${siteUrl}/card.png` }, body: { text: 'On sale' }, footer: 'Until Friday', buttons: [{ displayText: 'Buy', id: 'buy-1' }] },
        { header: { title: 'Hat' }, body: { text: 'New' }, buttons: [{ displayText: 'Site', id: 'https://example.com/hat', type: 'URL' }] },
      ],
    });

    expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'interactive', content: 'New arrivals - Carousel with 2 card(s)' } });
    const interactive = interactiveOf(received(response.body.data.messageId));
    expect(interactive).toMatchObject({ body: { text: 'New arrivals' }, footer: { text: 'Swipe' } });
    const cards = interactive?.carouselMessage?.cards ?? [];
    expect(cards).toHaveLength(2);
    expect(cards[0]).toMatchObject({ header: { title: 'Shoes', subtitle: 'Size 40', hasMediaAttachment: true, imageMessage: { mimetype: 'image/png' } }, body: { text: 'On sale' }, footer: { text: 'Until Friday' } });
    expect(paramsOf(cards[0]?.nativeFlowMessage?.buttons?.[0])).toEqual({ display_text: 'Buy', id: 'buy-1' });
    expect(cards[1]).toMatchObject({ header: { title: 'Hat', hasMediaAttachment: false }, body: { text: 'New' } });
    expect(cards[1]?.nativeFlowMessage?.buttons?.[0]?.name).toBe('cta_url');
  });

  it('sends a form as a WhatsApp Flow and returns its generated flowToken', async () => {
    const response = await send('form', { number: '5511955550006', message: 'Tell us about you', formType: 'registration_offer', emailVisible: true, offerName: 'Gold plan' });

    expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'interactive', content: 'Tell us about you', flowToken: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/) } });
    const interactive = interactiveOf(received(response.body.data.messageId));
    expect(interactive?.body?.text).toBe('Tell us about you');
    const [button] = interactive?.nativeFlowMessage?.buttons ?? [];
    expect(button?.name).toBe('galaxy_message');
    expect(paramsOf(button)).toMatchObject({
      flow_token: response.body.data.flowToken,
      flow_cta: 'Open form',
      flow_action_payload: { screen: 'REGISTRATION_OFFER', data: { email_visible: true, full_name_visible: false, offer_name: 'Gold plan' } },
    });
  });

  it('sends a form with buttonParamsJSON verbatim', async () => {
    const params = JSON.stringify({ flow_id: '123', flow_cta: 'Go', custom: true });
    const response = await send('form', { number: '5511955550007', message: 'Custom flow', buttonParamsJSON: params, flowToken: 'my-token' });

    expect(response.body).toMatchObject({ status: 'sent', data: { flowToken: 'my-token' } });
    expect(interactiveOf(received(response.body.data.messageId))?.nativeFlowMessage?.buttons?.[0]?.buttonParamsJson).toBe(params);
  });

  it('sends a PIX card: the merchant, key and items the contact sees', async () => {
    const response = await send('pix', {
      number: '5511955550008',
      merchantName: 'Loja Azul',
      pixKey: 'pay@loja.example',
      pixKeyType: 'email',
      items: [{ name: 'Tea', quantity: 2, unitPrice: 5.5 }],
    });

    expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'interactive', content: 'PIX: Loja Azul' } });
    const interactive = interactiveOf(received(response.body.data.messageId));
    expect(interactive?.body?.text).toBe('PIX: Loja Azul');
    const [button] = interactive?.nativeFlowMessage?.buttons ?? [];
    expect(button?.name).toBe('payment_info');
    expect(paramsOf(button)).toMatchObject({
      currency: 'BRL',
      total_amount: { value: 1100, offset: 100 },
      payment_settings: [{ type: 'pix_static_code', pix_static_code: { merchant_name: 'Loja Azul', key: 'pay@loja.example', key_type: 'EMAIL' } }],
      order: { items: [{ name: 'Tea', quantity: 2, amount: { value: 550, offset: 100 } }] },
    });
  });

  describe('status', () => {
    /** What the linked number posted to status@broadcast, as the first member phone decrypted it. */
    const posted = (messageId: string) => (stack.sandbox?.outbound(selfNumber) ?? []).find((message) => message.id === messageId && message.to === 'status@broadcast');

    it('posts a text status to the contacts it has chats with: they decrypt the text, colour and font', async () => {
      await send('text', { number: '5511955550201', message: 'hello contact' });

      const response = await send('status', { type: 'text', message: 'Open today until 6pm', backgroundColor: '#FF0000', font: 'serif', source: 'crm' });

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        success: true,
        message: 'Message sent successfully',
        status: 'sent',
        data: { messageType: 'text', content: 'Open today until 6pm', chat: { jid: 'status@broadcast', type: 'status' }, source: 'crm' },
      });
      const messageId = response.body.data.messageId as string;
      expect(posted(messageId)).toMatchObject({ text: 'Open today until 6pm' });
      expect(posted(messageId)?.error).toBeUndefined();
      expect(received(messageId)?.extendedTextMessage).toMatchObject({ text: 'Open today until 6pm', backgroundArgb: 0xffff0000, font: 8 });
    });

    it('posts an image status downloaded from a URL, with its caption', async () => {
      await send('text', { number: '5511955550202', message: 'hello again' });

      const response = await send('status', { type: 'image', mediaUrl: `${siteUrl}/card.png`, message: 'New stock' });

      expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'image', content: 'New stock', chat: { jid: 'status@broadcast', type: 'status' } } });
      expect(received(response.body.data.messageId)?.imageMessage).toMatchObject({ caption: 'New stock', mimetype: 'image/png' });
    });

    it('posts a voice status converted to OGG/Opus', async () => {
      await send('text', { number: '5511955550203', message: 'hello voice' });

      const response = await send('status', { type: 'audio', mediaUrl: `${siteUrl}/tone.wav` });

      expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'audio', chat: { jid: 'status@broadcast', type: 'status' } } });
      expect(received(response.body.data.messageId)?.audioMessage).toMatchObject({ ptt: true, mimetype: 'audio/ogg; codecs=opus' });
    });

    it('answers 400 when the status media cannot be downloaded', async () => {
      const response = await send('status', { type: 'video', mediaUrl: `${siteUrl}/missing.mp4` });

      expect(response.status).toBe(400);
      expect(response.body).toEqual({ success: false, error: { message: 'Failed to download media: HTTP 404' } });
    });
  });

  describe('link preview', () => {
    it('sends the preview of the first URL: title, description and a JPEG thumbnail of og:image', async () => {
      const response = await send('text', { number: '5511955550301', message: `read this ${siteUrl}/moved and ${siteUrl}/other`, linkPreview: true });

      expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'text', content: `read this ${siteUrl}/moved and ${siteUrl}/other` } });
      const text = received(response.body.data.messageId)?.extendedTextMessage;
      expect(text).toMatchObject({ text: `read this ${siteUrl}/moved and ${siteUrl}/other`, matchedText: `${siteUrl}/moved`, title: 'Zapfleet & friends', description: 'All about fleets' });
      const thumbnail = Buffer.from(text?.jpegThumbnail ?? []);
      expect(thumbnail.subarray(0, 3)).toEqual(Buffer.from([0xff, 0xd8, 0xff]));
    });

    it('sends the text without a preview when the page cannot be fetched', async () => {
      const response = await send('text', { number: '5511955550302', message: `gone ${siteUrl}/missing`, linkPreview: true });

      expect(response.body).toMatchObject({ status: 'sent', data: { content: `gone ${siteUrl}/missing` } });
      const message = received(response.body.data.messageId);
      expect(message?.extendedTextMessage?.title ?? null).toBeNull();
      expect(message?.conversation ?? message?.extendedTextMessage?.text).toBe(`gone ${siteUrl}/missing`);
    });

    it('sends no preview without linkPreview', async () => {
      const response = await send('text', { number: '5511955550303', message: `plain ${siteUrl}/article` });

      expect(received(response.body.data.messageId)?.extendedTextMessage?.title ?? null).toBeNull();
    });
  });

  describe('groups and mentions', () => {
    const members = ['5511955550401', '5511955550402', '5511955550403'];

    it('sends to a group with a visible mention: members decrypt it, the response lists the mention', async () => {
      const group = stack.sandbox?.createGroup({ subject: 'Sales', creator: selfNumber, participants: members }) ?? '';

      const response = await send('text', { number: group, message: 'Hi @5511955550401, see you at 3pm', mention: ['5511955550401'] });

      expect(response.status).toBe(200);
      expect(response.body).toMatchObject({
        status: 'sent',
        data: { messageType: 'text', content: 'Hi @5511955550401, see you at 3pm', chat: { jid: group, type: 'group', name: 'Sales', groupName: 'Sales' }, mentions: ['5511955550401@s.whatsapp.net'] },
      });
      const messageId = response.body.data.messageId as string;
      expect((stack.sandbox?.outbound(selfNumber) ?? []).find((message) => message.id === messageId)).toMatchObject({ to: group, text: 'Hi @5511955550401, see you at 3pm' });
      expect(received(messageId)?.extendedTextMessage?.contextInfo?.mentionedJid).toEqual(['5511955550401@s.whatsapp.net']);
    });

    it('mentions every participant but the sender with mentionAll, in text and media', async () => {
      const group = stack.sandbox?.createGroup({ subject: 'Everyone', creator: selfNumber, participants: members }) ?? '';
      const everyone = members.map((number) => `${number}@s.whatsapp.net`);

      const text = await send('text', { number: group, message: 'Meeting now', mentionAll: true });
      const media = await send('media', { number: group, mediaType: 'image', mediaBase64: png.toString('base64'), message: 'agenda', mentionAll: true });

      expect(text.body).toMatchObject({ status: 'sent', data: { mentions: everyone } });
      expect(received(text.body.data.messageId)?.extendedTextMessage?.contextInfo?.mentionedJid).toEqual(everyone);
      expect(media.body).toMatchObject({ status: 'sent', data: { messageType: 'image', mentions: everyone } });
      expect(received(media.body.data.messageId)?.imageMessage?.contextInfo?.mentionedJid).toEqual(everyone);
    });

    it('ignores mention and mentionAll in a private chat', async () => {
      const response = await send('text', { number: '5511955550404', message: 'hi', mention: ['5511955550401'], mentionAll: true });

      expect(response.body.status).toBe('sent');
      expect(response.body.data.mentions).toBeUndefined();
      const message = received(response.body.data.messageId);
      expect(message?.extendedTextMessage?.contextInfo?.mentionedJid ?? []).toEqual([]);
    });

    it('sends an interactive message to a group', async () => {
      const group = stack.sandbox?.createGroup({ subject: 'Menu', creator: selfNumber, participants: members }) ?? '';

      const response = await send('button', { number: group, contentText: 'Vote', buttons: [{ id: 'a', displayText: 'A' }] });

      expect(response.body).toMatchObject({ status: 'sent', data: { chat: { jid: group, type: 'group' } } });
      expect(interactiveOf(received(response.body.data.messageId))?.body?.text).toBe('Vote');
    });

    it('replies privately to a group message: the author gets the reply in the private chat, quoting the group message', async () => {
      const author = '5511955550401';
      const group = stack.sandbox?.createGroup({ subject: 'Support', creator: selfNumber, participants: members }) ?? '';
      const incomingId = (await stack.sandbox?.sendGroupText({ groupJid: group, fromNumber: author, text: 'Can someone call me?' })) ?? '';
      // Wait until the runner stored it: a reaction to someone else's group message needs the
      // stored author and answers 400 until then (there is no read route for messages yet).
      await waitFor(async () => {
        const probe = await send('reaction', { number: group, messageId: incomingId, reaction: '👀' });
        return probe.status === 200 ? probe : null;
      }, 'the group message to be stored');

      const response = await send('text', { number: group, message: 'Calling you now', replyTo: incomingId, replyPrivate: true });

      expect(response.body).toMatchObject({
        status: 'sent',
        data: { chat: { jid: `${author}@s.whatsapp.net`, type: 'private' }, replyTo: { messageId: incomingId, sender: `${author}@s.whatsapp.net`, content: 'Can someone call me?' } },
      });
      const messageId = response.body.data.messageId as string;
      expect((stack.sandbox?.outbound(selfNumber) ?? []).find((message) => message.id === messageId)).toMatchObject({ to: `${author}@s.whatsapp.net`, text: 'Calling you now' });
      expect(received(messageId)?.extendedTextMessage?.contextInfo).toMatchObject({ stanzaId: incomingId, participant: `${author}@s.whatsapp.net`, remoteJid: group, quotedMessage: { conversation: 'Can someone call me?' } });
    });

    it('answers 404 for a group that does not exist or that this number is not in', async () => {
      const foreign = stack.sandbox?.createGroup({ subject: 'Others', creator: '5511955550499', participants: members }) ?? '';

      const unknown = await send('text', { number: '120363999999999999@g.us', message: 'hi' });
      const notMember = await send('text', { number: foreign, message: 'hi' });

      for (const response of [unknown, notMember]) {
        expect(response.status).toBe(404);
        expect(response.body).toEqual({ success: false, error: { message: 'Group not found or you are not a member of this group' } });
      }
      expect((stack.sandbox?.outbound(selfNumber) ?? []).filter((message) => message.to === foreign)).toEqual([]);
    });

    it('answers 403 in an announcement-only group where this number is not an admin, and sends where it is', async () => {
      const owner = '5511955550498';
      const asMember = stack.sandbox?.createGroup({ subject: 'News', creator: owner, participants: [selfNumber, ...members], announce: true }) ?? '';
      const asAdmin = stack.sandbox?.createGroup({ subject: 'News 2', creator: owner, participants: [selfNumber, ...members], admins: [selfNumber], announce: true }) ?? '';

      const refused = await send('text', { number: asMember, message: 'hi' });
      const allowed = await send('text', { number: asAdmin, message: 'hi admins' });

      expect(refused.status).toBe(403);
      expect(refused.body).toEqual({ success: false, error: { message: 'Only admins can send messages to this group' } });
      expect(allowed.body).toMatchObject({ status: 'sent', data: { chat: { jid: asAdmin, type: 'group' } } });
    });
  });

  it.each([
    ['carousel', { number: '5511955550501', cards: [] }, 'Cards must have between 1 and 10 items'],
    ['carousel', { number: '5511955550501', cards: [{ header: { title: 'A' }, body: { text: 'a' }, buttons: [{ displayText: 'x', id: 'x', type: 'LINK' }] }] }, "Invalid button type. Use 'REPLY', 'URL', 'CALL' or 'COPY'"],
    ['button', { number: '5511955550501', contentText: 'x', buttons: [{ id: 'a' }] }, 'Each button requires id and displayText'],
    ['button', { number: '5511955550501', contentText: 'x', buttons: [{ id: 'a', displayText: 'A' }], mediaUrl: 'https://a.example/i.png', mediaType: 'image' }, "Invalid mediaType. Use 'IMAGE', 'VIDEO' or 'DOCUMENT'"],
    ['list', { number: '5511955550501', contentText: 'x', buttonText: 'y', sections: [{ rows: [{ id: '1', title: 'a' }, { id: '1', title: 'b' }] }] }, 'Row ids must be unique'],
    ['form', { number: '5511955550501', message: 'x', formType: 'survey' }, "Invalid formType. Use 'contact_details' or 'registration_offer'"],
    ['form', { number: '5511955550501', message: 'x', buttonParamsJSON: '{oops' }, 'buttonParamsJSON must be a valid JSON string'],
    ['pix', { number: '5511955550501', merchantName: 'M', pixKey: '123', pixKeyType: 'CPF' }, 'Invalid pixKey for pixKeyType CPF'],
    ['status', { type: 'image' }, 'mediaUrl is required for media status'],
    ['status', { type: 'text', message: 'x', backgroundColor: 'red' }, 'Invalid backgroundColor'],
  ])('answers 400 for an invalid %s body with the contract message', async (kind, body, message) => {
    const response = await send(kind, body);

    expect(response.status).toBe(400);
    expect(response.body).toEqual({ success: false, error: { message } });
  });

  describe('channels', () => {
    it('posts to a channel this number owns or administers: the post reaches the channel', async () => {
      const owned = stack.sandbox?.createNewsletter({ name: 'News', owner: selfNumber }) ?? '';
      const administered = stack.sandbox?.createNewsletter({ name: 'Team news', owner: '5511955550701', admins: [selfNumber] }) ?? '';

      const first = await send('text', { number: owned, message: 'Big news' });
      const second = await send('poll', { number: administered, question: 'Which day?', options: ['Mon', 'Tue'] });

      expect(first.body).toMatchObject({ status: 'sent', data: { chat: { jid: owned, type: 'newsletter' }, content: 'Big news' } });
      expect((stack.sandbox?.outbound(selfNumber) ?? []).find((message) => message.id === first.body.data.messageId)).toMatchObject({ to: owned, text: 'Big news' });
      expect(second.body).toMatchObject({ status: 'sent', data: { chat: { jid: administered, type: 'newsletter' } } });
      const poll = received(second.body.data.messageId);
      expect(poll?.pollCreationMessageV3 ?? poll?.pollCreationMessage).toMatchObject({ name: 'Which day?' });
    });

    it('answers 403 for a channel this number only follows, or that does not exist, and posts nothing', async () => {
      const followed = stack.sandbox?.createNewsletter({ name: 'Other', owner: '5511955550702', subscribers: [selfNumber] }) ?? '';

      const subscriber = await send('text', { number: followed, message: 'hi' });
      const unknown = await send('text', { number: '120363499999999999@newsletter', message: 'hi' });

      for (const response of [subscriber, unknown]) {
        expect(response.status).toBe(403);
        expect(response.body).toEqual({ success: false, error: { message: 'Not authorized to post in this channel' } });
      }
      expect((stack.sandbox?.outbound(selfNumber) ?? []).filter((message) => message.to === followed)).toEqual([]);
    });
  });

  it('reports a click on a sent button as an incoming text with buttonReply, replying to the button message', async () => {
    const contact = '5511955550601';
    const buttons = await send('button', { number: contact, contentText: 'Coming?', buttons: [{ id: 'yes', displayText: 'Yes' }] });
    const buttonsId = buttons.body.data.messageId as string;

    const replyId = await stack.sandbox?.sendMessage({
      toNumber: selfNumber,
      fromNumber: contact,
      message: {
        interactiveResponseMessage: {
          body: { text: 'Yes' },
          nativeFlowResponseMessage: { name: 'quick_reply', paramsJson: JSON.stringify({ id: 'yes', display_text: 'Yes' }), version: 3 },
          contextInfo: { stanzaId: buttonsId, participant: `${selfNumber}@s.whatsapp.net` },
        },
      },
    });

    const hook = await waitFor(() => hooks.find((h) => h.event === 'message.exchange' && h.data.id === replyId), 'the button reply as message.exchange');
    expect(hook.data.message).toMatchObject({
      type: 'text',
      direction: 'incoming',
      chat: { jid: `${contact}@s.whatsapp.net`, type: 'private' },
      content: { text: 'yes', buttonReply: { id: 'yes', displayText: 'Yes' } },
      replyTo: { messageId: buttonsId },
    });
  });

  it('quotes a stored message in an interactive message (replyTo)', async () => {
    const first = await send('text', { number: '5511955550009', message: 'first' });
    const response = await send('list', { number: '5511955550009', contentText: 'Menu', buttonText: 'Open', sections: [{ title: 'A', rows: [{ id: '1', title: 'One' }] }], replyTo: first.body.data.messageId });

    expect(response.body).toMatchObject({ status: 'sent', data: { replyTo: { messageId: first.body.data.messageId, content: 'first' } } });
    expect(interactiveOf(received(response.body.data.messageId))?.contextInfo).toMatchObject({ stanzaId: first.body.data.messageId, quotedMessage: { conversation: 'first' } });
  });
});
