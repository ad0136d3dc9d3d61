import { DomainError, ValidationError } from '../errors/domain-error.ts';
import type { CommandBus, SessionCommand } from '../fleet/commands.ts';
import type { InstanceAggregate, LinkingAttempt } from '../instance/instance.ts';
import { normalisePhoneNumber } from '../numbers.ts';
import type { InstanceRepository } from '../ports/repositories.port.ts';
import { rfc3339, type Clock, type IdGenerator } from '../ports/runtime.port.ts';

export interface SessionDeps {
  instances: InstanceRepository;
  bus: CommandBus;
  clock: Clock;
  ids: IdGenerator;
  /** How long connect waits for a QR or pairing code: 25 s on AWS (API Gateway's 29 s), 60 s embedded. */
  connectWaitMs: number;
  pollEveryMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** PNG data URL of a QR string. */
  qrToDataUrl: (qr: string) => Promise<string>;
}

const commandFor = <T extends SessionCommand['type']>(deps: SessionDeps, { instance }: InstanceAggregate, type: T) => ({
  type,
  commandId: deps.ids.ulid(),
  instanceId: instance.id,
  accountId: instance.accountId,
  instanceName: instance.name,
  issuedAt: rfc3339(deps.clock.now()),
});

/** Query parameters of #3, validated in the contract's terms. */
export const parseConnectQuery = (query: Record<string, string | undefined>): { phoneNumber: string | null; historyDays: number | null } => {
  const number = query.number;
  const phoneNumber = number === undefined || number === '' ? null : normalisePhoneNumber(number);
  const history = query.history;
  let historyDays: number | null = null;
  if (history !== undefined) {
    if (!/^\d{1,3}$/.test(history) || Number(history) < 1 || Number(history) > 365) throw new ValidationError("Invalid value for query parameter 'history'");
    historyDays = Number(history);
  }
  return { phoneNumber, historyDays };
};

/**
 * `GET /api/instance/connect/:instance`.
 *
 * Steps: refuse a connected instance (409) → record a new linking attempt on the instance →
 * send `connect` to the shard's runner → wait until the runner writes that attempt's QR or
 * pairing code (or its failure) on the instance, at most `connectWaitMs` → 504.
 */
export const connectInstance = async (deps: SessionDeps, aggregate: InstanceAggregate, query: Record<string, string | undefined>) => {
  const { phoneNumber, historyDays } = parseConnectQuery(query);
  if (aggregate.instance.status === 'connected') throw new DomainError('instance.already_connected');
  const base = commandFor(deps, aggregate, 'connect');
  const attemptId = deps.ids.ulid();
  const pending: LinkingAttempt = { attemptId, qr: null, pairingCode: null, error: null, updatedAt: base.issuedAt };
  if (!(await deps.instances.update(aggregate.instance.accountId, aggregate.instance.name, { linking: pending }))) throw new DomainError('instance.not_found');
  await deps.bus.send({ ...base, attemptId, phoneNumber, historyDays });

  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const deadline = deps.clock.now().getTime() + deps.connectWaitMs;
  for (;;) {
    await sleep(deps.pollEveryMs ?? 250);
    const current = await deps.instances.get(aggregate.instance.accountId, aggregate.instance.name);
    if (!current || current.instance.id !== aggregate.instance.id) throw new DomainError('instance.not_found');
    const linking = current.instance.linking;
    if (linking?.attemptId === attemptId) {
      if (linking.error === 'rate_limited') throw new DomainError('whatsapp.rate_limited');
      if (linking.error) throw new DomainError('instance.connect_failed', linking.error);
      if (linking.pairingCode) return { kind: 'pairing' as const, pairingCode: linking.pairingCode };
      if (linking.qr) return { kind: 'qr' as const, qrCode: linking.qr, qrCodeBase64: await deps.qrToDataUrl(linking.qr) };
    }
    if (deps.clock.now().getTime() >= deadline) throw new DomainError('instance.connect_timeout');
  }
};

/** `POST /api/instance/reconnect/:instance`: returns at once; the outcome arrives as state changes. */
export const reconnectInstance = async (deps: SessionDeps, aggregate: InstanceAggregate): Promise<void> => {
  const { instance } = aggregate;
  if (!instance.hasSession || instance.status === 'loggedout') throw new DomainError('instance.no_saved_session');
  await deps.bus.send(commandFor(deps, aggregate, 'reconnect'));
};

/** `DELETE /api/instance/logout/:instance`: idempotent; the runner unlinks and wipes the session. */
export const logoutInstance = async (deps: SessionDeps, aggregate: InstanceAggregate): Promise<void> => {
  const { instance } = aggregate;
  await deps.instances.update(instance.accountId, instance.name, { status: 'loggedout', hasSession: false, linking: null });
  await deps.bus.send(commandFor(deps, aggregate, 'logout'));
};

/** Tells the runner to close the socket, log out and wipe the auth state of a deleted instance. */
export const stopDeletedInstance = async (deps: Pick<SessionDeps, 'bus' | 'clock' | 'ids'>, aggregate: InstanceAggregate): Promise<void> =>
  deps.bus.send(commandFor(deps as SessionDeps, aggregate, 'delete'));

/** Tells the runner that settings changed (presence applies at once on a connected instance). */
export const notifySettingsChanged = async (deps: Pick<SessionDeps, 'bus' | 'clock' | 'ids'>, aggregate: InstanceAggregate): Promise<void> =>
  deps.bus.send(commandFor(deps as SessionDeps, aggregate, 'settings'));
