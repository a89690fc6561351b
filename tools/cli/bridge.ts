// `printbridge bridge`: run this machine as a device (bridge) with one or more
// printers, until SIGINT/SIGTERM. State changes go to stderr, one line each.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cancelScriptLines } from '../../device/core/dialects/gcode.js';
import { DIALECTS, type Dialect } from '../../protocol/device-messages.js';
import { formatBytes } from '../../protocol/units.js';
import type { BridgeSnapshot } from '../../device/hosts/node/bridge.js';
import type { FlowControl } from '../../device/core/types.js';
import { dialectProblem, parsePrinterUri, systemName } from '../../device/hosts/node/ports/uri.js';
import { cupsServer } from '../../device/hosts/node/ipp.js';
import { EXIT_OK, note, parse, required, untilSignal, UsageError, type Command } from './command.js';
import { didYouMean } from './suggest.js';
import { urlOption } from './url-option.js';

const HELP = `Usage: printbridge bridge --server ws://H:P... --id ID --token T --printer URI [options]
       printbridge bridge --list-printers

Connects this machine to a printbridge server as device ID and relays print jobs
to its printers. Printer numbers (DEVICE/0, DEVICE/1, ...) follow the order of
the --printer options. Runs until Ctrl-C or SIGTERM.

Options:
  --server URL      the server, ws://H:P or wss://H:P (http(s)://H:P or the
                    ws(s)://H:P/v1/device endpoint that 'serve' prints also work);
                    repeat it for several nodes of one cluster: they are tried
                    in turn, and when the one in use goes away the bridge moves
                    to the next (or env PRINTBRIDGE_SERVER, the URLs separated
                    by spaces or commas)
  --ca FILE         for wss://: trust only the CA certificate(s) in FILE (PEM)
                    for the server's certificate, e.g. a private CA (env
                    PRINTBRIDGE_CA); without it Node's public CAs are used
  --id ID           this device's id, as registered with 'printbridge devices add'
  --token T         its token (or env PRINTBRIDGE_TOKEN, which keeps it out of ps)
  --printer URI     tcp://HOST:PORT, serial:/dev/NAME[@BAUD] (baud default 9600),
                    usb:/dev/usb/lpN (a USB printer-class device),
                    usb:VID:PID[:SERIAL] (the same by its USB ids, found
                    again after a replug; --list-printers shows them) or
                    cups:QUEUE (a CUPS queue, printed raw, on the server
                    that env CUPS_SERVER names as for lp, default
                    localhost:631; done when CUPS completes the job, and
                    only --dialect raw); repeat for more printers
  --dialect D       ${DIALECTS.join(' | ')}: one for all printers or one per
                    --printer, in the same order (default raw)
  --name N          a printer name shown to clients (one per --printer, optional;
                    a cups:QUEUE printer is named QUEUE without it)
  --poll MS         status poll interval in ms, one for all or one per --printer
                    (default 5000); 0 turns polling off, and with it the
                    confirmation that escpos, tspl and zpl jobs were printed
                    (done then only means every byte reached the printer)
  --flow F          none | xonxoff | rtscts: how the printer paces us, one for
                    all or one per --printer (default none); rtscts needs a
                    serial printer
  --cancel-gcode S  gcode: lines sent after a print ends unfinished (canceled,
                    failed while the printer listens), separated by ";"; one for
                    all or one per --printer; "" sends nothing (default
                    "M104 S0;M140 S0;M107;M84": heaters, fan and motors off)
  --settings FILE   keep settings pushed by the server (a config control) in FILE;
                    they override --server/--token on the next start
  --list-printers   print the printers this machine can reach, one --printer
                    address per line with what the system says about it
                    (serial ports with their USB ids, USB printers, CUPS
                    queues, network printers CUPS finds), and exit
  --verbose         also log debug messages
  -h, --help        show this help`;

function serverUrl(value: string, what: string): string {
  const u = urlOption(value, { what, schemes: ['ws', 'wss', 'http', 'https'] });
  if (u.protocol === 'http:') u.protocol = 'ws:';
  else if (u.protocol === 'https:') u.protocol = 'wss:';
  // The device endpoint as `serve` prints it is accepted too: the core adds the path itself.
  return u.toString().replace(/\/+$/, '').replace(/\/v1\/device$/, '');
}

/** Every --server, or the URLs in PRINTBRIDGE_SERVER; a bad one is a usage error naming it. */
function serverUrls(given: readonly string[] | undefined): string[] {
  const fromEnv = process.env['PRINTBRIDGE_SERVER'] || undefined;
  const what = given !== undefined && given.length > 0 ? '--server' : 'PRINTBRIDGE_SERVER';
  const values = given !== undefined && given.length > 0 ? given : fromEnv === undefined ? [] : fromEnv.split(/[\s,]+/).filter((v) => v !== '');
  if (values.length === 0) throw new UsageError('--server is required (or PRINTBRIDGE_SERVER)');
  return values.map((v) => serverUrl(v, what));
}

/** The PEM text of a CA file; a file that holds no certificate is a usage error now, not a TLS failure later. */
function readCaFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`--ca: cannot read ${path}: ${(e as Error).message}`);
  }
  try {
    if (!text.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no "-----BEGIN CERTIFICATE-----" in it');
    new X509Certificate(text);
  } catch (e) {
    throw new UsageError(`--ca: ${path} is not a PEM certificate: ${(e as Error).message}`);
  }
  return text;
}

function perPrinter<T extends string>(values: T[] | undefined, count: number, flag: string): (T | undefined)[] {
  if (values === undefined || values.length === 0) return Array.from({ length: count }, () => undefined);
  if (values.length === 1) return Array.from({ length: count }, () => values[0]);
  if (values.length !== count) throw new UsageError(`give one ${flag} for all printers or one per --printer (${count}), not ${values.length}`);
  return values;
}

/**
 * Turns successive snapshots into one stderr line per change worth a person's
 * attention. While the link cannot get in, each state is told once per
 * outage: why it fails is the core's line (rate-limited), not one per attempt.
 */
function changeLogger(): (s: BridgeSnapshot) => void {
  let link: string | undefined;
  /** Link states told since the link was last online. */
  const told = new Set<string>();
  const jobs = new Map<number, { id: string; step: number }>();
  return (s) => {
    if (s.link !== link) {
      link = s.link;
      if (s.link === 'online') told.clear();
      if (!told.has(s.link)) {
        told.add(s.link);
        note(`link ${s.link}${s.link === 'backoff' ? ` (attempt ${s.attempt})` : s.link === 'online' && s.server !== undefined ? ` at ${s.server}` : ''}`);
      }
    }
    for (const p of s.ports) {
      const seen = jobs.get(p.port);
      if (!p.job) {
        if (seen) note(`printer ${p.port}: job ${seen.id} ended`);
        jobs.delete(p.port);
        continue;
      }
      // Quarter steps keep a long job to five lines.
      const step = p.job.size === 0 ? 4 : Math.floor((p.job.written / p.job.size) * 4);
      if (seen?.id !== p.job.id || seen.step !== step) {
        jobs.set(p.port, { id: p.job.id, step });
        note(`printer ${p.port}: job ${p.job.id} ${formatBytes(p.job.written)} of ${formatBytes(p.job.size)} written`);
      }
    }
  };
}

/** --list-printers: one line per address on stdout; a source that could not be read is a note on stderr. */
async function listReachable(): Promise<number> {
  const { listPrinters } = await import('../../device/hosts/node/list-printers.js');
  const { printers, problems } = await listPrinters();
  const width = Math.max(0, ...printers.map((p) => p.uri.length));
  for (const p of printers) process.stdout.write(`${p.uri.padEnd(width)}  ${p.detail}\n`);
  for (const problem of problems) note(`not listed: ${problem}`);
  if (printers.length === 0) note('no printers found');
  return EXIT_OK;
}

export const bridge: Command = {
  name: 'bridge',
  summary: 'run this machine as a bridge for serial, USB, network or CUPS printers',
  help: HELP,
  async run(args) {
    const { values } = parse(args, {
      server: { type: 'string', multiple: true },
      ca: { type: 'string' },
      id: { type: 'string' },
      token: { type: 'string' },
      printer: { type: 'string', multiple: true },
      dialect: { type: 'string', multiple: true },
      name: { type: 'string', multiple: true },
      poll: { type: 'string', multiple: true },
      flow: { type: 'string', multiple: true },
      'cancel-gcode': { type: 'string', multiple: true },
      settings: { type: 'string' },
      verbose: { type: 'boolean' },
      'list-printers': { type: 'boolean' },
    });
    if (values['list-printers'] === true) return listReachable();
    const servers = serverUrls(values.server);
    const caFile = values.ca ?? (process.env['PRINTBRIDGE_CA'] || undefined);
    const ca = caFile === undefined ? undefined : readCaFile(caFile);
    const id = required(values.id, '--id');
    const token = required(values.token ?? (process.env['PRINTBRIDGE_TOKEN'] || undefined), '--token (or PRINTBRIDGE_TOKEN)');
    const uris = values.printer ?? [];
    if (uris.length === 0) throw new UsageError('at least one --printer is required');
    for (const uri of uris) {
      try {
        parsePrinterUri(uri);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    for (const d of values.dialect ?? []) {
      if (!(DIALECTS as readonly string[]).includes(d)) throw new UsageError(`unknown dialect ${JSON.stringify(d)}${didYouMean(d, DIALECTS)} (dialects: ${DIALECTS.join(', ')})`);
    }
    const dialects = perPrinter(values.dialect as Dialect[] | undefined, uris.length, '--dialect');
    uris.forEach((uri, i) => {
      const problem = dialectProblem(uri, dialects[i] ?? 'raw');
      if (problem !== undefined) throw new UsageError(problem);
    });
    if (uris.some((uri) => uri.startsWith('cups:'))) {
      try {
        cupsServer();
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
    }
    const names = values.name ?? [];
    if (names.length > 0 && names.length !== uris.length) throw new UsageError(`give one --name per --printer (${uris.length}), not ${names.length}`);

    const polls = perPrinter(values.poll, uris.length, '--poll').map((v) => {
      if (v === undefined) return undefined;
      const n = Number(v);
      if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new UsageError(`--poll must be milliseconds (0 for off), not ${JSON.stringify(v)}`);
      return n;
    });
    const flows = perPrinter(values.flow, uris.length, '--flow').map((v, i) => {
      if (v === undefined) return undefined;
      if (v !== 'none' && v !== 'xonxoff' && v !== 'rtscts') throw new UsageError(`--flow must be none, xonxoff or rtscts, not ${JSON.stringify(v)}`);
      if (v === 'rtscts' && !uris[i]!.startsWith('serial:')) throw new UsageError(`--flow rtscts needs a serial printer, not ${uris[i]}`);
      return v as FlowControl;
    });

    const cancels = perPrinter(values['cancel-gcode'], uris.length, '--cancel-gcode').map((v) => {
      if (v === undefined) return undefined;
      try {
        return cancelScriptLines(v);
      } catch (e) {
        throw new UsageError(`--cancel-gcode: ${e instanceof Error ? e.message : String(e)}`);
      }
    });

    const verbose = values.verbose === true;
    const { runBridge } = await import('../../device/hosts/node/bridge.js');
    // Listen for signals before the bridge says anything a supervisor may act on.
    const stopped = untilSignal();
    const running = await runBridge({
      server: servers,
      ...(ca === undefined ? {} : { ca }),
      id,
      token,
      printers: uris.map((uri, i) => ({
        uri, dialect: dialects[i] ?? 'raw',
        // A CUPS queue is known by its name: clients (the compat printers.find) see it unless --name says otherwise.
        name: names[i] ?? systemName(uri),
        ...(polls[i] === undefined ? {} : { poll: polls[i] }),
        ...(flows[i] === undefined ? {} : { flow: flows[i] }),
        ...(cancels[i] === undefined ? {} : { cancelScript: cancels[i] }),
      })),
      ...(values.settings === undefined ? {} : { settingsPath: values.settings }),
      log: (level, message) => {
        if (level !== 'debug' || verbose) note(`${level}: ${message}`);
      },
      onChange: changeLogger(),
    });
    note(`bridge ${id} → ${servers.join(' ')}, printers: ${uris.map((u, i) => `${i}=${u} (${dialects[i] ?? 'raw'})`).join(', ')}`);
    const signal = await stopped;
    note(`${signal}: stopping the bridge`);
    await running.stop();
    return EXIT_OK;
  },
};
