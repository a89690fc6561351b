// The trusted-proxy list and the choice of a peer's address from a socket
// address and its X-Forwarded-For (server/transports/peer-address.ts): what
// is trusted, how a chain of proxies is walked, and that neither a peer that
// is not a proxy nor a garbled header can choose the address we keep.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_FORWARDED_CHARS, peerAddress, TrustedProxies } from '../../server/transports/peer-address.js';

function from(socket: string | undefined, xff?: string | string[]): { socket: { remoteAddress: string | undefined }; headers: Record<string, string | string[]> } {
  return { socket: { remoteAddress: socket }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } };
}

test('addresses and CIDR ranges, IPv4 and IPv6; an IPv4 entry covers its IPv4-mapped IPv6 form', () => {
  const t = new TrustedProxies(['127.0.0.1', '10.0.0.0/8', '::1', 'fd00::/8', '192.168.1.77/32']);
  for (const yes of ['127.0.0.1', '10.0.0.1', '10.255.255.254', '::1', 'fd12:3456::1', '192.168.1.77', '::ffff:127.0.0.1', '::ffff:10.1.2.3']) {
    assert.equal(t.has(yes), true, yes);
  }
  for (const no of ['127.0.0.2', '11.0.0.1', '::2', 'fe80::1', '192.168.1.78', '203.0.113.7', 'localhost', '', 'garbage']) {
    assert.equal(t.has(no), false, no);
  }
  assert.equal(new TrustedProxies(['0.0.0.0/0']).has('198.51.100.1'), true);
  assert.equal(new TrustedProxies(['::/0']).has('2001:db8::1'), true);
});

test('an entry that is not an address or a range is refused, by name', () => {
  for (const bad of ['', 'localhost', '10.0.0.0/33', '::1/129', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/ 8', '300.1.1.1', '1.2.3', 'fe80::1%eth0', ' 127.0.0.1', '10.0.0.0/1e1']) {
    assert.throws(() => new TrustedProxies([bad]), (e: Error) => e instanceof RangeError && e.message.includes(JSON.stringify(bad)), JSON.stringify(bad));
  }
});

test('no trusted proxies: the socket address, whatever the header says', () => {
  assert.equal(peerAddress(from('127.0.0.1', '203.0.113.7'), undefined), '127.0.0.1');
  assert.equal(peerAddress(from('127.0.0.1', '203.0.113.7'), new TrustedProxies([])), '127.0.0.1');
});

test('a socket that is not a trusted proxy cannot claim an address', () => {
  const t = new TrustedProxies(['127.0.0.1']);
  assert.equal(peerAddress(from('198.51.100.9', '203.0.113.7'), t), '198.51.100.9');
  assert.equal(peerAddress(from('198.51.100.9', '127.0.0.1'), t), '198.51.100.9');
  assert.equal(peerAddress(from(undefined, '203.0.113.7'), t), undefined);
});

test('from a trusted proxy: the right-most address that is not a trusted proxy', () => {
  const t = new TrustedProxies(['127.0.0.1', '10.0.0.0/8', '::1']);
  assert.equal(peerAddress(from('127.0.0.1', '203.0.113.7'), t), '203.0.113.7');
  assert.equal(peerAddress(from('127.0.0.1'), t), '127.0.0.1', 'no header');
  assert.equal(peerAddress(from('::ffff:127.0.0.1', '203.0.113.7'), t), '203.0.113.7', 'a dual-stack listener');
  // Two proxies: the outer one (10.1.1.1) saw the peer; what the peer wrote itself is left of it.
  assert.equal(peerAddress(from('127.0.0.1', '6.6.6.6, 203.0.113.7, 10.1.1.1'), t), '203.0.113.7');
  assert.equal(peerAddress(from('::1', '2001:db8::7 , ::1'), t), '2001:db8::7');
  // Every hop a trusted proxy: the left-most (as nginx's real_ip_recursive).
  assert.equal(peerAddress(from('127.0.0.1', '10.0.0.2, 10.0.0.3'), t), '10.0.0.2');
  // A peer that writes a trusted address cannot hide behind it: the hop right of it is taken.
  assert.equal(peerAddress(from('127.0.0.1', '10.9.9.9, 203.0.113.7'), t), '203.0.113.7');
  // Repeated headers arrive joined by Node; an array is not how they come and is not read.
  assert.equal(peerAddress(from('127.0.0.1', ['203.0.113.7', '198.51.100.1']), t), '127.0.0.1');
});

test('a malformed entry where it would be read: the socket address; garbage left of the peer is never read', () => {
  const t = new TrustedProxies(['127.0.0.1', '10.0.0.0/8']);
  for (const garbled of ['', ' ', 'unknown', '203.0.113.7:4711', '[2001:db8::1]', '203.0.113.7, , 10.0.0.2', '203.0.113.7,', 'for=203.0.113.7', '203.0.113.7 10.0.0.2', '"203.0.113.7"', 'fe80::1%eth0', `::1%${'a'.repeat(300)}`]) {
    assert.equal(peerAddress(from('127.0.0.1', garbled), t), '127.0.0.1', JSON.stringify(garbled));
  }
  assert.equal(peerAddress(from('127.0.0.1', 'not an address, <script>, 203.0.113.7, 10.0.0.2'), t), '203.0.113.7');
});

test('only the end of a long header is read; a cut first entry is never taken for an address', () => {
  const t = new TrustedProxies(['127.0.0.1', '10.0.0.0/8']);
  const filler = Array.from({ length: 200 }, (_, i) => `198.51.100.${i % 250}`).join(', ');
  assert.ok(filler.length > MAX_FORWARDED_CHARS);
  assert.equal(peerAddress(from('127.0.0.1', `${filler}, 203.0.113.7, 10.0.0.2`), t), '203.0.113.7');
  // All that is read is trusted, and what is left of it was cut off: the left-most whole entry read.
  const proxies = Array.from({ length: 200 }, (_, i) => `10.0.${i}.1`).join(', ');
  const got = peerAddress(from('127.0.0.1', `203.0.113.7, ${proxies}`), t) ?? '';
  assert.match(got, /^10\.0\.\d+\.1$/);
  assert.ok(`, ${proxies}`.slice(-MAX_FORWARDED_CHARS).includes(`, ${got},`), 'a whole entry, not the tail of a cut one');
  // A cut inside an address can leave another valid one (233.… cut to 33.…): it is never read.
  const cut = `233.100.113.177${', 10.0.0.2'.repeat(101)}`;
  assert.equal(cut.slice(-MAX_FORWARDED_CHARS).split(',')[0], '33.100.113.177');
  assert.equal(peerAddress(from('127.0.0.1', cut), t), '10.0.0.2');
});
