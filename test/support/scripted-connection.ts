import type {
  WaConnection,
  WaConnectionFactory,
  WaConnectionOptions,
  WaEvent,
  WaMessageKey,
  WaProfile,
} from '../../shared/domain/ports/wa-connection.port.ts';

/**
 * A scriptable in-memory WhatsApp socket for unit tests (ARCHITECTURE §6: "a scriptable
 * in-memory double serves unit tests only"). The test plays WhatsApp: it pushes events into a
 * connection and reads back every call the code under test made on it.
 */

/** Every call made on a connection, in order, with its arguments. */
export type ConnectionCall =
  | { method: 'requestPairingCode'; phoneNumber: string }
  | { method: 'sendPresence'; available: boolean }
  | { method: 'rejectCall'; callId: string; from: string }
  | { method: 'sendText'; toJid: string; text: string }
  | { method: 'markRead'; keys: WaMessageKey[] }
  | { method: 'logout' }
  | { method: 'stop' };

export type ConnectionMethod = ConnectionCall['method'];

export const defaultProfile: Readonly<WaProfile> = Object.freeze({ name: 'Loja Centro', pictureUrl: null, isBusiness: false, businessName: '' });

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

const deferred = <T>(): Deferred<T> => {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A reply nobody asked for must not surface as an unhandled rejection.
  promise.catch(() => undefined);
  return { promise, resolve, reject };
};

export class ScriptedConnection implements WaConnection {
  readonly calls: ConnectionCall[] = [];
  /** `stop()` was called. */
  stopped = false;
  /** `logout()` was called. */
  loggedOut = false;
  /** The connection emitted a `close` event. */
  closed = false;
  private readonly pairingReply = deferred<string>();

  constructor(
    readonly options: WaConnectionOptions,
    /** Position among every connection the factory opened (0-based). */
    readonly index: number,
  ) {}

  get instanceId(): string {
    return this.options.instanceId;
  }

  /** Neither stopped, logged out nor closed: a socket that still holds the number. */
  get live(): boolean {
    return !this.stopped && !this.loggedOut && !this.closed;
  }

  /** The calls made with `method`, in order. */
  callsOf<M extends ConnectionMethod>(method: M): Extract<ConnectionCall, { method: M }>[] {
    return this.calls.filter((call): call is Extract<ConnectionCall, { method: M }> => call.method === method);
  }

  // --- WhatsApp's side, driven by the test -------------------------------------------------

  /** Delivers an event to the code under test, as the adapter would (even after stop: Baileys' `end()` emits a close). */
  emit(event: WaEvent): void {
    if (event.type === 'close') this.closed = true;
    this.options.onEvent(event);
  }

  emitQr(qr: string): void {
    this.emit({ type: 'qr', qr });
  }

  emitOpen(jid: string, profile: WaProfile = defaultProfile): void {
    this.emit({ type: 'open', jid, profile });
  }

  emitClose(code: number, message = `Connection closed (${code})`): void {
    this.emit({ type: 'close', code, message });
  }

  emitCall(call: { callId: string; from: string; status?: string }): void {
    this.emit({ type: 'call', callId: call.callId, from: call.from, status: call.status ?? 'offer', isVideo: false, isGroup: false, timestamp: '2026-11-25T10:00:00Z' });
  }

  emitMessage(message: {
    key: WaMessageKey;
    isGroup?: boolean;
    isStatus?: boolean;
    isHistory?: boolean;
    text?: string | null;
    pushName?: string | null;
  }): void {
    this.emit({
      type: 'message',
      key: message.key,
      isGroup: message.isGroup ?? false,
      isStatus: message.isStatus ?? false,
      isHistory: message.isHistory ?? false,
      exchange: null,
      text: message.text ?? null,
      pushName: message.pushName ?? null,
    });
  }

  /** Answers every `requestPairingCode` call, made or still to come, with `code`. */
  resolvePairingCode(code: string): void {
    this.pairingReply.resolve(code);
  }

  /** Fails every `requestPairingCode` call, made or still to come, with `error`. */
  rejectPairingCode(error: unknown): void {
    this.pairingReply.reject(error);
  }

  // --- WaConnection ------------------------------------------------------------------------

  requestPairingCode(phoneNumber: string): Promise<string> {
    this.calls.push({ method: 'requestPairingCode', phoneNumber });
    return this.pairingReply.promise;
  }

  async sendPresence(available: boolean): Promise<void> {
    this.calls.push({ method: 'sendPresence', available });
  }

  async rejectCall(callId: string, from: string): Promise<void> {
    this.calls.push({ method: 'rejectCall', callId, from });
  }

  async sendText(toJid: string, text: string): Promise<string> {
    this.calls.push({ method: 'sendText', toJid, text });
    return `3EB0${String(this.calls.length).padStart(16, '0')}`;
  }

  async markRead(keys: WaMessageKey[]): Promise<void> {
    this.calls.push({ method: 'markRead', keys });
  }

  async logout(): Promise<void> {
    this.calls.push({ method: 'logout' });
    this.loggedOut = true;
  }

  stop(): void {
    this.calls.push({ method: 'stop' });
    this.stopped = true;
  }
}

/** Records every `open` (with its options) and the connection it returned. */
export class ScriptedConnectionFactory implements WaConnectionFactory {
  readonly opened: ScriptedConnection[] = [];
  private readonly maxLiveByInstance = new Map<string, number>();

  open(options: WaConnectionOptions): ScriptedConnection {
    const connection = new ScriptedConnection(options, this.opened.length);
    this.opened.push(connection);
    const live = this.of(options.instanceId).filter((each) => each.live).length;
    this.maxLiveByInstance.set(options.instanceId, Math.max(live, this.maxLiveByInstance.get(options.instanceId) ?? 0));
    return connection;
  }

  /** The connections opened for one instance, oldest first. */
  of(instanceId: string): ScriptedConnection[] {
    return this.opened.filter((connection) => connection.instanceId === instanceId);
  }

  /** The newest connection of an instance; throws when none was opened. */
  latest(instanceId: string): ScriptedConnection {
    const connection = this.of(instanceId).at(-1);
    if (!connection) throw new Error(`no connection was opened for ${instanceId}`);
    return connection;
  }

  /** The most connections of one instance that were live at the same time (at each `open`). */
  maxLive(instanceId: string): number {
    return this.maxLiveByInstance.get(instanceId) ?? 0;
  }
}
