import { describe, expect, it } from 'vitest';
import type { DomainError } from '../../../shared/domain/errors/domain-error.ts';
import type { InstanceAggregate } from '../../../shared/domain/instance/instance.ts';
import type { ClaimOutcome, IdempotencyStore } from '../../../shared/domain/messages/idempotency.ts';
import type { SendOutcome } from '../../../shared/domain/messages/send.command.ts';
import { parseSendRequest } from '../../../shared/domain/messages/send.schemas.ts';
import { sendMessage, type SendMessageDeps } from '../../../shared/domain/use-cases/send-message.use-cases.ts';
import { renderError } from '../../../shared/http/error-map.ts';

/** The API side of media sends (spec §2.3 #20): response media fields, download and conversion failures as 400, voice notes and stickers. */

const noKeys: IdempotencyStore = {
  claim: async (): Promise<ClaimOutcome> => ({ kind: 'new', claimId: 'c' }),
  complete: async () => true,
  release: async () => undefined,
};
const aggregate = { instance: { id: 'inst-1', accountId: 'acc-1', name: 'sales', status: 'connected', numberJid: '5511999999999@s.whatsapp.net' } } as unknown as InstanceAggregate;
const origin = { route: 'POST /api/message/media/{instance}', body: {} };

const depsAnswering = (outcome: SendOutcome): { deps: SendMessageDeps; enqueued: () => number } => {
  let now = Date.parse('2026-04-28T10:30:00Z');
  let enqueued = 0;
  return {
    deps: {
      bus: { send: async () => void enqueued++ },
      clock: { now: () => new Date(now) },
      ids: { uuid: () => 'uuid', ulid: () => '01JSX3A8B2C4D6E8F0G2H4J6K8' },
      messages: { save: async () => undefined },
      outcomes: { record: async () => undefined, get: async () => outcome },
      findQuoted: async () => null,
      idempotency: noKeys,
      randomHex: () => 'c767d26a1d8e5f12',
      sleep: async (ms) => void (now += ms),
    },
    enqueued: () => enqueued,
  };
};

const media = (body: Record<string, unknown>) => parseSendRequest('media', { number: '5511988887777', mediaType: 'image', mediaBase64: 'iVBORw0KGgo=', ...body });

const rendered = async (promise: Promise<unknown>) => {
  const error = (await promise.catch((caught: unknown) => caught)) as DomainError;
  return renderError(error.code, error.detail);
};

describe('sendMessage for media', () => {
  it('adds the MIME type, size and given duration the runner reports to the response', async () => {
    const { deps } = depsAnswering({ state: 'sent', chatJid: '5511988887777@s.whatsapp.net', at: '2026-04-28T10:30:01Z', media: { mimeType: 'video/mp4', size: 48213 } });

    const { response } = await sendMessage(deps, aggregate, media({ mediaType: 'video', message: 'clip', duration: 12 }), origin);

    expect(response.body).toMatchObject({
      status: 'sent',
      data: { messageType: 'video', content: 'clip', mediaMimeType: 'video/mp4', mediaSize: 48213, mediaDuration: 12 },
    });
    expect((response.body as { data: Record<string, unknown> }).data).not.toHaveProperty('mediaUrl');
  });

  it('answers 400 with the runner’s reason when the media could not be downloaded', async () => {
    const { deps } = depsAnswering({ state: 'failed', code: 'invalid_media', reason: 'Failed to download media: HTTP 404', chatJid: '5511988887777@s.whatsapp.net', at: '2026-04-28T10:30:01Z' });

    const error = await rendered(sendMessage(deps, aggregate, media({}), origin));

    expect(error).toEqual({ status: 400, message: 'Failed to download media: HTTP 404' });
  });

  it('enqueues a voice note and answers with the duration the runner computed', async () => {
    const { deps, enqueued } = depsAnswering({ state: 'sent', chatJid: '5511988887777@s.whatsapp.net', at: '2026-04-28T10:30:01Z', media: { mimeType: 'audio/ogg; codecs=opus', size: 6120, seconds: 3 } });

    const voice = await sendMessage(deps, aggregate, media({ mediaType: 'audio' }), origin);

    expect(enqueued()).toBe(1);
    expect(voice.response.body).toMatchObject({ status: 'sent', data: { messageType: 'audio', content: '', mediaMimeType: 'audio/ogg; codecs=opus', mediaSize: 6120, mediaDuration: 3 } });
  });

  it('answers a sticker with the WebP the runner sent', async () => {
    const { deps } = depsAnswering({ state: 'sent', chatJid: '5511988887777@s.whatsapp.net', at: '2026-04-28T10:30:01Z', media: { mimeType: 'image/webp', size: 20480 } });
    const sticker = parseSendRequest('sticker', { number: '5511988887777', imageUrl: 'https://cdn.example.com/s.png' });

    const { response } = await sendMessage(deps, aggregate, sticker, { route: 'POST /api/message/sticker/{instance}', body: {} });

    expect(response.body).toMatchObject({ status: 'sent', data: { messageType: 'sticker', content: '', mediaMimeType: 'image/webp', mediaSize: 20480 } });
    expect((response.body as { data: Record<string, unknown> }).data).not.toHaveProperty('mediaDuration');
  });

  it('answers 400 with the runner’s reason when a voice note cannot be converted', async () => {
    const { deps } = depsAnswering({ state: 'failed', code: 'invalid_media', reason: 'Invalid audio: could not be converted to a voice note', chatJid: '5511988887777@s.whatsapp.net', at: '2026-04-28T10:30:01Z' });

    const error = await rendered(sendMessage(deps, aggregate, media({ mediaType: 'audio' }), origin));

    expect(error).toEqual({ status: 400, message: 'Invalid audio: could not be converted to a voice note' });
  });
});
