// Registered devices. Only a SHA-256 of each token is stored: the token is
// shown once by `devices add` and a stolen database does not let anyone
// impersonate a bridge. The last hello (firmware, ports) is kept so that
// printers of offline devices can still be listed and addressed.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PortInfo } from '../../protocol/device-messages.js';
import { PrintbridgeError } from '../errors.js';
import { Interned } from '../interned.js';
import { changesElsewhere, type Store } from './db.js';

export const DEVICE_ID = /^[A-Za-z0-9._-]{1,64}$/;

// Only devices tagged WEBLINK_TAG (`devices add SERIAL --weblink`) log in at
// the Weblink endpoint (their token is the printer's Basic password) and
// answer printer.sgd; they cannot log in as a bridge.
import { WEBLINK_TAG } from '../../protocol/client-messages.js';
export { WEBLINK_TAG };

export function isValidDeviceId(id: string): boolean {
  return DEVICE_ID.test(id);
}

export interface DeviceRecord {
  id: string;
  tags: string[];
  created: number;
  lastSeen: number | undefined;
  fw: string | undefined;
  ports: PortInfo[];
  address: string | undefined;
}

interface DeviceRow {
  id: string;
  tags: string;
  created: number;
  last_seen: number | null;
  fw: string | null;
  ports: string;
  address: string | null;
}

const TAG = /^[A-Za-z0-9._:-]{1,64}$/;

function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

function fromRow(row: DeviceRow): DeviceRecord {
  return {
    id: row.id,
    tags: JSON.parse(row.tags) as string[],
    created: row.created,
    lastSeen: row.last_seen ?? undefined,
    fw: row.fw ?? undefined,
    ports: JSON.parse(row.ports) as PortInfo[],
    address: row.address ?? undefined,
  };
}

/** Registers a device and returns its token; the token is not stored and cannot be shown again. */
export function addDevice(store: Store, id: string, tags: string[], now = Date.now()): string {
  // The CLI passes what a person typed, so these are coded errors, not TypeErrors.
  if (!isValidDeviceId(id)) throw new PrintbridgeError('BAD_FIELD', `device id must match ${DEVICE_ID}: ${JSON.stringify(id)}`);
  for (const tag of tags) {
    if (!TAG.test(tag)) throw new PrintbridgeError('BAD_FIELD', `tag must match ${TAG}: ${JSON.stringify(tag)}`);
  }
  const token = randomBytes(32).toString('base64url');
  const info = store
    .stmt('INSERT INTO devices (id, token_hash, tags, created) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING')
    .run(id, hashToken(token).toString('hex'), JSON.stringify([...new Set(tags)]), now);
  if (info.changes === 0) throw new PrintbridgeError('DEVICE_EXISTS', id);
  membershipChanged(store);
  return token;
}

export function getDevice(store: Store, id: string): DeviceRecord | undefined {
  const row = store.stmt('SELECT * FROM devices WHERE id = ?').get(id) as DeviceRow | undefined;
  return row === undefined ? undefined : withPresence(store, fromRow(row));
}

export function listDevices(store: Store): DeviceRecord[] {
  return (store.stmt('SELECT * FROM devices ORDER BY id').all() as DeviceRow[]).map((row) => withPresence(store, fromRow(row)));
}

/** Ids of every registered device, in order, without reading the rest of each row (a broadcast needs only these). */
export function listDeviceIds(store: Store): string[] {
  return splitIds(store.stmt('SELECT string_agg(id, CAST(? AS TEXT) ORDER BY id) FROM devices').pluck().get('\n'));
}

/** Ids of the devices that carry `tag`, in order. */
export function listDeviceIdsWithTag(store: Store, tag: string): string[] {
  return splitIds(
    store
      .stmt(`SELECT string_agg(id, CAST(? AS TEXT) ORDER BY id) FROM (SELECT DISTINCT devices.id AS id FROM devices, ${store.sql.jsonTexts('devices.tags')} WHERE value = ?) AS tagged`)
      .pluck()
      .get('\n', tag),
  );
}

// The ids come as one string, a line each (an id has no line break, see
// DEVICE_ID), split here: the driver builds an object for every row it
// returns, and for a broadcast to 10,000 devices those cost more than
// sending to them.
function splitIds(all: unknown): string[] {
  return typeof all === 'string' && all !== '' ? all.split('\n') : [];
}

/** Returns false when there was no such device. Jobs of the device are kept as history. */
export function removeDevice(store: Store, id: string): boolean {
  storedPorts.get(store)?.delete(id);
  loginTags.get(store)?.delete(id);
  newPorts.get(store)?.delete(id);
  const removed = store.stmt('DELETE FROM devices WHERE id = ?').run(id).changes > 0;
  if (removed) membershipChanged(store);
  return removed;
}

/** The registered ids, in order, as a list and a set. */
export interface RegisteredIds {
  readonly list: readonly string[];
  readonly set: ReadonlySet<string>;
}

/** What registeredIds read last, and when: at which data_version, after how many adds and removes here. */
interface IdsRead extends RegisteredIds {
  readonly elsewhere: number;
  readonly here: number;
}

const idsRead = new WeakMap<Store, IdsRead>();
/** Adds and removes through this connection (data_version counts only other connections' commits). */
const membership = new WeakMap<Store, number>();

function membershipChanged(store: Store): void {
  membership.set(store, (membership.get(store) ?? 0) + 1);
}

/**
 * listDeviceIds, read again only when a device was added or removed since,
 * here or by another process (the CLI): a broadcast to 10,000 devices then
 * starts sending without reading 10,000 ids first.
 */
export function registeredIds(store: Store): RegisteredIds {
  const elsewhere = changesElsewhere(store, 'devices');
  const here = membership.get(store) ?? 0;
  const last = idsRead.get(store);
  if (last !== undefined && last.elsewhere === elsewhere && last.here === here) return last;
  const list = listDeviceIds(store);
  const read: IdsRead = { elsewhere, here, list, set: new Set(list) };
  idsRead.set(store, read);
  return read;
}

// Compared against when the id is unknown, so that a wrong id and a wrong
// token take the same path and time.
const NO_DEVICE = hashToken(randomBytes(32).toString('base64url'));

/**
 * How a device login went. The two refusals are for the server's log only:
 * the peer gets the same 401 for both, so that it cannot probe which ids exist.
 */
export type DeviceLogin = 'ok' | 'unknown-device' | 'wrong-token';

export function checkDeviceLogin(store: Store, id: string, token: string): DeviceLogin {
  return login(store, id, token).result;
}

/**
 * A bridge's login: as checkDeviceLogin, and a Weblink printer's right
 * token is refused apart (it would take the printer's place and speak for
 * it). One read of the row, since every device of a reconnect storm asks.
 */
export function checkBridgeLogin(store: Store, id: string, token: string): DeviceLogin | 'weblink-printer' {
  const { result, tags } = login(store, id, token);
  return result === 'ok' && tags.includes(WEBLINK_TAG) ? 'weblink-printer' : result;
}

function login(store: Store, id: string, token: string): { result: DeviceLogin; tags: string[] } {
  const row = store.stmt('SELECT token_hash, tags, ports FROM devices WHERE id = ?').get(id) as { token_hash: string; tags: string; ports: string } | undefined;
  const expected = row === undefined ? NO_DEVICE : Buffer.from(row.token_hash, 'hex');
  const given = hashToken(token);
  const match = expected.length === given.length && timingSafeEqual(expected, given);
  if (row === undefined) return { result: 'unknown-device', tags: [] };
  if (!match) return { result: 'wrong-token', tags: [] };
  // The ports on disk, read with the login: the hello that follows compares against them (recordHelloLater) without a read of its own.
  const known = storedPortsOf(store);
  if (!known.has(id)) known.set(id, STORED_PORTS.of(row.ports, row.ports));
  const tags = JSON.parse(row.tags) as string[];
  // A node of a cluster tells the others of each device it welcomes; its tags,
  // read here already, spare that view a read of its own (tagsAtLogin).
  if (store.bus !== undefined) tagsOf(store).set(id, LOGIN_TAGS.of(row.tags, tags));
  return { result: 'ok', tags };
}

/** Tag lists most devices share, one copy of each. */
const LOGIN_TAGS = new Interned<readonly string[]>(1000);
const loginTags = new WeakMap<Store, Map<string, readonly string[]>>();

function tagsOf(store: Store): Map<string, readonly string[]> {
  let m = loginTags.get(store);
  if (m === undefined) loginTags.set(store, (m = new Map()));
  return m;
}

/** A device's tags as its last login here read them (kept for a shared store only), or undefined. */
export function tagsAtLogin(store: Store, id: string): readonly string[] | undefined {
  return loginTags.get(store)?.get(id);
}

export function verifyDeviceToken(store: Store, id: string, token: string): boolean {
  return checkDeviceLogin(store, id, token) === 'ok';
}

export interface HelloRecord {
  fw: string;
  ports: readonly PortInfo[];
  address?: string | undefined;
}

export function recordHello(store: Store, id: string, hello: HelloRecord, now: number): void {
  store
    .stmt('UPDATE devices SET fw = ?, ports = ?, address = ?, last_seen = ? WHERE id = ?')
    .run(hello.fw, JSON.stringify(hello.ports), hello.address ?? null, now, id);
}

export function touchDevice(store: Store, id: string, now: number): void {
  store.stmt('UPDATE devices SET last_seen = ? WHERE id = ?').run(now, id);
}

// A device's last hello and last-seen time, written behind in one
// transaction per PRESENCE_FLUSH_MS. Under synchronous = FULL every commit is
// an fsync; a reconnect storm of 10,000 devices written one by one is 20,000
// fsyncs in a row on the event loop, seconds in which no device is served.
// None of this is needed to print exactly once (a job's own rows are written
// at once): a crash loses at most the last interval, leaving an older
// last-seen time. This process reads the pending values through getDevice
// and listDevices; another one (the CLI) sees them at most an interval late.

/** How long a device's hello or last-seen time may wait to be written. */
export const PRESENCE_FLUSH_MS = 250;

interface PendingPresence {
  hello?: HelloRecord;
  lastSeen: number;
}

const pendingPresence = new WeakMap<Store, Map<string, PendingPresence>>();
/** The one interval timer of a store with writes pending (a group commit may empty them first; the timer then finds less). */
const flushTimers = new WeakMap<Store, NodeJS.Timeout>();
/** The ports JSON most devices share, one copy of each. */
const STORED_PORTS = new Interned<string>(1000);
/** Each device's ports as last written by this process (JSON), so that a reconnect reads nothing to compare. */
const storedPorts = new WeakMap<Store, Map<string, string>>();

function storedPortsOf(store: Store): Map<string, string> {
  let known = storedPorts.get(store);
  if (known === undefined) {
    known = new Map();
    storedPorts.set(store, known);
  }
  return known;
}

/**
 * recordHello, written behind. Returns true when the hello's ports differ
 * from the stored ones (a device's first hello, or its printers changed):
 * the ports are what lets a job be taken for a printer while its device is
 * offline, so a job for such a printer is not stored before they are
 * (writePortsNow, which insertJob calls). They go in a group commit within
 * PORTS_COMMIT_MS with every other hello waiting (a fleet seen for the first
 * time is a few commits, not one per device); a reconnect with the same
 * ports waits for the interval. The device is welcomed at once either way.
 */
export function recordHelloLater(store: Store, id: string, hello: HelloRecord, now: number, portsJson?: string): boolean {
  // The caller may have the JSON already (it keys the shared copy of the ports).
  const ports = portsJson ?? JSON.stringify(hello.ports);
  const known = storedPortsOf(store);
  // What is on disk: `known` is filled by the commits themselves, so a
  // reconnect before the first hello's commit is new until that commit.
  const stored = known.get(id) ?? ((store.stmt('SELECT ports FROM devices WHERE id = ?').pluck().get(id) as string | undefined) ?? '');
  presenceOf(store).set(id, { hello, lastSeen: now });
  if (stored === ports) return false;
  newPortsOf(store).add(id);
  commitSoon(store);
  return true;
}

/** How long a hello with new ports may wait to be written. */
export const PORTS_COMMIT_MS = 50;

/** Devices whose hello with new ports is not on disk yet. */
const newPorts = new WeakMap<Store, Set<string>>();
/** The group commit's timer, while one is due. */
const commitTimers = new WeakMap<Store, NodeJS.Timeout>();

function newPortsOf(store: Store): Set<string> {
  let ids = newPorts.get(store);
  if (ids === undefined) {
    ids = new Set();
    newPorts.set(store, ids);
  }
  return ids;
}

function commitSoon(store: Store): void {
  flushWithin(store, commitTimers, PORTS_COMMIT_MS);
}

/**
 * Runs flushPresence `ms` from now, unless `timers` holds one due already.
 * unref: a server that is otherwise done does not stay up for it; close()
 * writes what is pending.
 */
function flushWithin(store: Store, timers: WeakMap<Store, NodeJS.Timeout>, ms: number): void {
  if (timers.has(store)) return;
  const timer = setTimeout(() => {
    timers.delete(store);
    flushPresence(store);
  }, ms);
  timer.unref();
  timers.set(store, timer);
}

/**
 * Writes the presence pending now if `device`'s new ports are part of it, so
 * that what is stored next (a job for one of its printers) never reaches the
 * file before the printer it is for. Throws what the write threw.
 */
export function writePortsNow(store: Store, device: string): void {
  if (!newPorts.get(store)?.has(device)) return;
  const failure = flushPresence(store);
  if (failure !== undefined) throw failure;
}

/**
 * Writes the waiting hellos of `devices` whose ports are new, now, in one
 * statement (writePortsNow commits every hello waiting). For a node of a
 * cluster, which must have a device's printers on disk before it tells the
 * other nodes it holds the device (their clients may submit at once).
 */
export function writeHellosNow(store: Store, devices: readonly string[]): void {
  const fresh = newPorts.get(store);
  const pending = pendingPresence.get(store);
  const due: [string, HelloRecord, number][] = [];
  for (const id of new Set(devices)) {
    const p = pending?.get(id);
    if (fresh?.has(id) === true && p?.hello !== undefined) due.push([id, p.hello, p.lastSeen]);
  }
  if (due.length === 0) return;
  // One statement for all: a fleet welcomed together costs one round trip, not one each.
  store
    .stmt(
      // Typed: PostgreSQL reads a parameter in VALUES as text.
      `WITH v (id, fw, ports, address, last_seen) AS (VALUES ${due.map(() => '(CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT))').join(', ')})
       UPDATE devices SET
         fw = (SELECT fw FROM v WHERE v.id = devices.id), ports = (SELECT ports FROM v WHERE v.id = devices.id),
         address = (SELECT address FROM v WHERE v.id = devices.id), last_seen = (SELECT last_seen FROM v WHERE v.id = devices.id)
       WHERE id IN (SELECT id FROM v)`,
    )
    .run(...due.flatMap(([id, hello, lastSeen]) => [id, hello.fw, JSON.stringify(hello.ports), hello.address ?? null, lastSeen]));
  const known = storedPortsOf(store);
  for (const [id, hello] of due) {
    pending?.delete(id);
    fresh?.delete(id);
    const json = JSON.stringify(hello.ports);
    known.set(id, STORED_PORTS.of(json, json));
  }
}

/** touchDevice, written behind; a hello still waiting is kept. */
export function touchDeviceLater(store: Store, id: string, now: number): void {
  const pending = presenceOf(store);
  const before = pending.get(id);
  pending.set(id, before?.hello !== undefined ? { hello: before.hello, lastSeen: now } : { lastSeen: now });
}

/**
 * Writes every pending hello and last-seen time now, in one transaction. A
 * failed write (a full disk) keeps what it held pending, under anything
 * recorded since, and is returned.
 */
export function flushPresence(store: Store): unknown {
  const pending = pendingPresence.get(store);
  let failure: unknown;
  if (pending !== undefined && pending.size > 0 && store.db.isOpen) {
    const entries = [...pending];
    pending.clear();
    const known = storedPortsOf(store);
    try {
      store.db.transaction(() => {
        for (const [id, p] of entries) {
          if (p.hello !== undefined) recordHello(store, id, p.hello, p.lastSeen);
          else touchDevice(store, id, p.lastSeen);
        }
      })();
      const fresh = newPorts.get(store);
      for (const [id, p] of entries) {
        if (p.hello === undefined) continue;
        const json = JSON.stringify(p.hello.ports);
        known.set(id, STORED_PORTS.of(json, json));
        fresh?.delete(id);
      }
    } catch (e) {
      failure = e;
      for (const [id, p] of entries) if (!pending.has(id)) pending.set(id, p);
      presenceOf(store); // tried again at the next interval
    }
  }
  return failure;
}

function presenceOf(store: Store): Map<string, PendingPresence> {
  let pending = pendingPresence.get(store);
  if (pending === undefined) {
    pending = new Map();
    pendingPresence.set(store, pending);
    store.beforeClose(() => flushPresence(store));
  }
  flushWithin(store, flushTimers, PRESENCE_FLUSH_MS);
  return pending;
}

function withPresence(store: Store, record: DeviceRecord): DeviceRecord {
  const p = pendingPresence.get(store)?.get(record.id);
  if (p === undefined) return record;
  const hello = p.hello === undefined ? {} : { fw: p.hello.fw, ports: [...p.hello.ports], address: p.hello.address };
  return { ...record, ...hello, lastSeen: p.lastSeen };
}
