// A loopback TCP proxy that a test can use to cut every connection through
// it at a chosen moment: the honest way to sever a bridge's socket mid-job
// without touching either end's code.

import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  readonly port: number;
  /** Connections cut so far. */
  readonly cuts: number;
  /** Connections accepted so far (refused ones excluded). */
  readonly connections: number;
  /** Destroys every open connection through the proxy at once (both sides see a reset). */
  cut(): number;
  /** While paused, new connections are refused; existing ones are cut. */
  setRefusing(refuse: boolean): void;
  /**
   * Goes silent: the connections open now stay open but nothing more passes
   * either way (a peer that hangs, a route that blackholes); connections
   * made later pass as usual.
   */
  silenceOpen(): number;
  /** Bytes forwarded client → target so far. */
  readonly upstreamBytes: number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const pairs = new Set<[Socket, Socket]>();
  const silencers = new Map<[Socket, Socket], () => void>();
  let cuts = 0;
  let connections = 0;
  let refusing = false;
  let upstreamBytes = 0;
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy();
      return;
    }
    connections++;
    const target = connect(targetPort, targetHost);
    const pair: [Socket, Socket] = [client, target];
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      silencers.delete(pair);
      client.destroy();
      target.destroy();
    };
    client.on('data', (d) => {
      upstreamBytes += d.length;
    });
    client.pipe(target);
    target.pipe(client);
    silencers.set(pair, () => {
      client.unpipe(target);
      target.unpipe(client);
      client.pause();
      target.pause();
    });
    client.on('error', drop).on('close', drop);
    target.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  const cutAll = (): number => {
    const n = pairs.size;
    for (const [a, b] of pairs) {
      a.resetAndDestroy();
      b.resetAndDestroy();
    }
    pairs.clear();
    cuts += n;
    return n;
  };
  return {
    port: address.port,
    get cuts() {
      return cuts;
    },
    get connections() {
      return connections;
    },
    get upstreamBytes() {
      return upstreamBytes;
    },
    cut: cutAll,
    silenceOpen() {
      for (const pair of pairs) silencers.get(pair)?.();
      return pairs.size;
    },
    setRefusing(refuse: boolean) {
      refusing = refuse;
      if (refuse) cutAll();
    },
    close: () =>
      new Promise<void>((resolve) => {
        cutAll();
        server.close(() => resolve());
      }),
  };
}
