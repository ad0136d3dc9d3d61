import type { TokenEntry } from '../auth/principal.ts';
import { DomainError, ValidationError } from '../errors/domain-error.ts';
import type { ChatwootRequestRecord, EventName, InstanceRecord, WebhookRecord, WebsocketConfig } from '../instance/instance.ts';
import { defaultSettings, emptyProfile, eventNames, sealedFields, settingKeys } from '../instance/instance.ts';
import type { CreateInstanceBody } from '../instance/instance.schemas.ts';
import { limits, normalisePort, normaliseProtocol } from '../instance/instance.schemas.ts';
import { instanceView, noChatwoot, type ChatwootSummary } from '../instance/instance.view.ts';
import type { InstanceCipher, SecretVault, TokenHasher } from '../ports/keyring.port.ts';
import type { OutboundTargetPolicy } from '../ports/outbound-target.port.ts';
import type { InstanceRepository } from '../ports/repositories.port.ts';
import { rfc3339, type Clock, type IdGenerator, type Logger } from '../ports/runtime.port.ts';
import { isAbsoluteHttpUrl, isBlank } from '../validation.ts';

export interface CreateInstanceDeps {
  instances: InstanceRepository;
  vault: SecretVault;
  tokens: TokenHasher;
  outbound: OutboundTargetPolicy;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
}

export const chatwootUnavailable = 'Chatwoot integration is not enabled on this server';

/** Deduplicated event names in the given order, or the first unknown name. */
export const normaliseEvents = (events: readonly string[] | null | undefined): { events: EventName[] } | { invalid: string } => {
  const result: EventName[] = [];
  for (const name of events ?? []) {
    if (!(eventNames as readonly string[]).includes(name)) return { invalid: name };
    if (!result.includes(name as EventName)) result.push(name as EventName);
  }
  return { events: result };
};

/** Checks a customer-supplied URL against the outbound policy; the reason when refused. */
export const refusedTarget = async (outbound: OutboundTargetPolicy, url: string): Promise<string | null> => {
  const verdict = await outbound.check(url);
  return verdict.allowed ? null : verdict.reason;
};

/**
 * Creates an instance (`POST /api/instance/new`).
 *
 * Input: the caller's TokenAccount principal and the validated body.
 * Output: the InstanceView of the 201 response.
 * Steps: refuse forbidden S3 endpoints (rejects the request) → seal every secret under a new
 * per-instance data key → apply the webhook, WebSocket and Chatwoot blocks log-and-continue
 * (a failed block is reported disabled, the cause logged) → write everything in one
 * transaction that also enforces name/token uniqueness and the account's quota.
 */
export const createInstance = async (
  deps: CreateInstanceDeps,
  input: { principal: TokenEntry; body: CreateInstanceBody },
) => {
  const { body, principal } = input;
  if (body.s3Enabled === true && !isBlank(body.s3Endpoint)) {
    const refused = await refusedTarget(deps.outbound, body.s3Endpoint as string);
    if (refused) throw new ValidationError(`Invalid request body: s3Endpoint is not an allowed destination (${refused})`);
  }

  const id = deps.ids.uuid();
  const token = body.token ?? deps.ids.uuid();
  const now = rfc3339(deps.clock.now());
  const cipher = await deps.vault.newInstanceCipher(id);
  const log = { instanceId: id, instance: body.name };

  const instance: InstanceRecord = {
    id,
    accountId: principal.accountId,
    name: body.name as string,
    wrappedKey: cipher.wrappedKey,
    tokenHash: deps.tokens.hash(token),
    tokenSealed: cipher.seal(sealedFields.token, token),
    status: 'disconnected',
    numberJid: null,
    profile: { ...emptyProfile },
    settings: Object.fromEntries(settingKeys.map((key) => [key, body[key] ?? defaultSettings[key]])) as unknown as InstanceRecord['settings'],
    proxy:
      body.proxyEnabled === true
        ? {
            host: body.proxyHost as string,
            port: normalisePort(body.proxyPort as string | number) as string,
            protocol: normaliseProtocol(body.proxyProtocol as string)!,
            username: isBlank(body.proxyUsername) ? null : (body.proxyUsername as string),
            passwordSealed: isBlank(body.proxyUsername) || isBlank(body.proxyPassword) ? null : cipher.seal(sealedFields.proxyPassword, body.proxyPassword as string),
          }
        : null,
    s3:
      body.s3Enabled === true
        ? {
            region: body.s3Region as string,
            bucket: body.s3Bucket as string,
            accessKeySealed: cipher.seal(sealedFields.s3AccessKey, body.s3AccessKey as string),
            secretKeySealed: cipher.seal(sealedFields.s3SecretKey, body.s3SecretKey as string),
            endpoint: isBlank(body.s3Endpoint) ? null : (body.s3Endpoint as string),
            pathPrefix: body.s3PathPrefix ?? null,
          }
        : null,
    websocket: websocketBlock(deps.logger, log, body),
    createdAt: now,
    updatedAt: now,
  };
  const webhook = await webhookBlock(deps, log, body, cipher);
  const chatwoot = await chatwootBlock(deps, log, body, cipher, now);

  await deps.instances.create({
    instance,
    webhooks: webhook ? [webhook] : [],
    chatwootRequest: chatwoot.request,
    token: { kind: 'instance', accountId: principal.accountId, instanceId: id, instanceName: instance.name, limits: principal.limits },
  });
  deps.logger.info('instance created', log);
  return instanceView({ instance, webhooks: webhook ? [webhook] : [], chatwootRequest: chatwoot.request }, cipher, chatwoot.summary);
};

type LogContext = Record<string, string | null | undefined>;

const webhookBlock = async (deps: CreateInstanceDeps, log: LogContext, body: CreateInstanceBody, cipher: InstanceCipher): Promise<WebhookRecord | null> => {
  if (body.webhookEnabled !== true) return null;
  const skip = (reason: string) => {
    deps.logger.warn('webhook block not applied', { ...log, reason });
    return null;
  };
  const url = body.webhookURL;
  if (isBlank(url) || !isAbsoluteHttpUrl(url as string) || (url as string).length > limits.url) return skip('Invalid webhook URL');
  if ((body.webhookAuthorization?.length ?? 0) > limits.authorization) return skip('authorization longer than 4096 characters');
  const events = normaliseEvents(body.webhookEvents);
  if ('invalid' in events) return skip(`Invalid event: ${events.invalid}`);
  const refused = await refusedTarget(deps.outbound, url as string);
  if (refused) return skip(`webhook destination not allowed: ${refused}`);
  return {
    label: 'default',
    enabled: true,
    url: url as string,
    authorizationSealed: isBlank(body.webhookAuthorization)
      ? null
      : cipher.seal(sealedFields.webhookAuthorization('default'), body.webhookAuthorization as string),
    byEvents: body.webhookByEvents ?? false,
    events: events.events,
    mediaBase64: body.webhookMediaBase64 ?? false,
    includeInstanceToken: true,
    secretSealed: null,
  };
};

const websocketBlock = (logger: Logger, log: LogContext, body: CreateInstanceBody): WebsocketConfig | null => {
  if (body.websocketEnabled !== true) return null;
  const events = normaliseEvents(body.websocketEvents);
  if ('invalid' in events) {
    logger.warn('websocket block not applied', { ...log, reason: `Invalid event: ${events.invalid}` });
    return null;
  }
  return { enabled: true, events: events.events, mediaBase64: body.websocketMediaBase64 ?? false };
};

/** The Chatwoot module is not on this server yet: a valid block is kept for it, and reported as not available. */
const chatwootBlock = async (
  { logger, outbound }: CreateInstanceDeps,
  log: LogContext,
  body: CreateInstanceBody,
  cipher: InstanceCipher,
  now: string,
): Promise<{ summary: ChatwootSummary; request: ChatwootRequestRecord | null }> => {
  if (body.chatwootEnabled !== true) return { summary: noChatwoot, request: null };
  const summary: ChatwootSummary = { enabled: false, status: 'error', error: chatwootUnavailable };
  const problem = isBlank(body.chatwootBaseUrl)
    ? 'chatwootBaseUrl is required'
    : !isAbsoluteHttpUrl(body.chatwootBaseUrl as string) || (body.chatwootBaseUrl as string).length > limits.url
      ? 'chatwootBaseUrl must be an absolute http(s) URL'
      : typeof body.chatwootAccountId !== 'number' || body.chatwootAccountId <= 0
        ? 'chatwootAccountId must be a positive integer'
        : isBlank(body.chatwootApiToken)
          ? 'chatwootApiToken is required'
          : (body.chatwootApiToken as string).length > limits.secret || (body.chatwootInboxName?.length ?? 0) > limits.inboxName
            ? 'chatwootApiToken or chatwootInboxName too long'
            : null;
  if (problem) {
    logger.warn('chatwoot block not applied', { ...log, reason: `invalid body: ${problem}` });
    return { summary, request: null };
  }
  const refused = await refusedTarget(outbound, body.chatwootBaseUrl as string);
  if (refused) {
    logger.warn('chatwoot block not applied', { ...log, reason: `chatwootBaseUrl not allowed: ${refused}` });
    return { summary, request: null };
  }
  logger.warn('chatwoot block kept but not activated', { ...log, reason: chatwootUnavailable });
  return {
    summary,
    request: {
      baseUrl: (body.chatwootBaseUrl as string).replace(/\/+$/, ''),
      accountId: body.chatwootAccountId as number,
      apiTokenSealed: cipher.seal(sealedFields.chatwootApiToken, body.chatwootApiToken as string),
      inboxName: isBlank(body.chatwootInboxName) ? (body.name as string) : (body.chatwootInboxName as string),
      signMessages: body.chatwootSignMessages ?? false,
      ignoreGroups: body.chatwootIgnoreGroups ?? false,
      startAsPending: body.chatwootStartAsPending ?? false,
      reopenResolved: body.chatwootReopenResolved ?? false,
      requestedAt: now,
    },
  };
};

export const assertAccountPrincipal = (principal: TokenEntry): void => {
  if (principal.kind !== 'account') throw new DomainError('auth.invalid_token');
};
