import { STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { AppDeps } from '../../functions/deps.ts';
import { renderRefusal } from '../../functions/events/websocket.handlers.ts';
import type { RateWindow } from '../../shared/domain/auth/principal.ts';
import { windowStart } from '../../shared/domain/auth/principal.ts';
import { envelopeOf, wants, type EventRecord } from '../../shared/domain/events/event.ts';
import type { MediaDelivery } from '../../shared/domain/events/media.ts';
import type { Logger } from '../../shared/domain/ports/runtime.port.ts';
import type { StreamControl } from '../../shared/domain/ports/stream-control.port.ts';
import { countAnonymous } from '../../shared/domain/use-cases/authorize.use-case.ts';
import {
  admitWebsocket,
  maxWebsocketConnections,
  streamData,
  streamTargetOf,
  type StreamTarget,
} from '../../shared/domain/use-cases/websocket.use-cases.ts';
import { corsHeaders, errorBody, preflightHeaders, rateHeaders } from '../../shared/http/responses.ts';

export interface WsHubOptions {
  deps: AppDeps;
  logger: Logger;
  /** `<BASE_URL>`: `instanceData.baseUrl` of every frame (a function when known only once the server listens). */
  baseUrl: string | (() => string);
  /** RFC 6455 ping period; a client that has not answered the previous ping is terminated (default 30 s). */
  heartbeatMs?: number;
  /** How long an instance's configuration and token are reused (default 2 s): changes apply within that. */
  configTtlMs?: number;
  /** Every connection is closed with 1001 after this long (default 2 h). */
  maxLifetimeMs?: number;
  /** A client this far behind is closed with 1008 `Client too slow` (default 8 MiB). */
  maxBufferedBytes?: number;
  now?: () => number;
  /** Turns stored media into `s3Url` (and `base64`) when a frame is sent (shared/domain/events/media.ts). */
  media?: MediaDelivery;
}

/**
 * Also the embedded stack's `StreamControl`: instance deletion and TokenAccount rotation close
 * the connections they concern at once (1008 `Instance deleted` / `Token revoked`).
 */
export interface WsHub extends StreamControl {
  /** Serves `/ws/:instance` on the server: upgrades, and the plain requests that get 426/405. */
  attach(server: Server): void;
  /** Sends the event to the instance's open connections, if its current configuration wants it. */
  broadcast(record: EventRecord): void;
  /** Closes every connection of the instance (e.g. 1008 `Instance deleted`). */
  closeInstance(instanceId: string, code: number, reason: string): void;
  /** Open connections, of one instance or in total. */
  connectionCount(instanceId?: string): number;
  /** Closes every connection with 1001 and stops the heartbeat. */
  close(): Promise<void>;
}

interface Connection {
  socket: WebSocket;
  instanceId: string;
  accountId: string;
  instanceName: string;
  /** The kind of token that opened the connection, and its keyed hash. */
  tokenKind: 'account' | 'instance';
  tokenHash: string;
  alive: boolean;
  openedAt: number;
}

type Admitted = Pick<Connection, 'instanceId' | 'accountId' | 'instanceName' | 'tokenKind' | 'tokenHash'>;

/** How long a deletion or rotation is remembered for upgrades admitted just before it. */
const revocationMemoryMs = 60_000;

const wsPath = /^\/ws\/([^/]*)$/;

const decodeSegment = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
};

const lowerCaseHeaders = (req: IncomingMessage): Record<string, string> => {
  const result: Record<string, string> = {};
  for (const [key, value] of Object.entries(req.headers)) if (value !== undefined) result[key.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  return result;
};

/** RFC 6455 §4.2.1: what `ws` itself requires before it completes a handshake. */
const isWebSocketUpgrade = (req: IncomingMessage): boolean =>
  req.method === 'GET' &&
  (req.headers.upgrade ?? '').toLowerCase() === 'websocket' &&
  /^[+/0-9A-Za-z]{22}==$/.test(req.headers['sec-websocket-key'] ?? '') &&
  req.headers['sec-websocket-version'] === '13';

/**
 * The embedded stack's WebSocket stream (spec §3.7) with `ws`. Pre-upgrade checks are the shared
 * `admitWebsocket` use case; refusals are ordinary HTTP responses in the error envelope with the
 * rate-limit headers. Events are sent live only (at most once): nothing is buffered for absent
 * clients, and frames of one instance leave in the order `broadcast` was called.
 */
export const createWsHub = ({ deps, logger, baseUrl, ...options }: WsHubOptions): WsHub => {
  const heartbeatMs = options.heartbeatMs ?? 30_000;
  const configTtlMs = options.configTtlMs ?? 2_000;
  const maxLifetimeMs = options.maxLifetimeMs ?? 2 * 60 * 60 * 1000;
  const maxBufferedBytes = options.maxBufferedBytes ?? 8 * 1024 * 1024;
  const now = options.now ?? Date.now;

  // Client frames are only `ping` or ignored: a small limit keeps a client from sending megabytes.
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096, clientTracking: false });
  const byInstance = new Map<string, Set<Connection>>();
  /** Slots taken by upgrades that passed the checks and are completing their handshake. */
  const pending = new Map<string, number>();
  const upgradeHeaders = new WeakMap<IncomingMessage, Record<string, string>>();
  const targets = new Map<string, { at: number; target: Promise<StreamTarget | null> }>();
  const chains = new Map<string, Promise<void>>();
  /** Recently deleted instance ids, and the current TokenAccount hash of recently rotated accounts, with when. */
  const deletedInstances = new Map<string, number>();
  const rotatedAccounts = new Map<string, { currentTokenHash: string; at: number }>();

  wss.on('headers', (headers, req) => {
    for (const [key, value] of Object.entries(upgradeHeaders.get(req) ?? {})) headers.push(`${key}: ${value}`);
  });

  const openCount = (instanceId: string) => (byInstance.get(instanceId)?.size ?? 0) + (pending.get(instanceId) ?? 0);
  const release = (instanceId: string) => {
    const left = (pending.get(instanceId) ?? 1) - 1;
    if (left > 0) pending.set(instanceId, left);
    else pending.delete(instanceId);
  };

  const responseHeaders = (requestId: string, rate: RateWindow | null, origin: string | undefined): Record<string, string> => ({
    'X-Request-Id': requestId,
    ...rateHeaders(rate, Math.floor(deps.clock.now().getTime() / 1000)),
    ...corsHeaders(deps.cors, origin),
  });

  const writeRaw = (socket: Duplex, status: number, headers: Record<string, string>, message: string) => {
    const body = JSON.stringify(errorBody(message));
    const head = [
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
      'Connection: close',
      'Content-Type: application/json; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      ...Object.entries(headers).map(([key, value]) => `${key}: ${value}`),
    ];
    if (socket.writable) socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
    else socket.destroy();
  };

  /** Why a connection may not stay open, if a deletion or rotation overtook its upgrade. */
  const revokedBecause = (connection: Admitted): string | null => {
    if (deletedInstances.has(connection.instanceId)) return 'Instance deleted';
    const rotated = rotatedAccounts.get(connection.accountId);
    if (connection.tokenKind === 'account' && rotated && rotated.currentTokenHash !== connection.tokenHash) return 'Token revoked';
    return null;
  };

  const forgetOldRevocations = () => {
    const before = now() - revocationMemoryMs;
    for (const [instanceId, at] of deletedInstances) if (at < before) deletedInstances.delete(instanceId);
    for (const [accountId, rotated] of rotatedAccounts) if (rotated.at < before) rotatedAccounts.delete(accountId);
  };

  const register = (socket: WebSocket, admitted: Admitted) => {
    const { instanceId } = admitted;
    const connection: Connection = { socket, ...admitted, alive: true, openedAt: now() };
    let set = byInstance.get(instanceId);
    if (!set) byInstance.set(instanceId, (set = new Set()));
    set.add(connection);
    socket.on('pong', () => void (connection.alive = true));
    socket.on('message', (data, isBinary) => {
      connection.alive = true;
      if (!isBinary && data.toString() === 'ping') socket.send('pong');
    });
    socket.on('error', (error) => logger.warn('websocket client error', { instanceId, error: error.message }));
    socket.on('close', () => {
      set.delete(connection);
      if (set.size === 0 && byInstance.get(instanceId) === set) byInstance.delete(instanceId);
    });
    const revoked = revokedBecause(connection);
    if (revoked) socket.close(1008, revoked);
  };

  /** The shared checks, then the handshake; every refusal is an HTTP response on the raw socket. */
  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, name: string, url: URL) => {
    const requestId = deps.ids.ulid();
    const headers = lowerCaseHeaders(req);
    let reservedFor: string | null = null;
    socket.on('error', () => undefined);
    admitWebsocket(deps, {
      instanceName: name,
      headers,
      query: Object.fromEntries(url.searchParams),
      sourceIp: req.socket.remoteAddress ?? 'unknown',
      upgrade: isWebSocketUpgrade(req),
      reserve: (instance) => {
        if (openCount(instance.id) >= maxWebsocketConnections) return false;
        pending.set(instance.id, (pending.get(instance.id) ?? 0) + 1);
        reservedFor = instance.id;
        return true;
      },
    })
      .then((admission) => {
        if (admission.kind === 'refused') {
          const { status, message } = renderRefusal(admission);
          writeRaw(socket, status, responseHeaders(requestId, admission.rate, headers.origin), message);
          logger.info('websocket refused', { requestId, instance: name, status });
          return;
        }
        const instanceId = admission.instance.id;
        const admitted: Admitted = {
          instanceId,
          accountId: admission.instance.accountId,
          instanceName: admission.instance.name,
          tokenKind: admission.principal.kind,
          tokenHash: admission.tokenHash,
        };
        if (socket.destroyed) return release(instanceId);
        upgradeHeaders.set(req, responseHeaders(requestId, admission.rate, headers.origin));
        wss.handleUpgrade(req, socket, head, (client) => {
          release(instanceId);
          reservedFor = null;
          register(client, admitted);
          logger.info('websocket opened', { requestId, instance: name, instanceId });
        });
        // A handshake `ws` aborts never calls back: give the slot back when the socket goes.
        socket.once('close', () => {
          if (reservedFor) release(reservedFor);
          reservedFor = null;
        });
      })
      .catch((error: unknown) => {
        if (reservedFor) release(reservedFor);
        logger.error('websocket upgrade failed', { requestId, error: error instanceof Error ? error.stack : String(error) });
        writeRaw(socket, 500, { 'X-Request-Id': requestId }, 'Internal server error');
      });
  };

  /** Plain HTTP on `/ws/:instance`: preflight, 405 for other methods, else the checks end in 426. */
  const onPlainRequest = (req: IncomingMessage, res: ServerResponse, name: string, url: URL) => {
    const origin = req.headers.origin;
    const requestId = deps.ids.ulid();
    const send = (status: number, headers: Record<string, string>, message: string) => {
      res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', ...headers });
      res.end(JSON.stringify(errorBody(message)));
    };
    const handled = async () => {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { ...preflightHeaders(deps.cors, origin), 'X-Request-Id': requestId });
        return void res.end();
      }
      if (req.method !== 'GET') {
        const rate = await countAnonymous(deps, req.socket.remoteAddress ?? 'unknown', windowStart(deps.clock.now().getTime()));
        const headers = responseHeaders(requestId, rate, origin);
        if (rate.exceeded) return send(429, headers, 'Rate limit exceeded. Try again later.');
        return send(405, { ...headers, Allow: 'GET' }, 'Method not allowed');
      }
      const admission = await admitWebsocket(deps, {
        instanceName: name,
        headers: lowerCaseHeaders(req),
        query: Object.fromEntries(url.searchParams),
        sourceIp: req.socket.remoteAddress ?? 'unknown',
        upgrade: false,
        reserve: () => false,
      });
      // Without upgrade headers the checks always stop, at the latest at 426.
      const { status, message } = admission.kind === 'refused' ? renderRefusal(admission) : { status: 426, message: 'Expected WebSocket upgrade' };
      send(status, responseHeaders(requestId, admission.rate, origin), message);
    };
    req.resume();
    handled().catch((error: unknown) => {
      logger.error('websocket request failed', { requestId, error: error instanceof Error ? error.stack : String(error) });
      if (!res.headersSent) send(500, { 'X-Request-Id': requestId }, 'Internal server error');
      else res.destroy();
    });
  };

  const targetOf = (record: { instanceId: string; accountId: string; instanceName: string }): Promise<StreamTarget | null> => {
    const cached = targets.get(record.instanceId);
    if (cached && now() - cached.at < configTtlMs) return cached.target;
    const target = streamTargetOf(deps, record);
    targets.set(record.instanceId, { at: now(), target });
    // A failed read is not cached: the next event tries again.
    target.catch(() => targets.delete(record.instanceId));
    return target;
  };

  const closeInstance = (instanceId: string, code: number, reason: string) => {
    targets.delete(instanceId);
    for (const connection of byInstance.get(instanceId) ?? []) connection.socket.close(code, reason);
  };

  const deliver = async (record: EventRecord) => {
    if (!byInstance.get(record.instanceId)?.size) return;
    const target = await targetOf(record);
    if (!target) return closeInstance(record.instanceId, 1008, 'Instance deleted');
    const config = target.websocket;
    if (config?.enabled !== true || !wants(config.events, record.event)) return;
    const frame = JSON.stringify(
      envelopeOf({ ...record, data: streamData(options.media ? await options.media.enrich(record, { mediaBase64: config.mediaBase64 }) : record.data, config.mediaBase64) }, { baseUrl: typeof baseUrl === 'function' ? baseUrl() : baseUrl, instance: record.instanceName, token: target.token }),
    );
    for (const connection of byInstance.get(record.instanceId) ?? []) {
      if (connection.socket.readyState !== WebSocket.OPEN) continue;
      if (connection.socket.bufferedAmount > maxBufferedBytes) connection.socket.close(1008, 'Client too slow');
      else connection.socket.send(frame);
    }
  };

  /**
   * Deletion normally arrives through `instanceDeleted`; a deletion this process was not told of
   * (another process, a failed notification) is found here, one read per instance with streams.
   */
  const recheckInstances = () => {
    for (const [instanceId, set] of byInstance) {
      const first = set.values().next().value as Connection | undefined;
      if (!first) continue;
      targets.delete(instanceId);
      targetOf(first)
        .then((target) => {
          if (!target) closeInstance(instanceId, 1008, 'Instance deleted');
        })
        .catch((error: unknown) => logger.warn('websocket instance re-check failed', { instanceId, error: error instanceof Error ? error.message : String(error) }));
    }
  };

  const heartbeat = setInterval(() => {
    const at = now();
    forgetOldRevocations();
    recheckInstances();
    for (const set of byInstance.values()) {
      for (const connection of set) {
        if (!connection.alive) {
          connection.socket.terminate();
          continue;
        }
        if (at - connection.openedAt >= maxLifetimeMs) {
          connection.socket.close(1001, 'Maximum lifetime reached');
          continue;
        }
        connection.alive = false;
        connection.socket.ping();
      }
    }
  }, heartbeatMs);
  heartbeat.unref();

  return {
    attach(server) {
      // `/ws/:instance` is not in the API route table: plain requests to it are answered here
      // (426, 405, preflight) and everything else goes to the server's own request listeners.
      const others = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
      server.removeAllListeners('request');
      server.on('request', (req: IncomingMessage, res: ServerResponse) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const match = wsPath.exec(url.pathname);
        if (match) return onPlainRequest(req, res, decodeSegment(match[1] as string), url);
        for (const listener of others) listener.call(server, req, res);
      });
      server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
        const url = new URL(req.url ?? '/', 'http://localhost');
        const match = wsPath.exec(url.pathname);
        if (match) return onUpgrade(req, socket, head, decodeSegment(match[1] as string), url);
        if (server.listenerCount('upgrade') === 1) writeRaw(socket, 404, {}, 'Route not found');
      });
    },
    broadcast(record) {
      if (!byInstance.get(record.instanceId)?.size) return;
      const previous = chains.get(record.instanceId) ?? Promise.resolve();
      const next = previous
        .then(() => deliver(record))
        .catch((error: unknown) => logger.error('websocket broadcast failed', { instanceId: record.instanceId, eventId: record.id, error: error instanceof Error ? error.message : String(error) }));
      chains.set(record.instanceId, next);
      void next.then(() => {
        if (chains.get(record.instanceId) === next) chains.delete(record.instanceId);
      });
    },
    closeInstance,
    async instanceDeleted({ instanceId }) {
      deletedInstances.set(instanceId, now());
      closeInstance(instanceId, 1008, 'Instance deleted');
    },
    async accountTokenRotated({ accountId, currentTokenHash }) {
      rotatedAccounts.set(accountId, { currentTokenHash, at: now() });
      for (const set of byInstance.values()) {
        for (const connection of set) {
          if (connection.accountId === accountId && revokedBecause(connection) === 'Token revoked') connection.socket.close(1008, 'Token revoked');
        }
      }
    },
    connectionCount(instanceId) {
      if (instanceId !== undefined) return byInstance.get(instanceId)?.size ?? 0;
      let total = 0;
      for (const set of byInstance.values()) total += set.size;
      return total;
    },
    async close() {
      clearInterval(heartbeat);
      const closing: Promise<void>[] = [];
      for (const set of byInstance.values()) {
        for (const connection of set) {
          closing.push(new Promise((resolve) => connection.socket.once('close', () => resolve())));
          connection.socket.close(1001, 'Server shutting down');
        }
      }
      // A client that never answers the close handshake must not hold the shutdown.
      const timer = setTimeout(() => {
        for (const set of byInstance.values()) for (const connection of set) connection.socket.terminate();
      }, 2_000);
      await Promise.all(closing);
      clearTimeout(timer);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
};
