import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SessionCommand } from '../../../shared/domain/fleet/commands.ts';
import type { Fence } from '../../../shared/domain/fleet/fleet.ts';
import { defaultSettings, emptyProfile, type InstanceAggregate, type InstanceRecord, type LinkingAttempt, type ProxyConfig, type SessionState, type Settings } from '../../../shared/domain/instance/instance.ts';
import type { InstanceCipher, SecretVault } from '../../../shared/domain/ports/keyring.port.ts';
import type { InstanceRepository } from '../../../shared/domain/ports/repositories.port.ts';
import type { Logger } from '../../../shared/domain/ports/runtime.port.ts';
import type { DesiredSession, InstanceRef, SessionRepository, StateChange } from '../../../shared/domain/ports/session-repository.port.ts';
import type { WaProfile } from '../../../shared/domain/ports/wa-connection.port.ts';
import { createSessionSupervisor, type AuthStateHandle, type AuthStateLoader, type SessionSupervisor } from '../../../session-runner/supervisor/session-supervisor.ts';
import { ScriptedConnectionFactory, type ScriptedConnection } from '../../support/scripted-connection.ts';

const START = new Date('2026-04-28T10:30:00Z');
const ACCOUNT_ID = 'acc-3f9a';
const LINK_TIMEOUT_MS = 120_000;
const STAGGER_MS = 50;
const TEN_MINUTES_MS = 10 * 60_000;
const PHONE = '5511987654321';
const JID = '5511987654321@s.whatsapp.net';
const PROFILE: WaProfile = { name: 'Padaria Aurora', pictureUrl: 'https://pps.whatsapp.net/v/t61/aurora.jpg', isBusiness: true, businessName: 'Padaria Aurora Ltda' };

/** Drains every pending promise job (timers are fake; `setImmediate` is left real for this). */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Moves the fake clock and lets whatever it woke up finish. */
async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
  await flush();
}

function instanceRecord(id: string, name: string, settings: Partial<Settings>): InstanceRecord {
  return {
    id,
    accountId: ACCOUNT_ID,
    name,
    wrappedKey: `wrapped:${id}`,
    tokenHash: `hash:${id}`,
    tokenSealed: `sealed:${id}`,
    status: 'disconnected',
    numberJid: null,
    profile: { ...emptyProfile },
    settings: { ...defaultSettings, ...settings },
    proxy: null,
    s3: null,
    websocket: null,
    createdAt: '2026-04-28T10:00:00Z',
    updatedAt: '2026-04-28T10:00:00Z',
  };
}

/** InstanceRepository reduced to what the supervisor reads; `hold()` parks every `get` until released. */
class FakeInstances {
  private readonly items = new Map<string, InstanceAggregate>();
  private gate: Promise<void> | null = null;
  getCalls = 0;

  put(instance: InstanceRecord): void {
    this.items.set(instance.name, { instance, webhooks: [], chatwootRequest: null });
  }

  patch(name: string, patch: Partial<Pick<InstanceRecord, 'settings' | 'proxy'>>): void {
    const current = this.items.get(name);
    if (!current) throw new Error(`no instance ${name}`);
    this.put({ ...current.instance, ...patch });
  }

  /** Every `get` from now on waits until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    this.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    return () => {
      this.gate = null;
      release();
    };
  }

  async get(accountId: string, name: string): Promise<InstanceAggregate | null> {
    this.getCalls += 1;
    if (this.gate) await this.gate;
    const aggregate = this.items.get(name);
    return aggregate && aggregate.instance.accountId === accountId ? aggregate : null;
  }
}

type RecordedState = StateChange & { instanceId: string };

/** Records every write the API and the events pipeline would see. */
class FakeSessions implements SessionRepository {
  readonly states: RecordedState[] = [];
  readonly linking: (LinkingAttempt & { instanceId: string })[] = [];
  readonly keptOpen: DesiredSession[] = [];
  readonly forgotten: string[] = [];
  readonly desired = new Map<number, DesiredSession[]>();

  async recordState(ref: InstanceRef, change: StateChange): Promise<SessionState | null> {
    const previous = [...this.states].reverse().find((state) => state.instanceId === ref.instanceId)?.state ?? null;
    this.states.push({ instanceId: ref.instanceId, ...change });
    return previous;
  }

  async stateLog(): Promise<never[]> {
    return [];
  }

  async setLinking(ref: InstanceRef, linking: LinkingAttempt): Promise<void> {
    this.linking.push({ instanceId: ref.instanceId, ...linking });
  }

  async keepOpen(session: DesiredSession): Promise<void> {
    this.keptOpen.push(session);
  }

  async forget(instanceId: string): Promise<void> {
    this.forgotten.push(instanceId);
  }

  async desiredOn(shard: number): Promise<DesiredSession[]> {
    return this.desired.get(shard) ?? [];
  }

  /** The state changes of one instance, oldest first, without the instance id. */
  statesOf(instanceId: string): StateChange[] {
    return this.states.filter((each) => each.instanceId === instanceId).map(({ instanceId: _id, ...change }) => change);
  }

  /** `[state, reason]` pairs of one instance: the `instance.state` events a client would get. */
  transitionsOf(instanceId: string): [string, string][] {
    return this.statesOf(instanceId).map((change) => [change.state, change.reason]);
  }

  linkingOf(instanceId: string): LinkingAttempt[] {
    return this.linking.filter((each) => each.instanceId === instanceId).map(({ instanceId: _id, ...attempt }) => attempt);
  }
}

/**
 * Saved auth states, reduced to what decides Baileys' behaviour (§6): `creds.me` alone is
 * provisional (written by requestPairingCode; Baileys then logs in instead of registering),
 * `creds.me` + `creds.account` is linked. The test plays the phone; `wipe()` is counted.
 */
class FakeAuthStore {
  private readonly entries = new Map<string, { me: boolean; account: boolean; wipes: number; loads: number }>();

  private entry(instanceId: string) {
    let entry = this.entries.get(instanceId);
    if (!entry) {
      entry = { me: false, account: false, wipes: 0, loads: 0 };
      this.entries.set(instanceId, entry);
    }
    return entry;
  }

  /** The phone scanned / entered the code: the saved session is linked. */
  link(instanceId: string): void {
    Object.assign(this.entry(instanceId), { me: true, account: true });
  }

  /** What Baileys' requestPairingCode persists before pairing completes. */
  writeProvisionalMe(instanceId: string): void {
    this.entry(instanceId).me = true;
  }

  isLinked(instanceId: string): boolean {
    const entry = this.entry(instanceId);
    return entry.me && entry.account;
  }

  /** Nothing a later socket would pick up (no `creds.me`). */
  isEmpty(instanceId: string): boolean {
    const entry = this.entry(instanceId);
    return !entry.me && !entry.account;
  }

  wipes(instanceId: string): number {
    return this.entry(instanceId).wipes;
  }

  /** When set, loading fails with it (the store is unreachable). */
  failLoadsWith: Error | null = null;

  readonly load: AuthStateLoader = async ({ instanceId }) => {
    if (this.failLoadsWith) throw this.failLoadsWith;
    const entry = this.entry(instanceId);
    entry.loads += 1;
    const handle: AuthStateHandle = {
      state: { instanceId, load: entry.loads, me: entry.me },
      saveCreds: async () => undefined,
      wipe: async () => {
        Object.assign(entry, { me: false, account: false, wipes: entry.wipes + 1 });
      },
      isLinked: () => entry.me && entry.account,
    };
    return handle;
  };
}

const identityCipher = (wrappedKey: string): InstanceCipher => ({ wrappedKey, seal: (_field, plaintext) => plaintext, open: (_field, sealed) => sealed });

const vault: SecretVault = {
  newInstanceCipher: async () => {
    throw new Error('the supervisor never creates instances');
  },
  instanceCipher: async (_instanceId, wrappedKey) => identityCipher(wrappedKey),
};

const silent: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function setup(extra: Partial<Parameters<typeof createSessionSupervisor>[0]> = {}) {
  const instances = new FakeInstances();
  const sessions = new FakeSessions();
  const auth = new FakeAuthStore();
  const factory = new ScriptedConnectionFactory();
  const alarms: { name: string; instanceId: string }[] = [];
  const shards = new Map<string, number>();
  const fences = new Map<number, Fence | null>();
  let commandNo = 0;

  const supervisor: SessionSupervisor = createSessionSupervisor({
    factory,
    instances: { get: (accountId: string, name: string) => instances.get(accountId, name) } as Pick<InstanceRepository, 'get'> as InstanceRepository,
    sessions,
    vault,
    loadAuthState: auth.load,
    fenceOf: (shard) => (fences.has(shard) ? (fences.get(shard) ?? null) : { shard, owner: 'runner-a', epoch: 1 }),
    shardOf: (instanceId) => shards.get(instanceId) ?? 0,
    clock: { now: () => new Date() },
    timers: { setTimeout: (callback, ms) => setTimeout(callback, ms), clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout) },
    random: () => 0.5,
    logger: silent,
    linkTimeoutMs: LINK_TIMEOUT_MS,
    restoreStaggerMs: STAGGER_MS,
    alarm: (name, ref) => alarms.push({ name, instanceId: ref.instanceId }),
    ...extra,
  });

  /** Creates an instance (disconnected, no saved session) and returns how commands name it. */
  const add = (name: string, settings: Partial<Settings> = {}, shard = 0): InstanceRef => {
    const id = `inst-${name}`;
    instances.put(instanceRecord(id, name, settings));
    shards.set(id, shard);
    return { instanceId: id, accountId: ACCOUNT_ID, instanceName: name };
  };

  const base = (ref: InstanceRef) => {
    commandNo += 1;
    return { commandId: `cmd-${commandNo}`, ...ref, issuedAt: '2026-04-28T10:30:00Z' };
  };

  const command = (type: 'reconnect' | 'logout' | 'delete' | 'settings', ref: InstanceRef): Promise<void> =>
    supervisor.handle({ ...base(ref), type } as SessionCommand);

  const connect = (ref: InstanceRef, options: { attemptId?: string; phoneNumber?: string | null; historyDays?: number | null } = {}): Promise<void> =>
    supervisor.handle({
      ...base(ref),
      type: 'connect',
      attemptId: options.attemptId ?? 'attempt-1',
      phoneNumber: options.phoneNumber ?? null,
      historyDays: options.historyDays ?? null,
    });

  /** A linked session, reopened with `reconnect` and connected: the starting point of the close-code tests. */
  const connected = async (ref: InstanceRef, jid = JID): Promise<ScriptedConnection> => {
    auth.link(ref.instanceId);
    await command('reconnect', ref);
    const conn = factory.latest(ref.instanceId);
    conn.emitOpen(jid, PROFILE);
    await flush();
    return conn;
  };

  return { supervisor, instances, sessions, auth, factory, alarms, fences, add, command, connect, connected };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  vi.setSystemTime(START);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('connect with a QR code', () => {
  it('opens a linking socket, publishes every QR, and ends connected with the number and profile', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('aurora');

    // Act: the API sends connect; WhatsApp shows a QR and rotates it
    await h.connect(ref, { attemptId: 'attempt-aurora', historyDays: 7 });
    const linkingSocket = h.factory.latest(ref.instanceId);
    linkingSocket.emitQr('2@ref-one,key==,adv==');
    await flush();
    linkingSocket.emitQr('2@ref-two,key==,adv==');
    await flush();

    // Assess: one socket, with the history the caller asked for; each QR reached the waiting API
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
    expect(linkingSocket.options).toMatchObject({ instanceId: ref.instanceId, historyDays: 7, proxy: null, settings: defaultSettings });
    expect(h.sessions.linkingOf(ref.instanceId)).toEqual([
      { attemptId: 'attempt-aurora', qr: '2@ref-one,key==,adv==', pairingCode: null, error: null, updatedAt: '2026-04-28T10:30:00Z' },
      { attemptId: 'attempt-aurora', qr: '2@ref-two,key==,adv==', pairingCode: null, error: null, updatedAt: '2026-04-28T10:30:00Z' },
    ]);

    // Act: the phone scans (creds become linked), WhatsApp asks for a restart, then the session opens
    h.auth.link(ref.instanceId);
    linkingSocket.emitClose(515, 'restart required');
    await flush();
    const loggedIn = h.factory.latest(ref.instanceId);
    loggedIn.emitOpen(JID, PROFILE);
    await flush();

    // Assess
    expect(h.factory.of(ref.instanceId)).toHaveLength(2);
    expect(h.sessions.transitionsOf(ref.instanceId)).toEqual([
      ['connecting', 'api_connect'],
      ['qr_ready', 'api_connect'],
      ['qr_ready', 'api_connect'],
      ['connecting', 'restart_required'],
      ['connected', 'connected'],
    ]);
    expect(h.sessions.statesOf(ref.instanceId).at(-1)).toEqual({ state: 'connected', reason: 'connected', numberJid: JID, profile: PROFILE, hasSession: true });
    expect(h.sessions.keptOpen).toEqual([{ ...ref, shard: 0 }]);
    expect(loggedIn.callsOf('sendPresence')).toEqual([{ method: 'sendPresence', available: false }]);
  });

  it('no longer treats a connected session as a linking attempt: the link timeout does not end it', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('borealis');
    await h.connect(ref);
    h.factory.latest(ref.instanceId).emitQr('2@ref-one');
    await flush();
    h.auth.link(ref.instanceId);
    h.factory.latest(ref.instanceId).emitOpen(JID, PROFILE);
    await flush();
    const linkingWrites = h.sessions.linking.length;

    // Act
    await advance(LINK_TIMEOUT_MS + 1_000);

    // Assess
    expect(h.factory.latest(ref.instanceId).live).toBe(true);
    expect(h.sessions.transitionsOf(ref.instanceId).at(-1)).toEqual(['connected', 'connected']);
    expect(h.sessions.linking).toHaveLength(linkingWrites);
    expect(h.auth.isLinked(ref.instanceId)).toBe(true);
  });

  it('sends no presence on open when keepOnlineStatus is true (the socket stays available)', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('cirrus', { keepOnlineStatus: true });

    // Act
    const conn = await h.connected(ref);

    // Assess
    expect(conn.callsOf('sendPresence')).toEqual([]);
  });
});

describe('connect with a phone number (pairing code)', () => {
  it('asks for exactly one pairing code, on the first QR event, and publishes it', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('delta');
    await h.connect(ref, { attemptId: 'attempt-delta', phoneNumber: PHONE });
    const conn = h.factory.latest(ref.instanceId);

    // Act: first QR, a rotation while the code is pending, the code, another rotation
    conn.emitQr('2@ref-one');
    await flush();
    conn.emitQr('2@ref-two');
    await flush();
    conn.resolvePairingCode('K7PQ2XZD');
    await flush();
    conn.emitQr('2@ref-three');
    await flush();

    // Assess
    expect(conn.callsOf('requestPairingCode')).toEqual([{ method: 'requestPairingCode', phoneNumber: PHONE }]);
    expect(h.sessions.linkingOf(ref.instanceId)).toEqual([
      { attemptId: 'attempt-delta', qr: null, pairingCode: 'K7PQ2XZD', error: null, updatedAt: '2026-04-28T10:30:00Z' },
    ]);
    expect(h.sessions.transitionsOf(ref.instanceId)).toEqual([
      ['connecting', 'api_connect'],
      ['pairing_code_ready', 'api_connect'],
    ]);
  });

  it('reports rate_limited when WhatsApp refuses the pairing code with 429, and leaves nothing behind', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('epsilon');
    await h.connect(ref, { attemptId: 'attempt-epsilon', phoneNumber: PHONE });
    const conn = h.factory.latest(ref.instanceId);

    // Act: Baileys writes creds.me before asking, then WhatsApp refuses
    conn.emitQr('2@ref-one');
    h.auth.writeProvisionalMe(ref.instanceId);
    await flush();
    conn.rejectPairingCode(Object.assign(new Error('rate-overlimit'), { output: { statusCode: 429 } }));
    await flush();

    // Assess
    expect(h.sessions.linkingOf(ref.instanceId)).toEqual([
      { attemptId: 'attempt-epsilon', qr: null, pairingCode: null, error: 'rate_limited', updatedAt: '2026-04-28T10:30:00Z' },
    ]);
    expect(conn.stopped).toBe(true);
    expect(h.auth.isEmpty(ref.instanceId)).toBe(true);
    expect(h.sessions.statesOf(ref.instanceId).at(-1)).toMatchObject({ state: 'disconnected', hasSession: false });
  });

  it('reports any other pairing failure as "Failed to connect: <reason>"', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('zeta');
    await h.connect(ref, { attemptId: 'attempt-zeta', phoneNumber: PHONE });
    const conn = h.factory.latest(ref.instanceId);

    // Act
    conn.emitQr('2@ref-one');
    await flush();
    conn.rejectPairingCode(Object.assign(new Error('Connection Closed'), { output: { statusCode: 428 } }));
    await flush();

    // Assess
    expect(h.sessions.linkingOf(ref.instanceId).at(-1)).toMatchObject({ attemptId: 'attempt-zeta', error: 'Failed to connect: Connection Closed' });
  });
});

describe('connect over a saved session', () => {
  it('discards a linked session that is not connected and links afresh', async () => {
    // Prepare: a session linked earlier, not open on any socket now
    const h = setup();
    const ref = h.add('eta');
    h.auth.link(ref.instanceId);

    // Act
    await h.connect(ref);

    // Assess: wiped first, then opened on a freshly loaded (unlinked) auth state
    expect(h.auth.wipes(ref.instanceId)).toBe(1);
    expect(h.auth.isLinked(ref.instanceId)).toBe(false);
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
    expect(h.factory.latest(ref.instanceId).options.auth).toEqual({ instanceId: ref.instanceId, load: 2, me: false });
  });

  it('starts from an empty auth state when an interrupted pairing left provisional creds behind', async () => {
    // Prepare: a runner stopped (crash, shard move, SIGTERM) after requestPairingCode wrote creds.me
    const h = setup();
    const ref = h.add('eta-two');
    h.auth.writeProvisionalMe(ref.instanceId);

    // Act
    await h.connect(ref, { attemptId: 'attempt-after-crash' });

    // Assess: Baileys must register afresh (a QR), not try to log in with a number that never paired
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
    expect(h.factory.latest(ref.instanceId).options.auth).toMatchObject({ instanceId: ref.instanceId, me: false });
  });
});

describe('connect that cannot open a socket', () => {
  it('fails the attempt with "Failed to connect: <reason>" for the waiting API', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('eta-three');
    h.auth.failLoadsWith = new Error('ProvisionedThroughputExceededException');

    // Act
    const outcome = await h.connect(ref, { attemptId: 'attempt-store-down' }).then(
      () => 'done',
      (error: unknown) => (error as Error).message,
    );

    // Assess
    expect(outcome).toBe('ProvisionedThroughputExceededException');
    expect(h.sessions.linkingOf(ref.instanceId)).toEqual([
      { attemptId: 'attempt-store-down', qr: null, pairingCode: null, error: 'Failed to connect: ProvisionedThroughputExceededException', updatedAt: '2026-04-28T10:30:00Z' },
    ]);
    expect(h.factory.opened).toEqual([]);
  });
});

describe('the link timeout', () => {
  it('ends a QR attempt that was never scanned: socket stopped, provisional auth wiped, qr_timeout', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('theta');
    await h.connect(ref);
    const conn = h.factory.latest(ref.instanceId);
    conn.emitQr('2@ref-one');
    await flush();
    const wipesBefore = h.auth.wipes(ref.instanceId);

    // Act
    await advance(LINK_TIMEOUT_MS - 1);
    const liveBeforeTimeout = conn.live;
    await advance(1);

    // Assess
    expect(liveBeforeTimeout).toBe(true);
    expect(conn.stopped).toBe(true);
    expect(h.auth.wipes(ref.instanceId)).toBe(wipesBefore + 1);
    expect(h.sessions.statesOf(ref.instanceId).at(-1)).toEqual({ state: 'disconnected', reason: 'qr_timeout', hasSession: false });
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
  });

  it('ends a pairing-code attempt that was never entered the same way', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('iota');
    await h.connect(ref, { phoneNumber: PHONE });
    const conn = h.factory.latest(ref.instanceId);
    conn.emitQr('2@ref-one');
    h.auth.writeProvisionalMe(ref.instanceId);
    await flush();
    conn.resolvePairingCode('ZX81QW7K');
    await flush();

    // Act
    await advance(LINK_TIMEOUT_MS);

    // Assess
    expect(conn.stopped).toBe(true);
    expect(h.auth.isEmpty(ref.instanceId)).toBe(true);
    expect(h.sessions.transitionsOf(ref.instanceId).at(-1)).toEqual(['disconnected', 'qr_timeout']);
  });
});

describe('close codes on a connected session', () => {
  it('515 restart required: reopened at once, without a disconnected state', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('kappa');
    const conn = await h.connected(ref);
    const before = h.sessions.statesOf(ref.instanceId).length;

    // Act: no clock movement at all
    conn.emitClose(515, 'restart required');
    await flush();

    // Assess
    expect(h.factory.of(ref.instanceId)).toHaveLength(2);
    expect(h.factory.latest(ref.instanceId).live).toBe(true);
    expect(h.sessions.transitionsOf(ref.instanceId).slice(before)).toEqual([['connecting', 'restart_required']]);
  });

  it.each([
    { code: 401, state: 'logged_out', reason: 'logged_out_remote', wiped: true, alarm: null },
    { code: 403, state: 'temp_banned', reason: 'forbidden', wiped: false, alarm: 'forbidden' },
    { code: 405, state: 'disconnected', reason: 'client_version_rejected', wiped: false, alarm: 'client_version_rejected' },
    { code: 411, state: 'needs_relink', reason: 'multidevice_mismatch', wiped: true, alarm: null },
    { code: 440, state: 'disconnected', reason: 'replaced', wiped: false, alarm: 'session_replaced' },
  ])('$code: $state ($reason), never reopened', async ({ code, state, reason, wiped, alarm }) => {
    // Prepare
    const h = setup();
    const ref = h.add(`stop-${code}`);
    const conn = await h.connected(ref);
    const before = h.sessions.statesOf(ref.instanceId).length;

    // Act
    conn.emitClose(code, `Stream Errored (${code})`);
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess
    expect(h.sessions.statesOf(ref.instanceId).slice(before)).toEqual([{ state, reason, ...(wiped ? { hasSession: false } : {}) }]);
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
    expect(h.auth.wipes(ref.instanceId)).toBe(wiped ? 1 : 0);
    expect(h.auth.isLinked(ref.instanceId)).toBe(!wiped);
    if (wiped) expect(h.sessions.forgotten).toContain(ref.instanceId);
    expect(h.alarms).toEqual(alarm ? [{ name: alarm, instanceId: ref.instanceId }] : []);
  });

  it.each([408, 428, 500, 503])('%i: disconnected, then reopened after 1 s, 2 s, 4 s … capped at 60 s; an open resets it to 1 s', async (code) => {
    // Prepare
    const h = setup();
    const ref = h.add(`backoff-${code}`);
    const first = await h.connected(ref);
    const before = h.sessions.statesOf(ref.instanceId).length;
    const opens = () => h.factory.of(ref.instanceId).length;

    /** Drops the newest socket with `code` and returns after how many ms (to the 1 ms) a new one opened. */
    const dropAndExpectReopenAfter = async (delayMs: number) => {
      const count = opens();
      h.factory.latest(ref.instanceId).emitClose(code);
      await flush();
      await advance(delayMs - 1);
      expect(opens(), `no reopen before ${delayMs} ms`).toBe(count);
      await advance(1);
      expect(opens(), `reopened after ${delayMs} ms`).toBe(count + 1);
    };

    // Act + Assess: the first drop
    first.emitClose(code);
    await flush();
    expect(h.sessions.transitionsOf(ref.instanceId).slice(before)).toEqual([['disconnected', 'connection_lost']]);
    await advance(999);
    expect(opens()).toBe(1);
    await advance(1);
    expect(opens()).toBe(2);
    expect(h.sessions.transitionsOf(ref.instanceId).slice(before)).toEqual([
      ['disconnected', 'connection_lost'],
      ['connecting', 'reconnect'],
    ]);

    // Act + Assess: each failed attempt doubles the wait, up to 60 s
    for (const delayMs of [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]) await dropAndExpectReopenAfter(delayMs);

    // Act + Assess: a successful open starts over at 1 s
    h.factory.latest(ref.instanceId).emitOpen(JID, PROFILE);
    await flush();
    expect(h.sessions.transitionsOf(ref.instanceId).at(-1)).toEqual(['connected', 'connected']);
    await dropAndExpectReopenAfter(1_000);
    expect(h.factory.maxLive(ref.instanceId)).toBe(1);
    expect(h.auth.wipes(ref.instanceId)).toBe(0);
  });
});

describe('close codes while linking (no scan yet)', () => {
  it('408 (QR refs exhausted) ends the attempt with qr_timeout and wipes the provisional auth', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('lambda');
    await h.connect(ref);
    const conn = h.factory.latest(ref.instanceId);
    conn.emitQr('2@ref-one');
    await flush();
    const wipesBefore = h.auth.wipes(ref.instanceId);

    // Act
    conn.emitClose(408, 'QR refs attempts ended');
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess
    expect(h.sessions.statesOf(ref.instanceId).at(-1)).toEqual({ state: 'disconnected', reason: 'qr_timeout', hasSession: false });
    expect(h.auth.wipes(ref.instanceId)).toBe(wipesBefore + 1);
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
  });

  it('another code fails the attempt with "Failed to connect: <reason>" for the waiting API', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('mu');
    await h.connect(ref, { attemptId: 'attempt-mu' });
    const conn = h.factory.latest(ref.instanceId);
    const wipesBefore = h.auth.wipes(ref.instanceId);

    // Act
    conn.emitClose(500, 'Stream Errored (unknown)');
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess
    expect(h.sessions.linkingOf(ref.instanceId)).toEqual([
      { attemptId: 'attempt-mu', qr: null, pairingCode: null, error: 'Failed to connect: Stream Errored (unknown)', updatedAt: '2026-04-28T10:30:00Z' },
    ]);
    expect(h.sessions.statesOf(ref.instanceId).at(-1)).toMatchObject({ state: 'disconnected', hasSession: false });
    expect(h.auth.wipes(ref.instanceId)).toBe(wipesBefore + 1);
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
  });
});

describe('reconnect', () => {
  it('without a linked auth state: needs_relink, forgotten, and no socket', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('nu');

    // Act
    await h.command('reconnect', ref);

    // Assess
    expect(h.factory.opened).toEqual([]);
    expect(h.sessions.statesOf(ref.instanceId)).toEqual([{ state: 'needs_relink', reason: 'session_unusable', hasSession: false }]);
    expect(h.sessions.forgotten).toEqual([ref.instanceId]);
  });

  it('on a connected session: closes the socket and reopens it with the current proxy', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('xi');
    const first = await h.connected(ref);
    const proxy: ProxyConfig = { protocol: 'socks5', host: '10.20.30.40', port: '1080', username: 'fleet', passwordSealed: 'pr0xy-s3cret' };
    h.instances.patch('xi', { proxy });

    // Act
    await h.command('reconnect', ref);

    // Assess
    expect(first.stopped).toBe(true);
    expect(h.factory.of(ref.instanceId)).toHaveLength(2);
    expect(h.factory.latest(ref.instanceId).options.proxy).toEqual({ protocol: 'socks5', host: '10.20.30.40', port: '1080', username: 'fleet', password: 'pr0xy-s3cret' });
    expect(h.sessions.transitionsOf(ref.instanceId).at(-1)).toEqual(['connecting', 'api_reconnect']);
    expect(h.auth.wipes(ref.instanceId)).toBe(0);
    expect(h.factory.maxLive(ref.instanceId)).toBe(1);
  });
});

describe('a saved session that WhatsApp no longer accepts', () => {
  it('asked to scan again on reconnect: needs_relink, wiped, forgotten, not retried', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('nu-two');
    h.auth.link(ref.instanceId);
    await h.command('reconnect', ref);
    const conn = h.factory.latest(ref.instanceId);

    // Act
    conn.emitQr('2@unexpected-ref');
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess
    expect(conn.stopped).toBe(true);
    expect(h.sessions.statesOf(ref.instanceId)).toEqual([
      { state: 'connecting', reason: 'api_reconnect' },
      { state: 'needs_relink', reason: 'session_rejected', hasSession: false },
    ]);
    expect(h.auth.isEmpty(ref.instanceId)).toBe(true);
    expect(h.sessions.forgotten).toEqual([ref.instanceId]);
    expect(h.sessions.linking).toEqual([]);
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
  });
});

describe('logout and delete', () => {
  it('logout of a connected session: unlinks on WhatsApp, wipes, forgets, and records logged_out', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('omicron');
    const conn = await h.connected(ref);
    const before = h.sessions.statesOf(ref.instanceId).length;

    // Act: Baileys closes with 401 after its own logout; that close belongs to the old socket
    await h.command('logout', ref);
    conn.emitClose(401, 'Intentional Logout');
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess
    expect(conn.callsOf('logout')).toHaveLength(1);
    expect(h.auth.wipes(ref.instanceId)).toBe(1);
    expect(h.sessions.forgotten).toContain(ref.instanceId);
    expect(h.sessions.statesOf(ref.instanceId).slice(before)).toEqual([{ state: 'logged_out', reason: 'api_logout', hasSession: false }]);
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
  });

  it('delete of a connected session: the same, without a state change (the instance is gone)', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('pi');
    const conn = await h.connected(ref);
    const before = h.sessions.statesOf(ref.instanceId).length;

    // Act
    await h.command('delete', ref);
    conn.emitClose(401, 'Intentional Logout');
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess
    expect(conn.callsOf('logout')).toHaveLength(1);
    expect(h.auth.wipes(ref.instanceId)).toBe(1);
    expect(h.sessions.forgotten).toContain(ref.instanceId);
    expect(h.sessions.statesOf(ref.instanceId).slice(before)).toEqual([]);
    expect(h.factory.of(ref.instanceId)).toHaveLength(1);
  });

  it('logout of a disconnected instance with a saved session (no socket here): wiped, and logged_out is recorded', async () => {
    // Prepare: linked earlier, stopped since (405, 440, a release…): nothing open on this runner
    const h = setup();
    const ref = h.add('rho');
    h.auth.link(ref.instanceId);

    // Act
    await h.command('logout', ref);

    // Assess: the state did change (disconnected with a session → logged out), so it is recorded
    expect(h.auth.isEmpty(ref.instanceId)).toBe(true);
    expect(h.sessions.forgotten).toEqual([ref.instanceId]);
    expect(h.sessions.statesOf(ref.instanceId)).toEqual([{ state: 'logged_out', reason: 'api_logout', hasSession: false }]);
    expect(h.factory.opened).toEqual([]);
  });

  it('delete of an instance with a saved session but no socket here: wiped, no state recorded', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('rho-two');
    h.auth.link(ref.instanceId);

    // Act
    await h.command('delete', ref);

    // Assess
    expect(h.auth.isEmpty(ref.instanceId)).toBe(true);
    expect(h.sessions.forgotten).toEqual([ref.instanceId]);
    expect(h.sessions.states).toEqual([]);
  });
});

describe('settings', () => {
  it('keepOnlineStatus switched on for a connected session: presence available at once', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('sigma');
    const conn = await h.connected(ref);
    h.instances.patch('sigma', { settings: { ...defaultSettings, keepOnlineStatus: true } });

    // Act
    await h.command('settings', ref);

    // Assess
    expect(conn.callsOf('sendPresence').map((call) => call.available)).toEqual([false, true]);
  });

  it('a settings change that leaves keepOnlineStatus alone sends no presence', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('tau');
    const conn = await h.connected(ref);
    h.instances.patch('tau', { settings: { ...defaultSettings, autoReadMessages: true } });

    // Act
    await h.command('settings', ref);

    // Assess
    expect(conn.callsOf('sendPresence').map((call) => call.available)).toEqual([false]);
  });
});

describe('incoming calls', () => {
  const CALLER = '5521998877665@s.whatsapp.net';

  it('autoRejectCalls with a message: rejects the call, then sends the message to the caller', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('upsilon', { autoRejectCalls: true, callRejectMessage: 'Não atendemos ligações. Mande uma mensagem!' });
    const conn = await h.connected(ref);

    // Act
    conn.emitCall({ callId: 'CALL-7A1', from: CALLER });
    await flush();

    // Assess
    expect(conn.calls.filter((call) => call.method === 'rejectCall' || call.method === 'sendText')).toEqual([
      { method: 'rejectCall', callId: 'CALL-7A1', from: CALLER },
      { method: 'sendText', toJid: CALLER, text: 'Não atendemos ligações. Mande uma mensagem!' },
    ]);
  });

  it('autoRejectCalls with an empty message: rejects only', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('phi', { autoRejectCalls: true, callRejectMessage: '' });
    const conn = await h.connected(ref);

    // Act
    conn.emitCall({ callId: 'CALL-7A2', from: CALLER });
    await flush();

    // Assess
    expect(conn.callsOf('rejectCall')).toHaveLength(1);
    expect(conn.callsOf('sendText')).toEqual([]);
  });

  it('without autoRejectCalls: nothing is done', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('chi', { autoRejectCalls: false, callRejectMessage: 'Não atendemos ligações.' });
    const conn = await h.connected(ref);

    // Act
    conn.emitCall({ callId: 'CALL-7A3', from: CALLER });
    await flush();

    // Assess
    expect(conn.callsOf('rejectCall')).toEqual([]);
    expect(conn.callsOf('sendText')).toEqual([]);
  });
});

describe('incoming messages', () => {
  const key = (remoteJid: string, fromMe = false) => ({ remoteJid, id: `3EB0${remoteJid.length}C1D2`, fromMe });

  it('autoReadMessages: an inbound 1:1 message is marked read', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('psi', { autoReadMessages: true });
    const conn = await h.connected(ref);
    const inbound = key('5521998877665@s.whatsapp.net');

    // Act
    conn.emitMessage({ key: inbound, text: 'Bom dia!' });
    await flush();

    // Assess
    expect(conn.callsOf('markRead')).toEqual([{ method: 'markRead', keys: [inbound] }]);
  });

  it('autoReadMessages: group messages are read when ignoreGroupMessages is off', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('omega', { autoReadMessages: true, ignoreGroupMessages: false });
    const conn = await h.connected(ref);
    const inbound = { ...key('120363041234567890@g.us'), participant: '5521998877665@s.whatsapp.net' };

    // Act
    conn.emitMessage({ key: inbound, isGroup: true, text: 'Oi, grupo' });
    await flush();

    // Assess
    expect(conn.callsOf('markRead')).toEqual([{ method: 'markRead', keys: [inbound] }]);
  });

  it.each([
    { why: 'sent by this number', settings: { autoReadMessages: true }, message: { key: key('5521998877665@s.whatsapp.net', true) } },
    { why: 'history sync', settings: { autoReadMessages: true }, message: { key: key('5521998877665@s.whatsapp.net'), isHistory: true } },
    { why: 'a group with ignoreGroupMessages', settings: { autoReadMessages: true, ignoreGroupMessages: true }, message: { key: key('120363041234567890@g.us'), isGroup: true } },
    { why: 'a status with ignoreStatus', settings: { autoReadMessages: true, ignoreStatus: true }, message: { key: key('status@broadcast'), isStatus: true } },
    { why: 'autoReadMessages off', settings: { autoReadMessages: false }, message: { key: key('5521998877665@s.whatsapp.net') } },
  ])('is not marked read: $why', async ({ settings, message }) => {
    // Prepare
    const h = setup();
    const ref = h.add('read-skip', settings);
    const conn = await h.connected(ref);

    // Act
    conn.emitMessage(message);
    await flush();

    // Assess
    expect(conn.callsOf('markRead')).toEqual([]);
  });
});

describe('restore and release of a shard', () => {
  it('restore opens every desired session of the shard, one per restoreStaggerMs, reason session_moved', async () => {
    // Prepare
    const h = setup();
    const refs = ['alpha-2', 'beta-2', 'gamma-2'].map((name) => h.add(name, {}, 2));
    for (const ref of refs) h.auth.link(ref.instanceId);
    h.sessions.desired.set(
      2,
      refs.map((ref) => ({ ...ref, shard: 2 })),
    );

    // Act + Assess: staggered, not all at once
    const restoring = h.supervisor.restore(2);
    await flush();
    expect(h.factory.opened).toHaveLength(1);
    await advance(STAGGER_MS - 1);
    expect(h.factory.opened).toHaveLength(1);
    await advance(1);
    expect(h.factory.opened).toHaveLength(2);
    await advance(STAGGER_MS);
    expect(h.factory.opened).toHaveLength(3);
    await advance(STAGGER_MS);
    await restoring;

    // Assess
    expect(h.factory.opened.map((conn) => conn.instanceId)).toEqual(refs.map((ref) => ref.instanceId));
    for (const ref of refs) expect(h.sessions.transitionsOf(ref.instanceId)).toEqual([['connecting', 'session_moved']]);
    for (const ref of refs) expect(h.auth.wipes(ref.instanceId)).toBe(0);
  });

  it('restore stops opening when the shard lease is lost midway', async () => {
    // Prepare
    const h = setup();
    const refs = ['alpha-3', 'beta-3'].map((name) => h.add(name, {}, 3));
    for (const ref of refs) h.auth.link(ref.instanceId);
    h.sessions.desired.set(
      3,
      refs.map((ref) => ({ ...ref, shard: 3 })),
    );

    // Act
    const restoring = h.supervisor.restore(3);
    await flush();
    h.fences.set(3, null);
    await advance(STAGGER_MS * 4);
    await restoring;

    // Assess
    expect(h.factory.opened.map((conn) => conn.instanceId)).toEqual([refs[0]?.instanceId]);
  });

  it("release stops the shard's sockets, keeps their saved sessions, and records no state change", async () => {
    // Prepare
    const h = setup();
    const held = [h.add('alpha-1', {}, 1), h.add('beta-1', {}, 1)];
    const other = h.add('gamma-4', {}, 4);
    const heldConns = [await h.connected(held[0] as InstanceRef), await h.connected(held[1] as InstanceRef)];
    const otherConn = await h.connected(other);
    const statesBefore = h.sessions.states.length;

    // Act: release; then the adapter reports the close that `end()` causes on each stopped socket
    await h.supervisor.release(1);
    for (const conn of heldConns) conn.emitClose(428, 'Connection Terminated');
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess
    expect(heldConns.map((conn) => conn.stopped)).toEqual([true, true]);
    expect(otherConn.live).toBe(true);
    expect(h.sessions.states).toHaveLength(statesBefore);
    expect(h.sessions.forgotten).toEqual([]);
    expect(held.map((ref) => h.auth.isLinked(ref.instanceId))).toEqual([true, true]);
    expect(h.factory.opened).toHaveLength(3);
    expect(h.supervisor.open()).toEqual([other.instanceId]);
  });

  it('release returns only once the messages already received on its sockets are published', async () => {
    // Prepare: message events wait to be published until the test lets them.
    const published: string[] = [];
    let letPublish: () => void = () => undefined;
    const publishing = new Promise<void>((resolve) => (letPublish = resolve));
    const h = setup({
      events: {
        publish: async (record) => {
          if (record.event === 'message.exchange') await publishing;
          published.push(record.event);
        },
      },
      newEventId: () => `evt-${published.length}`,
    });
    const ref = h.add('delta-2', {}, 2);
    const conn = await h.connected(ref);
    conn.emit({
      type: 'message',
      key: { remoteJid: '5521998877665@s.whatsapp.net', id: '3EB0D1', fromMe: false },
      isGroup: false,
      isStatus: false,
      isHistory: false,
      exchange: { id: '3EB0D1', direction: 'incoming' },
      text: 'Bom dia!',
      pushName: null,
    });
    await flush();
    let released = false;

    // Act
    const release = h.supervisor.release(2).then(() => (released = true));
    await flush();
    const releasedBeforePublish = released;
    letPublish();
    await release;

    // Assess
    expect(releasedBeforePublish).toBe(false);
    expect(conn.stopped).toBe(true);
    expect(published).toContain('message.exchange');
  });

  it('events from a replaced socket are ignored', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('stale-a');
    const replaced = await h.connected(ref);
    await h.command('reconnect', ref);
    const current = h.factory.latest(ref.instanceId);
    const statesBefore = h.sessions.states.length;

    // Act: the old socket still talks
    replaced.emitQr('2@stale-ref');
    replaced.emitOpen('5599999999999@s.whatsapp.net', PROFILE);
    replaced.emitClose(440, 'conflict');
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess
    expect(h.sessions.states).toHaveLength(statesBefore);
    expect(h.sessions.linking).toEqual([]);
    expect(h.alarms).toEqual([]);
    expect(current.live).toBe(true);
    expect(h.factory.of(ref.instanceId)).toHaveLength(2);
  });

  it('an event queued before its socket was replaced is dropped when its turn comes', async () => {
    // Prepare: a settings command is busy reading the instance; a reconnect waits behind it
    const h = setup();
    const ref = h.add('stale-b');
    const old = await h.connected(ref);
    const release = h.instances.hold();
    const settings = h.command('settings', ref);
    const reconnect = h.command('reconnect', ref);
    await flush();

    // Act: the old socket drops while it is still the current one, queued behind the reconnect
    old.emitClose(428, 'Connection Terminated');
    await flush();
    release();
    await Promise.all([settings, reconnect]);
    await flush();
    await advance(TEN_MINUTES_MS);

    // Assess: no disconnected state and no backoff reopen for the dropped socket
    expect(h.sessions.transitionsOf(ref.instanceId)).toEqual([
      ['connecting', 'api_reconnect'],
      ['connected', 'connected'],
      ['connecting', 'api_reconnect'],
    ]);
    expect(h.factory.of(ref.instanceId)).toHaveLength(2);
    expect(h.factory.latest(ref.instanceId).live).toBe(true);
  });
});

describe('per-instance serialisation', () => {
  it('a connect issued while the previous open awaits the instance runs after it: never two sockets at once', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('serial-a');
    const release = h.instances.hold();

    // Act
    const first = h.connect(ref, { attemptId: 'attempt-1' });
    await flush();
    const second = h.connect(ref, { attemptId: 'attempt-2' });
    await flush();
    const readsWhileHeld = h.instances.getCalls;
    release();
    await Promise.all([first, second]);
    h.factory.latest(ref.instanceId).emitQr('2@ref-for-second');
    await flush();

    // Assess
    expect(readsWhileHeld).toBe(1);
    const [firstConn, secondConn] = h.factory.of(ref.instanceId);
    expect(firstConn?.stopped).toBe(true);
    expect(secondConn?.live).toBe(true);
    expect(h.factory.maxLive(ref.instanceId)).toBe(1);
    expect(h.sessions.linkingOf(ref.instanceId)).toEqual([
      { attemptId: 'attempt-2', qr: '2@ref-for-second', pairingCode: null, error: null, updatedAt: '2026-04-28T10:30:00Z' },
    ]);
  });

  it('a connect issued while a backoff reopen awaits the instance runs after it', async () => {
    // Prepare
    const h = setup();
    const ref = h.add('serial-b');
    const conn = await h.connected(ref);
    conn.emitClose(428, 'Connection Terminated');
    await flush();
    const release = h.instances.hold();
    await advance(1_000);

    // Act
    const connecting = h.connect(ref, { attemptId: 'attempt-after-drop' });
    await flush();
    release();
    await connecting;
    await flush();
    h.factory.latest(ref.instanceId).emitQr('2@ref-after-drop');
    await flush();

    // Assess: the backoff reopen ran first, then the connect replaced it
    expect(h.sessions.transitionsOf(ref.instanceId).slice(-3)).toEqual([
      ['connecting', 'reconnect'],
      ['connecting', 'api_connect'],
      ['qr_ready', 'api_connect'],
    ]);
    expect(h.factory.of(ref.instanceId)).toHaveLength(3);
    expect(h.factory.maxLive(ref.instanceId)).toBe(1);
    expect(h.factory.of(ref.instanceId).filter((each) => each.live)).toHaveLength(1);
    expect(h.sessions.linkingOf(ref.instanceId)).toEqual([{ attemptId: 'attempt-after-drop', qr: '2@ref-after-drop', pairingCode: null, error: null, updatedAt: '2026-04-28T10:30:01Z' }]);
  });
});
