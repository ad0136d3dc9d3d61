import {
  makeWASocket,
  initAuthCreds,
  type AuthenticationState,
  type ConnectionState,
  type SignalDataSet,
  type SignalDataTypeMap,
  type SignalKeyStore,
  type UserFacingSocketConfig,
  type WASocket,
} from '@whiskeysockets/baileys';
import type { ILogger } from '@whiskeysockets/baileys/lib/Utils/logger.js';

/** Test doubles around unmodified Baileys: an in-memory auth state and a silent logger. */

export interface MemoryAuth {
  state: AuthenticationState;
  /** How many key entries are stored per type (e.g. `pre-key`), for assertions. */
  count(type: keyof SignalDataTypeMap): number;
}

/** Auth state kept in Maps: enough for one test process; the fleet's store is DynamoDB. */
export function memoryAuthState(): MemoryAuth {
  const data = new Map<string, Map<string, unknown>>();
  const bucket = (type: string) => {
    let b = data.get(type);
    if (!b) {
      b = new Map();
      data.set(type, b);
    }
    return b;
  };
  const keys: SignalKeyStore = {
    get: (type, ids) => {
      const b = bucket(type);
      const out: { [id: string]: SignalDataTypeMap[typeof type] } = {};
      for (const id of ids) {
        const value = b.get(id);
        if (value !== undefined) out[id] = value as SignalDataTypeMap[typeof type];
      }
      return out;
    },
    set: (set: SignalDataSet) => {
      for (const [type, entries] of Object.entries(set)) {
        const b = bucket(type);
        for (const [id, value] of Object.entries(entries ?? {})) {
          if (value === null || value === undefined) b.delete(id);
          else b.set(id, value);
        }
      }
    },
  };
  return { state: { creds: initAuthCreds(), keys }, count: (type) => bucket(type).size };
}

const noop = () => undefined;
/** SANDBOX_DEBUG=1 shows Baileys' warnings and errors, which is where a protocol gap shows up. */
const report = process.env.SANDBOX_DEBUG ? (obj: unknown, msg?: string) => console.log('[baileys]', msg, obj) : noop;
export const silentLogger: ILogger = {
  level: 'silent',
  child: () => silentLogger,
  trace: noop,
  debug: noop,
  info: noop,
  warn: report,
  error: report,
};

export interface TestSocket {
  sock: WASocket;
  /** Every connection.update, in order. */
  updates: Partial<ConnectionState>[];
  /** Resolves with the first update matching the predicate (already seen ones count). */
  until(predicate: (update: Partial<ConnectionState>) => boolean, timeoutMs?: number): Promise<Partial<ConnectionState>>;
  closeCode(): number | undefined;
}

/** Starts Baileys against the sandbox with the options the adapter is expected to use. */
export function connect(url: string, auth: MemoryAuth, extra: Partial<UserFacingSocketConfig> = {}): TestSocket {
  const sock = makeWASocket({
    waWebSocketUrl: url,
    auth: auth.state,
    logger: silentLogger,
    printQRInTerminal: false,
    markOnlineOnConnect: false,
    // Without history sync Baileys goes online right after <ib><offline/>; with it, it buffers
    // events for up to 20 s waiting for a history notification the sandbox never sends.
    shouldSyncHistoryMessage: () => false,
    ...extra,
  });
  const updates: Partial<ConnectionState>[] = [];
  const listeners = new Set<() => void>();
  sock.ev.on('connection.update', (update) => {
    updates.push(update);
    for (const listener of listeners) listener();
  });
  sock.ev.on('creds.update', noop);
  const until: TestSocket['until'] = (predicate, timeoutMs = 20_000) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = updates.find(predicate);
        if (!found) return false;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`connection.update not seen within ${timeoutMs} ms: ${JSON.stringify(updates.map(summary))}`));
      }, timeoutMs);
      if (!check()) listeners.add(check);
    });
  const closeCode = () => {
    const close = updates.find((u) => u.connection === 'close');
    return (close?.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode;
  };
  return { sock, updates, until, closeCode };
}

const summary = (u: Partial<ConnectionState>) => ({
  connection: u.connection,
  qr: u.qr ? 'yes' : undefined,
  code: (u.lastDisconnect?.error as { output?: { statusCode?: number } } | undefined)?.output?.statusCode,
});
