/**
 * IP allow lists (CIDR ranges and single addresses, IPv4 and IPv6) and the
 * client address behind trusted reverse proxies.
 *
 * Matching is delegated to Node's `net.BlockList`. It already treats IPv4 and
 * IPv4-mapped IPv6 (`::ffff:10.1.2.3`, what a dual-stack server's
 * `socket.remoteAddress` reports) as the same address in both directions, but
 * only when `check` is told the family: its default is 'ipv4', under which a
 * mapped address is invalid and silently fails to match. So every check passes
 * the family from `net.isIP`.
 */
import { BlockList, SocketAddress, isIP } from 'node:net';

export interface IpMatcher {
  matches(ip: string): boolean;
  /** Number of entries the matcher was built from. */
  readonly size: number;
}

type Family = 'ipv4' | 'ipv6';

interface IpRule {
  address: string;
  family: Family;
  /** Undefined for a single address. */
  prefix?: number;
}

// Digits only: Number() alone would accept '', ' 8', '0x8' and '8.0'.
const PREFIX = /^\d{1,3}$/;

function familyOf(ip: string): Family | undefined {
  const version = isIP(ip);
  if (version === 4) return 'ipv4';
  if (version === 6) return 'ipv6';
  return undefined;
}

function parseRule(entry: string): IpRule | undefined {
  const text = entry.trim();
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  const family = familyOf(address);
  if (family === undefined) return undefined;
  if (slash === -1) return { address, family };
  const prefixText = text.slice(slash + 1);
  if (!PREFIX.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > (family === 'ipv4' ? 32 : 128)) return undefined;
  return { address, family, prefix };
}

/** The first entry that is not an IP address or CIDR range, for zod refinements. */
export function validateIpList(entries: readonly string[]): string | undefined {
  return entries.find((entry) => parseRule(entry) === undefined);
}

/**
 * Builds a matcher from config entries. `field` names the setting in the error
 * so the operator can find the bad line.
 */
export function parseIpList(entries: readonly string[], field: string): IpMatcher {
  const list = new BlockList();
  for (const entry of entries) {
    const rule = parseRule(entry);
    if (rule === undefined) {
      throw new Error(`${field}: ${JSON.stringify(entry)} is not an IP address or CIDR range`);
    }
    if (rule.prefix === undefined) list.addAddress(rule.address, rule.family);
    else list.addSubnet(rule.address, rule.prefix, rule.family);
  }
  return {
    size: entries.length,
    matches(ip: string): boolean {
      if (typeof ip !== 'string') return false;
      const family = familyOf(ip);
      if (family === undefined) return false;
      try {
        return list.check(ip, family);
      } catch {
        // isIP and BlockList parse separately; never let a disagreement become a 500.
        return false;
      }
    },
  };
}

const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/;
const IPV4_WITH_PORT = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/;
const BRACKETED_IPV6 = /^\[([^\]]+)\](?::\d{1,5})?$/;

/**
 * Canonical text for an address so logs, rate-limit keys and allow lists see
 * one spelling per client: mapped IPv4 becomes plain IPv4 and IPv6 is
 * lower-cased and compressed. Returns undefined for anything that is not an IP.
 */
function canonicalAddress(raw: string): string | undefined {
  let ip = raw.trim();
  // Some proxies (Azure Application Gateway, for one) append the peer's port.
  const bracketed = BRACKETED_IPV6.exec(ip);
  if (bracketed) ip = bracketed[1];
  else {
    const withPort = IPV4_WITH_PORT.exec(ip);
    if (withPort) ip = withPort[1];
  }
  const family = familyOf(ip);
  if (family === 'ipv4') return ip;
  if (family === undefined) return undefined;
  // SocketAddress would drop a zone id; link-local addresses keep theirs as given.
  if (!ip.includes('%')) {
    try {
      ip = new SocketAddress({ address: ip, family: 'ipv6' }).address;
    } catch {
      return undefined;
    }
  }
  const mapped = MAPPED_IPV4.exec(ip);
  return mapped ? mapped[1] : ip;
}

function forwardedChain(forwardedFor: string | string[] | undefined): string[] {
  if (forwardedFor === undefined) return [];
  const headers = typeof forwardedFor === 'string' ? [forwardedFor] : forwardedFor;
  const hops: string[] = [];
  for (const header of headers) {
    for (const hop of header.split(',')) {
      const trimmed = hop.trim();
      if (trimmed !== '') hops.push(trimmed);
    }
  }
  return hops;
}

/**
 * The client's address. `X-Forwarded-For` is believed only when the direct peer
 * is a trusted proxy, and then only as far left as trusted proxies vouch for it:
 * each proxy appends the address it saw, so everything left of the first
 * untrusted hop may have been written by the client itself.
 *
 * Returns '' when the address cannot be determined: no peer, or a trusted proxy
 * forwarded something that is not an IP (better no address than one that a
 * client chose).
 */
export function clientAddress(
  remoteAddress: string | undefined,
  forwardedFor: string | string[] | undefined,
  trusted: IpMatcher | undefined,
): string {
  if (remoteAddress === undefined || remoteAddress === '') return '';
  const peer = canonicalAddress(remoteAddress) ?? remoteAddress;
  if (trusted === undefined || !trusted.matches(peer)) return peer;
  const hops = forwardedChain(forwardedFor);
  if (hops.length === 0) return peer;
  let address = peer;
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = canonicalAddress(hops[i]);
    if (hop === undefined) return '';
    address = hop;
    if (!trusted.matches(hop)) return hop;
  }
  return address;
}
