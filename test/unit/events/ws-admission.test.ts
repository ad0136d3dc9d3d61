import { describe, expect, it } from 'vitest';
import { renderRefusal } from '../../../functions/events/websocket.handlers.ts';
import type { TokenEntry } from '../../../shared/domain/auth/principal.ts';
import { defaultSettings, emptyProfile, type InstanceAggregate, type InstanceRecord, type WebsocketConfig } from '../../../shared/domain/instance/instance.ts';
import type { CountedPrincipal, InstanceRepository, TokenDirectory } from '../../../shared/domain/ports/repositories.port.ts';
import { parseOrThrow } from '../../../shared/domain/validation.ts';
import {
  admitWebsocket,
  SaveWebsocketBody,
  streamData,
  type AdmissionDeps,
  type AdmissionRequest,
} from '../../../shared/domain/use-cases/websocket.use-cases.ts';

// Spec #16 (body rules), #18 and §0.6 step 6 (the order of the pre-upgrade checks).

const account: TokenEntry = { kind: 'account', accountId: 'acc-1', limits: { global: 100, create: 20 } };
const stranger: TokenEntry = { kind: 'account', accountId: 'acc-2', limits: { global: 100, create: 20 } };
const instanceToken: TokenEntry = { kind: 'instance', accountId: 'acc-1', instanceId: 'inst-1', instanceName: 'sales', limits: { global: 100, create: 20 } };

const instanceRecord = (websocket: WebsocketConfig | null): InstanceRecord => ({
  id: 'inst-1',
  accountId: 'acc-1',
  name: 'sales',
  wrappedKey: 'wrapped',
  tokenHash: 'hash',
  tokenSealed: 'sealed',
  status: 'disconnected',
  numberJid: null,
  profile: { ...emptyProfile },
  settings: { ...defaultSettings },
  proxy: null,
  s3: null,
  websocket,
  createdAt: '2026-04-28T10:30:00Z',
  updatedAt: '2026-04-28T10:30:00Z',
});

function setup(options: { websocket?: WebsocketConfig | null; allowedOrigins?: string[] } = {}) {
  const tokens = new Map<string, TokenEntry>([
    ['account-token', account],
    ['stranger-token', stranger],
    ['instance-token', instanceToken],
  ]);
  const directory: TokenDirectory = {
    authenticate: async (hash): Promise<CountedPrincipal | null> => {
      const entry = tokens.get(hash);
      return entry ? { entry, count: 1 } : null;
    },
    count: async () => 1,
  };
  const aggregate: InstanceAggregate = { instance: instanceRecord(options.websocket === undefined ? { enabled: true, events: [], mediaBase64: false } : options.websocket), webhooks: [], chatwootRequest: null };
  const instances = {
    get: async (accountId: string, name: string) => (accountId === 'acc-1' && name === 'sales' ? aggregate : null),
  } as unknown as InstanceRepository;
  const deps: AdmissionDeps = {
    directory,
    tokens: { hash: (token) => token },
    clock: { now: () => new Date('2026-04-28T10:30:25Z') },
    adminKey: null,
    limits: { ip: 100, admin: 100 },
    instances,
    cors: { allowedOrigins: options.allowedOrigins ?? ['https://app.example.test'] },
  };
  const reserved: string[] = [];
  const request = (overrides: Partial<AdmissionRequest> = {}): AdmissionRequest => ({
    instanceName: 'sales',
    headers: { token: 'account-token' },
    query: {},
    sourceIp: '203.0.113.7',
    upgrade: true,
    reserve: (instance) => (reserved.push(instance.id), true),
    ...overrides,
  });
  return { deps, request, reserved };
}

const messageOf = async (deps: AdmissionDeps, request: AdmissionRequest) => {
  const admission = await admitWebsocket(deps, request);
  return admission.kind === 'refused' ? renderRefusal(admission) : { status: 101, message: 'upgraded' };
};

describe('admitWebsocket', () => {
  it('admits an owner with upgrade headers and takes a connection slot', async () => {
    // Prepare
    const { deps, request, reserved } = setup();

    // Act
    const admission = await admitWebsocket(deps, request({ headers: {}, query: { token: 'instance-token' } }));

    // Assess
    expect(admission.kind).toBe('admitted');
    expect(reserved).toEqual(['inst-1']);
  });

  it('checks ownership before the upgrade headers', async () => {
    // Prepare
    const { deps, request } = setup();

    // Act
    const mismatch = await messageOf(deps, request({ instanceName: 'nobody', headers: { token: 'instance-token' }, upgrade: false }));
    const notOwned = await messageOf(deps, request({ headers: { token: 'stranger-token' }, upgrade: false }));
    const empty = await messageOf(deps, request({ instanceName: '', upgrade: false }));

    // Assess
    expect(mismatch).toEqual({ status: 403, message: 'Instance token does not match the requested instance' });
    expect(notOwned).toEqual({ status: 404, message: 'Instance not found' });
    expect(empty).toEqual({ status: 400, message: 'Instance name is required' });
  });

  it('checks the upgrade headers, then the origin, then the configuration, then the slot', async () => {
    // Prepare
    const disabled = setup({ websocket: { enabled: false, events: [], mediaBase64: false } });
    const full = setup();

    // Act
    const plain = await messageOf(disabled.deps, disabled.request({ upgrade: false, headers: { token: 'account-token', origin: 'https://evil.example.test' } }));
    const origin = await messageOf(disabled.deps, disabled.request({ headers: { token: 'account-token', origin: 'https://evil.example.test' } }));
    const notEnabled = await messageOf(disabled.deps, disabled.request());
    const tooMany = await messageOf(full.deps, full.request({ reserve: () => false }));

    // Assess
    expect(plain).toEqual({ status: 426, message: 'Expected WebSocket upgrade' });
    expect(origin).toEqual({ status: 403, message: 'Origin not allowed' });
    expect(notEnabled).toEqual({ status: 400, message: 'WebSocket is not enabled for this instance. Configure it first using POST /api/events/websocket/sales' });
    expect(disabled.reserved).toEqual([]);
    expect(tooMany).toEqual({ status: 429, message: 'Too many WebSocket connections for this instance' });
  });

  it('refuses an instance that was never configured', async () => {
    // Prepare
    const { deps, request } = setup({ websocket: null });

    // Act
    const outcome = await messageOf(deps, request());

    // Assess
    expect(outcome.status).toBe(400);
  });

  it('accepts requests without an Origin, allowed origins and any origin under *', async () => {
    // Prepare
    const listed = setup();
    const wildcard = setup({ allowedOrigins: ['*'] });

    // Act
    const withoutOrigin = await admitWebsocket(listed.deps, listed.request());
    const allowed = await admitWebsocket(listed.deps, listed.request({ headers: { token: 'account-token', origin: 'https://app.example.test' } }));
    const anyOrigin = await admitWebsocket(wildcard.deps, wildcard.request({ headers: { token: 'account-token', origin: 'https://elsewhere.example.test' } }));

    // Assess
    expect([withoutOrigin.kind, allowed.kind, anyOrigin.kind]).toEqual(['admitted', 'admitted', 'admitted']);
  });

  it('answers 401 for missing and unknown tokens, with the rate window', async () => {
    // Prepare
    const { deps, request } = setup();

    // Act
    const missing = await admitWebsocket(deps, request({ headers: {} }));
    const unknown = await messageOf(deps, request({ headers: { token: 'nope' } }));

    // Assess
    expect(missing.kind === 'refused' && renderRefusal(missing)).toEqual({ status: 401, message: 'Missing token in header, Authorization header, or query parameter' });
    expect(missing.rate).not.toBeNull();
    expect(unknown).toEqual({ status: 401, message: 'Invalid token' });
  });
});

describe('SaveWebsocketBody', () => {
  it('reports the first unknown event and type errors in the contract words', () => {
    expect(() => parseOrThrow(SaveWebsocketBody, { events: ['group.flow', 'bogus', 'other'] })).toThrow('Invalid event: bogus');
    expect(() => parseOrThrow(SaveWebsocketBody, { events: 'message.exchange' })).toThrow("Invalid request body: 'events' must be an array of strings");
    expect(() => parseOrThrow(SaveWebsocketBody, { mediaBase64: 'true' })).toThrow("Invalid request body: 'mediaBase64' must be a boolean");
    expect(parseOrThrow(SaveWebsocketBody, { enabled: null, events: null })).toEqual({ enabled: null, events: null });
  });
});

describe('streamData', () => {
  it('removes message.media.base64 (and base64Omitted) unless the stream asked for it, and leaves other data alone', () => {
    const data = { direction: 'incoming', message: { id: 'M1', media: { mimetype: 'image/png', base64: 'AAEC', s3Url: 'https://s3/x' } } };
    const large = { message: { id: 'M2', media: { mimetype: 'video/mp4', base64Omitted: true } } };

    expect(streamData(data, false)).toEqual({ direction: 'incoming', message: { id: 'M1', media: { mimetype: 'image/png', s3Url: 'https://s3/x' } } });
    expect(streamData(large, false)).toEqual({ message: { id: 'M2', media: { mimetype: 'video/mp4' } } });
    expect(streamData(data, true)).toEqual(data);
    expect(streamData({ state: 'connected' }, false)).toEqual({ state: 'connected' });
    expect(data.message.media.base64).toBe('AAEC');
  });
});
