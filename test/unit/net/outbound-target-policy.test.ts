import { afterEach, describe, expect, it, vi } from 'vitest';
import { createOutboundTargetPolicy } from '../../../shared/adapters/net/outbound-target-policy.ts';

type Resolved = { address: string; family: number }[];

/** A lookup that answers from a table and fails like getaddrinfo for unknown names. */
function fakeLookup(table: Record<string, Resolved> = {}) {
  return vi.fn(async (host: string): Promise<Resolved> => {
    const answer = table[host];
    if (answer) return answer;
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  });
}

const v4 = (address: string) => ({ address, family: 4 });
const v6 = (address: string) => ({ address, family: 6 });

// [url, word the reason must contain]
const FORBIDDEN_TARGETS: [string, string][] = [
  ['http://10.0.0.5/hook', 'address 10.0.0.5 is private'],
  ['http://172.16.3.4/', 'private'],
  ['http://172.31.255.255/', 'private'],
  ['http://192.168.1.1:8080/', 'private'],
  ['http://100.64.0.1/', 'carrier-grade NAT'],
  ['http://169.254.169.254/latest/meta-data/', '169.254.169.254 is a link-local/metadata address'],
  ['http://[fd00:ec2::254]/', 'unique-local'],
  ['http://[fc00::1]/', 'unique-local'],
  ['http://[fe80::1]/', 'link-local'],
  ['http://[fec0::1]/', 'private'],
  ['http://0.0.0.0/', 'unspecified'],
  ['http://0/', 'unspecified'],
  ['http://[::]/', 'unspecified'],
  ['http://255.255.255.255/', 'broadcast'],
  ['http://224.0.0.1/', 'multicast'],
  ['http://[ff02::1]/', 'multicast'],
  ['http://240.0.0.1/', 'reserved'],
  ['http://192.0.2.10/', 'reserved'],
  ['http://[2001:db8::1]/', 'reserved'],
  ['http://[::7f00:1]/', 'reserved'],
  ['http://[::ffff:10.0.0.1]/', 'private'],
  ['http://[64:ff9b::10.0.0.1]/', 'private'],
  ['http://[2002:a00:1::1]/', 'private'],
  ['http://127.0.0.1/', 'address 127.0.0.1 is loopback'],
  ['http://127.8.9.10/', 'loopback'],
  ['http://[::1]/', 'loopback'],
  ['http://localhost:3000/', 'host localhost is loopback'],
  ['http://api.localhost/', 'loopback'],
  ['http://LOCALHOST./', 'loopback'],
  ['http://metadata.google.internal/computeMetadata/v1/', 'metadata'],
  ['http://metadata/', 'metadata'],
];

describe('createOutboundTargetPolicy', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it.each(['http://93.184.216.34/hook', 'https://[2606:4700::1111]/', 'https://[::ffff:8.8.8.8]/'])(
    'allows the public IP literal %s without DNS',
    async (url) => {
      // Prepare
      const lookup = fakeLookup();
      const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

      // Act
      const verdict = await policy.check(url);

      // Assess
      expect(verdict).toEqual({ allowed: true });
      expect(lookup).not.toHaveBeenCalled();
    },
  );

  it.each(FORBIDDEN_TARGETS)('refuses %s when private targets are not allowed', async (url, expected) => {
    // Prepare
    const lookup = fakeLookup();
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

    // Act
    const verdict = await policy.check(url);

    // Assess
    expect(verdict.allowed).toBe(false);
    expect(verdict.allowed ? '' : verdict.reason).toContain(expected);
    expect(lookup).not.toHaveBeenCalled();
  });

  it.each(['http://127.0.0.1/', 'http://[::1]/', 'http://localhost/', 'http://[::ffff:127.0.0.1]/'])(
    'allows the loopback target %s when loopback is allowed',
    async (url) => {
      // Prepare
      const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: true, lookup: fakeLookup() });

      // Act
      const verdict = await policy.check(url);

      // Assess
      expect(verdict).toEqual({ allowed: true });
    },
  );

  it.each(['http://10.0.0.5/', 'http://169.254.169.254/', 'http://metadata.google.internal/', 'http://0.0.0.0/'])(
    'still refuses the non-loopback target %s when only loopback is allowed',
    async (url) => {
      // Prepare
      const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: true, lookup: fakeLookup() });

      // Act
      const verdict = await policy.check(url);

      // Assess
      expect(verdict.allowed).toBe(false);
    },
  );

  it.each(FORBIDDEN_TARGETS)('allows %s when private targets are allowed', async (url) => {
    // Prepare
    const policy = createOutboundTargetPolicy({ allowPrivate: true, allowLoopback: false, lookup: fakeLookup() });

    // Act
    const verdict = await policy.check(url);

    // Assess
    expect(verdict).toEqual({ allowed: true });
  });

  it('allows a hostname whose addresses are all public', async () => {
    // Prepare
    const lookup = fakeLookup({ 'hooks.example.com': [v4('93.184.216.34'), v6('2606:2800:220:1::1')] });
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

    // Act
    const verdict = await policy.check('https://hooks.example.com/zapfleet?x=1');

    // Assess
    expect(verdict).toEqual({ allowed: true });
    expect(lookup).toHaveBeenCalledWith('hooks.example.com');
  });

  it('refuses a hostname when any of its addresses is private, without quoting that address', async () => {
    // Prepare
    const lookup = fakeLookup({ 'mixed.example.com': [v4('93.184.216.34'), v4('10.1.2.3')] });
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

    // Act
    const verdict = await policy.check('https://mixed.example.com/hook');

    // Assess
    expect(verdict).toEqual({
      allowed: false,
      reason: 'host mixed.example.com resolves to an address that is private',
    });
  });

  it.each([
    [v6('::ffff:192.168.0.7'), 'private'],
    [v6('fd12:3456::1'), 'unique-local'],
    [v4('169.254.169.254'), 'link-local/metadata'],
    [v4('127.0.0.1'), 'loopback'],
  ])('refuses a hostname resolving to %o', async (resolved, expected) => {
    // Prepare
    const lookup = fakeLookup({ 'rebind.example.com': [resolved] });
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

    // Act
    const verdict = await policy.check('http://rebind.example.com/');

    // Assess
    expect(verdict.allowed).toBe(false);
    expect(verdict.allowed ? '' : verdict.reason).toContain(expected);
  });

  it('allows a hostname resolving to loopback when loopback is allowed', async () => {
    // Prepare
    const lookup = fakeLookup({ 'chatwoot.local': [v4('127.0.0.1'), v6('::1')] });
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: true, lookup });

    // Act
    const verdict = await policy.check('http://chatwoot.local:3000/');

    // Assess
    expect(verdict).toEqual({ allowed: true });
  });

  it.each(['ENOTFOUND', 'EAI_AGAIN'])('allows a hostname whose lookup fails with %s', async (code) => {
    // Prepare
    const lookup = vi.fn(async (): Promise<Resolved> => {
      throw Object.assign(new Error(`getaddrinfo ${code} hooks.example.com`), { code });
    });
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

    // Act
    const verdict = await policy.check('https://hooks.example.com/');

    // Assess
    expect(verdict).toEqual({ allowed: true });
    expect(lookup).toHaveBeenCalledOnce();
  });

  it('allows a hostname whose lookup does not answer within the timeout', async () => {
    // Prepare
    vi.useFakeTimers();
    const lookup = vi.fn((): Promise<Resolved> => new Promise(() => {}));
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

    // Act
    const pending = policy.check('https://slow.example.com/');
    await vi.advanceTimersByTimeAsync(2_000);
    const verdict = await pending;

    // Assess
    expect(verdict).toEqual({ allowed: true });
  });

  it.each(['http://2130706433/', 'http://0x7f.1/', 'http://0x7f000001/', 'http://017700000001/', 'http://127.1/'])(
    'refuses the unusual spelling %s of 127.0.0.1',
    async (url) => {
      // Prepare
      const lookup = fakeLookup();
      const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

      // Act
      const verdict = await policy.check(url);

      // Assess
      expect(verdict).toEqual({ allowed: false, reason: 'address 127.0.0.1 is loopback' });
      expect(lookup).not.toHaveBeenCalled();
    },
  );

  it('refuses an IPv4-mapped IPv6 loopback literal', async () => {
    // Prepare
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup: fakeLookup() });

    // Act
    const verdict = await policy.check('http://[::ffff:127.0.0.1]/');

    // Assess
    expect(verdict).toEqual({ allowed: false, reason: 'address ::ffff:7f00:1 (IPv4 127.0.0.1) is loopback' });
  });

  it.each(['ftp://files.example.com/x', 'file:///etc/passwd', 'gopher://example.com/', 'ws://example.com/'])(
    'refuses the non-http(s) URL %s even when private targets are allowed',
    async (url) => {
      // Prepare
      const lookup = fakeLookup();
      const policy = createOutboundTargetPolicy({ allowPrivate: true, allowLoopback: true, lookup });

      // Act
      const verdict = await policy.check(url);

      // Assess
      expect(verdict).toEqual({ allowed: false, reason: 'unsupported scheme' });
      expect(lookup).not.toHaveBeenCalled();
    },
  );

  it('refuses an unparsable URL without echoing it', async () => {
    // Prepare
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup: fakeLookup() });

    // Act
    const verdict = await policy.check('http://user:hunter2@/no-host');

    // Assess
    expect(verdict).toEqual({ allowed: false, reason: 'invalid URL' });
  });

  it.each([
    ['http://admin:s3cr3t-token@10.0.0.5/hook', undefined],
    ['https://admin:s3cr3t-token@internal.example.com/hook?token=s3cr3t-token', [v4('192.168.4.2')]],
    ['http://admin:s3cr3t-token@localhost/', undefined],
  ])('keeps the userinfo of %s out of the reason', async (url, resolved) => {
    // Prepare
    const lookup = fakeLookup(resolved ? { 'internal.example.com': resolved } : {});
    const policy = createOutboundTargetPolicy({ allowPrivate: false, allowLoopback: false, lookup });

    // Act
    const verdict = await policy.check(url);

    // Assess
    expect(verdict.allowed).toBe(false);
    const reason = verdict.allowed ? '' : verdict.reason;
    expect(reason).not.toContain('s3cr3t');
    expect(reason).not.toContain('admin');
  });
});
