/**
 * Server-side request forgery guard for webhooks: a destination that resolves to a private, loopback,
 * link-local, unique-local, multicast or otherwise special address is refused unless configuration
 * allows it. The check runs in the socket's DNS lookup, so the address connected to is the address
 * checked (no DNS-rebinding window).
 */
import dns from 'node:dns';
import net from 'node:net';

export interface NetPolicy {
  allowPrivate: boolean;
  /** Host names or IP literals allowed even when private (lower case). */
  allowHosts: string[];
}

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

const V4_BLOCKED: [string, number][] = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];

function blockedV4(ip: string): boolean {
  const n = v4ToInt(ip);
  return V4_BLOCKED.some(([base, bits]) => {
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return (n & mask) >>> 0 === (v4ToInt(base) & mask) >>> 0;
  });
}

/** Expand an IPv6 address to eight 16-bit groups. */
function v6Groups(ip: string): number[] {
  let s = ip.toLowerCase().split('%')[0]!;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (v4) {
    const n = v4ToInt(v4[1]!);
    s = s.slice(0, -v4[1]!.length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g || '0', 16));
}

function blockedV6(ip: string): boolean {
  const g = v6Groups(ip);
  if (g.length !== 8) return true;
  const allZeroPrefix = g.slice(0, 5).every((x) => x === 0);
  if (allZeroPrefix && g[5] === 0xffff) {
    // IPv4-mapped: judge the IPv4 address.
    return blockedV4(`${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`);
  }
  if (g.every((x) => x === 0)) return true; // ::
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return true; // ::1
  const first = g[0]!;
  if ((first & 0xfe00) === 0xfc00) return true; // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80) return true; // fe80::/10 link local
  if ((first & 0xffc0) === 0xfec0) return true; // fec0::/10 site local (deprecated)
  if ((first & 0xff00) === 0xff00) return true; // multicast
  if (first === 0x2001 && g[1] === 0x0db8) return true; // documentation
  if (first === 0x0064 && g[1] === 0xff9b) return true; // NAT64 can reach IPv4 private space
  if (first === 0x2002) return true; // 6to4 embeds an IPv4 address
  return false;
}

/** True when an address must not be reached from the server without explicit permission. */
export function isPrivateAddress(ip: string): boolean {
  const family = net.isIP(ip);
  if (family === 4) return blockedV4(ip);
  if (family === 6) return blockedV6(ip);
  return true;
}

export class DestinationRefused extends Error {
  constructor(host: string, address: string) {
    super(`destination ${host} resolves to ${address}, a private or special address; refused`);
    this.name = 'DestinationRefused';
  }
}

function hostAllowed(policy: NetPolicy, host: string): boolean {
  return policy.allowPrivate || policy.allowHosts.includes(host.toLowerCase().replace(/^\[|\]$/g, ''));
}

/** Check an IP-literal host (sockets skip the DNS lookup for those). Throws DestinationRefused. */
export function checkLiteralHost(policy: NetPolicy, host: string): void {
  const bare = host.replace(/^\[|\]$/g, '');
  if (net.isIP(bare) && isPrivateAddress(bare) && !hostAllowed(policy, bare)) {
    throw new DestinationRefused(host, bare);
  }
}

/** A `lookup` for http.request that refuses private addresses for hosts not allowed by the policy. */
export function guardedLookup(policy: NetPolicy): net.LookupFunction {
  return ((hostname: string, options: dns.LookupOptions, callback: (...args: unknown[]) => void) => {
    dns.lookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err);
      const list = addresses;
      if (!hostAllowed(policy, hostname)) {
        const bad = list.find((a) => isPrivateAddress(a.address));
        if (bad) return callback(new DestinationRefused(hostname, bad.address));
      }
      if (options.all) return callback(null, list);
      const first = list[0];
      if (!first) return callback(new Error(`no address for ${hostname}`));
      callback(null, first.address, first.family);
    });
  }) as net.LookupFunction;
}
