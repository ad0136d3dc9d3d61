import type { InstanceCipher } from '../ports/keyring.port.ts';
import type { InstanceAggregate, InstanceRecord, InstanceStatus, Settings } from './instance.ts';
import { sealedFields } from './instance.ts';

/** The contract's response shapes (spec §2.1.0). Secrets that are never returned stay sealed. */

export interface ProxyView {
  enabled: boolean;
  host: string | null;
  port: string | null;
  protocol: string | null;
  username: string | null;
  password: null;
}

export interface S3View {
  enabled: boolean;
  region: string | null;
  bucket: string | null;
  accessKey: string | null;
  secretKey: null;
  endpoint: string | null;
  pathPrefix: string | null;
}

export type ChatwootSummary =
  | { enabled: true; status: 'active' | 'paused' | 'error'; bridgeIntegrationId: string; baseUrl: string; accountId: number; inboxName: string; error?: string }
  | { enabled: false; status: null; bridgeIntegrationId: null; baseUrl: null; accountId: null; inboxName: null }
  | { enabled: false; status: 'error'; error: string };

export const noChatwoot: ChatwootSummary = { enabled: false, status: null, bridgeIntegrationId: null, baseUrl: null, accountId: null, inboxName: null };

export const proxyView = (instance: InstanceRecord): ProxyView =>
  instance.proxy
    ? { enabled: true, host: instance.proxy.host, port: instance.proxy.port, protocol: instance.proxy.protocol, username: instance.proxy.username, password: null }
    : { enabled: false, host: null, port: null, protocol: null, username: null, password: null };

export const s3View = (instance: InstanceRecord, cipher: InstanceCipher): S3View =>
  instance.s3
    ? {
        enabled: true,
        region: instance.s3.region,
        bucket: instance.s3.bucket,
        accessKey: cipher.open(sealedFields.s3AccessKey, instance.s3.accessKeySealed),
        secretKey: null,
        endpoint: instance.s3.endpoint,
        pathPrefix: instance.s3.pathPrefix,
      }
    : { enabled: false, region: null, bucket: null, accessKey: null, secretKey: null, endpoint: null, pathPrefix: null };

export const settingsView = (settings: Settings): Settings => ({ ...settings });

const displayStatus: Record<InstanceStatus, string> = {
  disconnected: 'Disconnected',
  connecting: 'Connecting',
  connected: 'Connected',
  loggedout: 'Logged out',
};

export const instanceView = (aggregate: InstanceAggregate, cipher: InstanceCipher, chatwoot: ChatwootSummary = noChatwoot) => {
  const { instance } = aggregate;
  const webhook = aggregate.webhooks.find((row) => row.label === 'default' && row.enabled);
  return {
    id: instance.id,
    name: instance.name,
    token: cipher.open(sealedFields.token, instance.tokenSealed),
    status: instance.status,
    numberJid: instance.numberJid,
    proxy: proxyView(instance),
    webhook: webhook ? { enabled: true, url: webhook.url, events: [...webhook.events] } : { enabled: false, url: null, events: [] },
    websocket:
      instance.websocket?.enabled === true
        ? { enabled: true, events: [...instance.websocket.events], mediaBase64: instance.websocket.mediaBase64 }
        : { enabled: false, events: [], mediaBase64: false },
    chatwoot,
    settings: settingsView(instance.settings),
    s3: s3View(instance, cipher),
    createdAt: instance.createdAt,
    updatedAt: instance.updatedAt,
  };
};

export const instanceListItem = (aggregate: InstanceAggregate, cipher: InstanceCipher) => {
  const { instance } = aggregate;
  return {
    ...instanceView(aggregate, cipher),
    connection: {
      state: instance.status,
      numberJid: instance.numberJid,
      presenceStatus: instance.status === 'connected' && instance.settings.keepOnlineStatus ? 'available' : 'unavailable',
      displayStatus: displayStatus[instance.status],
    },
    profile: { ...instance.profile },
  };
};
