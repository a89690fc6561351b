// Several nodes sharing one PostgreSQL database (issue 14), in figures:
// the broadcast fan-out over three nodes against one (cluster-fanout.ts),
// and one node's job throughput on PostgreSQL against SQLite
// (cluster-jobs.ts). The bench starts its own throwaway PostgreSQL for each
// run that needs one (tools/postgres-cluster.ts) and stops it, with every
// node and device process, whether the run succeeds or not.

import { execFileSync } from 'node:child_process';
import { bundleChildren } from './children.js';
import { runClusterFanout, type ClusterFanout } from './cluster-fanout.js';
import { runClusterJobs, type ClusterJobs } from './cluster-jobs.js';
import { OPEN_FILES_WANTED } from './fanout-proc.js';

/** Descriptors a node holds besides its device sockets (stdio, IPC, listener, store, epoll, a client). */
const NODE_OWN_FILES = 100;
/** The jobs part's printers at most: each prints 64 KiB at a printer's pace, all at once. */
const MAX_PRINTERS = 1000;

export interface ClusterOptions {
  devices?: number;
  quick?: boolean;
  log?: (line: string) => void;
}

export interface ClusterBench {
  fanout: ClusterFanout;
  jobs: ClusterJobs;
}

export async function runClusterBench(opts: ClusterOptions = {}): Promise<ClusterBench> {
  const n = opts.devices ?? (opts.quick === true ? 1500 : 10_000);
  const printers = Math.min(n, opts.quick === true ? 200 : MAX_PRINTERS);
  const log = opts.log ?? (() => {});
  // The one node holds all N devices.
  const hard = Number(execFileSync('sh', ['-c', `ulimit -Hn ${OPEN_FILES_WANTED} 2>/dev/null; ulimit -Hn`], { encoding: 'utf8' }).trim());
  if (Number.isFinite(hard) && n + NODE_OWN_FILES > hard) {
    throw new Error(`${n} devices on one node need an open-file limit of at least ${n + NODE_OWN_FILES}; the hard limit here is ${hard} (at most ${hard - NODE_OWN_FILES} devices)`);
  }
  await bundleChildren();
  // Interrupted, the bench exits through its exit handlers, which remove the
  // folders and stop PostgreSQL; the node and device processes end as their
  // IPC channel closes, PostgreSQL's postmaster on its parent's death anyway.
  const interrupted = (signal: NodeJS.Signals): void => {
    log(`${signal}: stopping`);
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    const fanout = await runClusterFanout(n, (l) => log(`fanout: ${l}`));
    const jobs = await runClusterJobs(printers, (l) => log(`jobs: ${l}`));
    return { fanout, jobs };
  } finally {
    process.off('SIGINT', interrupted);
    process.off('SIGTERM', interrupted);
  }
}
