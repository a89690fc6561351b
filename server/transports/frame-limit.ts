// The largest message one WebSocket takes, changed while it is open. `ws`
// sets maxPayload per server, but a connection that authenticates after the
// upgrade must be held to small frames until it has (ws would otherwise
// buffer a whole large frame from a stranger) and take whole jobs after. Its
// receiver checks each frame's announced length against `_maxPayload` before
// buffering the payload, so raising that field is enough. It is not public
// API: check that it is there, so that a `ws` that renamed it fails loudly
// (and test/server/preauth-bounds.test.ts with it) instead of silently.

import type { WebSocket } from 'ws';

interface Receiver {
  _maxPayload: number;
}

export function setFrameLimit(ws: WebSocket, bytes: number): void {
  const receiver = (ws as unknown as { _receiver?: Partial<Receiver> | null })._receiver;
  if (receiver === undefined || receiver === null || typeof receiver._maxPayload !== 'number') {
    throw new Error('ws no longer exposes its receiver\'s _maxPayload; setFrameLimit needs another way');
  }
  receiver._maxPayload = bytes;
}
