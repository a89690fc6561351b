// The fanout bench's peer: a plain `ws` server doing the same work the obvious
// way. SHA-256 of the token checked in the upgrade, hello answered with
// welcome, one text sent to every socket, one answer collected from each.
// It sends no heartbeats, as the obvious server would not; printbridge's
// keep their default (25 s), so a long run of it pays for a few rounds.
// Commands (over IPC): tokens {hashes: {id: sha256 hex}}, listen, broadcast.

import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { PROTOCOL_VERSION } from '../../protocol/version.js';
import { serveParent } from './fanout-proc.js';

const hashes = new Map<string, Buffer>();
const online = new Map<string, WebSocket>();
let round: { ref: string; waiting: number; done(): void } | undefined;

const wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 });
const http = createServer((_req, res) => res.writeHead(404).end());

http.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://x');
  const id = url.searchParams.get('id') ?? '';
  const expected = hashes.get(id);
  const got = createHash('sha256').update(url.searchParams.get('token') ?? '').digest();
  if (url.pathname !== '/v1/device' || expected === undefined || !timingSafeEqual(expected, got)) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => device(ws, id));
});

function device(ws: WebSocket, id: string): void {
  ws.on('message', (data, isBinary) => {
    if (isBinary) return;
    let m: { t?: unknown; ref?: unknown };
    try {
      m = JSON.parse(String(data)) as typeof m;
    } catch {
      return;
    }
    if (m.t === 'hello') {
      online.get(id)?.terminate();
      online.set(id, ws);
      ws.send(JSON.stringify({ t: 'welcome', v: PROTOCOL_VERSION, hb: 25_000, time: Date.now() }));
    } else if (m.t === 'control.result' && round !== undefined && m.ref === round.ref) {
      if (--round.waiting === 0) round.done();
    }
  });
  ws.on('error', () => undefined);
  ws.on('close', () => {
    if (online.get(id) === ws) online.delete(id);
  });
}

serveParent(async (msg) => {
  switch (msg.cmd) {
    case 'tokens':
      for (const [id, hex] of Object.entries(msg['hashes'] as Record<string, string>)) hashes.set(id, Buffer.from(hex, 'hex'));
      return {};
    case 'gc':
      // Run with --expose-gc by the bench: RSS is read after a full collection.
      (globalThis as { gc?: () => void }).gc?.();
      return {};
    case 'listen':
      await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
      return { port: (http.address() as AddressInfo).port };
    case 'broadcast': {
      const ref = randomUUID();
      const text = JSON.stringify({ t: 'control', ref, name: 'bench', args: {} });
      const recipients = online.size;
      await new Promise<void>((done) => {
        round = { ref, waiting: recipients, done };
        for (const ws of online.values()) ws.send(text);
        if (recipients === 0) done();
      });
      round = undefined;
      return { recipients };
    }
    default:
      throw new Error(`unknown command ${msg.cmd}`);
  }
});
