// `printbridge emulate --weblink URL`: a Zebra printer that dials in to a
// Weblink server (tools/emulator/weblink/printer.ts). Events go to stdout as
// JSON lines; stdin takes fault commands.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { weblinkCommand, WEBLINK_COMMANDS } from '../emulator/weblink/commands.js';
import { WeblinkPrinter } from '../emulator/weblink/printer.js';
import { DEFAULT_RAW_BUFFER } from '../emulator/weblink/raw-intake.js';
import { EXIT_OK, integer, parse, required, untilSignal, UsageError } from './command.js';
import { urlOption } from './url-option.js';

export const WEBLINK_HELP = `Usage: printbridge emulate --weblink https://HOST:PORT/PATH --serial SN --password P [options]

Plays a Zebra ZD420 that dials in to a Weblink server (the printer opens the
connections): a TLS WebSocket with subprotocol v1.weblink.zebra.com, a 401
Basic challenge answered with user SN and password P, the discovery_b64
message on the main channel, raw (v1.raw.zebra.com) and config
(v1.config.zebra.com) channels opened on the server's "open" requests,
configure_alert, alerts on main, PQ JOB COMPLETED per printed ^XZ format,
~HS (silent while head open, paper out or ribbon out), ! U1 getvar/setvar,
JSON SGD on the config channel (which then closes with 1000), pings, and a
reconnect retry-interval seconds after main is lost.

Events on stdout, JSON lines: connecting {channel}, auth {channel, user},
connected {channel, id, protocol}, connect-failed {channel, message, status,
flags}, discovery {id, serial, value}, open-request {channel}, open-refused
{channel, reason}, configure-alert {entries, configured}, received {channel,
id, bytes}, format-printed {formats, labels, odometer}, alert {condition,
state, sent}, unanswered {query, condition}, sgd {via, op, names}, condition
{name, faults}, split {channel, parts, bytes}, stalled, resumed, buffer-full, buffer-free, closed
{channel, id, code, reason}, reconnect {inMs}, pong-timeout, text-frame,
bad-json {channel, text, reason?}, reset (device.reset received), power-off
{lost, received}, power-on, error {message}.

Options:
  --weblink URL            the server (weblink.ip.conn1.location), https://…
  --serial SN              serial number: device.unique_id, the Basic user
  --password P             the Basic password
  --ca FILE                PEM CA that the server's certificate must chain to
                           (the printer's WEBLINK1_CA.NRD); default: system CAs
  --cert FILE --key FILE   PEM client certificate and key (WEBLINK1_CERT/KEY.NRD)
                           for servers that authenticate printers by mutual TLS
  --record FILE            append the ZPL the printer printed (queries left out)
  --model M                model in the product name (default ZD420)
  --retry-interval S       seconds before dialling again (default 10; may be fractional)
  --retry-random-max S     extra random seconds (default 0; a real printer: 120)
  --max-connections N      maximum_simultaneous_connections, main included (default 10)
  --ping-interval S        seconds between pings (default 60); 3 missed pongs drop it
  --print-ms MS            time per label (default 200)
  --buffer N               raw receive buffer in bytes (default ${DEFAULT_RAW_BUFFER}); when
                           that much is unprinted, raw channels are not read
  --split-above N          JSON longer than N bytes goes in several messages (default 4096)
  -h, --help               show this help

${WEBLINK_COMMANDS}

Stops on SIGINT, SIGTERM, or when stdin ends.`;

function seconds(value: string | undefined, name: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > max) throw new UsageError(`${name} must be seconds from 0 to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

export async function runWeblinkEmulator(args: string[], stdinIsController: boolean): Promise<number> {
  const { values } = parse(args, {
    weblink: { type: 'string' },
    serial: { type: 'string' },
    password: { type: 'string' },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    record: { type: 'string' },
    model: { type: 'string' },
    'retry-interval': { type: 'string' },
    'retry-random-max': { type: 'string' },
    'max-connections': { type: 'string' },
    'ping-interval': { type: 'string' },
    'print-ms': { type: 'string' },
    'split-above': { type: 'string' },
    buffer: { type: 'string' },
  });
  const url = required(values.weblink, '--weblink');
  // Weblink is TLS only.
  urlOption(url, { what: '--weblink', schemes: ['https', 'wss'] });
  const file = (path: string | undefined, name: string): Buffer | undefined => {
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new UsageError(`${name}: ${(e as Error).message}`);
    }
  };
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError('--cert and --key go together');
  const ping = seconds(values['ping-interval'], '--ping-interval', 3600);
  const emit = (e: object): void => void process.stdout.write(`${JSON.stringify(e)}\n`);
  const printer = new WeblinkPrinter({
    url,
    serial: required(values.serial, '--serial'),
    password: required(values.password, '--password'),
    ca: file(values.ca, '--ca'),
    cert: file(values.cert, '--cert'),
    key: file(values.key, '--key'),
    record: values.record,
    model: values.model,
    retryInterval: seconds(values['retry-interval'], '--retry-interval', 600),
    retryRandomMax: seconds(values['retry-random-max'], '--retry-random-max', 600),
    maxConnections: integer(values['max-connections'], '--max-connections', 1, 100),
    pingMs: ping === undefined ? undefined : Math.max(1, Math.round(ping * 1000)),
    labelMs: integer(values['print-ms'], '--print-ms', 0, 2 ** 31 - 1),
    splitAbove: integer(values['split-above'], '--split-above', 1, 1 << 30),
    buffer: integer(values.buffer, '--buffer', 1, 1 << 30),
    emit,
  });
  const signalled = untilSignal().then(() => EXIT_OK);
  printer.start();
  const stopped: Promise<number>[] = [signalled];
  if (stdinIsController) {
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      const problem = weblinkCommand(printer, line);
      if (problem !== undefined) emit({ event: 'error', message: problem });
    });
    stopped.push(new Promise((resolve) => lines.once('close', () => resolve(EXIT_OK))));
  }
  const code = await Promise.race(stopped);
  printer.close();
  return code;
}
