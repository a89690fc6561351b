// `npm run bench [-- --only device|throughput|fanout|jobs|dashboard|startup|cluster] [-- --quick] [-- --devices N]`: runs the benchmark
// harnesses and prints one JSON line per harness. Figures are for reading
// and comparing across commits, never pass/fail.

import { parseArgs } from 'node:util';
import { runClusterBench } from './cluster.js';
import { runDashboardBench } from './dashboard.js';
import { runDeviceBench } from './device.js';
import { runFanoutBench } from './fanout.js';
import { runJobsBench } from './jobs.js';
import { runStartupBench } from './startup.js';
import { runThroughputBench } from './throughput.js';

const { values } = parseArgs({
  options: { only: { type: 'string', multiple: true }, quick: { type: 'boolean', default: false }, devices: { type: 'string' } },
});

const HARNESSES: Record<string, (quick: boolean) => Promise<unknown>> = {
  device: (quick) => runDeviceBench({
    ...(quick ? { reconnects: 100, jobs: 20 } : {}),
    log: (line) => process.stderr.write(`device: ${line}\n`),
  }),
  throughput: (quick) => runThroughputBench({ quick, log: (line) => process.stderr.write(`throughput: ${line}\n`) }),
  fanout: (quick) => runFanoutBench({
    devices: values.devices !== undefined ? Number(values.devices) : quick ? 500 : 2000,
    log: (line) => process.stderr.write(`fanout: ${line}\n`),
  }),
  jobs: (quick) => runJobsBench({
    devices: values.devices !== undefined ? Number(values.devices) : quick ? 200 : 1000,
    log: (line) => process.stderr.write(`jobs: ${line}\n`),
  }),
  dashboard: (quick) => runDashboardBench({
    devices: values.devices !== undefined ? Number(values.devices) : quick ? 1000 : 10_000,
    log: (line) => process.stderr.write(`dashboard: ${line}\n`),
  }),
  cluster: (quick) => runClusterBench({
    ...(values.devices !== undefined && { devices: Number(values.devices) }),
    quick,
    log: (line) => process.stderr.write(`cluster: ${line}\n`),
  }),
  startup: (quick) => runStartupBench({ runs: quick ? 5 : 9, log: (line) => process.stderr.write(`startup: ${line}\n`) }),
};

const names = values.only ?? Object.keys(HARNESSES);
for (const name of names) {
  const run = HARNESSES[name];
  if (run === undefined) {
    process.stderr.write(`unknown harness ${name}; known: ${Object.keys(HARNESSES).join(', ')}\n`);
    process.exit(2);
  }
  const result = await run(values.quick ?? false);
  process.stdout.write(`${JSON.stringify({ bench: name, ...(result as object) })}\n`);
}
