import type { proto } from '@whiskeysockets/baileys';

/**
 * Replies to interactive messages (spec §3.2, D138) as `message.exchange` content: a button click
 * and a list choice are `type: "text"` whose `content.text` is the button or row id, with
 * `buttonReply` / `listReply`; a submitted form (WhatsApp Flow) is `type: "flow_reply"` with
 * `flowReply: {flowToken, name, responseJson}`. Covers the legacy replies (`buttonsResponseMessage`,
 * `templateButtonReplyMessage`, `listResponseMessage`) and the Native Flow one
 * (`interactiveResponseMessage`: `quick_reply`, `single_select`, `galaxy_message`). `replyTo`
 * (the interactive message) comes from the reply's context info, as for any message.
 */

export interface InteractiveReply {
  type: 'text' | 'flow_reply';
  content: Record<string, unknown>;
}

const parsed = (json: string | null | undefined): Record<string, unknown> => {
  try {
    const value = JSON.parse(json ?? '') as unknown;
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

export const interactiveReplyOf = (contentType: string | undefined, content: proto.IMessage): InteractiveReply | null => {
  switch (contentType) {
    case 'buttonsResponseMessage': {
      const reply = content.buttonsResponseMessage;
      const id = reply?.selectedButtonId ?? '';
      return { type: 'text', content: { text: id, buttonReply: { id, displayText: reply?.selectedDisplayText ?? '' } } };
    }
    case 'templateButtonReplyMessage': {
      const reply = content.templateButtonReplyMessage;
      const id = reply?.selectedId ?? '';
      return { type: 'text', content: { text: id, buttonReply: { id, displayText: reply?.selectedDisplayText ?? '' } } };
    }
    case 'listResponseMessage': {
      const reply = content.listResponseMessage;
      const id = reply?.singleSelectReply?.selectedRowId ?? '';
      return { type: 'text', content: { text: id, listReply: { id, title: reply?.title ?? '', ...(reply?.description ? { description: reply.description } : {}) } } };
    }
    case 'interactiveResponseMessage': {
      const reply = content.interactiveResponseMessage;
      const flow = reply?.nativeFlowResponseMessage;
      const params = parsed(flow?.paramsJson);
      const bodyText = reply?.body?.text ?? '';
      if (flow?.name === 'galaxy_message' || text(params.flow_token) !== null) {
        return { type: 'flow_reply', content: { flowReply: { flowToken: text(params.flow_token) ?? '', name: flow?.name ?? '', responseJson: flow?.paramsJson ?? '' } } };
      }
      const id = text(params.id) ?? bodyText;
      if (flow?.name === 'single_select') {
        const description = text(params.description);
        return { type: 'text', content: { text: id, listReply: { id, title: text(params.title) ?? bodyText, ...(description ? { description } : {}) } } };
      }
      return { type: 'text', content: { text: id, buttonReply: { id, displayText: text(params.display_text) ?? bodyText } } };
    }
    default:
      return null;
  }
};
