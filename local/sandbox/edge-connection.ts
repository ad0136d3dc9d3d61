import type { BinaryNode } from '@whiskeysockets/baileys';
import type { RawData, WebSocket } from 'ws';
import { NoiseResponder, isHandshakeResult, type EdgeIdentity, type HandshakeResult } from './noise-responder.ts';

export interface ConnectionHandlers<S> {
  onHandshake(conn: EdgeConnection<S>, result: HandshakeResult): Promise<void>;
  onNode(conn: EdgeConnection<S>, node: BinaryNode): Promise<void>;
  onError(conn: EdgeConnection<S>, error: unknown): void;
  onClose(conn: EdgeConnection<S>): void;
}

/**
 * One client WebSocket: Noise framing in, stanzas dispatched one at a time, stanzas out.
 * `S` is the sandbox's per-connection state (registration or logged-in device).
 */
export class EdgeConnection<S> {
  /** Set by the sandbox after the handshake. */
  state: S | undefined;
  /** A "silent" connection neither answers nor delivers: WhatsApp's edge gone quiet (408). */
  silent = false;
  closed = false;
  readonly closedPromise: Promise<void>;
  private readonly noise: NoiseResponder;
  private receiving: Promise<void> = Promise.resolve();
  private handling: Promise<void> = Promise.resolve();
  private readonly waiters = new Map<string, (reply: BinaryNode) => void>();

  constructor(
    private readonly ws: WebSocket,
    identity: EdgeIdentity,
    private readonly handlers: ConnectionHandlers<S>,
  ) {
    this.noise = new NoiseResponder(identity, (bytes) => ws.send(bytes));
    this.closedPromise = new Promise((resolve) => {
      ws.on('close', () => {
        this.closed = true;
        for (const waiter of this.waiters.values()) waiter({ tag: 'closed', attrs: {} });
        this.waiters.clear();
        handlers.onClose(this);
        resolve();
      });
    });
    ws.on('error', (error) => handlers.onError(this, error));
    ws.on('message', (data) => {
      // Frames must be decrypted in arrival order (nonces are counters), so receiving is a chain.
      this.receiving = this.receiving.then(() => this.receive(data)).catch((error: unknown) => {
        handlers.onError(this, error);
        this.terminate();
      });
    });
  }

  send(stanza: BinaryNode): void {
    if (this.closed || this.silent) return;
    this.noise.send(stanza);
  }

  /** Waits for the client's `<iq type="result|error">` to a query the sandbox sent. */
  awaitReply(id: string, timeoutMs = 10_000): Promise<BinaryNode> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new Error(`no reply to iq ${id}`));
      }, timeoutMs);
      this.waiters.set(id, (reply) => {
        clearTimeout(timer);
        if (reply.tag === 'closed') reject(new Error('connection closed before reply'));
        else resolve(reply);
      });
    });
  }

  /**
   * Ends the stream the way WhatsApp does: an optional last stanza (`<failure>`, `<stream:error>`),
   * then the close is left to the client, so Baileys reports the stanza's code rather than
   * racing it with a transport close (428). If the client does not close, we do.
   */
  async end(last?: BinaryNode, graceMs = 2_000): Promise<void> {
    if (last) this.send(last);
    if (!this.closed) {
      const timer = setTimeout(() => this.terminate(), graceMs);
      await this.closedPromise;
      clearTimeout(timer);
    }
  }

  /** A clean WebSocket close from the server side: Baileys reports it as 428. */
  async closeTransport(): Promise<void> {
    if (!this.closed) this.ws.close(1000);
    await this.closedPromise;
  }

  terminate(): void {
    if (!this.closed) this.ws.terminate();
  }

  private async receive(data: RawData): Promise<void> {
    if (this.silent || this.closed) return;
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    for (const item of await this.noise.receive(bytes)) {
      if (isHandshakeResult(item)) {
        this.dispatch(() => this.handlers.onHandshake(this, item));
        continue;
      }
      const waiter = item.tag === 'iq' && item.attrs.id ? this.waiters.get(item.attrs.id) : undefined;
      if (waiter && (item.attrs.type === 'result' || item.attrs.type === 'error')) {
        // Replies resolve at once: a handler may be waiting for one, and handling is sequential.
        this.waiters.delete(item.attrs.id ?? '');
        waiter(item);
        continue;
      }
      this.dispatch(() => this.handlers.onNode(this, item));
    }
  }

  /** Handles stanzas one at a time, in order (pre-key uploads before counts, messages in order). */
  private dispatch(task: () => Promise<void>): void {
    this.handling = this.handling.then(async () => {
      if (this.closed || this.silent) return;
      try {
        await task();
      } catch (error) {
        this.handlers.onError(this, error);
      }
    });
  }
}
