import { z } from 'zod';
import type { RateWindow, TokenEntry } from '../auth/principal.ts';
import type { ErrorCode } from '../errors/domain-error.ts';
import { DomainError } from '../errors/domain-error.ts';
import type { InstanceAggregate, InstanceRecord, WebsocketConfig } from '../instance/instance.ts';
import { sealedFields } from '../instance/instance.ts';
import type { SecretVault } from '../ports/keyring.port.ts';
import type { InstanceRepository } from '../ports/repositories.port.ts';
import { rfc3339, type Clock } from '../ports/runtime.port.ts';
import { fail, stringArray } from '../validation.ts';
import { authorize, extractToken, type AuthorizeDeps } from './authorize.use-case.ts';
import { normaliseEvents } from './create-instance.use-case.ts';
import { withoutMediaBase64 } from '../events/delivery.ts';

/** At most 10 concurrent connections per instance (spec §3.7). */
export const maxWebsocketConnections = 10;

/** Body of `POST /api/events/websocket/:instance` (spec #16); fields in the order of the request table. */
export const SaveWebsocketBody = z
  .object({
    enabled: z.boolean().nullish(),
    events: stringArray(),
    mediaBase64: z.boolean().nullish(),
  })
  .superRefine((body, ctx) => {
    const events = normaliseEvents(body.events);
    if ('invalid' in events) fail(ctx, `Invalid event: ${events.invalid}`, ['events']);
  });
export type SaveWebsocketBody = z.output<typeof SaveWebsocketBody>;

export interface WebsocketView {
  enabled: boolean;
  events: string[];
  mediaBase64: boolean;
}

const viewOf = (config: WebsocketConfig): WebsocketView =>
  config.enabled ? { enabled: true, events: [...config.events], mediaBase64: config.mediaBase64 } : { enabled: false, events: [], mediaBase64: false };

/**
 * `POST /api/events/websocket/:instance` (spec #16).
 * Input: the resolved instance and a validated body. Output: the stored configuration.
 * Steps: `enabled` defaults to `true`; disabling keeps the row and clears `events` and
 * `mediaBase64`; the hub re-reads the row, so open connections follow within seconds.
 */
export const saveWebsocket = async (
  deps: { instances: InstanceRepository; clock: Clock },
  { instance }: InstanceAggregate,
  body: SaveWebsocketBody,
): Promise<WebsocketView> => {
  const enabled = body.enabled ?? true;
  const normalised = normaliseEvents(body.events);
  const websocket: WebsocketConfig = enabled
    ? { enabled: true, events: 'events' in normalised ? normalised.events : [], mediaBase64: body.mediaBase64 ?? false }
    : { enabled: false, events: [], mediaBase64: false };
  const updated = await deps.instances.update(instance.accountId, instance.name, { websocket, updatedAt: rfc3339(deps.clock.now()) });
  if (!updated) throw new DomainError('instance.not_found');
  return viewOf(updated.websocket ?? websocket);
};

/** `GET /api/events/getWebsocket/:instance` (spec #17): `null` when never configured. */
export const getWebsocket = ({ instance }: InstanceAggregate): WebsocketView | null => (instance.websocket ? viewOf(instance.websocket) : null);

/** Why an upgrade of `GET /ws/:instance` is refused after the instance is resolved (spec #18). */
export type WebsocketRefusal = 'websocket.upgrade_required' | 'websocket.origin_not_allowed' | 'websocket.not_enabled' | 'websocket.too_many_connections';

export interface AdmissionDeps extends AuthorizeDeps {
  instances: InstanceRepository;
  cors: { allowedOrigins: readonly string[] };
}

export interface AdmissionRequest {
  /** The decoded `:instance` segment. */
  instanceName: string;
  /** Header names in lower case. */
  headers: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string | undefined>>;
  sourceIp: string;
  /** The request carries valid RFC 6455 upgrade headers. */
  upgrade: boolean;
  /**
   * Takes one of the instance's connection slots, or says there is none left. Called last, so a
   * synchronous implementation makes check-and-take atomic in one process.
   */
  reserve(instance: InstanceRecord): boolean | Promise<boolean>;
}

export type Admission =
  | {
      kind: 'admitted';
      instance: InstanceRecord;
      principal: TokenEntry;
      /** Keyed hash of the token that opened the connection: a rotated TokenAccount closes it (spec Z8). */
      tokenHash: string;
      rate: RateWindow | null;
    }
  | { kind: 'refused'; reason: ErrorCode | WebsocketRefusal; instanceName: string; rate: RateWindow | null };

const originAllowed = (allowed: readonly string[], origin: string | undefined): boolean =>
  origin === undefined || origin === '' || allowed.includes('*') || allowed.includes(origin);

/**
 * The checks of `GET /ws/:instance` before the upgrade, shared by the embedded hub and the AWS
 * `$connect` handler, in the contract's order (spec §0.6): credentials and the `global` bucket
 * (counted once per upgrade) → empty name → ownership → upgrade headers → browser origin →
 * enabled → connection limit.
 */
export const admitWebsocket = async (deps: AdmissionDeps, request: AdmissionRequest): Promise<Admission> => {
  const name = request.instanceName;
  const auth = await authorize(deps, { auth: 'token', bucket: 'global', headers: request.headers, query: request.query, sourceIp: request.sourceIp });
  const refuse = (reason: ErrorCode | WebsocketRefusal): Admission => ({ kind: 'refused', reason, instanceName: name, rate: auth.rate });
  if (auth.error) return refuse(auth.error);
  const principal = auth.principal;
  if (!principal) return refuse('auth.missing_token');
  if (name === '') return refuse('instance.name_required');
  // A TokenInstance never learns whether another name exists (spec D11).
  if (principal.kind === 'instance' && principal.instanceName !== name) return refuse('auth.instance_mismatch');
  if (name.length > 64 || name.includes('#')) return refuse('instance.not_found');
  const found = await deps.instances.get(principal.accountId, name);
  if (!found) return refuse('instance.not_found');
  if (!request.upgrade) return refuse('websocket.upgrade_required');
  if (!originAllowed(deps.cors.allowedOrigins, request.headers.origin)) return refuse('websocket.origin_not_allowed');
  if (found.instance.websocket?.enabled !== true) return refuse('websocket.not_enabled');
  if (!(await request.reserve(found.instance))) return refuse('websocket.too_many_connections');
  return { kind: 'admitted', instance: found.instance, principal, tokenHash: deps.tokens.hash(extractToken(request.headers, request.query) ?? ''), rate: auth.rate };
};

/** What a stream needs to send an instance's events: its current configuration and TokenInstance. */
export interface StreamTarget {
  websocket: WebsocketConfig | null;
  token: string;
}

/**
 * Re-reads the instance behind an event. `null` when it was deleted (or replaced by a new
 * instance with the same name, which has another id).
 */
export const streamTargetOf = async (
  deps: { instances: InstanceRepository; vault: SecretVault },
  ref: { accountId: string; instanceName: string; instanceId: string },
): Promise<StreamTarget | null> => {
  const found = await deps.instances.get(ref.accountId, ref.instanceName);
  if (!found || found.instance.id !== ref.instanceId) return null;
  const { instance } = found;
  const cipher = await deps.vault.instanceCipher(instance.id, instance.wrappedKey);
  return { websocket: instance.websocket, token: cipher.open(sealedFields.token, instance.tokenSealed) };
};

/**
 * The frame's `data`: `message.media.base64` only when the stream asked for it (spec #16). Producers
 * may attach it once for every channel; a stream without `mediaBase64` never carries it.
 */
export const streamData = (data: Record<string, unknown>, mediaBase64: boolean): Record<string, unknown> => (mediaBase64 ? data : withoutMediaBase64(data));
