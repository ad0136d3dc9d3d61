/**
 * Write-behind of Baileys' Signal-key commits, made safe by a barrier on the socket's outgoing
 * frames (BENCHMARKS.md "Events").
 *
 * Baileys decrypts one message at a time per socket and awaits the key commit before it sends the
 * receipt and decrypts the next one, so a socket handled about one message per DynamoDB round
 * trip. Here the key store answers at once and commits in the background (coalesced: the writes
 * made while a commit is in flight go together in the next one), and:
 *
 * - `gateOutgoingFrames` holds every frame the socket sends (receipts first of all) while a key
 *   write made before it is not durable yet; frames leave in their order once it is. WhatsApp
 *   therefore never learns that a message was received before the ratchet state that decrypted
 *   it is stored: after a crash it delivers the message again, as before. A commit that fails
 *   drops the held frames and ends the socket (the supervisor reconnects; nothing was acknowledged).
 * - reads of a key whose write is not durable yet are served from the pending write, never from
 *   the table (which would be older);
 * - `pauseReadingWhenBacklogged` stops reading the socket while too many messages wait to be
 *   decrypted or to have their frames released, so decrypting never monopolises the thread
 *   (keep-alives and the rest of the runner keep running) and the backlog stays in TCP.
 */

/** The writes of a store not durable yet, for the socket's barrier. */
export interface KeyWritesDurability {
  /** Resolves once every key write made so far is durable; rejects when one failed; null when none is pending. */
  durable(): Promise<void> | null;
}

/** Where the auth state exposes its durability to the connection adapter (on `state.keys`). */
export const keyWritesDurability = Symbol('zapfleet.keyWritesDurability');

export const durabilityOf = (keys: unknown): KeyWritesDurability | null =>
  ((keys as { [keyWritesDurability]?: KeyWritesDurability } | null | undefined)?.[keyWritesDurability] ?? null);

export interface WriteBehind<W> extends KeyWritesDurability {
  /** Queues writes and returns at once; a later write of a key replaces an earlier one not yet sent. Throws once a commit failed. */
  add(writes: readonly W[]): void;
  /** The latest write of `key` that is not durable yet (queued or being committed). */
  pending(key: string): W | undefined;
  /** Resolves when nothing is queued or being committed (whatever the outcome). */
  settled(): Promise<void>;
}

export interface WriteBehindOptions<W> {
  keyOf(write: W): string;
  /** Writes a batch durably, in order; rejects when it could not (nothing more is written then). */
  commit(writes: W[]): Promise<void>;
  /** Waits before a commit starts, so writes of the same turn go together (default: setImmediate). */
  defer?: (run: () => void) => void;
}

export const createWriteBehind = <W>(options: WriteBehindOptions<W>): WriteBehind<W> => {
  const defer = options.defer ?? ((run: () => void) => void setImmediate(run));
  let queued = new Map<string, W>();
  let committing = new Map<string, W>();
  /** Writes are numbered by `add` call; `durableUpTo` is the last call whose writes are all stored. */
  let added = 0;
  let durableUpTo = 0;
  let failure: { error: unknown } | null = null;
  let running: Promise<void> | null = null;
  let scheduled = false;
  let waiters: { upTo: number; resolve: () => void; reject: (error: unknown) => void }[] = [];
  let shared: { upTo: number; promise: Promise<void> } | null = null;
  let settledWaiters: (() => void)[] = [];

  const settle = () => {
    const ready = waiters.filter((waiter) => waiter.upTo <= durableUpTo);
    waiters = waiters.filter((waiter) => waiter.upTo > durableUpTo);
    for (const waiter of ready) waiter.resolve();
  };

  const idle = () => {
    if (running || scheduled || queued.size > 0) return;
    const done = settledWaiters;
    settledWaiters = [];
    for (const resolve of done) resolve();
  };

  const flush = async (): Promise<void> => {
    while (queued.size > 0 && !failure) {
      committing = queued;
      queued = new Map();
      const upTo = added;
      try {
        await options.commit([...committing.values()]);
      } catch (error) {
        failure = { error };
        committing = new Map();
        for (const waiter of waiters) waiter.reject(error);
        waiters = [];
        // Writes queued meanwhile are never written: the socket ends, nothing after this was acknowledged.
        queued = new Map();
        return;
      }
      committing = new Map();
      durableUpTo = upTo;
      settle();
    }
  };

  const start = () => {
    if (scheduled || running) return;
    scheduled = true;
    defer(() => {
      scheduled = false;
      running = flush().finally(() => {
        running = null;
        if (queued.size > 0 && !failure) start();
        else idle();
      });
    });
  };

  return {
    add(writes) {
      if (failure) throw failure.error;
      if (writes.length === 0) return;
      for (const write of writes) {
        const key = options.keyOf(write);
        queued.delete(key);
        queued.set(key, write);
      }
      added += 1;
      start();
    },
    pending: (key) => queued.get(key) ?? committing.get(key),
    durable() {
      if (failure) return Promise.reject(failure.error);
      if (durableUpTo === added) return null;
      if (shared?.upTo === added) return shared.promise;
      const upTo = added;
      const promise = new Promise<void>((resolve, reject) => waiters.push({ upTo, resolve, reject }));
      // Callers that drop it (a socket that ended) must not make an unhandled rejection.
      promise.catch(() => undefined);
      shared = { upTo, promise };
      return promise;
    },
    settled() {
      if (!running && !scheduled && queued.size === 0) return Promise.resolve();
      return new Promise((resolve) => settledWaiters.push(resolve));
    },
  };
};

/** The part of a `ws` WebSocket the gate and the back-pressure use. */
export interface FrameSocket {
  send(data: unknown, optionsOrCallback?: unknown, callback?: (error?: Error) => void): void;
  pause?(): void;
  resume?(): void;
}

export interface FrameGate {
  /** Frames accepted and not yet handed to the socket. */
  held(): number;
}

/**
 * Makes `socket.send` hold each frame until `durability.durable()` (as it was when the frame was
 * sent) resolves; frames leave in order. The sender's callback is called once the frame is
 * accepted, so Baileys goes on decrypting meanwhile. When a wait rejects, the held frames are
 * dropped and `onFailure` is called once.
 */
export const gateOutgoingFrames = (
  socket: FrameSocket,
  durability: KeyWritesDurability,
  onFailure: (error: unknown) => void,
  /** Called after held frames were released (the back-pressure re-evaluates). */
  afterRelease?: () => void,
): FrameGate => {
  const original = socket.send.bind(socket);
  const queue: { data: unknown; options: unknown; wait: Promise<void> | null }[] = [];
  let draining = false;
  let failed = false;

  const pass = (data: unknown, options: unknown, callback?: (error?: Error) => void) => {
    try {
      if (options === undefined) original(data, callback);
      else original(data, options, callback);
    } catch (error) {
      // A socket that is closing: the close is reported through its own events.
      callback?.(error as Error);
    }
  };

  const drain = async () => {
    if (draining) return;
    draining = true;
    try {
      while (queue.length > 0 && !failed) {
        const head = queue[0] as (typeof queue)[number];
        if (head.wait) {
          try {
            await head.wait;
          } catch (error) {
            failed = true;
            queue.length = 0;
            onFailure(error);
            return;
          }
        }
        queue.shift();
        pass(head.data, head.options);
      }
    } finally {
      draining = false;
      afterRelease?.();
    }
  };

  socket.send = (data: unknown, optionsOrCallback?: unknown, maybeCallback?: (error?: Error) => void) => {
    const callback = typeof optionsOrCallback === 'function' ? (optionsOrCallback as (error?: Error) => void) : maybeCallback;
    const options = typeof optionsOrCallback === 'function' ? undefined : optionsOrCallback;
    if (failed) {
      callback?.(new Error('socket ended: a key write failed'));
      return;
    }
    const wait = durability.durable();
    if (wait === null && queue.length === 0) {
      pass(data, options, callback);
      return;
    }
    queue.push({ data, options, wait });
    if (callback) process.nextTick(callback);
    void drain();
  };
  return { held: () => queue.length };
};

export interface Backpressure {
  /** Messages inside or waiting for the socket's message mutex. */
  depth(): number;
  paused(): boolean;
  /** Re-evaluates (after frames were released, for instance). */
  check(): void;
}

/**
 * Counts the work queued on a Baileys mutex (`{ mutex(code) }`, e.g. `sock.messageMutex`) plus
 * `extra()` (held frames), and pauses reading the socket while it is at or above `high`; reading
 * resumes at or below `low`. A pause never lasts longer than `maxPauseMs` without progress (the
 * backlog coming down): a message whose handling waits for an answer of the server (a query) must
 * be able to read it, so then reading resumes and is not paused again until the backlog is at `low`.
 */
export const pauseReadingWhenBacklogged = (
  mutex: { mutex<T>(code: () => Promise<T> | T): Promise<T> },
  socket: Pick<FrameSocket, 'pause' | 'resume'>,
  options: { high: number; low: number; extra?: () => number; maxPauseMs?: number },
): Backpressure => {
  const maxPauseMs = options.maxPauseMs ?? 1_000;
  let depth = 0;
  let paused = false;
  /** A pause ran out: no new pause before the backlog is back at `low`. */
  let overridden = false;
  let timer: NodeJS.Timeout | null = null;
  /** While paused: when the backlog last came down, and its value then. */
  let progressAt = 0;
  let lastBacklog = 0;
  const pollMs = Math.max(1, Math.min(20, Math.floor(maxPauseMs / 4)));
  const backlog = () => depth + (options.extra?.() ?? 0);
  const resume = () => {
    paused = false;
    if (timer) clearInterval(timer);
    timer = null;
    socket.resume?.();
  };
  const check = () => {
    const current = backlog();
    if (current <= options.low) overridden = false;
    if (paused && current < lastBacklog) progressAt = Date.now();
    lastBacklog = current;
    if (!paused && !overridden && current >= options.high) {
      paused = true;
      socket.pause?.();
      progressAt = Date.now();
      lastBacklog = current;
      // `extra()` may come down without any event here: look again every few ms while paused.
      timer = setInterval(() => {
        if (Date.now() - progressAt >= maxPauseMs) {
          overridden = true;
          resume();
        } else check();
      }, pollMs);
      timer.unref?.();
    } else if (paused && current <= options.low) {
      resume();
    }
  };
  const original = mutex.mutex.bind(mutex);
  mutex.mutex = <T>(code: () => Promise<T> | T): Promise<T> => {
    depth += 1;
    check();
    const result = original(code);
    const done = () => {
      depth -= 1;
      check();
    };
    result.then(done, done);
    return result;
  };
  return { depth: () => depth, paused: () => paused, check };
};

/** Back-pressure thresholds: messages being decrypted or waiting, plus frames held (per socket). */
export const backlogLimits = { high: 128, low: 32 };

/**
 * Arms a Baileys socket whose auth state writes keys behind: gates its outgoing frames on the key
 * writes and pauses reading while its backlog is high. Throws when the socket's internals are not
 * where Baileys 7.0.0-rc14 keeps them (an upgrade must not silently lose the barrier).
 */
export const armWriteBehind = (
  sock: { ws: unknown; messageMutex?: unknown },
  durability: KeyWritesDurability,
  onFailure: (error: unknown) => void,
  /** The runner's own backlog of this connection's events (WaConnectionOptions.backlog). */
  runnerBacklog: () => number = () => 0,
  limits: { high: number; low: number } = backlogLimits,
): { gate: FrameGate; backpressure: Backpressure } => {
  const socket = (sock.ws as { socket?: FrameSocket | null }).socket;
  const mutex = sock.messageMutex as { mutex?: unknown } | undefined;
  if (!socket || typeof socket.send !== 'function' || typeof mutex?.mutex !== 'function') {
    throw new Error('write-behind: the Baileys socket has no ws.socket.send or messageMutex (Baileys upgraded?)');
  }
  let backpressure: Backpressure | null = null;
  const gate = gateOutgoingFrames(socket, durability, onFailure, () => backpressure?.check());
  backpressure = pauseReadingWhenBacklogged(mutex as Parameters<typeof pauseReadingWhenBacklogged>[0], socket, {
    ...limits,
    extra: () => gate.held() + runnerBacklog(),
  });
  return { gate, backpressure };
};
