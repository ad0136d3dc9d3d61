/**
 * The load side of `npm run bench:events`, in a process of its own (forked by events.bench.ts with
 * an IPC channel): what in a real deployment runs on other machines — WhatsApp's edge (the
 * WhatsApp sandbox, which encrypts every injected message with libsignal), the contacts that send
 * (the injector) and the customer's webhook receiver. Keeping them out of the stack's process lets
 * the bench measure the pipeline rather than one thread shared with its own load generator.
 *
 * Requests from the parent (`{ id, request }` → `{ id, value }` or `{ id, error }`):
 *   start                                   → { url, rootPublicKey (base64), hookUrl }
 *   scan { qr }                             → the simulated phone scans a QR the stack showed
 *   warmup { numbers, senders }             → one message per (sender, instance); ids
 *   seen { ids }                            → how many of `ids` the receiver got (message.exchange, incoming)
 *   inject { rate, duration, numbers, senders, maxInFlight } → injection figures, once done
 *   progress                                → distinct injected message ids received so far
 *   results                                 → every arrival and every injected id with its call time
 *   cpu                                     → CPU seconds of this process
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startWhatsAppSandbox, type WhatsAppSandbox } from '../local/sandbox/whatsapp-sandbox.ts';
import { serveLoadRequests } from './load-process.ts';

export interface Arrival {
  /** Envelope id (ULID, stable across retries). */
  id: string;
  event: string;
  /** The sandbox message id, for message.exchange. */
  messageId: string | null;
  direction: string | null;
  /** Envelope `timestamp`, ms since the epoch. */
  timestamp: number;
  /** Date.now() when the body was read. */
  arrivedAt: number;
}

export interface InjectionFigures {
  calls: number;
  resolved: number;
  failures: number;
  firstFailure: string;
  maxSeenInFlight: number;
  throttled: number;
  injectedPerSecond: number[];
  t0: number;
  endedAt: number;
  /** CPU seconds of this process during the injection window (sandbox encryption, injector, receiver). */
  cpuSeconds: number;
}

export type LoadRequest =
  | { type: 'start' }
  | { type: 'scan'; qr: string }
  | { type: 'warmup'; numbers: string[]; senders: string[] }
  | { type: 'seen'; ids: string[] }
  | { type: 'inject'; rate: number; duration: number; numbers: string[]; senders: string[]; maxInFlight: number }
  | { type: 'progress' }
  | { type: 'results' }
  | { type: 'cpu' };

const cpuSeconds = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const arrivals: Arrival[] = [];
/** Incoming message.exchange ids received (first arrival only). */
const received = new Set<string>();
const injected = new Map<string, number>();
let sandbox: WhatsAppSandbox | null = null;
let receiver: Server | null = null;

const startReceiver = async (): Promise<Server> => {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const arrivedAt = Date.now();
      res.writeHead(200).end();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          id?: string;
          event?: string;
          timestamp?: string;
          data?: { message?: { id?: string; direction?: string } };
        };
        const arrival: Arrival = {
          id: String(body.id),
          event: String(body.event),
          messageId: body.data?.message?.id ?? null,
          direction: body.data?.message?.direction ?? null,
          timestamp: Date.parse(String(body.timestamp)),
          arrivedAt,
        };
        arrivals.push(arrival);
        if (arrival.event === 'message.exchange' && arrival.direction === 'incoming' && arrival.messageId) received.add(arrival.messageId);
      } catch {
        arrivals.push({ id: 'unparseable', event: 'unparseable', messageId: null, direction: null, timestamp: NaN, arrivedAt });
      }
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
};

const inject = async (request: Extract<LoadRequest, { type: 'inject' }>): Promise<InjectionFigures> => {
  const live = sandbox as WhatsAppSandbox;
  const { rate, duration, numbers, senders, maxInFlight } = request;
  let failures = 0;
  let firstFailure = '';
  let inFlight = 0;
  let maxSeenInFlight = 0;
  let calls = 0;
  let throttled = 0;
  const injectedPerSecond = new Array<number>(duration).fill(0);
  const cpuBefore = cpuSeconds();
  const t0 = Date.now();
  const end = t0 + duration * 1000;
  while (Date.now() < end) {
    const due = Math.floor(((Date.now() - t0) / 1000) * rate);
    while (calls < due && inFlight < maxInFlight) {
      const toNumber = numbers[calls % numbers.length] as string;
      const fromNumber = senders[Math.floor(calls / numbers.length) % senders.length] as string;
      const calledAt = Date.now();
      calls += 1;
      inFlight += 1;
      maxSeenInFlight = Math.max(maxSeenInFlight, inFlight);
      live
        .sendText({ toNumber, fromNumber, text: `bench ${calls}` })
        .then((id) => {
          injected.set(id, calledAt);
          const second = Math.floor((Date.now() - t0) / 1000);
          if (second < duration) injectedPerSecond[second] = (injectedPerSecond[second] ?? 0) + 1;
        })
        .catch((error: unknown) => {
          failures += 1;
          if (!firstFailure) firstFailure = error instanceof Error ? error.message : String(error);
        })
        .finally(() => (inFlight -= 1));
    }
    if (calls < due) throttled += 1;
    await sleep(5);
  }
  const endedAt = Date.now();
  while (inFlight > 0) await sleep(10);
  return { calls, resolved: injected.size, failures, firstFailure, maxSeenInFlight, throttled, injectedPerSecond, t0, endedAt, cpuSeconds: cpuSeconds() - cpuBefore };
};

const handle = async (request: LoadRequest): Promise<unknown> => {
  switch (request.type) {
    case 'start': {
      // Scans only when asked (the parent passes the QR the API returned).
      sandbox = await startWhatsAppSandbox({ scanDelayMs: null, logger: { debug: () => undefined, warn: (obj, msg) => console.warn(`[sandbox] ${msg ?? ''}`, obj) } });
      receiver = await startReceiver();
      return {
        url: sandbox.url,
        rootPublicKey: Buffer.from(sandbox.rootPublicKey).toString('base64'),
        hookUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
      };
    }
    case 'scan':
      await (sandbox as WhatsAppSandbox).scan(request.qr);
      return true;
    case 'warmup': {
      const ids: string[] = [];
      for (let index = 0; index < request.senders.length; index += 20) {
        const batch = request.senders.slice(index, index + 20);
        ids.push(
          ...(await Promise.all(
            batch.flatMap((fromNumber) => request.numbers.map((toNumber) => (sandbox as WhatsAppSandbox).sendText({ toNumber, fromNumber, text: 'warm-up' }))),
          )),
        );
      }
      return ids;
    }
    case 'seen':
      return request.ids.filter((id) => received.has(id)).length;
    case 'inject':
      return inject(request);
    case 'progress': {
      let count = 0;
      for (const id of injected.keys()) if (received.has(id)) count += 1;
      return count;
    }
    case 'results':
      return { arrivals, injected: [...injected] };
    case 'cpu':
      return cpuSeconds();
  }
};

// When the parent goes away: stop (the sandbox's sockets and the receiver die with the process).
serveLoadRequests(handle, () => Promise.allSettled([sandbox?.stop(), new Promise((resolve) => (receiver ? receiver.close(resolve) : resolve(null)))]));
