import { promises as dnsPromises } from 'node:dns';
import ipaddr from 'ipaddr.js';
import type { IPv4, IPv6 } from 'ipaddr.js';
import type { OutboundTargetPolicy, OutboundVerdict } from '../../domain/ports/outbound-target.port.ts';

export type { OutboundVerdict };

type Lookup = (host: string) => Promise<{ address: string; family: number }[]>;

interface OutboundTargetPolicyOptions {
  /** Private, CGNAT, link-local/metadata, unique-local, reserved… targets are allowed (self-hosted operators). */
  allowPrivate: boolean;
  /** Loopback targets are allowed (embedded mode talking to services on the same machine). */
  allowLoopback: boolean;
  lookup?: Lookup;
}

type AddressClass =
  | 'public'
  | 'loopback'
  | 'private'
  | 'carrierGradeNat'
  | 'linkLocal'
  | 'uniqueLocal'
  | 'unspecified'
  | 'broadcast'
  | 'multicast'
  | 'reserved';

type ForbiddenClass = Exclude<AddressClass, 'public'>;

interface Classification {
  kind: AddressClass;
  /** The IPv4 address an IPv6 form carries (mapped, NAT64, 6to4), shown so the reason is understandable. */
  embeddedIPv4?: string;
}

// Phrases follow "is": the reasons reach API users inside a 400 message.
const DESCRIPTIONS: Record<ForbiddenClass, string> = {
  loopback: 'loopback',
  private: 'private',
  carrierGradeNat: 'in the carrier-grade NAT range',
  linkLocal: 'a link-local/metadata address',
  uniqueLocal: 'unique-local (private)',
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  reserved: 'reserved',
};

// Names that never need DNS to be recognised: `*.localhost` is loopback by RFC 6761, and the
// metadata names only resolve inside a cloud, so a configuration-time lookup elsewhere would
// fail and let them through.
const METADATA_HOSTS = new Set(['metadata.google.internal', 'metadata']);

// getaddrinfo has no timeout of its own and cannot be cancelled; we only stop waiting for it.
const LOOKUP_TIMEOUT_MS = 2_000;

// Only 2000::/3 is allocated for global unicast; ipaddr.js calls anything it has no name for
// "unicast", including unallocated space and the deprecated IPv4-compatible ::a.b.c.d form.
const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3');
const NAT64_WELL_KNOWN = ipaddr.IPv6.parseCIDR('64:ff9b::/96');

const defaultLookup: Lookup = (host) => dnsPromises.lookup(host, { all: true, verbatim: true });

/**
 * Refuses customer-supplied URLs that point at the operator's own network (SSRF protection).
 * Only http(s) is accepted; IP literals and well-known local names are classified directly,
 * other hosts are resolved and refused if ANY of their addresses is forbidden, because the
 * HTTP client may pick any of them.
 */
export function createOutboundTargetPolicy(opts: OutboundTargetPolicyOptions): OutboundTargetPolicy {
  const lookup = opts.lookup ?? defaultLookup;
  const permits = (kind: AddressClass): boolean =>
    kind === 'public' || opts.allowPrivate || (kind === 'loopback' && opts.allowLoopback);

  return {
    async check(rawUrl: string): Promise<OutboundVerdict> {
      let url: URL;
      try {
        url = new URL(rawUrl);
      } catch {
        // Never echo the input: it may carry credentials.
        return refused('invalid URL');
      }
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return refused('unsupported scheme');

      // Every address class is permitted, so resolving would only cost time.
      if (opts.allowPrivate) return ALLOWED;

      // Only the hostname is ever quoted: userinfo, path and query may hold secrets.
      const host = url.hostname;
      const literal = parseLiteral(host);
      if (literal === 'invalid') return refused('invalid address');
      if (literal) {
        const classification = classify(literal);
        if (permits(classification.kind)) return ALLOWED;
        return refused(`address ${describeAddress(literal, classification)} is ${describe(classification.kind)}`);
      }

      const name = host.replace(/\.+$/, '');
      const wellKnown: ForbiddenClass | undefined =
        name === 'localhost' || name.endsWith('.localhost')
          ? 'loopback'
          : METADATA_HOSTS.has(name)
            ? 'linkLocal'
            : undefined;
      if (wellKnown) return permits(wellKnown) ? ALLOWED : refused(`host ${host} is ${describe(wellKnown)}`);

      const addresses = await resolve(lookup, host);
      // An unresolvable host is allowed on purpose: this check runs when a URL is configured,
      // and a host may legitimately not resolve yet (or this machine may have no external DNS).
      // Refusing would block valid configuration, and it buys no safety because the delivery
      // path runs this check again against the address it actually connects to.
      if (!addresses) return ALLOWED;

      for (const { address } of addresses) {
        let parsed: IPv4 | IPv6;
        try {
          parsed = ipaddr.parse(address);
        } catch {
          return refused(`host ${host} resolves to an unrecognised address`);
        }
        const { kind } = classify(parsed);
        // The resolved address is not quoted: that would let API users map the internal DNS.
        if (!permits(kind)) return refused(`host ${host} resolves to an address that is ${describe(kind)}`);
      }
      return ALLOWED;
    },
  };
}

const ALLOWED: OutboundVerdict = { allowed: true };

function refused(reason: string): OutboundVerdict {
  return { allowed: false, reason };
}

function describe(kind: AddressClass): string {
  return kind === 'public' ? 'public' : DESCRIPTIONS[kind];
}

function describeAddress(address: IPv4 | IPv6, classification: Classification): string {
  const text = address.toString();
  return classification.embeddedIPv4 ? `${text} (IPv4 ${classification.embeddedIPv4})` : text;
}

/**
 * WHATWG URL has already rewritten odd IPv4 spellings (`2130706433`, `0x7f.1`, `127.1`) to
 * dotted decimal and rejected invalid ones, so only the canonical forms need recognising here.
 */
function parseLiteral(host: string): IPv4 | IPv6 | 'invalid' | undefined {
  if (host.startsWith('[') && host.endsWith(']')) {
    const inner = host.slice(1, -1);
    return ipaddr.IPv6.isValid(inner) ? ipaddr.IPv6.parse(inner) : 'invalid';
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(host)) return ipaddr.IPv4.parse(host);
  return undefined;
}

function classify(address: IPv4 | IPv6): Classification {
  return address.kind() === 'ipv4' ? { kind: classifyIPv4(address as IPv4) } : classifyIPv6(address as IPv6);
}

function classifyIPv4(address: IPv4): AddressClass {
  switch (address.range()) {
    // AS112 and AMT are globally routed anycast services, not local networks.
    case 'unicast':
    case 'as112':
    case 'amt':
      return 'public';
    case 'loopback':
      return 'loopback';
    case 'private':
      return 'private';
    case 'carrierGradeNat':
      return 'carrierGradeNat';
    case 'linkLocal':
      return 'linkLocal';
    case 'unspecified':
      // 0.0.0.0/8: connecting to 0.0.0.0 reaches the local host on Linux.
      return 'unspecified';
    case 'broadcast':
      return 'broadcast';
    case 'multicast':
      return 'multicast';
    default:
      // Reserved, documentation and benchmarking ranges, and anything a newer ipaddr.js names.
      return 'reserved';
  }
}

function classifyIPv6(address: IPv6): Classification {
  // IPv6 forms that carry an IPv4 address are judged by that address, otherwise
  // ::ffff:10.0.0.1 or 64:ff9b::a00:1 would slip past an IPv4-only rule.
  const embedded = embeddedIPv4(address);
  if (embedded) return { kind: classifyIPv4(embedded), embeddedIPv4: embedded.toString() };

  // Widened to string: ipaddr.js names ranges (deprecatedSiteLocal…) its typings omit.
  const range: string = address.range();
  switch (range) {
    case 'loopback':
      return { kind: 'loopback' };
    case 'unspecified':
      return { kind: 'unspecified' };
    case 'linkLocal':
      return { kind: 'linkLocal' };
    case 'uniqueLocal':
      // Includes fd00:ec2::254, the IPv6 instance-metadata address.
      return { kind: 'uniqueLocal' };
    case 'multicast':
      return { kind: 'multicast' };
    case 'unicast':
    case 'as112v6':
    case 'amt':
      return { kind: address.match(GLOBAL_UNICAST_V6) ? 'public' : 'reserved' };
    case 'deprecatedSiteLocal':
      // fec0::/10 is deprecated but may still be routed inside some networks.
      return { kind: 'private' };
    default:
      // Teredo, documentation, ORCHID, discard, local-use NAT64, and anything a newer ipaddr.js names.
      return { kind: 'reserved' };
  }
}

function embeddedIPv4(address: IPv6): IPv4 | undefined {
  const parts = address.parts;
  switch (address.range()) {
    case 'ipv4Mapped':
      return address.toIPv4Address();
    case 'rfc6145':
      return ipv4FromParts(parts[6], parts[7]);
    case 'rfc6052':
      // Only the well-known /96 prefix has a fixed place for the IPv4 address.
      return address.match(NAT64_WELL_KNOWN) ? ipv4FromParts(parts[6], parts[7]) : undefined;
    case '6to4':
      return ipv4FromParts(parts[1], parts[2]);
    default:
      return undefined;
  }
}

function ipv4FromParts(high: number | undefined, low: number | undefined): IPv4 {
  const hi = high ?? 0;
  const lo = low ?? 0;
  return new ipaddr.IPv4([hi >> 8, hi & 0xff, lo >> 8, lo & 0xff]);
}

async function resolve(lookup: Lookup, host: string): Promise<{ address: string }[] | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<undefined>((done) => {
    timer = setTimeout(() => done(undefined), LOOKUP_TIMEOUT_MS);
  });
  try {
    const addresses = await Promise.race([lookup(host), timedOut]);
    return addresses && addresses.length > 0 ? addresses : undefined;
  } catch {
    // ENOTFOUND, EAI_AGAIN, …: the caller treats "could not resolve" as one case.
    return undefined;
  } finally {
    clearTimeout(timer);
  }
}
