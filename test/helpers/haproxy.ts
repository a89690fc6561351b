// The real haproxy (Debian's, scripts/install-system-deps.sh part `haproxy`)
// in front of a test cluster's nodes, with the configuration docs/cluster.md
// shows, taken from the document itself: only the listening address, the
// nodes' addresses and the certificate path are substituted, so a changed
// document changes what the test runs, and a block the substitutions no
// longer fit fails loudly.
//
//   const lb = await startHaproxy(procs, dir, { nodePorts, tls });
//   lb.proc.waitForLine('Server nodes/node2 is DOWN', { stream: 'stderr' });
//
// haproxy runs in the foreground (-db) as the current user, with no global
// section but its own: nothing under /etc or /run is read or written. The
// block must pass `haproxy -c` without a warning first. Server state changes
// (a node taken out by its health check) are written to stderr, where the
// test reads them.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { Processes, Proc } from './processes.js';
import { REPO_ROOT } from './processes.js';
import { until } from './until.js';
import { freePort } from '../../tools/free-port.js';

export const HAPROXY = '/usr/sbin/haproxy';
const DOC = 'docs/cluster.md';
const MARKER = '<!-- haproxy.cfg: tested by test/e2e/cluster-balancer.test.ts -->';
/** The nodes of the document's block, in order; `nodeN` in haproxy's names. */
const DOC_NODES = ['10.0.0.11:8080', '10.0.0.12:8080', '10.0.0.13:8080'];

/** The fenced haproxy block after the marker in docs/cluster.md. */
export function clusterDocConfig(): string {
  const doc = readFileSync(join(REPO_ROOT, DOC), 'utf8');
  const at = doc.indexOf(MARKER);
  assert.ok(at >= 0, `${DOC} has the tested haproxy block marker`);
  const block = /```haproxy\n([\s\S]*?)\n```/.exec(doc.slice(at));
  assert.ok(block?.[1], 'a ```haproxy block follows the marker');
  return block[1];
}

/** `text` with each `from` replaced by `to`; `from` must be there exactly `times` times. */
function substitute(text: string, from: string, to: string, times = 1): string {
  assert.equal(text.split(from).length - 1, times, `${DOC}'s haproxy block has ${JSON.stringify(from)} ${times} time(s)`);
  return text.split(from).join(to);
}


export interface Balancer {
  proc: Proc;
  port: number;
  /** https://127.0.0.1:PORT */
  base: string;
  /** wss://127.0.0.1:PORT */
  wsBase: string;
  /** haproxy's name of the server in front of node `i` (0-based), as its log lines say it: `node${i + 1}`. */
  server(i: number): string;
}

export interface BalancerOptions {
  /** The nodes' ports on 127.0.0.1, in the document's order (exactly three, as it shows). */
  nodePorts: readonly number[];
  /** The PEM file haproxy serves: certificate, chain and key in one, as `crt` takes it; and the CA that signed it. */
  tls: { pem: string; ca: Buffer };
}

/** GET `url` over https with `ca`: its status and body; rejects when nothing answered. */
export function httpsStatus(url: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** A port another process took between our probe and haproxy's bind is tried again, this many times in all. */
const PORT_ATTEMPTS = 3;

/** haproxy with docs/cluster.md's configuration, answering /healthz through a node when this resolves. */
export async function startHaproxy(procs: Processes, dir: string, opts: BalancerOptions): Promise<Balancer> {
  assert.equal(opts.nodePorts.length, DOC_NODES.length, `${DOC} shows ${DOC_NODES.length} nodes`);
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const proc = launch(procs, dir, port, opts);
    const base = `https://127.0.0.1:${port}`;
    try {
      await until('haproxy to answer /healthz', async () => {
        if (proc.exit !== undefined) throw new Error(`haproxy exited (${proc.exit.code ?? proc.exit.signal})\n${proc.tail()}`);
        return (await httpsStatus(`${base}/healthz`, opts.tls.ca).catch(() => undefined))?.status === 200;
      });
    } catch (e) {
      await proc.kill('SIGKILL');
      if (attempt < PORT_ATTEMPTS && proc.stderr.includes('cannot bind socket')) continue;
      throw e;
    }
    return { proc, port, base, wsBase: base.replace('https:', 'wss:'), server: (i) => `node${i + 1}` };
  }
}

/** Writes the configuration for `port` and starts haproxy on it. */
function launch(procs: Processes, dir: string, port: number, opts: BalancerOptions): Proc {
  let config = clusterDocConfig();
  config = substitute(config, 'bind :443 ssl crt /etc/haproxy/certs/print.example.com.pem', `bind 127.0.0.1:${port} ssl crt ${opts.tls.pem}`);
  // Each node is named twice: checked in one backend, tracked in the other.
  DOC_NODES.forEach((node, i) => (config = substitute(config, node, `127.0.0.1:${opts.nodePorts[i]}`, 2)));
  const file = join(dir, 'haproxy.cfg');
  // Debian's global section runs the service as `haproxy` in a chroot, with a socket under /run; the test's needs none of
  // it. A log target it has too (/dev/log); here stderr, notices and worse only: no line per connection.
  writeFileSync(file, `global\n    maxconn 1000\n    log stderr format raw local0 notice\n\n${config}\n`);
  // What `haproxy -c` says of the document's block: valid, and without a warning (an option that does
  // not apply where it stands is only warned about, and ignored).
  const check = spawnSync(HAPROXY, ['-c', '-f', file], { encoding: 'utf8' });
  assert.equal(check.status, 0, `haproxy -c: ${check.stdout}${check.stderr}`);
  assert.doesNotMatch(`${check.stdout}${check.stderr}`, /WARNING|ALERT/, `haproxy -c: ${check.stdout}${check.stderr}`);
  return procs.spawn(HAPROXY, ['-db', '-f', file], { name: 'haproxy' });
}
