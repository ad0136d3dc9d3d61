/** The instance aggregate as stored (secrets sealed) and the shapes the contract returns. */

export const eventNames = [
  'message.exchange',
  'message.status',
  'call.update',
  'group.flow',
  'instance.state',
  'label.update',
] as const;
export type EventName = (typeof eventNames)[number];

export const instanceStatuses = ['disconnected', 'connecting', 'connected', 'loggedout'] as const;
export type InstanceStatus = (typeof instanceStatuses)[number];

export interface Settings {
  autoRejectCalls: boolean;
  callRejectMessage: string;
  ignoreGroupMessages: boolean;
  keepOnlineStatus: boolean;
  autoReadMessages: boolean;
  disableHistorySync: boolean;
  ignoreStatus: boolean;
}

export const defaultSettings: Readonly<Settings> = Object.freeze({
  autoRejectCalls: false,
  callRejectMessage: '',
  ignoreGroupMessages: false,
  keepOnlineStatus: false,
  autoReadMessages: false,
  disableHistorySync: true,
  ignoreStatus: false,
});

export const settingKeys = Object.keys(defaultSettings) as (keyof Settings)[];

export type ProxyProtocol = 'http' | 'https' | 'socks5';

export interface ProxyConfig {
  host: string;
  port: string;
  protocol: ProxyProtocol;
  username: string | null;
  /** Sealed with the instance cipher (field `proxy.password`). */
  passwordSealed: string | null;
}

export interface S3Config {
  region: string;
  bucket: string;
  /** Sealed (field `s3.accessKey`); returned as stored. */
  accessKeySealed: string;
  /** Sealed (field `s3.secretKey`); never returned. */
  secretKeySealed: string;
  endpoint: string | null;
  pathPrefix: string | null;
}

export interface WebsocketConfig {
  enabled: boolean;
  events: EventName[];
  mediaBase64: boolean;
}

export interface WebhookRecord {
  label: string;
  enabled: boolean;
  url: string | null;
  /** Sealed (field `webhook.<label>.authorization`). */
  authorizationSealed: string | null;
  byEvents: boolean;
  events: EventName[];
  mediaBase64: boolean;
  includeInstanceToken: boolean;
  secretSealed: string | null;
}

/**
 * An inline `chatwoot*` block of `POST /api/instance/new`, validated and kept until the
 * Chatwoot module exists on the server; it is not an active integration.
 */
export interface ChatwootRequestRecord {
  baseUrl: string;
  accountId: number;
  /** Sealed (field `chatwoot.apiToken`). */
  apiTokenSealed: string;
  inboxName: string;
  signMessages: boolean;
  ignoreGroups: boolean;
  startAsPending: boolean;
  reopenResolved: boolean;
  requestedAt: string;
}

export interface Profile {
  name: string | null;
  pictureUrl: string | null;
  isBusiness: boolean;
  businessName: string;
}

export const emptyProfile: Readonly<Profile> = Object.freeze({ name: null, pictureUrl: null, isBusiness: false, businessName: '' });

/** The linking attempt the API is waiting on (`GET /api/instance/connect`), written by the runner. */
export interface LinkingAttempt {
  attemptId: string;
  qr: string | null;
  pairingCode: string | null;
  /** Why no code could be produced (`Failed to connect: <reason>`), or `rate_limited`. */
  error: string | null;
  updatedAt: string;
}

/** The finer-grained `instance.state` vocabulary (spec §0.14). */
export const sessionStates = ['connecting', 'qr_ready', 'pairing_code_ready', 'connected', 'disconnected', 'logged_out', 'temp_banned', 'needs_relink'] as const;
export type SessionState = (typeof sessionStates)[number];

export const statusOfState: Record<SessionState, InstanceStatus> = {
  connecting: 'connecting',
  qr_ready: 'connecting',
  pairing_code_ready: 'connecting',
  connected: 'connected',
  disconnected: 'disconnected',
  logged_out: 'loggedout',
  temp_banned: 'disconnected',
  needs_relink: 'loggedout',
};

export interface InstanceRecord {
  id: string;
  accountId: string;
  name: string;
  /** The per-instance data key, wrapped by the keyring. */
  wrappedKey: string;
  tokenHash: string;
  /** Sealed (field `token`): the contract shows the TokenInstance again in lists and events. */
  tokenSealed: string;
  status: InstanceStatus;
  /** The finer state behind `status` (absent on instances that never connected). */
  state?: SessionState;
  /** A linked session is saved (reconnect possible). */
  hasSession?: boolean;
  linking?: LinkingAttempt | null;
  numberJid: string | null;
  profile: Profile;
  settings: Settings;
  proxy: ProxyConfig | null;
  s3: S3Config | null;
  websocket: WebsocketConfig | null;
  createdAt: string;
  updatedAt: string;
}

/** An instance with the items stored beside it. */
export interface InstanceAggregate {
  instance: InstanceRecord;
  webhooks: WebhookRecord[];
  chatwootRequest: ChatwootRequestRecord | null;
}

export const sealedFields = {
  token: 'token',
  proxyPassword: 'proxy.password',
  s3AccessKey: 's3.accessKey',
  s3SecretKey: 's3.secretKey',
  chatwootApiToken: 'chatwoot.apiToken',
  webhookAuthorization: (label: string) => `webhook.${label}.authorization`,
  webhookSecret: (label: string) => `webhook.${label}.secret`,
} as const;
