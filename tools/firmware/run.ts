// `PRINTBRIDGE_TOKEN=T npm run firmware:run -- --server URL --id ID --serial PATH [--dialect D] [--baud N] [--dir DIR] [--set key=value]...`
// The token comes from PRINTBRIDGE_TOKEN, as `printbridge bridge` takes it, or from `--token T`.
//
// Builds the firmware for the Moddable SDK's Linux host with these settings
// (as `mcconfig key=value` would for a board) and runs it headless against
// a real server and a real serial device (a printer's tty, or an emulator's
// PTY). It prints what the firmware prints: one line per link state change
// and per LED pattern change among them, and `pin N = L` for each level
// written to a pin. Runs until Ctrl-C; a `restart` control message restarts
// it, as a board reboots.

import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { buildLinFirmware, runLinFirmware } from './lin-host.js';

const USAGE = `usage: PRINTBRIDGE_TOKEN=T npm run firmware:run -- --server URL --id ID --serial PATH [--dialect D] [--baud N]
       [--dir DIR] [--control PORT] [--set key=value]...
  --server   ws://HOST:PORT of the printbridge server; repeat it for several,
             tried in turn (the firmware's server setting holds them all)
  --id       the device id (printbridge devices add ID)
  --token    its token (or env PRINTBRIDGE_TOKEN, as printbridge bridge takes it)
  --serial   the printer's tty (e.g. an emulator's --pty path)
  --dialect  raw, escpos (default), tspl, zpl or gcode
  --dir      where the firmware keeps its preferences (default: ./firmware-run)
  --control  UDP port on 127.0.0.1 for the stand-ins: "pin N 0|1", "wifi down|up"
  --set      any other manifest config key, e.g. --set busyPin=4 --set poll=2000`;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({
      options: {
        server: { type: 'string', multiple: true }, id: { type: 'string' }, token: { type: 'string' }, serial: { type: 'string' },
        dialect: { type: 'string', default: 'escpos' }, baud: { type: 'string', default: '115200' },
        dir: { type: 'string', default: 'firmware-run' }, control: { type: 'string', default: '0' },
        set: { type: 'string', multiple: true, default: [] }, help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { id, serial } = args;
  // The firmware's one server setting holds them all, comma-separated (no spaces in an mcconfig argument).
  const server = args.server === undefined || args.server.length === 0 ? undefined : args.server.join(',');
  const token = args.token ?? (process.env['PRINTBRIDGE_TOKEN'] || undefined);
  if (server === undefined || id === undefined || token === undefined || serial === undefined) {
    process.stderr.write(`--server, --id, --token (or PRINTBRIDGE_TOKEN) and --serial are required\n${USAGE}\n`);
    return 2;
  }
  const config: Record<string, string> = {
    server, id, token, uartDevice: resolve(serial), dialect: args.dialect, baud: args.baud,
    linControlPort: args.control, ssid: 'linux-host',
  };
  for (const kv of args.set) {
    const eq = kv.indexOf('=');
    if (eq <= 0) {
      process.stderr.write(`--set wants key=value, got ${kv}\n`);
      return 2;
    }
    config[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  process.stderr.write('building the firmware for the SDK\'s Linux host...\n');
  const mcso = await buildLinFirmware(config);
  const dir = resolve(args.dir);
  mkdirSync(dir, { recursive: true });
  const fw = runLinFirmware(mcso, { cwd: dir, onLine: (l) => process.stdout.write(`${l}\n`) });
  const stop = (): void => void fw.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const status = await fw.exited;
  return status === 0 || status === 143 ? 0 : status;
}

process.exitCode = await main();
