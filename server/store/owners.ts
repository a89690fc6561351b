// Which node holds each device's connection, when several nodes share a
// store. A node that says welcome to a device claims it: the claim raises
// the device's epoch, and the epoch is this node's fencing token for that
// device's jobs. A write about a job of a device this node holds is made
// only while the stored epoch is still the one this node claimed
// (jobs.ts saveJob, flushJobs): a node that lost the device (it reconnected
// elsewhere while this node still believed its socket open) cannot move the
// job's facts, `started` above all, behind the new owner's back.
//
// The lease says whether the holder is alive: the owner renews it for every
// device it holds; a device whose lease ran out with no newer claim is
// offline, whatever happened to the node that held it.

import type { Store } from './store.js';

export interface DeviceOwner {
  device: string;
  node: string;
  epoch: number;
  leaseUntil: number;
}

/** The epoch this process claimed, by device, while it holds the device (per store). */
const fences = new WeakMap<Store, Map<string, number>>();

function fencesOf(store: Store): Map<string, number> {
  let m = fences.get(store);
  if (m === undefined) fences.set(store, (m = new Map()));
  return m;
}

/** Makes `node` the device's owner under a new epoch, and returns the epoch. */
export function claimDevice(store: Store, device: string, node: string, leaseUntil: number): number {
  const row = store
    .stmt(
      `INSERT INTO device_owner (device, node, epoch, lease_until) VALUES (?, ?, 1, ?)
       ON CONFLICT (device) DO UPDATE SET node = excluded.node, epoch = device_owner.epoch + 1, lease_until = excluded.lease_until
       RETURNING epoch`,
    )
    .get(device, node, leaseUntil) as { epoch: number };
  fencesOf(store).set(device, row.epoch);
  return row.epoch;
}

/** claimDevice for many devices in one statement (each id once): their epochs, by device. */
export function claimDevices(store: Store, devices: readonly string[], node: string, leaseUntil: number): Map<string, number> {
  const out = new Map<string, number>();
  if (devices.length === 0) return out;
  const rows = store
    .stmt(
      `INSERT INTO device_owner (device, node, epoch, lease_until) VALUES ${devices.map(() => '(?, ?, 1, ?)').join(', ')}
       ON CONFLICT (device) DO UPDATE SET node = excluded.node, epoch = device_owner.epoch + 1, lease_until = excluded.lease_until
       RETURNING device, epoch`,
    )
    .all(...devices.flatMap((d) => [d, node, leaseUntil])) as { device: string; epoch: number }[];
  const mine = fencesOf(store);
  for (const r of rows) {
    out.set(r.device, r.epoch);
    mine.set(r.device, r.epoch);
  }
  return out;
}

/**
 * This process no longer holds the device (its connection ended): its
 * writes about the device's jobs are no longer fenced, and, if its epoch is
 * still the newest, the lease ends now (the device is offline at once).
 * Returns false when a newer claim holds the device.
 */
export function releaseDevice(store: Store, device: string, epoch: number): boolean {
  const mine = fencesOf(store);
  if (mine.get(device) === epoch) mine.delete(device);
  return store.stmt('UPDATE device_owner SET lease_until = 0 WHERE device = ? AND epoch = ?').run(device, epoch).changes > 0;
}

/** The epoch under which this process writes about `device`'s jobs, while it holds the device. */
export function fenceOf(store: Store, device: string): number | undefined {
  return fences.get(store)?.get(device);
}

/** Extends the lease of every device `node` holds and has not released; returns how many. */
export function renewLeases(store: Store, node: string, leaseUntil: number): number {
  return store.stmt('UPDATE device_owner SET lease_until = ? WHERE node = ? AND lease_until > 0').run(leaseUntil, node).changes;
}

export function ownerOf(store: Store, device: string): DeviceOwner | undefined {
  const row = store.stmt('SELECT device, node, epoch, lease_until FROM device_owner WHERE device = ?').get(device) as OwnerRow | undefined;
  return row === undefined ? undefined : fromRow(row);
}

/** Ids per statement in nodesOf; a chunk is padded to a power of two so that few statements are prepared. */
const NODES_OF_CHUNK = 512;

/** The node each of `devices` was last claimed by (devices never claimed left out): a statement per NODES_OF_CHUNK ids, not one per id. */
export function nodesOf(store: Store, devices: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < devices.length; i += NODES_OF_CHUNK) {
    const chunk = devices.slice(i, i + NODES_OF_CHUNK);
    let size = 1;
    while (size < chunk.length) size *= 2;
    // A repeated id matches the same row again: the padding changes nothing.
    const ids = [...chunk, ...Array<string>(size - chunk.length).fill(chunk[0]!)];
    const rows = store.stmt(`SELECT device, node FROM device_owner WHERE device IN (${ids.map(() => '?').join(', ')})`).all(...ids) as { device: string; node: string }[];
    for (const r of rows) out.set(r.device, r.node);
  }
  return out;
}

/** Every device whose lease runs past `now`: the devices online somewhere. */
export function liveOwners(store: Store, now: number): DeviceOwner[] {
  return (store.stmt('SELECT device, node, epoch, lease_until FROM device_owner WHERE lease_until > ? ORDER BY device').all(now) as OwnerRow[]).map(fromRow);
}

interface OwnerRow {
  device: string;
  node: string;
  epoch: number;
  lease_until: number;
}

function fromRow(row: OwnerRow): DeviceOwner {
  return { device: row.device, node: row.node, epoch: row.epoch, leaseUntil: row.lease_until };
}

/** Thrown by a job write that the device's newer owner fenced out: nothing was written. */
export class FencedOut extends Error {
  constructor(
    readonly device: string,
    readonly epoch: number,
  ) {
    super(`device ${device} is held by another node now (this node's epoch ${epoch} is stale)`);
    this.name = 'FencedOut';
  }
}
