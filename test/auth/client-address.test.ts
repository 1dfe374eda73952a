import { describe, expect, it } from 'vitest';
import { coarseAddress, throttleKey, UNKNOWN_CLIENT } from '../../src/auth/client-address.js';

describe('coarseAddress', () => {
  it.each([
    ['127.0.0.1', '127.0.0.0/24'],
    ['203.0.113.77', '203.0.113.0/24'],
    ['10.1.2.255', '10.1.2.0/24'],
    ['0.0.0.0', '0.0.0.0/24'],
  ])('keeps the /24 of IPv4 %s', (address, expected) => {
    expect(coarseAddress(address)).toBe(expected);
  });

  it.each([
    ['::ffff:1.2.3.4', '1.2.3.0/24'],
    ['::FFFF:192.168.10.20', '192.168.10.0/24'],
  ])('treats IPv4-mapped IPv6 %s as its IPv4 address', (address, expected) => {
    expect(coarseAddress(address)).toBe(expected);
  });

  it.each([
    ['2001:0db8:85a3:0000:0000:8a2e:0370:7334', '2001:db8:85a3::/48'],
    ['2001:db8:85a3:1:2:8a2e:370:7334', '2001:db8:85a3::/48'],
    ['2001:db8::1', '2001:db8::/48'],
    ['2001:DB8:ABCD::', '2001:db8:abcd::/48'],
    ['fe80::1', 'fe80::/48'],
    ['fe80::1%eth0', 'fe80::/48'],
    ['::', '::/48'],
    ['::1', '::/48'],
    ['::2001:db8:1:2:3', '::/48'],
    ['2001:db8:1:2::', '2001:db8:1::/48'],
    ['1:2:3:4:5:6:7::', '1:2:3::/48'],
  ])('keeps the first three groups of IPv6 %s as a /48', (address, expected) => {
    expect(coarseAddress(address)).toBe(expected);
  });

  it('gives the full and the compressed form of one address the same network', () => {
    expect(coarseAddress('2001:0db8:0000:0000:0000:0000:0000:0001')).toBe(coarseAddress('2001:db8::1'));
    expect(coarseAddress('2001:db8:0:0:1:0:0:1')).toBe(coarseAddress('2001:db8::1:0:0:1'));
    expect(coarseAddress('0000:0000:0000:0000:0000:0000:0000:0001')).toBe(coarseAddress('::1'));
  });

  it('never returns the full address of an IPv6 client', () => {
    const coarse = coarseAddress('2001:db8:85a3:1:2:8a2e:370:7334');
    expect(coarse).not.toContain('7334');
    expect(coarse?.endsWith('::/48')).toBe(true);
  });

  it('answers null for null', () => {
    expect(coarseAddress(null)).toBeNull();
  });

  it.each([
    ['an empty string', ''],
    ['a word', 'localhost'],
    ['an out-of-range IPv4', '256.1.1.1'],
    ['three octets', '1.2.3'],
    ['a mapped address with a bad IPv4', '::ffff:999.1.1.1'],
    ['too many IPv6 groups', '1:2:3:4:5:6:7:8:9'],
    ['two double colons', '1::2::3'],
    ['an address with a port', '127.0.0.1:8080'],
    ['an IPv6 zone index of garbage', 'fe80::1%'],
  ])('answers null for garbage: %s', (_name, address) => {
    expect(coarseAddress(address)).toBeNull();
  });
});

describe('throttleKey', () => {
  it('keys an IPv4 client by its full address', () => {
    expect(throttleKey('203.0.113.7')).toBe('203.0.113.7');
    expect(throttleKey('203.0.113.8')).not.toBe(throttleKey('203.0.113.7'));
  });

  it('keys an IPv4-mapped IPv6 client as the IPv4 address it carries', () => {
    expect(throttleKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('keys every address of one IPv6 /64 alike, whatever its spelling, and another /64 apart', () => {
    const key = throttleKey('2001:db8:1:2::1');
    expect(key).toBe('2001:db8:1:2::/64');
    for (const address of ['2001:db8:1:2:ffff:ffff:ffff:ffff', '2001:0DB8:0001:0002:0:0:0:99', '2001:db8:1:2::1%eth0']) expect(throttleKey(address)).toBe(key);
    expect(throttleKey('2001:db8:1:3::1')).not.toBe(key);
  });

  it.each([null, '', 'localhost', '1.2.3', '127.0.0.1:8080'])('puts %s in the shared unknown bucket', (address) => {
    expect(throttleKey(address)).toBe(UNKNOWN_CLIENT);
  });
});
