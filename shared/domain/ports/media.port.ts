import type { Readable } from 'node:stream';
import type { WaEvent } from './wa-connection.port.ts';

/**
 * Incoming media (spec §3.2 `message.media`): the runner downloads it from WhatsApp, stores it in
 * the instance's own S3 bucket or the platform bucket, and the event carries only a reference
 * (`media.stored`); presigned URLs and base64 are made when an event is delivered.
 */

/** The media of one WhatsApp message, as the connection can fetch it (decrypted, verified by the caller). */
export interface WaMediaSource {
  mimetype: string | null;
  fileName: string | null;
  /** Plaintext length announced by the sender (untrusted until the download ends). */
  declaredSize: number | null;
  /** SHA-256 of the plaintext, from the end-to-end encrypted message. */
  sha256: Uint8Array | null;
  /** Opens the decrypted byte stream (through the instance's proxy, when one is configured). */
  open(): Promise<Readable>;
}

/**
 * A `message` event whose media can be downloaded. The field belongs on `WaEvent` itself
 * (wa-connection.port.ts); it lives here until that port gains it.
 */
export type WaMessageEvent = Extract<WaEvent, { type: 'message' }> & { media?: WaMediaSource };

export const mediaSourceOf = (event: Extract<WaEvent, { type: 'message' }>): WaMediaSource | undefined => (event as WaMessageEvent).media;

/** Where a stored object lives. Identifiers only: never credentials (they stay sealed on the instance). */
export interface StoredMediaRef {
  /** `platform`: zapfleet's media bucket; `instance`: the bucket of the instance's S3 configuration. */
  store: 'platform' | 'instance';
  bucket: string;
  key: string;
  /** The custom endpoint of the instance's bucket at upload time (`null` = AWS S3). */
  endpoint: string | null;
  size: number;
  contentType: string;
}

/**
 * An S3 bucket and how to reach it: the platform bucket with the process's own credentials, or an
 * instance's bucket with the credentials of its S3 configuration (used for that bucket only).
 */
export type MediaBucket =
  | { kind: 'platform'; bucket: string }
  | { kind: 'instance'; bucket: string; region: string; endpoint: string | null; credentials: { accessKeyId: string; secretAccessKey: string } };

export interface MediaObjectStore {
  /** Uploads a local file (already verified) as `key`. */
  put(target: MediaBucket, key: string, body: { path: string; size: number; contentType: string }): Promise<void>;
  /** A presigned GET URL valid for `ttlSeconds`. No network call. */
  presignGet(target: MediaBucket, key: string, ttlSeconds: number): Promise<string>;
  /** The whole object (callers only ask for small ones). */
  read(target: MediaBucket, key: string): Promise<Buffer>;
  /** Deletes every object whose key starts with `prefix`; returns how many. */
  deletePrefix(target: MediaBucket, prefix: string): Promise<number>;
}
