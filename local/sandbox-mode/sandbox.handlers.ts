import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { z } from 'zod';
import type { AppDeps } from '../../functions/deps.ts';
import { DomainError } from '../../shared/domain/errors/domain-error.ts';
import type { InstanceAggregate } from '../../shared/domain/instance/instance.ts';
import { normalisePhoneNumber } from '../../shared/domain/numbers.ts';
import { fail, isBlank } from '../../shared/domain/validation.ts';
import { httpHandler, moduleHandler } from '../../shared/http/http-handler.ts';
import type { HttpResult } from '../../shared/http/responses.ts';
import { routes, type RouteDef } from '../../shared/http/routes.ts';
import type { SandboxMedia } from '../sandbox/media-cdn.ts';
import type { WhatsAppSandbox } from '../sandbox/whatsapp-sandbox.ts';

const mediaTypes = ['image', 'video', 'audio', 'document', 'sticker'] as const;
const defaultMimetypes: Record<SandboxMedia['type'], string> = {
  image: 'image/jpeg',
  video: 'video/mp4',
  audio: 'audio/ogg; codecs=opus',
  document: 'application/pdf',
  sticker: 'image/webp',
};

/** `data:<mime>;base64,<content>` or raw base64 → bytes and the data URL's MIME type; `null` when not base64. */
const decodeBase64 = (value: string): { bytes: Buffer; mimetype: string | null } | null => {
  const dataUrl = /^data:([^;,]*)(?:;[^,]*)?;base64,/.exec(value);
  const text = (dataUrl ? value.slice(dataUrl[0].length) : value).replace(/\s+/g, '');
  if (text === '' || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return null;
  return { bytes: Buffer.from(text, 'base64'), mimetype: dataUrl?.[1] || null };
};

const SandboxInboundBody = z
  .object({
    from: z.string().nullish(),
    text: z.string().nullish(),
    pushName: z.string().nullish(),
    /** zapfleet extension: the contact sends media instead of a text; `text` is its caption (image, video, document). */
    media: z
      .object({ type: z.string().nullish(), base64: z.string().nullish(), mimetype: z.string().nullish(), fileName: z.string().nullish(), ptt: z.boolean().nullish() })
      .nullish(),
  })
  .superRefine((body, ctx) => {
    if (isBlank(body.from)) fail(ctx, "The 'from' field is required");
    if (!body.media) return;
    if (!mediaTypes.includes(body.media.type as SandboxMedia['type'])) fail(ctx, "Invalid media.type. Use 'image', 'video', 'audio', 'document' or 'sticker'");
    else if (isBlank(body.media.base64)) fail(ctx, 'media.base64 is required');
    else if (!decodeBase64(body.media.base64 as string)) fail(ctx, 'Invalid base64 media');
  });

/**
 * `POST /sandbox/inbound/:instance` (spec Z11): a simulated contact sends a text to the
 * instance's linked number, through the sandbox edge and real Signal encryption.
 */
export const sandboxModule = (deps: AppDeps, sandbox: WhatsAppSandbox) => {
  const route = routes.find((candidate) => candidate.operation === 'sandboxInbound') as RouteDef;
  const handler = httpHandler(deps, route, { body: SandboxInboundBody }, async (req): Promise<HttpResult> => {
    const { instance } = req.instance as InstanceAggregate;
    const from = normalisePhoneNumber(req.body.from as string);
    if (instance.status !== 'connected' || !instance.numberJid) throw new DomainError('instance.not_connected');
    const toNumber = instance.numberJid.split('@')[0] as string;
    const pushName = req.body.pushName ?? from;
    const media = req.body.media;
    let messageId: string;
    if (media) {
      const type = media.type as SandboxMedia['type'];
      const decoded = decodeBase64(media.base64 as string) as { bytes: Buffer; mimetype: string | null };
      const caption = type === 'image' || type === 'video' || type === 'document' ? (req.body.text ?? undefined) : undefined;
      messageId = await sandbox.sendMedia({
        toNumber,
        fromNumber: from,
        pushName,
        media: {
          type,
          data: decoded.bytes,
          mimetype: media.mimetype || decoded.mimetype || defaultMimetypes[type],
          ...(media.fileName ? { fileName: media.fileName } : {}),
          ...(caption ? { caption } : {}),
          ptt: type === 'audio' && media.ptt === true,
        },
      });
    } else {
      messageId = await sandbox.sendText({ toNumber, fromNumber: from, text: req.body.text ?? 'Hello', pushName });
    }
    return { status: 202, body: { success: true, message: 'Inbound message queued', messageId } };
  });
  return moduleHandler(new Map<string, (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>>([[`${route.method} ${route.path}`, handler]]));
};
