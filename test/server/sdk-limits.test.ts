// The SDK and the server's message limit, against a real server with a small
// one. The server closes a connection with 1009 for a message over it, and
// 1009 allows a reconnect; a job.submit or job.reprint under a key is sent
// again after a reconnect, so an oversized one used to close every next
// connection. Now the SDK knows the limit from the hello (`client.limits`)
// and refuses such a request with TOO_BIG before sending it; with a server
// that does not say (simulated by hiding `limits` from the hello answer),
// the request the server closed the connection for fails with TOO_BIG and
// is not sent again, while the others in flight on it fare as after any close.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { connect, PrintbridgeError, utf8Length, type PrintbridgeClient, type WebSocketConstructor, type WebSocketLike } from '../../sdk/index.js';
import { clientFrameLimit, resolveLimits } from '../../server/limits.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { registerDevice, reportPorts } from './peers.js';

const maxJobBytes = 4096;
const ADMIN = 'test-admin-token';

const isCode = (code: string) => (e: unknown): boolean => e instanceof PrintbridgeError && e.code === code;

/** Rejects as soon as the client's connection closes (with `code`, when given): what must not happen. */
function noClose(pb: PrintbridgeClient, what: string, code?: number): { promise: Promise<never>; off: () => void } {
  let off = (): void => {};
  const promise = new Promise<never>((_, reject) => {
    off = pb.on('close', (c) => {
      if (code === undefined || c.code === code) reject(new Error(`${what}: the connection closed (${c.code} ${c.reason})`));
    });
  });
  promise.catch(() => undefined);
  return { promise, off };
}

/** A WebSocket that hides `limits` from every answer: the client sees a server that does not say them. */
function withoutLimits(): WebSocketConstructor {
  return class implements WebSocketLike {
    private readonly ws: WebSocket;
    onopen: WebSocketLike['onopen'] = null;
    onmessage: WebSocketLike['onmessage'] = null;
    onclose: WebSocketLike['onclose'] = null;
    onerror: WebSocketLike['onerror'] = null;

    constructor(url: string) {
      this.ws = new WebSocket(url);
      this.ws.onopen = (ev) => this.onopen?.(ev);
      this.ws.onerror = (ev) => this.onerror?.(ev);
      this.ws.onclose = (ev) => this.onclose?.({ code: ev.code, reason: ev.reason });
      this.ws.onmessage = (ev) => {
        const m = JSON.parse(String(ev.data)) as { result?: { limits?: unknown } };
        if (m.result?.limits !== undefined) delete m.result.limits;
        this.onmessage?.({ data: JSON.stringify(m) });
      };
    }

    get readyState(): number {
      return this.ws.readyState;
    }

    send(data: string): void {
      this.ws.send(data);
    }

    close(code?: number, reason?: string): void {
      this.ws.close(code, reason);
    }
  };
}

describe('sdk: requests over the server\'s message limit', () => {
  const maxFrame = clientFrameLimit(resolveLimits({ maxJobBytes }));
  /** Bytes whose base64 makes a job.submit over the frame limit (and the job over maxJobBytes). */
  const oversized = new Uint8Array(Math.ceil((maxFrame * 3) / 4)).fill(0x41);
  let t: TestServer;

  before(async () => {
    t = await startTestServer({ heartbeatMs: 60_000, limits: { maxJobBytes } });
    registerDevice(t, 'tb');
    reportPorts(t, 'tb');
  });
  after(async () => {
    await t?.close();
  });

  const open = async (WS: WebSocketConstructor): Promise<PrintbridgeClient> => {
    const pb = connect({ url: t.server.url, token: ADMIN, WebSocket: WS, backoff: { base: 20, max: 100 } });
    await pb.ready();
    return pb;
  };

  it('measures requests in UTF-8 bytes, as they go on the wire', () => {
    for (const s of ['', 'plain', 'Käse ½', '€ and 𝄞', 'lone \ud800 high', 'lone \udc00 low', 'end \ud83d', '\u07ff\u0800\uffff']) {
      assert.equal(utf8Length(s), Buffer.byteLength(s), JSON.stringify(s));
    }
  });

  it('client.limits: what the server said in its hello', async () => {
    const pb = await open(WebSocket as unknown as WebSocketConstructor);
    assert.deepEqual(pb.limits, { maxJobBytes, maxFrame, maxUnsent: resolveLimits().maxClientBuffer });
    await pb.close();
  });

  it('refuses a request over limits.maxFrame with TOO_BIG before sending it: the connection stays', async () => {
    const pb = await open(WebSocket as unknown as WebSocketConstructor);
    const closes = noClose(pb, 'an oversized request was sent');
    try {
      const refused = (p: Promise<unknown>): Promise<void> => Promise.race([assert.rejects(p, isCode('TOO_BIG')), closes.promise]);
      await refused(pb.submit('tb/0', oversized, { key: 'too-big-1' }));
      await refused(pb.print('tb/0', oversized));
      // Counted in bytes: as many characters of two-byte text are over too, half as many are not.
      const text = 'é'.repeat(Math.ceil(maxFrame / 2));
      await refused(pb.submit('tb/0', { text }, { key: 'too-big-2' }));
      const half = await Promise.race([pb.submit('tb/0', { text: text.slice(0, text.length / 2) }), closes.promise]).catch((e: unknown) => e);
      assert.ok(isCode('JOB_TOO_LARGE')(half), `the server read it and answered: ${String(half)}`);
      assert.equal(await pb.ping(), 'pong');
      assert.equal(pb.state, 'open');
    } finally {
      closes.off();
      await pb.close();
    }
  });

  it('from a server that does not say its limits: TOO_BIG for the request closed with 1009, never sent again', async () => {
    const pb = await open(withoutLimits());
    assert.equal(pb.limits, undefined);
    const reopened = new Promise<void>((resolve) => pb.on('open', (o) => o.reconnected && resolve()));
    let closes = 0;
    pb.on('close', (c) => void (c.code === 1009 && closes++));
    // Only the first 1009 is expected; a second means the request went out again.
    const again = new Promise<never>((_, reject) => pb.on('close', () => closes > 1 && reject(new Error('a second 1009: the request was sent again'))));
    again.catch(() => undefined);
    try {
      const outcome = (p: Promise<unknown>): Promise<unknown> => p.catch((e: unknown) => e);
      const big = outcome(pb.submit('tb/0', oversized, { key: 'too-big-3' }));
      // Sent after it on the same connection, so never read: a read goes again, a cancel cannot know.
      const list = outcome(pb.jobs({ printer: 'tb/0' }));
      const cancel = outcome(pb.cancel('no-such-job'));
      const tooBig = await Promise.race([big, again]);
      assert.ok(isCode('TOO_BIG')(tooBig), String(tooBig));
      const lost = await Promise.race([cancel, again]);
      assert.ok(isCode('CONNECTION_LOST')(lost), String(lost));
      assert.ok(Array.isArray(await Promise.race([list, again])));
      await reopened;
      assert.equal(await Promise.race([pb.ping(), again]), 'pong');
      assert.equal(closes, 1);
    } finally {
      await pb.close();
    }
  });
});
