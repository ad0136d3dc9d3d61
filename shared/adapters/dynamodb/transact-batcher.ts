import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { TransactWriteCommand, type DynamoDBDocumentClient, type TransactWriteCommandInput } from '@aws-sdk/lib-dynamodb';

/** One action of a `TransactWriteItems` request (Put, Update, Delete or ConditionCheck). */
export type TransactItem = NonNullable<TransactWriteCommandInput['TransactItems']>[number];

export interface TransactBatcherOptions {
  /** Actions per transaction (DynamoDB allows 100). */
  maxItems?: number;
  /** Estimated request bytes per transaction (DynamoDB allows 4 MB). */
  maxBytes?: number;
  /** Transactions in flight at once. */
  concurrency?: number;
  /** Attempts of a batch cancelled for a transient reason (conflict, throttling) before its callers are rejected. */
  attempts?: number;
  /** The attributes that make an item's primary key (the single table: `pk`, `sk`). */
  keyAttributes?: readonly string[];
  sleep?: (ms: number) => Promise<void>;
}

export interface TransactBatcher {
  /**
   * Writes `items` atomically, in one transaction that may also carry other callers' items.
   * Resolves `true` once the transaction is durable, `false` when a condition of one of these
   * items failed (none of them is written then; the other callers are unaffected). Rejects when
   * the items could not be written (validation, retries exhausted): nothing of them was written.
   * Writes to the same item are applied in the order `write` was called.
   */
  write(items: TransactItem[]): Promise<boolean>;
  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void>;
}

interface Pending {
  items: TransactItem[];
  /** The item each action targets (`null` for a shareable ConditionCheck: it writes nothing). */
  keys: (string | null)[];
  /** A ConditionCheck's full text, by index: identical checks of several callers are sent once. */
  checks: (string | null)[];
  /** The item each ConditionCheck targets, by index (`''` for other actions). */
  checkTargets: string[];
  bytes: number;
  resolve: (written: boolean) => void;
  reject: (error: unknown) => void;
}

const MAX_ITEMS = 100;
const MAX_BYTES = 3_500_000;
const transient = new Set(['TransactionConflict', 'ProvisionedThroughputExceeded', 'ThrottlingError']);

const targetOf = (item: TransactItem): { table: string; key: Record<string, unknown> } => {
  if (item.Put) return { table: item.Put.TableName as string, key: item.Put.Item as Record<string, unknown> };
  const action = item.Update ?? item.Delete ?? item.ConditionCheck;
  if (!action) throw new Error('transact item has no action');
  return { table: action.TableName as string, key: action.Key as Record<string, unknown> };
};

/**
 * Group commit for DynamoDB writes: callers' items wait while `concurrency` transactions are in
 * flight and then go together, up to 100 actions per `TransactWriteItems`. A caller alone on an
 * idle batcher is written at once (in the next turn of the event loop), so batching only happens
 * under load, where it saves one round trip (and DynamoDB's per-request cost) per caller.
 *
 * A transaction is all or nothing, so one caller's failed condition cancels the others' writes
 * too: the batcher then answers that caller `false` and writes the rest again. A request-level
 * error (e.g. an item too large) on a batch of several callers is retried caller by caller, so it
 * only fails the caller it belongs to.
 */
export const createTransactBatcher = (doc: Pick<DynamoDBDocumentClient, 'send'>, options: TransactBatcherOptions = {}): TransactBatcher => {
  const maxItems = options.maxItems ?? MAX_ITEMS;
  const maxBytes = options.maxBytes ?? MAX_BYTES;
  const concurrency = options.concurrency ?? 2;
  const attempts = options.attempts ?? 10;
  const keyAttributes = options.keyAttributes ?? ['pk', 'sk'];
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  let queue: Pending[] = [];
  /** Items written by a transaction in flight: later writes to them wait, to keep their order. */
  const busy = new Map<string, number>();
  let running = 0;
  let scheduled = false;
  let idleWaiters: (() => void)[] = [];

  const keyOf = (item: TransactItem): string => {
    const { table, key } = targetOf(item);
    return `${table}\u0000${keyAttributes.map((name) => JSON.stringify(key[name] ?? null)).join('\u0000')}`;
  };

  /** Takes the next batch from the queue, in order, skipping (and blocking behind) callers whose items are busy. */
  const take = (): Pending[] => {
    const batch: Pending[] = [];
    const blocked = new Set<string>();
    /** Items checked (ConditionCheck) in this batch, by check text; a write to one of them must wait. */
    const checked = new Map<string, Set<string>>();
    const checksInBatch = new Set<string>();
    let count = 0;
    let bytes = 0;
    /** Queue positions taken into the batch (removed from the queue in one pass at the end). */
    const taken = new Set<number>();
    for (let index = 0; index < queue.length; index += 1) {
      const pending = queue[index] as Pending;
      const writes = pending.keys.filter((key): key is string => key !== null);
      const conflict =
        writes.some((key) => blocked.has(key) || busy.has(key) || checked.has(key)) ||
        pending.checks.some((check, i) => {
          if (check === null) return false;
          const target = pending.checkTargets[i] as string;
          const checks = checked.get(target);
          // A write of the item, or another check of it, in this batch: one action per item.
          return blocked.has(target) || (checks !== undefined && !checks.has(check));
        });
      if (conflict) {
        for (const key of writes) blocked.add(key);
        continue;
      }
      const added = pending.items.filter((_, i) => pending.checks[i] === null || !checksInBatch.has(pending.checks[i] as string)).length;
      if (batch.length > 0 && (count + added > maxItems || bytes + pending.bytes > maxBytes)) break;
      taken.add(index);
      batch.push(pending);
      count += added;
      bytes += pending.bytes;
      for (const key of writes) blocked.add(key);
      pending.checks.forEach((check, i) => {
        if (check === null) return;
        checksInBatch.add(check);
        const key = pending.checkTargets[i] as string;
        checked.set(key, (checked.get(key) ?? new Set()).add(check));
      });
    }
    if (taken.size > 0) queue = queue.filter((_, index) => !taken.has(index));
    return batch;
  };

  const settleIdle = () => {
    if (running > 0 || queue.length > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const resolve of waiters) resolve();
  };

  const pump = () => {
    while (running < concurrency && queue.length > 0) {
      const batch = take();
      if (batch.length === 0) break;
      running += 1;
      const keys = batch.flatMap((pending) => pending.keys).filter((key): key is string => key !== null);
      for (const key of keys) busy.set(key, (busy.get(key) ?? 0) + 1);
      void flush(batch).finally(() => {
        for (const key of keys) {
          const left = (busy.get(key) ?? 1) - 1;
          if (left === 0) busy.delete(key);
          else busy.set(key, left);
        }
        running -= 1;
        pump();
      });
    }
    settleIdle();
  };

  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      pump();
    });
  };

  /**
   * The request for a batch: identical ConditionChecks of several callers go once. `positions`
   * gives, per caller, the request positions of its items (to read cancellation reasons back).
   */
  const requestOf = (batch: Pending[]): { items: TransactItem[]; positions: number[][] } => {
    const items: TransactItem[] = [];
    const positionOfCheck = new Map<string, number>();
    const positions = batch.map((pending) =>
      pending.items.map((item, i) => {
        const check = pending.checks[i];
        if (check !== null && check !== undefined) {
          const known = positionOfCheck.get(check);
          if (known !== undefined) return known;
          positionOfCheck.set(check, items.length);
        }
        items.push(item);
        return items.length - 1;
      }),
    );
    return { items, positions };
  };

  const flush = async (batch: Pending[]): Promise<void> => {
    let remaining = batch;
    for (let attempt = 1; remaining.length > 0; ) {
      const { items, positions } = requestOf(remaining);
      try {
        await doc.send(new TransactWriteCommand({ TransactItems: items }));
        for (const pending of remaining) pending.resolve(true);
        return;
      } catch (error) {
        if (error instanceof TransactionCanceledException) {
          const reasons = error.CancellationReasons ?? [];
          const next: Pending[] = [];
          let settled = 0;
          for (const [index, pending] of remaining.entries()) {
            const codes = (positions[index] ?? []).map((position) => reasons[position]?.Code);
            if (codes.includes('ConditionalCheckFailed')) {
              pending.resolve(false);
              settled += 1;
            } else if (codes.some((code) => code !== undefined && code !== 'None' && !transient.has(code))) {
              pending.reject(new Error(`transaction item refused: ${codes.filter((code) => code && code !== 'None').join(', ')}`));
              settled += 1;
            } else next.push(pending);
          }
          remaining = next;
          // The others were cancelled only because of those: write them again at once.
          if (settled > 0) continue;
          if (attempt >= attempts) {
            for (const pending of remaining) pending.reject(error);
            return;
          }
          await sleep(Math.random() * Math.min(200, 10 * 2 ** attempt));
          attempt += 1;
          continue;
        }
        if (remaining.length > 1 && (error as { name?: string }).name === 'ValidationException') {
          // A request-level refusal names no item: find whose it is by writing each caller alone.
          for (const pending of remaining) await flush([pending]);
          return;
        }
        for (const pending of remaining) pending.reject(error);
        return;
      }
    }
  };

  return {
    write(items) {
      if (items.length === 0) return Promise.resolve(true);
      if (items.length > maxItems) return Promise.reject(new Error(`a transaction takes at most ${maxItems} items, got ${items.length}`));
      return new Promise<boolean>((resolve, reject) => {
        let pending: Pending;
        try {
          const targets = items.map(keyOf);
          const checks = items.map((item) => (item.ConditionCheck ? JSON.stringify(item.ConditionCheck) : null));
          pending = {
            items,
            keys: targets.map((key, i) => (checks[i] === null ? key : null)),
            checks,
            checkTargets: targets.map((key, i) => (checks[i] === null ? '' : key)),
            bytes: Buffer.byteLength(JSON.stringify(items)),
            resolve,
            reject,
          };
        } catch (error) {
          reject(error);
          return;
        }
        queue.push(pending);
        schedule();
      });
    },
    idle() {
      if (running === 0 && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
};
