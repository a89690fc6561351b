// The heartbeat rule on a virtual clock: silent for a whole round → dropped
// with 4004; any life in between → kept; a round that fired late because the
// server itself stalled judges no one. The peer here records what the
// heartbeat does to it, standing in for a socket.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Heartbeat } from '../../server/core/heartbeat.js';
import type { Peer } from '../../server/core/peer.js';

class RecordingPeer implements Peer {
  readonly did: string[] = [];
  sendText(): void {}
  sendBinary(): void {}
  close(code: number): void {
    this.did.push(`close ${code}`);
  }
  terminate(): void {
    this.did.push('terminate');
  }
  ping(): void {
    this.did.push('ping');
  }
  bufferedAmount(): number {
    return 0;
  }
}

describe('heartbeat', () => {
  it('pings every round and drops a peer that stayed silent for a whole round', () => {
    const hb = new Heartbeat(100);
    const talker = new RecordingPeer();
    const mute = new RecordingPeer();
    hb.add(talker);
    hb.add(mute);
    hb.round(100);
    hb.life(talker);
    hb.round(200);
    hb.life(talker);
    hb.round(300);
    assert.deepEqual(talker.did, ['ping', 'ping', 'ping']);
    assert.deepEqual(mute.did, ['ping', 'close 4004', 'terminate']);
    assert.equal(hb.size, 1);
  });

  it('judges no one on a round that came late, and drops on the next punctual one', () => {
    const hb = new Heartbeat(100);
    const mute = new RecordingPeer();
    hb.add(mute);
    hb.round(100);
    hb.round(400); // the process stalled for 300 ms: its pongs may be unread
    assert.deepEqual(mute.did, ['ping', 'ping']);
    hb.round(500);
    assert.deepEqual(mute.did, ['ping', 'ping', 'close 4004', 'terminate']);
  });

  it('forgets removed peers', () => {
    const hb = new Heartbeat(100);
    const gone = new RecordingPeer();
    hb.add(gone);
    hb.remove(gone);
    hb.round(100);
    hb.round(200);
    assert.deepEqual(gone.did, []);
  });
});
