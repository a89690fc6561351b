// The benches' parent side: their child scripts bundled as the command is
// built, and each started with a raised open-file limit (each holds
// thousands of sockets) and an IPC channel to ask it things.

import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OPEN_FILES_WANTED, type Answer, type Child } from './fanout-proc.js';

/** The bench's child scripts, bundled by bundleChildren (script name → bundled file). */
const bundled = new Map<string, string>();
const CHILD_SCRIPTS = ['cluster-node.ts', 'fanout-devices.ts', 'fanout-plain.ts', 'fanout-printbridge.ts', 'jobs-devices.ts', 'jobs-plain.ts', 'jobs-printbridge.ts'];

/**
 * Bundles every child script the way the `printbridge` command is built
 * (tools/build-cli.ts), into dist/bench-PID, removed when this process exits.
 * Users run that JavaScript, not the sources through tsx, whose transform
 * adds work of its own (a name set on every closure created: per device
 * session, per message), which would be measured as printbridge's. The
 * plain peers and the devices are bundled alike.
 */
export async function bundleChildren(): Promise<void> {
  if (bundled.size > 0) return;
  const { bundleForNode } = await import('../build-cli.js');
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const outDir = join(root, 'dist', `bench-${process.pid}`);
  process.once('exit', () => rmSync(outDir, { recursive: true, force: true }));
  await bundleForNode(CHILD_SCRIPTS.map((s) => `tools/bench/${s}`), outDir);
  for (const s of CHILD_SCRIPTS) bundled.set(s, join(outDir, s.replace(/\.ts$/, '.js')));
}

/**
 * Starts `script` (a .ts file next to this one, bundled by bundleChildren)
 * under node with an IPC channel. The shell raises the soft open-file limit to the hard one first and
 * then execs node, so the PID stays the node process's. `quiet`: its stderr
 * (where the server logs) goes nowhere.
 */
export function startChild(script: string, args: string[] = [], opts: { quiet?: boolean; nodeArgs?: string[] } = {}): Child {
  const path = bundled.get(script);
  if (path === undefined) throw new Error(`${script}: not bundled (bundleChildren() first, and list it in CHILD_SCRIPTS)`);
  const quoted = [...(opts.nodeArgs ?? []), path, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // Root may raise the hard limit too (20,000 devices need more than the
  // 20,000 this machine kind allows by default); others keep theirs.
  const proc: ChildProcess = spawn('sh', ['-c', `ulimit -Hn ${OPEN_FILES_WANTED} 2>/dev/null; ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" ${quoted}`, process.execPath], {
    // A quiet child still writes its log (that cost is part of the figures); nobody reads it.
    stdio: ['ignore', 'ignore', opts.quiet === true ? 'ignore' : 'inherit', 'ipc'],
  });
  let next = 0;
  const waiting = new Map<number, { resolve(a: Answer): void; reject(e: Error): void }>();
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.on('message', (m: Answer) => {
    const w = waiting.get(m.id);
    if (w === undefined) return;
    waiting.delete(m.id);
    if (m.error !== undefined) w.reject(new Error(`${script}: ${m.error}`));
    else w.resolve(m);
  });
  proc.once('exit', (code) => {
    for (const w of waiting.values()) w.reject(new Error(`${script} exited (${code})`));
    waiting.clear();
  });
  if (proc.pid === undefined) throw new Error(`could not start ${script}`);
  return {
    pid: proc.pid,
    ask(msg) {
      const id = next++;
      return new Promise((resolve, reject) => {
        waiting.set(id, { resolve, reject });
        proc.send({ ...msg, id });
      });
    },
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
}

