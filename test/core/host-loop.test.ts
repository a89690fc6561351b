// The run loop the hosts share (device/core/host-loop.ts), against a scripted
// core on a virtual clock: order, re-entrancy, the one timer, host deadlines,
// reboot, stop, and that no exception ever leaves it.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HostLoop, RETRY_FAILED_TICK_MS, type HostLoopOptions } from '../../device/core/host-loop.js';
import type { DeviceCore, DeviceEffect, DeviceEvent, DeviceSnapshot, LinkState, LogLevel } from '../../device/core/types.js';
import { VirtualClock } from '../helpers/virtual-device.js';

type Script = (event: DeviceEvent, now: number) => DeviceEffect[];

/** A core that answers by script and records how it was called. */
class ScriptedCore implements DeviceCore {
  readonly seen: string[] = [];
  deadline: number | undefined;
  private depth = 0;
  maxDepth = 0;

  constructor(readonly name: string, private readonly script: Script = () => []) {}

  handle(event: DeviceEvent, now: number): DeviceEffect[] {
    this.depth++;
    this.maxDepth = Math.max(this.maxDepth, this.depth);
    try {
      this.seen.push(describe(event));
      return this.script(event, now);
    } finally {
      this.depth--;
    }
  }

  nextDeadline(): number | undefined {
    return this.deadline;
  }

  linkState(): LinkState {
    return 'offline';
  }

  snapshot(): DeviceSnapshot {
    throw new Error('the loop must never build a snapshot');
  }
}

function describe(e: DeviceEvent): string {
  if (e.type === 'port.writable') return `room ${e.room}`;
  if (e.type === 'ws.text') return `text ${e.text}`;
  return e.type;
}

const log = (message: string): DeviceEffect => ({ type: 'log', level: 'info', message });

function harness(core: DeviceCore, perform: (e: DeviceEffect, loop: HostLoop<number>) => void = () => {}, extra: Partial<HostLoopOptions<number>> = {}) {
  const clock = new VirtualClock();
  const logged: { level: LogLevel; message: string }[] = [];
  const performed: DeviceEffect[] = [];
  const loop: HostLoop<number> = new HostLoop({
    core,
    scheduler: clock,
    perform: (e) => {
      performed.push(e);
      perform(e, loop);
    },
    log: (level, message) => logged.push({ level, message }),
    ...extra,
  });
  return { clock, loop, logged, performed };
}

test('events reported while effects are carried out wait their turn: the core is never re-entered', () => {
  const core = new ScriptedCore('a', (e) => (e.type === 'ws.text' ? [log(`${e.text}-1`), log(`${e.text}-2`)] : []));
  const { loop, performed } = harness(core, (effect, l) => {
    // A port reporting room in the middle of a write, as a real UART does.
    if (effect.type === 'log' && effect.message === 'first-1') l.post({ type: 'port.writable', port: 0, room: 5 });
  });
  loop.post({ type: 'ws.text', text: 'first' });
  assert.deepEqual(core.seen, ['text first', 'room 5']);
  assert.deepEqual(performed.map((e) => (e.type === 'log' ? e.message : e.type)), ['first-1', 'first-2']);
  assert.equal(core.maxDepth, 1);
});

test('an exception from core.handle is logged with the event type and the loop goes on', () => {
  const core = new ScriptedCore('a', (e) => {
    if (e.type === 'ws.text') throw new Error('boom');
    return [log(e.type)];
  });
  core.deadline = 100;
  const { clock, loop, logged, performed } = harness(core);
  loop.postAll([{ type: 'ws.text', text: 'x' }, { type: 'boot' }]);
  assert.deepEqual(logged, [{ level: 'error', message: 'core failed on ws.text: boom' }]);
  assert.deepEqual(performed.map((e) => e.type), ['log']);
  assert.equal(clock.next(), 100, 'the timer is armed all the same');
});

test('an exception from perform is logged with the effect type; the rest of the batch is still carried out', () => {
  const core = new ScriptedCore('a', () => [{ type: 'ws.send', data: 'x' }, log('after')]);
  const { loop, logged, performed } = harness(core, (e) => {
    if (e.type === 'ws.send') throw new TypeError('socket gone');
  });
  loop.post({ type: 'boot' });
  assert.deepEqual(logged, [{ level: 'error', message: 'ws.send failed: socket gone' }]);
  assert.deepEqual(performed.map((e) => e.type), ['ws.send', 'log']);
});

test('nothing escapes a timer callback: not a throwing tick, a throwing perform, nor a throwing logger', () => {
  const core = new ScriptedCore('a', (e) => {
    if (e.type === 'tick') throw new Error('tick failed');
    return [log('x')];
  });
  core.deadline = 10;
  const clock = new VirtualClock();
  const loop = new HostLoop({
    core, scheduler: clock,
    perform: () => {
      throw new Error('perform failed');
    },
    log: () => {
      throw new Error('even the logger fails');
    },
  });
  assert.doesNotThrow(() => loop.post({ type: 'boot' }));
  assert.doesNotThrow(() => clock.advanceTo(10));
  assert.deepEqual(core.seen, ['boot', 'tick']);
  // The failed tick left its deadline in the past; the retry waits instead of spinning.
  assert.equal(clock.next(), 10 + RETRY_FAILED_TICK_MS);
});

test('one timer: re-armed only when the deadline moves, cleared when there is none', () => {
  const core = new ScriptedCore('a');
  core.deadline = 1000;
  const { clock, loop } = harness(core);
  for (let i = 0; i < 50; i++) loop.post({ type: 'port.writable', port: 0, room: i });
  assert.equal(clock.created, 1, 'an unchanged deadline keeps its timer');
  core.deadline = 500;
  loop.post({ type: 'boot' });
  assert.equal(clock.created, 2);
  assert.equal(clock.pending, 1, 'the old timer was cleared');
  assert.equal(clock.next(), 500);
  core.deadline = undefined;
  loop.post({ type: 'boot' });
  assert.equal(clock.pending, 0);
});

test('the timer delivers a tick at the deadline, with the time of the clock', () => {
  const times: number[] = [];
  const core = new ScriptedCore('a', (e, now) => {
    if (e.type === 'tick') {
      times.push(now);
      core.deadline = now < 300 ? now + 100 : undefined;
    }
    return [];
  });
  core.deadline = 100;
  const { clock, loop } = harness(core);
  loop.post({ type: 'boot' });
  clock.advanceTo(1000);
  assert.deepEqual(times, [100, 200, 300]);
  assert.equal(clock.pending, 0);
});

test('host deadlines share the timer; what they post is handled before the tick', () => {
  const core = new ScriptedCore('a');
  core.deadline = 5000;
  const { clock, loop } = harness(core);
  let nextSample = 1000;
  const fired: number[] = [];
  const remove = loop.addDeadline({
    next: () => nextSample,
    fire: (now) => {
      fired.push(now);
      nextSample = now + 1000;
      loop.post({ type: 'host.stats', heap: now });
    },
  });
  assert.equal(clock.next(), 1000, 'armed for the earlier of the two');
  clock.advanceTo(2500);
  assert.deepEqual(fired, [1000, 2000]);
  assert.deepEqual(core.seen, ['host.stats', 'tick', 'host.stats', 'tick']);
  assert.equal(clock.next(), 3000);
  remove();
  assert.equal(clock.next(), 5000, 'back to the core deadline alone');
});

test('a host deadline that throws is reported and does not stop the tick', () => {
  const core = new ScriptedCore('a');
  const { clock, loop, logged } = harness(core);
  let due: number | undefined = 50;
  loop.addDeadline({
    next: () => due,
    fire: () => {
      due = undefined;
      throw new Error('sensor gone');
    },
  });
  clock.advanceTo(100);
  assert.deepEqual(core.seen, ['tick']);
  assert.deepEqual(logged.map((l) => l.message), ['host deadline failed: sensor gone']);
});

test('settled runs once per drain, after the queue is empty, and may post more', () => {
  const core = new ScriptedCore('a');
  const seenAtSettle: number[] = [];
  let again = true;
  const { loop } = harness(core, () => {}, {
    settled: () => {
      seenAtSettle.push(core.seen.length);
      if (again) {
        again = false;
        loop.post({ type: 'tick' });
      }
    },
  });
  loop.postAll([{ type: 'boot' }, { type: 'network', up: true }, { type: 'ws.open' }]);
  assert.deepEqual(seenAtSettle, [3, 4]);
});

test('reboot from perform: the old core\'s remaining effects are dropped, the new core hears its boot events first', () => {
  const old = new ScriptedCore('old', (e) => (e.type === 'ws.text' ? [{ type: 'restart', reason: 'asked' }, log('old leftover')] : []));
  const fresh = new ScriptedCore('new', (e) => [log(`new ${e.type}`)]);
  fresh.deadline = 42;
  const { clock, loop, performed } = harness(old, (effect, l) => {
    if (effect.type !== 'restart') return;
    l.post({ type: 'port.writable', port: 0, room: 9 }); // queued before the reboot
    l.reboot(fresh, [{ type: 'boot' }, { type: 'network', up: true }]);
  });
  loop.post({ type: 'ws.text', text: 'restart please' });
  assert.equal(loop.core, fresh);
  assert.deepEqual(old.seen, ['text restart please']);
  assert.deepEqual(fresh.seen, ['boot', 'network', 'room 9']);
  assert.ok(!performed.some((e) => e.type === 'log' && e.message === 'old leftover'));
  assert.equal(clock.next(), 42, 'armed for the new core');
});

test('stop: the timer is cleared and later events are ignored', () => {
  const core = new ScriptedCore('a');
  core.deadline = 10;
  const { clock, loop } = harness(core);
  loop.post({ type: 'boot' });
  assert.equal(clock.pending, 1);
  loop.stop();
  assert.equal(clock.pending, 0);
  loop.post({ type: 'tick' });
  clock.advanceTo(1000);
  assert.deepEqual(core.seen, ['boot']);
});
