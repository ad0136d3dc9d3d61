import type { InstanceAggregate } from '../instance/instance.ts';
import { sealedFields } from '../instance/instance.ts';
import type { SecretVault } from '../ports/keyring.port.ts';
import type { MediaBucket, MediaObjectStore, StoredMediaRef } from '../ports/media.port.ts';
import type { OutboundTargetPolicy } from '../ports/outbound-target.port.ts';
import type { InstanceRepository } from '../ports/repositories.port.ts';
import type { Logger } from '../ports/runtime.port.ts';
import type { Delivery, WebhookSender } from './delivery.ts';
import type { EventRecord } from './event.ts';

/**
 * Media in events (spec §3.2 `message.media`). A queued or stored event only names where its
 * media lies (`media.stored`: store, bucket, key, size — never credentials). Each delivery turns
 * that into a presigned `s3Url`, and into `base64` when the channel asked for it, at the moment it
 * is sent: a webhook retry may come hours after the event, long after a URL made then expired.
 */

/** `media.base64` only up to this size (spec §3.2); larger media carry `base64Omitted: true`. */
export const maxBase64Bytes = 10 * 1024 * 1024;
/** Presigned URLs are short-lived (ARCHITECTURE §8); each delivery gets a fresh one. */
export const defaultPresignTtlSeconds = 60 * 60;

export class MediaUnavailableError extends Error {
  override name = 'MediaUnavailableError';
}

type EventRef = Pick<EventRecord, 'id' | 'instanceId' | 'accountId' | 'instanceName' | 'data'>;

const objectOf = (value: unknown): Record<string, unknown> | null =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;

const isStoredRef = (value: unknown): value is StoredMediaRef => {
  const ref = objectOf(value);
  return !!ref && (ref.store === 'platform' || ref.store === 'instance') && typeof ref.bucket === 'string' && typeof ref.key === 'string' && typeof ref.size === 'number';
};

/** The stored-media reference of a `message.exchange` data, if any. */
export const storedMediaOf = (data: Record<string, unknown>): StoredMediaRef | null => {
  const media = objectOf(objectOf(data.message)?.media);
  return media && isStoredRef(media.stored) ? media.stored : null;
};

/**
 * The instance's own bucket with its credentials, when its S3 configuration is enabled and its
 * custom endpoint (if any) is an allowed outbound target (ARCHITECTURE §8). Credentials are
 * unsealed only here and only ever paired with that configuration's bucket.
 */
export const instanceMediaBucket = async (
  deps: { vault: SecretVault; outbound: OutboundTargetPolicy },
  aggregate: InstanceAggregate,
): Promise<Extract<MediaBucket, { kind: 'instance' }> | null> => {
  const { instance } = aggregate;
  const s3 = instance.s3;
  if (!s3) return null;
  const endpoint = s3.endpoint === '' ? null : s3.endpoint;
  if (endpoint) {
    const verdict = await deps.outbound.check(endpoint);
    if (!verdict.allowed) throw new MediaUnavailableError(`S3 endpoint is not an allowed destination (${verdict.reason})`);
  }
  const cipher = await deps.vault.instanceCipher(instance.id, instance.wrappedKey);
  return {
    kind: 'instance',
    bucket: s3.bucket,
    region: s3.region,
    endpoint,
    credentials: { accessKeyId: cipher.open(sealedFields.s3AccessKey, s3.accessKeySealed), secretAccessKey: cipher.open(sealedFields.s3SecretKey, s3.secretKeySealed) },
  };
};

export interface MediaDeliveryDeps {
  objects: MediaObjectStore;
  instances: InstanceRepository;
  vault: SecretVault;
  outbound: OutboundTargetPolicy;
  logger: Logger;
  presignTtlSeconds?: number;
}

export interface MediaDelivery {
  /**
   * The event's `data` as a channel sends it: `media.stored` replaced by `s3Url` (and `base64` or
   * `base64Omitted` when `mediaBase64`). Data without stored media is returned as is. Never
   * throws: media that cannot be reached is left out, with a warning.
   */
  enrich(record: EventRef, options: { mediaBase64: boolean; aggregate?: InstanceAggregate | null }): Promise<Record<string, unknown>>;
  /** A webhook sender that enriches the envelope of one delivery before `inner` sends it. */
  webhookSender(inner: WebhookSender, delivery: Pick<Delivery, 'accountId' | 'instanceName' | 'instanceId' | 'label'>, aggregate?: InstanceAggregate | null): WebhookSender;
}

export const createMediaDelivery = (deps: MediaDeliveryDeps): MediaDelivery => {
  const ttl = deps.presignTtlSeconds ?? defaultPresignTtlSeconds;

  const aggregateOf = async (record: Pick<EventRef, 'accountId' | 'instanceName' | 'instanceId'>, known: InstanceAggregate | null | undefined) => {
    const aggregate = known ?? (await deps.instances.get(record.accountId, record.instanceName));
    return aggregate && aggregate.instance.id === record.instanceId ? aggregate : null;
  };

  /** The bucket a reference points at, with the right credentials; the instance's only if it still owns that bucket. */
  const bucketOf = async (record: EventRef, ref: StoredMediaRef, known: InstanceAggregate | null | undefined): Promise<MediaBucket> => {
    if (ref.store === 'platform') return { kind: 'platform', bucket: ref.bucket };
    const aggregate = await aggregateOf(record, known);
    if (!aggregate) throw new MediaUnavailableError('instance deleted');
    const target = await instanceMediaBucket(deps, aggregate);
    if (!target || target.bucket !== ref.bucket || target.endpoint !== (ref.endpoint ?? null)) {
      throw new MediaUnavailableError('the instance S3 configuration no longer names this bucket');
    }
    return target;
  };

  const enrich: MediaDelivery['enrich'] = async (record, options) => {
    const ref = storedMediaOf(record.data);
    if (!ref) return record.data;
    const message = objectOf(record.data.message) as Record<string, unknown>;
    const { stored: _ref, ...media } = objectOf(message.media) as Record<string, unknown>;
    const withMedia = (extra: Record<string, unknown>) => ({ ...record.data, message: { ...message, media: { ...media, ...extra } } });
    const warn = (what: string, error: unknown) =>
      deps.logger.warn(what, { instanceId: record.instanceId, eventId: record.id, store: ref.store, error: error instanceof Error ? error.message : String(error) });
    let target: MediaBucket;
    let s3Url: string;
    try {
      target = await bucketOf(record, ref, options.aggregate);
      s3Url = await deps.objects.presignGet(target, ref.key, ttl);
    } catch (error) {
      warn('media left out of the event', error);
      return withMedia({});
    }
    if (!options.mediaBase64) return withMedia({ s3Url });
    if (ref.size > maxBase64Bytes) return withMedia({ s3Url, base64Omitted: true });
    try {
      return withMedia({ s3Url, base64: (await deps.objects.read(target, ref.key)).toString('base64') });
    } catch (error) {
      warn('media base64 left out of the event', error);
      return withMedia({ s3Url });
    }
  };

  return {
    enrich,
    webhookSender: (inner, delivery, aggregate) => ({
      async send(request) {
        // Cheap test first: most events carry no stored media and pass through untouched.
        if (request.event !== 'message.exchange' || !request.body.includes('"stored":{')) return inner.send(request);
        const envelope = JSON.parse(request.body) as { data: Record<string, unknown> } & Record<string, unknown>;
        const found = await aggregateOf(delivery, aggregate).catch(() => null);
        const webhook = found?.webhooks.find((candidate) => candidate.label === delivery.label);
        const data = await enrich(
          { id: String(envelope.id), instanceId: delivery.instanceId, accountId: delivery.accountId, instanceName: delivery.instanceName, data: envelope.data },
          { mediaBase64: webhook?.mediaBase64 === true, aggregate: found },
        );
        return inner.send({ ...request, body: JSON.stringify({ ...envelope, data }) });
      },
    }),
  };
};
