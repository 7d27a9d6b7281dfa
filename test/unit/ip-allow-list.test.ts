import { describe, expect, it } from 'vitest';
import { clientAddress, parseIpList, validateIpList } from '../../src/core/ip-allow-list.ts';

describe('parseIpList', () => {
  it('matches IPv4 CIDRs and single addresses', () => {
    const m = parseIpList(['10.0.0.0/8', '192.168.1.5'], 'allowed_ips');
    expect(m.size).toBe(2);
    expect(m.matches('10.0.0.1')).toBe(true);
    expect(m.matches('10.255.255.255')).toBe(true);
    expect(m.matches('11.0.0.1')).toBe(false);
    expect(m.matches('192.168.1.5')).toBe(true);
    expect(m.matches('192.168.1.6')).toBe(false);
  });

  it('matches IPv6 CIDRs and single addresses in any spelling', () => {
    const m = parseIpList(['2001:db8::/32', '::1'], 'allowed_ips');
    expect(m.matches('2001:db8::1')).toBe(true);
    expect(m.matches('2001:DB8:ffff::1')).toBe(true);
    expect(m.matches('2001:db9::1')).toBe(false);
    expect(m.matches('::1')).toBe(true);
    expect(m.matches('0:0:0:0:0:0:0:1')).toBe(true);
    expect(m.matches('::2')).toBe(false);
    expect(m.matches('127.0.0.1')).toBe(false);
  });

  it('matches IPv4-mapped IPv6 addresses against IPv4 ranges and the reverse', () => {
    const v4 = parseIpList(['10.0.0.0/8', '192.168.1.5'], 'allowed_ips');
    expect(v4.matches('::ffff:10.1.2.3')).toBe(true);
    expect(v4.matches('::FFFF:10.1.2.3')).toBe(true);
    expect(v4.matches('::ffff:a01:203')).toBe(true);
    expect(v4.matches('0:0:0:0:0:ffff:192.168.1.5')).toBe(true);
    expect(v4.matches('::ffff:11.1.2.3')).toBe(false);
    // IPv4-compatible (deprecated, not mapped) is a different address.
    expect(v4.matches('::10.1.2.3')).toBe(false);

    const mapped = parseIpList(['::ffff:10.0.0.0/104', '::ffff:192.168.1.5'], 'allowed_ips');
    expect(mapped.matches('10.1.2.3')).toBe(true);
    expect(mapped.matches('192.168.1.5')).toBe(true);
    expect(mapped.matches('11.1.2.3')).toBe(false);
  });

  it('keeps IPv4 and IPv6 ranges apart, except IPv6 ranges covering ::ffff:0:0/96', () => {
    expect(parseIpList(['0.0.0.0/0'], 'f').matches('2001:db8::1')).toBe(false);
    expect(parseIpList(['2001:db8::/32'], 'f').matches('1.2.3.4')).toBe(false);
    // BlockList sees IPv4 as its mapped form, so "all IPv6" includes all IPv4.
    expect(parseIpList(['::/0'], 'f').matches('1.2.3.4')).toBe(true);
  });

  it('trims entries and accepts /0 and full-length prefixes', () => {
    const m = parseIpList([' 10.0.0.0/8 ', '1.2.3.4/32', '2001:db8::5/128'], 'f');
    expect(m.matches('10.9.9.9')).toBe(true);
    expect(m.matches('1.2.3.4')).toBe(true);
    expect(m.matches('2001:db8::5')).toBe(true);
    expect(m.matches('2001:db8::6')).toBe(false);
    expect(parseIpList(['0.0.0.0/0'], 'f').matches('203.0.113.9')).toBe(true);
  });

  it('an empty list matches nothing', () => {
    const m = parseIpList([], 'allowed_ips');
    expect(m.size).toBe(0);
    expect(m.matches('127.0.0.1')).toBe(false);
  });

  it('returns false for garbage instead of throwing', () => {
    const m = parseIpList(['0.0.0.0/0', '::/0'], 'f');
    for (const junk of ['', 'garbage', '10.0.0.1/8', '1.2.3.4:80', '[::1]', '999.1.1.1', ' 10.0.0.1']) {
      expect(m.matches(junk)).toBe(false);
    }
    expect(m.matches(undefined as unknown as string)).toBe(false);
    expect(m.matches(42 as unknown as string)).toBe(false);
  });

  it.each([
    ['10.0.0.0/33', 'allowed_ips: "10.0.0.0/33" is not an IP address or CIDR range'],
    ['2001:db8::/129', 'allowed_ips: "2001:db8::/129" is not an IP address or CIDR range'],
    ['10.0.0.0/', 'allowed_ips: "10.0.0.0/" is not an IP address or CIDR range'],
    ['10.0.0.0/-1', 'allowed_ips: "10.0.0.0/-1" is not an IP address or CIDR range'],
    ['10.0.0.0/8.5', 'allowed_ips: "10.0.0.0/8.5" is not an IP address or CIDR range'],
    ['10.0.0.0/8/8', 'allowed_ips: "10.0.0.0/8/8" is not an IP address or CIDR range'],
    ['/8', 'allowed_ips: "/8" is not an IP address or CIDR range'],
    ['300.1.1.1', 'allowed_ips: "300.1.1.1" is not an IP address or CIDR range'],
    ['localhost', 'allowed_ips: "localhost" is not an IP address or CIDR range'],
    ['', 'allowed_ips: "" is not an IP address or CIDR range'],
  ])('rejects %j naming the field and entry', (entry, message) => {
    expect(() => parseIpList(['10.0.0.0/8', entry], 'allowed_ips')).toThrow(new Error(message));
  });
});

describe('validateIpList', () => {
  it('returns the first invalid entry', () => {
    expect(validateIpList(['10.0.0.0/8', '::1', '2001:db8::/32'])).toBeUndefined();
    expect(validateIpList([])).toBeUndefined();
    expect(validateIpList(['10.0.0.0/8', 'nope', '1.2.3.4/40'])).toBe('nope');
  });
});

describe('clientAddress', () => {
  const proxies = parseIpList(['10.0.0.0/8', 'fd00::/8'], 'trusted_proxies');

  it('returns the peer when there is no trusted list', () => {
    expect(clientAddress('203.0.113.7', '198.51.100.1', undefined)).toBe('203.0.113.7');
  });

  it('ignores X-Forwarded-For from an untrusted peer (spoofing)', () => {
    expect(clientAddress('203.0.113.7', '10.0.0.1', proxies)).toBe('203.0.113.7');
    expect(clientAddress('203.0.113.7', ['198.51.100.1', '127.0.0.1'], proxies)).toBe('203.0.113.7');
  });

  it('returns the peer when a trusted proxy sends no X-Forwarded-For', () => {
    expect(clientAddress('10.0.0.2', undefined, proxies)).toBe('10.0.0.2');
    expect(clientAddress('10.0.0.2', '', proxies)).toBe('10.0.0.2');
    expect(clientAddress('10.0.0.2', ' , ', proxies)).toBe('10.0.0.2');
  });

  it('takes the right-most untrusted hop, not the client-supplied left end', () => {
    // The client sent "X-Forwarded-For: 1.1.1.1"; the proxy appended what it saw.
    expect(clientAddress('10.0.0.2', '1.1.1.1, 203.0.113.7', proxies)).toBe('203.0.113.7');
    expect(clientAddress('10.0.0.2', '1.1.1.1, 203.0.113.7, 10.0.0.9, 10.0.0.8', proxies)).toBe('203.0.113.7');
  });

  it('joins several headers in order', () => {
    expect(clientAddress('10.0.0.2', ['1.1.1.1, 203.0.113.7', '10.0.0.9'], proxies)).toBe('203.0.113.7');
  });

  it('returns the left-most hop when every hop is trusted', () => {
    expect(clientAddress('10.0.0.2', '10.0.0.5, 10.0.0.9', proxies)).toBe('10.0.0.5');
  });

  it('strips the IPv4-mapped prefix from the peer and from hops', () => {
    expect(clientAddress('::ffff:203.0.113.7', undefined, undefined)).toBe('203.0.113.7');
    expect(clientAddress('::ffff:203.0.113.7', '1.1.1.1', proxies)).toBe('203.0.113.7');
    expect(clientAddress('::ffff:10.0.0.2', '::ffff:203.0.113.7', proxies)).toBe('203.0.113.7');
    expect(clientAddress('::ffff:10.0.0.2', '::FFFF:CB00:7107', proxies)).toBe('203.0.113.7');
  });

  it('handles IPv6 peers and hops, canonicalising their spelling', () => {
    expect(clientAddress('2001:db8::1', undefined, undefined)).toBe('2001:db8::1');
    expect(clientAddress('fd00::1', '2001:DB8:0:0::7, fd00::2', proxies)).toBe('2001:db8::7');
    expect(clientAddress('fd00::1', '[2001:db8::7]:51234', proxies)).toBe('2001:db8::7');
  });

  it('strips ports some proxies append', () => {
    expect(clientAddress('10.0.0.2', '203.0.113.7:51234', proxies)).toBe('203.0.113.7');
  });

  it('returns an empty string when the address is unknown', () => {
    expect(clientAddress(undefined, '203.0.113.7', proxies)).toBe('');
    expect(clientAddress('', undefined, undefined)).toBe('');
    // A trusted proxy forwarded something that is not an address.
    expect(clientAddress('10.0.0.2', '203.0.113.7, unknown', proxies)).toBe('');
  });
});
