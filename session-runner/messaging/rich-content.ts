import type { OutboundSend } from '../../shared/domain/messages/send.command.ts';
import type {
  ButtonSend,
  CarouselSend,
  FormSend,
  InteractiveButton,
  ListSend,
  MediaSend,
  MediaSource,
  PixSend,
  StatusSend,
} from '../../shared/domain/messages/send.schemas.ts';
import type { WaOutgoingContent } from '../../shared/domain/ports/wa-connection.port.ts';
import { prepareOutgoingFile } from './outgoing-file.ts';
import { prepareMedia, type MediaFetchOptions, type PreparedMedia } from './outgoing-media.ts';

/**
 * Baileys content for the interactive kinds and statuses (spec #26–#31), which Baileys'
 * `sendMessage` cannot build (7.0.0-rc14 has no buttons, lists or native flows).
 *
 * Decisions (README "Sending messages"):
 * - Interactive kinds are sent as WhatsApp Web sends them today: an `interactiveMessage` with a
 *   Native Flow (`nativeFlowMessage`), wrapped in `viewOnceMessage` (with `messageContextInfo`
 *   device-list metadata), plus a `<biz><interactive type="native_flow">` node on the stanza.
 *   The legacy `buttonsMessage` / `listMessage` are not rendered by current clients when they
 *   come from a linked (non-Cloud-API) device, so:
 *   - `button` → native flow buttons: REPLY `quick_reply`, URL `cta_url`, CALL `cta_call`,
 *     COPY `cta_copy`; header media (IMAGE/VIDEO/DOCUMENT) uploaded as the header's attachment;
 *   - `list` → one `single_select` native flow button (the list opener) with the sections/rows;
 *   - `carousel` → `interactiveMessage.carouselMessage` of cards, each an interactive message
 *     with header (title, subtitle, uploaded image/video), body, footer and its buttons;
 *   - `form` → a `galaxy_message` (WhatsApp Flows) button: `flow_token`, `flow_id`,
 *     `flow_message_version`, `flow_cta` = buttonLabel, and the first screen's data (visible
 *     fields, offer); `buttonParamsJSON` replaces those parameters verbatim;
 *   - `pix` → a `payment_info` button with a `pix_static_code` payment setting (merchant name,
 *     key, key type) and the items as an order, total in BRL cents: a "copy PIX key" card only.
 *   Which of these WhatsApp renders depends on the recipient's client (forms: Android/iOS only).
 * - `status` → `status@broadcast` through Baileys' `sendMessage` with `statusJidList` (the
 *   audience), `backgroundColor` and `font` for text (an `extendedTextMessage`); a media status
 *   is prepared as a `media` send of its type (outgoing-file.ts: a voice status becomes OGG/Opus).
 *
 * Media for headers, cards and statuses is fetched like `media` sends (outbound-target rules,
 * size cap, spooled to a temporary file); the adapter uploads it (`__upload` placeholders, see
 * session-runner/baileys/relay-content.ts).
 */

/** Kinds built here. */
export const richKinds = new Set(['carousel', 'button', 'list', 'form', 'pix', 'status']);

/** An upload the adapter performs while building the message: replaced by `<kind>Message`. */
export interface UploadPlaceholder {
  kind: 'image' | 'video' | 'document';
  path: string;
  mimetype: string;
  fileName?: string;
}

/** The files a rich send needs, keyed by where they go (`card:<i>`, `header`, `status`). */
export interface RichMedia {
  files: Map<string, PreparedMedia>;
  /** A media status: Baileys' content for its file, as a `media` send of that type would have it. */
  statusContent?: WaOutgoingContent;
  remove(): Promise<void>;
}

const noMedia = (): RichMedia => ({ files: new Map(), remove: async () => undefined });

const fileNameOf = (url: string): string => {
  try {
    return decodeURIComponent(new URL(url).pathname.split('/').filter(Boolean).at(-1) ?? '') || 'file';
  } catch {
    return 'file';
  }
};

const urlSource = (url: string): MediaSource => {
  const data = /^data:([^,]*?);base64,(.*)$/is.exec(url);
  if (data) return { kind: 'base64', data: (data[2] ?? '').replace(/\s+/g, ''), mimeType: data[1] === '' ? null : (data[1] ?? null) };
  return { kind: 'url', url };
};

/** Downloads (or decodes) every media file of a rich send; a refusal is `MediaRejected`. */
export const prepareRichMedia = async (send: OutboundSend, options: MediaFetchOptions): Promise<RichMedia> => {
  const wanted: { at: string; source: MediaSource; mediaType: 'image' | 'video' | 'document' | 'audio'; mimeType: string | null; fileName: string }[] = [];
  const request = send.request;
  if (request.kind === 'carousel') {
    request.cards.forEach((card, i) => {
      const url = card.header.imageUrl ?? card.header.videoUrl;
      if (url !== null) wanted.push({ at: `card:${i}`, source: urlSource(url), mediaType: card.header.imageUrl !== null ? 'image' : 'video', mimeType: null, fileName: fileNameOf(url) });
    });
  } else if (request.kind === 'button' && request.media) {
    const mediaType = request.media.mediaType.toLowerCase() as 'image' | 'video' | 'document';
    wanted.push({ at: 'header', source: urlSource(request.media.url), mediaType, mimeType: null, fileName: fileNameOf(request.media.url) });
  } else if (request.kind === 'status' && request.media && request.type !== 'text') {
    // Prepared exactly as a `media` send of the same type: a voice status is converted to OGG/Opus.
    const fileName = request.fileName ?? (request.media.kind === 'url' ? fileNameOf(request.media.url) : 'file');
    const asMedia = { kind: 'media', mediaType: request.type, media: request.media, caption: request.message, mimeType: request.mimeType, fileName, isVoice: request.isVoice, duration: request.duration, waveform: request.waveform } as MediaSend;
    const file = await prepareOutgoingFile(asMedia, [], options);
    return { files: new Map([['status', file]]), statusContent: file.content, remove: () => file.remove() };
  }
  if (wanted.length === 0) return noMedia();
  const files = new Map<string, PreparedMedia>();
  const remove = async () => {
    await Promise.all([...files.values()].map((file) => file.remove().catch(() => undefined)));
  };
  try {
    for (const item of wanted) files.set(item.at, await prepareMedia(item.source, { mimeType: item.mimeType, fileName: item.fileName, mediaType: item.mediaType }, options));
  } catch (error) {
    await remove();
    throw error;
  }
  return { files, remove };
};

// ── Native flow pieces ─────────────────────────────────────────────────────────

interface NativeFlowButton {
  name: string;
  buttonParamsJson: string;
}

export const nativeFlowButtonOf = (button: InteractiveButton): NativeFlowButton => {
  const display_text = button.displayText;
  switch (button.type) {
    case 'REPLY':
      return { name: 'quick_reply', buttonParamsJson: JSON.stringify({ display_text, id: button.id }) };
    case 'URL':
      return { name: 'cta_url', buttonParamsJson: JSON.stringify({ display_text, url: button.id, merchant_url: button.id }) };
    case 'CALL':
      return { name: 'cta_call', buttonParamsJson: JSON.stringify({ display_text, phone_number: button.id }) };
    case 'COPY':
      return { name: 'cta_copy', buttonParamsJson: JSON.stringify({ display_text, id: button.id, copy_code: button.id }) };
  }
};

const uploadOf = (file: PreparedMedia | undefined, kind: UploadPlaceholder['kind'], fileName?: string): Record<string, unknown> =>
  file ? { hasMediaAttachment: true, __upload: { kind, path: file.path, mimetype: file.mimeType, ...(fileName ? { fileName } : {}) } satisfies UploadPlaceholder } : { hasMediaAttachment: false };

/** The stanza's `<biz>` node that makes clients render a native flow (`name`: the flow kind, or `mixed`). */
const bizNode = (name: string) => ({
  tag: 'biz',
  attrs: {},
  content: [{ tag: 'interactive', attrs: { type: 'native_flow', v: '1' }, content: [{ tag: 'native_flow', attrs: { v: '9', name } }] }],
});

/** `viewOnceMessage` wrapper of WhatsApp Web's interactive messages. */
const wrapped = (interactiveMessage: Record<string, unknown>, flowName: string): WaOutgoingContent => ({
  relay: {
    viewOnceMessage: {
      message: {
        messageContextInfo: { deviceListMetadata: {}, deviceListMetadataVersion: 2 },
        interactiveMessage,
      },
    },
  },
  relayNodes: [bizNode(flowName)],
});

const textOrNothing = (text: string | null): Record<string, unknown> | undefined => (text === null ? undefined : { text });

const flowNameOf = (buttons: NativeFlowButton[]): string => {
  const names = new Set(buttons.map((button) => button.name));
  return names.size === 1 ? (buttons[0]?.name ?? 'mixed') : 'mixed';
};

const buttonContent = (request: ButtonSend, media: RichMedia): WaOutgoingContent => {
  const buttons = request.buttons.map(nativeFlowButtonOf);
  const file = media.files.get('header');
  const kind = request.media?.mediaType.toLowerCase() as UploadPlaceholder['kind'] | undefined;
  const header = file && kind ? { title: '', ...uploadOf(file, kind, kind === 'document' ? fileNameOf(request.media?.url ?? '') : undefined) } : request.headerText === null ? undefined : { title: request.headerText, hasMediaAttachment: false };
  return wrapped(
    {
      ...(header ? { header } : {}),
      body: { text: request.contentText },
      ...(request.footerText === null ? {} : { footer: { text: request.footerText } }),
      nativeFlowMessage: { buttons, messageParamsJson: '', messageVersion: 1 },
    },
    flowNameOf(buttons),
  );
};

export const listParamsOf = (request: ListSend): Record<string, unknown> => ({
  title: request.buttonText,
  sections: request.sections.map((section) => ({
    title: section.title ?? '',
    highlight_label: '',
    rows: section.rows.map((row) => ({ header: '', title: row.title, description: row.description ?? '', id: row.id })),
  })),
});

const listContent = (request: ListSend): WaOutgoingContent =>
  wrapped(
    {
      ...(request.headerText === null ? {} : { header: { title: request.headerText, hasMediaAttachment: false } }),
      body: { text: request.contentText },
      ...(request.footerText === null ? {} : { footer: { text: request.footerText } }),
      nativeFlowMessage: { buttons: [{ name: 'single_select', buttonParamsJson: JSON.stringify(listParamsOf(request)) }], messageParamsJson: '', messageVersion: 1 },
    },
    'single_select',
  );

const carouselContent = (request: CarouselSend, media: RichMedia): WaOutgoingContent => {
  const cards = request.cards.map((card, i) => ({
    header: {
      title: card.header.title,
      ...(card.header.subtitle === null ? {} : { subtitle: card.header.subtitle }),
      ...uploadOf(media.files.get(`card:${i}`), card.header.imageUrl !== null ? 'image' : 'video'),
    },
    body: { text: card.body.text },
    ...(card.footer === null ? {} : { footer: { text: card.footer } }),
    nativeFlowMessage: { buttons: card.buttons.map(nativeFlowButtonOf), messageParamsJson: '', messageVersion: 1 },
  }));
  return wrapped(
    {
      body: { text: request.message ?? '' },
      ...(textOrNothing(request.footer) ? { footer: textOrNothing(request.footer) } : {}),
      carouselMessage: { cards, messageVersion: 1 },
    },
    'mixed',
  );
};

/** Screens of the two built-in form types (the flow's first screen and the fields it shows). */
const formScreens = { contact_details: 'CONTACT_DETAILS', registration_offer: 'REGISTRATION_OFFER' } as const;

export const formParamsOf = (request: FormSend): string => {
  if (request.buttonParamsJSON !== null) return request.buttonParamsJSON;
  const formType = request.formType ?? 'contact_details';
  const data: Record<string, unknown> = {
    full_name_visible: request.visible.fullName,
    phone_number_visible: request.visible.phoneNumber,
    email_visible: request.visible.email,
    cpf_or_cnpj_visible: request.visible.cpfOrCnpj,
    delivery_address_visible: request.visible.deliveryAddress,
    ...(formType === 'registration_offer' ? { offer_name: request.offerName ?? '', offer_description: request.offerDescription ?? '' } : {}),
  };
  return JSON.stringify({
    mode: 'published',
    flow_message_version: request.flowMessageVersion ?? '3',
    flow_token: request.flowToken ?? '',
    ...(request.flowId === null ? {} : { flow_id: request.flowId }),
    flow_cta: request.buttonLabel,
    flow_action: 'navigate',
    flow_action_payload: { screen: formScreens[formType], data },
  });
};

const formContent = (request: FormSend): WaOutgoingContent =>
  wrapped(
    {
      body: { text: request.message },
      nativeFlowMessage: { buttons: [{ name: 'galaxy_message', buttonParamsJson: formParamsOf(request) }], messageParamsJson: '', messageVersion: request.messageVersion ?? 1 },
    },
    'galaxy_message',
  );

const cents = (value: number): number => Math.round(value * 100);

export const pixParamsOf = (request: PixSend, referenceId: string): Record<string, unknown> => {
  const items = request.items.map((item, i) => ({
    retailer_id: `item-${i + 1}`,
    product_id: `item-${i + 1}`,
    name: item.name,
    ...(item.description === null ? {} : { description: item.description }),
    amount: { value: cents(item.unitPrice), offset: 100 },
    quantity: item.quantity,
  }));
  const total = request.items.reduce((sum, item) => sum + cents(item.unitPrice) * item.quantity, 0);
  return {
    currency: 'BRL',
    total_amount: { value: total, offset: 100 },
    reference_id: referenceId,
    type: 'physical-goods',
    order: { status: 'pending', subtotal: { value: total, offset: 100 }, order_type: 'ORDER', items },
    payment_settings: [{ type: 'pix_static_code', pix_static_code: { merchant_name: request.merchantName, key: request.pixKey, key_type: request.pixKeyType } }],
    share_payment_status: false,
  };
};

const pixContent = (request: PixSend, messageId: string): WaOutgoingContent =>
  wrapped(
    {
      body: { text: request.message ?? `PIX: ${request.merchantName}` },
      nativeFlowMessage: { buttons: [{ name: 'payment_info', buttonParamsJson: JSON.stringify(pixParamsOf(request, messageId)) }], messageParamsJson: '', messageVersion: 1 },
    },
    'payment_info',
  );

/** Story fonts → WhatsApp's `ExtendedTextMessage.FontType`. */
export const statusFontCodes: Record<StatusSend['font'], number> = {
  system: 0,
  'sans-serif': 1,
  script: 2,
  serif: 8,
  condensed: 9,
  monospace: 10,
};

const statusContent = (request: StatusSend, media: RichMedia): WaOutgoingContent => {
  if (request.type === 'text') return { text: request.message ?? '' };
  if (!media.statusContent) throw new Error('status media was not prepared');
  return media.statusContent;
};

/** The send options a status needs: its audience and, for text, the card's look. */
export const statusOptionsOf = (request: StatusSend, audience: string[]): { statusJidList: string[]; backgroundColor?: string; font?: number } => ({
  statusJidList: audience,
  ...(request.type === 'text' ? { backgroundColor: request.backgroundColor ?? '#FF1E6E4F', font: statusFontCodes[request.font] } : {}),
});

/** Content of a rich kind; `media` holds the files `prepareRichMedia` fetched. */
export const richContentOf = (send: OutboundSend, media: RichMedia): WaOutgoingContent => {
  const { request } = send;
  switch (request.kind) {
    case 'button':
      return buttonContent(request, media);
    case 'list':
      return listContent(request);
    case 'carousel':
      return carouselContent(request, media);
    case 'form':
      return formContent(request);
    case 'pix':
      return pixContent(request, send.messageId);
    case 'status':
      return statusContent(request, media);
    default:
      throw new Error(`${request.kind} is not a rich kind`);
  }
};
