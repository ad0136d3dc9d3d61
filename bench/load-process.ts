/**
 * Both sides of a bench's load process (bench/events-load.ts, bench/send-load.ts): what runs
 * elsewhere in a deployment (the WhatsApp sandbox, the customer's client), forked with tsx and an
 * IPC channel so that it does not share the stack's event loop. The parent calls
 * `startLoadProcess`, the child `serveLoadRequests`.
 *
 * Protocol: the child sends one message when it is ready, then answers each `{ id, request }` with
 * `{ id, value }` or `{ id, error }`. `stop()` disconnects (the child stops on 'disconnect') and
 * kills it after 5 s if it is still there.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface LoadProcess<Request> {
  ask<T>(request: Request): Promise<T>;
  pid: number;
  stop(): Promise<void>;
}

/**
 * The child side: answers each request with `handle` (its value, or its error's message), and
 * when the parent goes away (disconnect) awaits `stop` and exits 0. Tells the parent it is ready:
 * call it last, once the module is set up.
 */
export const serveLoadRequests = <Request>(handle: (request: Request) => Promise<unknown>, stop: () => Promise<unknown>): void => {
  process.on('message', (message: { id: number; request: Request }) => {
    handle(message.request).then(
      (value) => process.send?.({ id: message.id, value }),
      (error: unknown) => process.send?.({ id: message.id, error: error instanceof Error ? error.message : String(error) }),
    );
  });
  process.on('disconnect', () => {
    void stop().finally(() => process.exit(0));
  });
  process.send?.({ ready: true });
};

/** Forks `script` (a URL, e.g. `new URL('./events-load.ts', import.meta.url)`) and waits until it is ready. */
export const startLoadProcess = async <Request>(script: URL): Promise<LoadProcess<Request>> => {
  const child = fork(fileURLToPath(script), [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 0;
  const ready = new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', (code) => reject(new Error(`load process exited with code ${code}`)));
  });
  child.on('message', (message: { id?: number; value?: unknown; error?: string }) => {
    if (message.id === undefined) return;
    const waiter = pending.get(message.id);
    pending.delete(message.id);
    if (message.error !== undefined) waiter?.reject(new Error(message.error));
    else waiter?.resolve(message.value);
  });
  void exited.then(() => {
    for (const waiter of pending.values()) waiter.reject(new Error('load process exited'));
    pending.clear();
  });
  await ready;
  return {
    pid: child.pid as number,
    ask: <T>(request: Request) =>
      new Promise<T>((resolve, reject) => {
        const id = nextId++;
        pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
        child.send({ id, request }, (error) => error && reject(error));
      }),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      if (child.connected) child.disconnect();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
};
