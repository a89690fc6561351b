// A device session built alone, without a Hub or a socket: its narrow
// dependencies made by hand, the job queues (core/jobs.ts) and the views on a
// real SQLite store, time on a manual clock. What the session sends its
// device is read off a recording Peer, so every step below is decided by the
// session and the queues alone, at the instant the test says.

import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { ClientEvent } from '../../protocol/client-messages.js';
import { decodeDeviceMessage, decodeServerMessage, type DeviceMessage, type ServerMessage } from '../../protocol/device-messages.js';
import { CLOSE } from '../../protocol/errors.js';
import { decodeDataFrame } from '../../protocol/frames.js';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { DeviceSession, SOLE_NODE, type DeviceSessionDeps } from '../../server/core/device-session.js';
import { EventBus } from '../../server/core/events.js';
import { Heartbeat } from '../../server/core/heartbeat.js';
import { Jobs } from '../../server/core/jobs.js';
import type { Peer } from '../../server/core/peer.js';
import { Registry } from '../../server/core/registry.js';
import { Views } from '../../server/core/views.js';
import { DEFAULT_LIMITS } from '../../server/limits.js';
import { openStore, type Store } from '../../server/store/db.js';
import { addDevice } from '../../server/store/devices.js';
import { getJob } from '../../server/store/jobs.js';
import { manualClock, type ManualClock } from '../helpers/manual-clock.js';
import { tempDir } from '../helpers/server.js';

const DEVICE = 'dev-alone';
const HELLO_TIMEOUT_MS = 10_000;
const HEARTBEAT_MS = 25_000;
const WINDOW = 4096;
const MAX_CHUNK = 1024;

/** What a peer was told: text decoded as server messages, data frames as (offset, bytes), and its close. */
class RecordingPeer implements Peer {
  readonly texts: ServerMessage[] = [];
  readonly frames: { stream: number; offset: number; payload: Uint8Array }[] = [];
  closed: { code: number; reason: string } | undefined;

  sendText(text: string): void {
    const decoded = decodeServerMessage(text);
    assert.ok(decoded.ok, `the session sent a message its device could not read: ${text}`);
    this.texts.push(decoded.value);
  }

  sendBinary(bytes: Uint8Array): void {
    const decoded = decodeDataFrame(bytes, MAX_CHUNK);
    assert.ok(decoded.ok, 'the session sent a data frame its device could not read');
    this.frames.push(decoded.frame);
  }

  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }

  terminate(): void {}
  ping(): void {}
  bufferedAmount(): number {
    return 0;
  }

  /** The messages sent since the last call. */
  take(): ServerMessage[] {
    return this.texts.splice(0);
  }

  /** Bytes of the data frames sent since the last call, which must follow one another without a gap. */
  takeBytes(from: number): Uint8Array {
    const frames = this.frames.splice(0);
    const out: number[] = [];
    for (const f of frames) {
      assert.equal(f.offset, from + out.length, 'data frames follow one another');
      assert.ok(f.payload.length <= MAX_CHUNK, 'no frame over the device maxChunk');
      out.push(...f.payload);
    }
    return Uint8Array.from(out);
  }
}

interface Rig {
  clock: ManualClock;
  store: Store;
  jobs: Jobs;
  registry: Registry<DeviceSession>;
  connections: Set<DeviceSession>;
  offline: string[];
  events: ClientEvent[];
  deps: DeviceSessionDeps;
}

function rig(store: Store): Rig {
  const clock = manualClock();
  const log = (): void => {};
  const limits = DEFAULT_LIMITS;
  const registry = new Registry<DeviceSession>();
  const bus = new EventBus((error) => assert.fail(String(error)));
  const events: ClientEvent[] = [];
  bus.add({ hears: () => true, wants: () => true, send: (_text, event) => void events.push(event) });
  const jobs = new Jobs({ store, clock, log, limits, events: bus, registry });
  const views = new Views(store, registry, jobs);
  const connections = new Set<DeviceSession>();
  const offline: string[] = [];
  const quiet = { line: (): void => {} };
  const deps: DeviceSessionDeps = {
    store, clock, log, limits, helloTimeoutMs: HELLO_TIMEOUT_MS, heartbeatMs: HEARTBEAT_MS, heartbeat: new Heartbeat(HEARTBEAT_MS),
    registry, ownership: SOLE_NODE, connections, jobs, events: bus, views,
    controls: { result: () => assert.fail('no control was sent'), deviceOffline: (device) => void offline.push(device) },
    lines: { online: quiet, offline: quiet, replaced: quiet },
  };
  return { clock, store, jobs, registry, connections, offline, events, deps };
}

function connect(r: Rig, peer: Peer): DeviceSession {
  const session = new DeviceSession(r.deps, DEVICE, peer, '192.0.2.7');
  r.connections.add(session);
  return session;
}

/** The device says `m`, through the decoder a transport uses. */
function say(session: DeviceSession, m: DeviceMessage): void {
  session.text(decodeDeviceMessage(JSON.stringify(m)));
}

const hello: DeviceMessage = {
  t: 'hello', v: PROTOCOL_VERSION, id: DEVICE, fw: 'alone-1', caps: [], window: WINDOW, maxChunk: MAX_CHUNK, ports: [{ port: 0, dialect: 'escpos' }],
};

describe('a device session alone, on a manual clock', () => {
  let dir: string;
  let store: Store;

  beforeEach(() => {
    dir = tempDir();
    store = openStore(dir);
    addDevice(store, DEVICE, [], 0);
  });

  afterEach(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('closes 4003 HELLO_TIMEOUT when no hello comes in helloTimeoutMs, and not a millisecond before', () => {
    const r = rig(store);
    const peer = new RecordingPeer();
    const session = connect(r, peer);
    r.clock.advance(HELLO_TIMEOUT_MS - 1);
    assert.equal(peer.closed, undefined);
    assert.equal(session.phase, 'hello');
    r.clock.advance(1);
    assert.deepEqual(peer.closed, { code: CLOSE.HELLO_TIMEOUT.code, reason: CLOSE.HELLO_TIMEOUT.text });
    assert.equal(session.phase, 'closed');
    assert.equal(r.connections.has(session), false, 'the session left the open connections');
    // It never said hello: never online, so never offline either.
    assert.deepEqual(peer.take(), []);
    assert.deepEqual(r.offline, []);
    assert.equal(r.events.length, 0);
  });

  it('welcomes a hello, offers a job, streams it within the credit window, and stores it done', () => {
    const r = rig(store);
    const peer = new RecordingPeer();
    const session = connect(r, peer);
    r.clock.advance(1234);
    say(session, hello);
    assert.deepEqual(peer.take(), [{ t: 'welcome', v: PROTOCOL_VERSION, hb: HEARTBEAT_MS, time: 1234 }]);
    assert.equal(r.registry.get(DEVICE), session);
    assert.ok(r.events.some((e) => e.event === 'device.online' && e.device.id === DEVICE && e.device.online));
    // Online, the hello deadline no longer applies.
    r.clock.advance(HELLO_TIMEOUT_MS);
    assert.equal(peer.closed, undefined);

    const data = Uint8Array.from({ length: 3 * WINDOW + 100 }, (_, i) => (i * 7) % 251);
    const queued = r.jobs.submit(`${DEVICE}/0`, data);
    const [start, ...rest] = peer.take();
    assert.deepEqual(rest, []);
    assert.ok(start?.t === 'job.start');
    assert.deepEqual([start.id, start.port, start.size, start.resume], [queued.id, 0, data.length, undefined]);

    say(session, { t: 'job.accept', id: queued.id, received: 0, written: 0, fresh: true });
    // `started` is committed before the first byte leaves, in a turn of its own.
    assert.equal(peer.frames.length, 0);
    r.clock.advance(0);
    assert.equal(getJob(store, queued.id)?.started, true);

    let sent = 0;
    const got: number[] = [];
    while (sent < data.length) {
      const bytes = peer.takeBytes(sent);
      // Never more in flight than the device's window, and nothing left unsent that the window allows.
      assert.equal(bytes.length, Math.min(WINDOW, data.length - sent));
      got.push(...bytes);
      sent += bytes.length;
      say(session, { t: 'job.ack', id: queued.id, written: sent });
    }
    assert.deepEqual(Uint8Array.from(got), data);
    assert.equal(r.jobs.get(queued.id).state, 'printing');

    say(session, { t: 'job.done', id: queued.id });
    const stored = getJob(store, queued.id);
    assert.equal(stored?.state, 'done');
    assert.equal(stored?.written, data.length);
    const states = r.events.flatMap((e) => (e.event === 'job.updated' && e.job.id === queued.id ? [e.job.state] : []));
    assert.equal(states[0], 'queued');
    assert.equal(states.at(-1), 'done');
    assert.ok(states.includes('printing'));
    // Nothing more was said to the device than the job asked for.
    assert.deepEqual(peer.take(), []);

    session.gone();
    assert.deepEqual(r.offline, [DEVICE]);
    assert.equal(r.registry.get(DEVICE), undefined);
    assert.ok(r.events.some((e) => e.event === 'device.offline' && e.device.id === DEVICE && !e.device.online));
  });
});
