/**
 * The load side of `npm run bench:send`, in a process of its own (forked by send.bench.ts through
 * bench/load-process.ts, with an IPC channel): what in a real deployment runs on other machines —
 * WhatsApp's edge (the WhatsApp sandbox, whose simulated contacts decrypt every message before
 * WhatsApp's ack goes back) and the customer's HTTP client (every `POST /api/message/text/:instance`
 * of the warm-up, the paced phase and the closed loop). Keeping them out of the stack's process
 * lets the bench measure the API and the runner rather than one event loop shared with its load.
 *
 * Every timestamp is epoch milliseconds with sub-millisecond precision
 * (`performance.timeOrigin + performance.now()`), as in the stack's process, so that the two can
 * be compared.
 *
 * Requests from the parent (`{ id, request }` → `{ id, value }` or `{ id, error }`):
 *   start                                   → { url, rootPublicKey (base64) }
 *   scan { qr }                             → the simulated phone scans a QR the stack showed
 *   target { url, names, tokens, contacts } → where and to whom the sends go (the stack's API)
 *   warmup                                  → one send per (instance, contact), one at a time per instance; Sample[]
 *   paced { rate, duration, maxInFlight }   → PhaseResult, once every request is answered
 *   closed { concurrency, duration }        → PhaseResult, once every request is answered
 *   cpu                                     → CPU seconds of this process
 */
import { startWhatsAppSandbox, type WhatsAppSandbox } from '../local/sandbox/whatsapp-sandbox.ts';
import { serveLoadRequests } from './load-process.ts';

export interface Sample {
  /** When the HTTP request was issued (epoch ms). */
  startedAt: number;
  /** When its answer had been read (epoch ms). */
  answeredAt: number;
  httpStatus: number;
  status: string;
  messageId: string | null;
}

export interface PhaseResult {
  samples: Sample[];
  /** Start and end of the phase (epoch ms): first request issued, last answer read. */
  t0: number;
  endedAt: number;
}

export interface SendTarget {
  /** The stack's API, e.g. http://127.0.0.1:PORT. */
  url: string;
  names: string[];
  tokens: Record<string, string>;
  contacts: string[];
}

export type SendLoadRequest =
  | { type: 'start' }
  | { type: 'scan'; qr: string }
  | ({ type: 'target' } & SendTarget)
  | { type: 'warmup' }
  | { type: 'paced'; rate: number; duration: number; maxInFlight: number }
  | { type: 'closed'; concurrency: number; duration: number }
  | { type: 'cpu' };

/** Epoch milliseconds, sub-millisecond precision. */
const epochNow = () => performance.timeOrigin + performance.now();
const cpuSeconds = () => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
};
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

let sandbox: WhatsAppSandbox | null = null;
let target: SendTarget | null = null;
let sequence = 0;

type Json = Record<string, unknown>;
const sendOne = async (instance: string, contact: string): Promise<Sample> => {
  const { url, tokens } = target as SendTarget;
  const startedAt = epochNow();
  const response = await fetch(`${url}/api/message/text/${instance}`, {
    method: 'POST',
    headers: { token: tokens[instance] as string, 'content-type': 'application/json' },
    body: JSON.stringify({ number: contact, message: `bench ${++sequence}` }),
  });
  const text = await response.text();
  const answeredAt = epochNow();
  let body: Json = {};
  try {
    body = (text ? JSON.parse(text) : {}) as Json;
  } catch {
    body = { status: `unparseable: ${text.slice(0, 80)}` };
  }
  const data = body.data as Json | undefined;
  return {
    startedAt,
    answeredAt,
    httpStatus: response.status,
    status: String(body.status ?? (body.error as Json | undefined)?.message ?? ''),
    messageId: typeof data?.messageId === 'string' ? data.messageId : null,
  };
};

/** Round-robin over instances, then contacts: (instance 1, contact 1), (instance 2, contact 1), … */
const picker = () => {
  const { names, contacts } = target as SendTarget;
  let turn = 0;
  return (): [string, string] => {
    const index = turn++;
    return [names[index % names.length] as string, contacts[Math.floor(index / names.length) % contacts.length] as string];
  };
};

// Paced: one request every 1000/rate ms, whatever the answers; at most maxInFlight in flight.
const paced = async ({ rate, duration, maxInFlight }: Extract<SendLoadRequest, { type: 'paced' }>): Promise<PhaseResult> => {
  const pick = picker();
  const inFlight = new Set<Promise<Sample>>();
  const samples: Sample[] = [];
  const t0 = epochNow();
  const start = performance.now();
  for (let index = 0; index < rate * duration; index++) {
    const due = start + (index * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    if (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    const [instance, contact] = pick();
    const request = sendOne(instance, contact);
    inFlight.add(request);
    void request.then((sample) => (samples.push(sample), inFlight.delete(request)));
  }
  await Promise.all(inFlight);
  return { samples, t0, endedAt: epochNow() };
};

// Closed loop: `concurrency` clients, each sending its next text as soon as the previous one is answered.
const closed = async ({ concurrency, duration }: Extract<SendLoadRequest, { type: 'closed' }>): Promise<PhaseResult> => {
  const pick = picker();
  const samples: Sample[] = [];
  const t0 = epochNow();
  const deadline = performance.now() + duration * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const [instance, contact] = pick();
        samples.push(await sendOne(instance, contact));
      }
    }),
  );
  return { samples, t0, endedAt: epochNow() };
};

const handle = async (request: SendLoadRequest): Promise<unknown> => {
  switch (request.type) {
    case 'start': {
      // Scans only when asked (the parent passes the QR the API returned).
      sandbox = await startWhatsAppSandbox({ scanDelayMs: null, logger: { debug: () => undefined, warn: (obj, msg) => console.warn(`[sandbox] ${msg ?? ''}`, obj) } });
      return { url: sandbox.url, rootPublicKey: Buffer.from(sandbox.rootPublicKey).toString('base64') };
    }
    case 'scan':
      await (sandbox as WhatsAppSandbox).scan(request.qr);
      return true;
    case 'target':
      target = { url: request.url, names: request.names, tokens: request.tokens, contacts: request.contacts };
      return true;
    case 'warmup': {
      const { names, contacts } = target as SendTarget;
      const samples = await Promise.all(
        names.map(async (name) => {
          const own: Sample[] = [];
          for (const contact of contacts) own.push(await sendOne(name, contact));
          return own;
        }),
      );
      return samples.flat();
    }
    case 'paced':
      return paced(request);
    case 'closed':
      return closed(request);
    case 'cpu':
      return cpuSeconds();
  }
};

// When the parent goes away: stop (the sandbox's sockets die with the process).
serveLoadRequests(handle, () => Promise.allSettled([sandbox?.stop()]));
