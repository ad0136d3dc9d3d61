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
import type { WhatsAppSandbox } from '../sandbox/whatsapp-sandbox.ts';

const SandboxInboundBody = z
  .object({ from: z.string().nullish(), text: z.string().nullish(), pushName: z.string().nullish() })
  .superRefine((body, ctx) => {
    if (isBlank(body.from)) fail(ctx, "The 'from' field is required");
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
    const messageId = await sandbox.sendText({
      toNumber: instance.numberJid.split('@')[0] as string,
      fromNumber: from,
      text: req.body.text ?? 'Hello',
      pushName: req.body.pushName ?? from,
    });
    return { status: 202, body: { success: true, message: 'Inbound message queued', messageId } };
  });
  return moduleHandler(new Map<string, (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>>([[`${route.method} ${route.path}`, handler]]));
};
