import { instanceMediaBucket } from '../events/media.ts';
import type { SecretVault } from '../ports/keyring.port.ts';
import type { MediaBucket, MediaObjectStore, StoredMediaRef, WaMediaSource, WaMessageEvent } from '../ports/media.port.ts';
import { mediaSourceOf } from '../ports/media.port.ts';
import type { OutboundTargetPolicy } from '../ports/outbound-target.port.ts';
import type { InstanceRepository } from '../ports/repositories.port.ts';
import type { Logger } from '../ports/runtime.port.ts';
import type { InstanceRef } from '../ports/session-repository.port.ts';

/** Largest media the runner downloads (the same cap as media sent by URL, spec #20). */
export const maxMediaBytes = 100 * 1024 * 1024;

/** A downloaded, verified file on local disk. */
export interface SpooledMedia {
  path: string;
  size: number;
  remove(): Promise<void>;
}

/**
 * Streams a media source to a temporary file, refusing more than `maxBytes` and content whose
 * SHA-256 differs from the one the (end-to-end encrypted) message announced.
 */
export type MediaSpooler = (source: WaMediaSource, limits: { maxBytes: number }) => Promise<SpooledMedia>;

export interface MediaIngestDeps {
  instances: InstanceRepository;
  vault: SecretVault;
  outbound: OutboundTargetPolicy;
  objects: MediaObjectStore;
  spool: MediaSpooler;
  logger: Logger;
  /** The platform media bucket; `null` stores nothing for instances without their own S3. */
  platformBucket: string | null;
  maxBytes?: number;
  /** Downloads at once in this process (default 8): each may hold up to `maxBytes` on disk. */
  concurrency?: number;
}

const extensions: Record<string, string> = {
  'image/jpeg': 'jpg',
  'image/png': 'png',
  'image/webp': 'webp',
  'image/gif': 'gif',
  'video/mp4': 'mp4',
  'video/3gpp': '3gp',
  'audio/ogg': 'ogg',
  'audio/mpeg': 'mp3',
  'audio/mp4': 'm4a',
  'audio/aac': 'aac',
  'audio/amr': 'amr',
  'application/pdf': 'pdf',
  'text/plain': 'txt',
  'application/zip': 'zip',
};

/** `<ext>` of the object key: from the MIME type, else the file name, else `bin`. */
export const extensionOf = (mimetype: string | null, fileName: string | null): string => {
  const base = (mimetype ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  const known = extensions[base];
  if (known) return known;
  const fromName = /\.([A-Za-z0-9]{1,8})$/.exec(fileName ?? '')?.[1];
  if (fromName) return fromName.toLowerCase();
  const subtype = /^[a-z]+\/([a-z0-9]{1,8})$/.exec(base)?.[1];
  return subtype ?? 'bin';
};

/** Object key: `<instanceId>/<messageId>.<ext>` in the platform bucket, `<pathPrefix><messageId>.<ext>` in the instance's (spec #12). */
export const mediaKeyOf = (target: MediaBucket, input: { instanceId: string; pathPrefix: string | null; messageId: string; ext: string }): string => {
  const id = input.messageId.replace(/[^A-Za-z0-9_-]/g, '_');
  return target.kind === 'platform' ? `${input.instanceId}/${id}.${input.ext}` : `${input.pathPrefix ?? ''}${id}.${input.ext}`;
};

const semaphore = (limit: number) => {
  let running = 0;
  const waiting: (() => void)[] = [];
  return async <T>(work: () => Promise<T>): Promise<T> => {
    if (running >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    running += 1;
    try {
      return await work();
    } finally {
      running -= 1;
      waiting.shift()?.();
    }
  };
};

/**
 * The runner's media hook, called before a message event is stored and published.
 * Input: the instance and its `message` event. Effect: the media is downloaded (decrypted and
 * verified), uploaded to the instance's bucket when its S3 configuration is enabled, else to the
 * platform bucket, and `exchange.media.stored` names the object. A failure leaves the event
 * without stored media and logs a warning (never a secret): the message is never lost for it.
 */
export const createMediaIngest = (deps: MediaIngestDeps) => {
  const maxBytes = deps.maxBytes ?? maxMediaBytes;
  const limited = semaphore(deps.concurrency ?? 8);
  return async (ref: InstanceRef, event: WaMessageEvent): Promise<void> => {
    const source = mediaSourceOf(event);
    const media = event.exchange?.media as Record<string, unknown> | undefined;
    if (!source || !media || event.isHistory) return;
    const warn = (reason: string) => deps.logger.warn('media not stored', { instanceId: ref.instanceId, messageId: event.key.id, reason });
    if (source.declaredSize !== null && source.declaredSize > maxBytes) return warn(`larger than ${maxBytes} bytes`);
    try {
      const aggregate = await deps.instances.get(ref.accountId, ref.instanceName);
      if (!aggregate || aggregate.instance.id !== ref.instanceId) return;
      const own = await instanceMediaBucket(deps, aggregate);
      const target: MediaBucket | null = own ?? (deps.platformBucket ? { kind: 'platform', bucket: deps.platformBucket } : null);
      if (!target) return;
      const contentType = source.mimetype?.split(';')[0]?.trim() || 'application/octet-stream';
      const key = mediaKeyOf(target, {
        instanceId: ref.instanceId,
        pathPrefix: aggregate.instance.s3?.pathPrefix ?? null,
        messageId: event.key.id,
        ext: extensionOf(source.mimetype, source.fileName),
      });
      const size = await limited(async () => {
        const file = await deps.spool(source, { maxBytes });
        try {
          await deps.objects.put(target, key, { path: file.path, size: file.size, contentType });
          return file.size;
        } finally {
          await file.remove();
        }
      });
      const stored: StoredMediaRef = {
        store: target.kind,
        bucket: target.bucket,
        key,
        endpoint: target.kind === 'instance' ? target.endpoint : null,
        size,
        contentType,
      };
      media.stored = stored;
    } catch (error) {
      warn(error instanceof Error ? error.message : String(error));
    }
  };
};

export type MediaIngest = ReturnType<typeof createMediaIngest>;

/**
 * Deleting an instance removes the media kept in the platform bucket for it (spec #6, D53); objects
 * in the customer's own bucket are left alone. Called by the runner when it handles the delete.
 */
export const createMediaEraser =
  (deps: { objects: MediaObjectStore; platformBucket: string | null; logger: Logger }) =>
  async (ref: InstanceRef): Promise<void> => {
    if (!deps.platformBucket) return;
    try {
      await deps.objects.deletePrefix({ kind: 'platform', bucket: deps.platformBucket }, `${ref.instanceId}/`);
    } catch (error) {
      deps.logger.warn('stored media of a deleted instance not removed', { instanceId: ref.instanceId, error: error instanceof Error ? error.message : String(error) });
    }
  };
