import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SandboxMedia } from './media-cdn.ts';
import type { WhatsAppSandbox } from './whatsapp-sandbox.ts';

/**
 * A small JSON API over the sandbox's methods, for when the sandbox runs in its own process
 * (`serve.ts`): the session benchmark keeps the fake edge's memory and CPU out of the runner
 * it measures, and drives linking through these routes. Not for the embedded stack, which
 * calls the sandbox in-process.
 *
 *   GET  /control/devices                       → devices()
 *   GET  /control/outbound/:number              → outbound(number)
 *   GET  /control/inbound/:number               → inbound(number)
 *   GET  /control/stats                         → { maxConcurrentLogins }
 *   POST /control/scan            { qr }        → scan(qr)
 *   POST /control/qr-shown        { qr }        → qrShown(qr)
 *   POST /control/pairing-code    { number, code }
 *   POST /control/send-text       { toNumber, fromNumber, text, pushName?, plaintext? } → { id }
 *   POST /control/send-media      { toNumber, fromNumber, type, base64, mimetype, fileName?, caption?, ptt?, pushName?, plaintext? } → { id }
 *   POST /control/create-group    { subject, creator, participants[], admins?[], announce? } → { jid }
 *   POST /control/send-group-text { groupJid, fromNumber, text, pushName? } → { id }
 *   POST /control/create-newsletter { name, owner, admins?[], subscribers?[] } → { jid }
 *   POST /control/request-retry   { fromNumber, toNumber, messageId, timeoutMs? } → { message } (the re-sent proto.IMessage as JSON)
 *   POST /control/disconnect      { number, code }
 *   POST /control/reject-upgrades { count, status? }
 */
export function controlHandler(sandbox: WhatsAppSandbox) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body ?? null));
    };
    const path = new URL(req.url ?? '/', 'http://sandbox').pathname.split('/').filter(Boolean);
    if (path[0] !== 'control') return reply(404, { error: 'not found' });
    try {
      const [, route, arg] = path;
      if (req.method === 'GET') {
        if (route === 'devices') return reply(200, sandbox.devices());
        if (route === 'outbound' && arg) return reply(200, sandbox.outbound(arg));
        if (route === 'inbound' && arg) return reply(200, sandbox.inbound(arg));
        if (route === 'stats') return reply(200, { maxConcurrentLogins: sandbox.maxConcurrentLogins() });
        return reply(404, { error: 'not found' });
      }
      if (req.method !== 'POST') return reply(405, { error: 'method not allowed' });
      const body = (await readJson(req)) as Record<string, unknown>;
      const str = (key: string) => {
        const value = body[key];
        if (typeof value !== 'string') throw new BadRequest(`'${key}' must be a string`);
        return value;
      };
      const strings = (key: string) => {
        const value = body[key] ?? [];
        if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) throw new BadRequest(`'${key}' must be an array of strings`);
        return value as string[];
      };
      switch (route) {
        case 'scan':
          await sandbox.scan(str('qr'));
          return reply(200, { ok: true });
        case 'qr-shown':
          sandbox.qrShown(str('qr'));
          return reply(202, { ok: true });
        case 'pairing-code':
          await sandbox.enterPairingCode(str('number'), str('code'));
          return reply(200, { ok: true });
        case 'send-text': {
          const id = await sandbox.sendText({
            toNumber: str('toNumber'),
            fromNumber: str('fromNumber'),
            text: str('text'),
            ...(typeof body.pushName === 'string' ? { pushName: body.pushName } : {}),
            plaintext: body.plaintext === true,
          });
          return reply(200, { id });
        }
        case 'send-media': {
          const type = str('type');
          if (!['image', 'video', 'audio', 'document', 'sticker'].includes(type)) throw new BadRequest("'type' must be one of image, video, audio, document, sticker");
          const optional = (key: string) => (typeof body[key] === 'string' ? (body[key] as string) : undefined);
          const id = await sandbox.sendMedia({
            toNumber: str('toNumber'),
            fromNumber: str('fromNumber'),
            media: {
              type: type as SandboxMedia['type'],
              data: Buffer.from(str('base64'), 'base64'),
              mimetype: str('mimetype'),
              ...(optional('fileName') ? { fileName: optional('fileName') } : {}),
              ...(optional('caption') ? { caption: optional('caption') } : {}),
              ptt: body.ptt === true,
            },
            ...(optional('pushName') ? { pushName: optional('pushName') } : {}),
            plaintext: body.plaintext === true,
          });
          return reply(200, { id });
        }
        case 'create-group':
          return reply(200, { jid: sandbox.createGroup({ subject: str('subject'), creator: str('creator'), participants: strings('participants'), admins: strings('admins'), announce: body.announce === true }) });
        case 'create-newsletter':
          return reply(200, { jid: sandbox.createNewsletter({ name: str('name'), owner: str('owner'), admins: strings('admins'), subscribers: strings('subscribers') }) });
        case 'send-group-text': {
          const id = await sandbox.sendGroupText({
            groupJid: str('groupJid'),
            fromNumber: str('fromNumber'),
            text: str('text'),
            ...(typeof body.pushName === 'string' ? { pushName: body.pushName } : {}),
          });
          return reply(200, { id });
        }
        case 'request-retry': {
          const message = await sandbox.requestRetry({
            fromNumber: str('fromNumber'),
            toNumber: str('toNumber'),
            messageId: str('messageId'),
            ...(typeof body.timeoutMs === 'number' ? { timeoutMs: body.timeoutMs } : {}),
          });
          return reply(200, { message });
        }
        case 'disconnect': {
          const code = Number(body.code);
          if (code !== 401 && code !== 408 && code !== 428 && code !== 440 && code !== 515) {
            throw new BadRequest("'code' must be one of 401, 408, 428, 440, 515");
          }
          await sandbox.disconnect(str('number'), code);
          return reply(200, { ok: true });
        }
        case 'reject-upgrades':
          sandbox.rejectUpgrades(Number(body.count ?? 1), body.status === undefined ? undefined : Number(body.status));
          return reply(200, { ok: true });
        default:
          return reply(404, { error: 'not found' });
      }
    } catch (error) {
      reply(error instanceof BadRequest ? 400 : 409, { error: (error as Error).message });
    }
  };
}

class BadRequest extends Error {}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text) return {};
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequest('body is not JSON');
  }
}
