import ipaddr from 'ipaddr.js';

/**
 * A client address as ipaddr.js reads it, an IPv4-mapped IPv6 address as the IPv4 address it carries; null
 * for anything that is not an address in its usual spelling (IPv4 only as four decimal parts).
 */
function parseAddress(address: string | null): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (address === null) return null;
  if (!ipaddr.IPv4.isValidFourPartDecimal(address) && !ipaddr.IPv6.isValid(address)) return null;
  return ipaddr.process(address);
}

function network(ip: ipaddr.IPv4 | ipaddr.IPv6, prefix: number): string {
  const base = ip.kind() === 'ipv4' ? ipaddr.IPv4.networkAddressFromCIDR(`${ip.toString()}/${prefix}`) : ipaddr.IPv6.networkAddressFromCIDR(`${ip.toString()}/${prefix}`);
  return `${base.toString()}/${prefix}`;
}

/**
 * Coarsens an address for the session list: the /24 of an IPv4 address, the /48 of an IPv6 one. Enough to
 * tell "my office" from "somewhere else", not enough to single out a person.
 */
export function coarseAddress(address: string | null): string | null {
  const ip = parseAddress(address);
  if (ip === null) return null;
  return network(ip, ip.kind() === 'ipv4' ? 24 : 48);
}

/** The key of every client whose address is unknown or unreadable: they share one budget. */
export const UNKNOWN_CLIENT = 'unknown';

/**
 * Whom the throttle counts as one client: an IPv4 address, or the /64 of an IPv6 one. A /64 is what one home
 * line or one host gets, and it holds 2^64 addresses: keyed by the full address, anyone with one could rotate
 * addresses and guess without limit.
 */
export function throttleKey(address: string | null): string {
  const ip = parseAddress(address);
  if (ip === null) return UNKNOWN_CLIENT;
  return ip.kind() === 'ipv4' ? ip.toString() : network(ip, 64);
}
