// `printbridge status DEV/PORT [--watch]`: one printer's status, or with
// --watch a line per change as the server pushes it (subscribe), until Ctrl-C.

import type { ClientEvent, PrinterView } from '../../protocol/client-messages.js';
import { ClientError, type Client } from '../client/client.js';
import { EXIT_FAILURE, EXIT_OK, note, parse, untilSignal, type Command } from './command.js';
import { jobLine, printerDetails, statusLine } from './printer-view.js';
import { noMore, printerId, SERVER_HELP, SERVER_OPTIONS, withClient } from './server-options.js';
import { printJson, printText } from './table.js';

const HELP = `Usage: printbridge status DEVICE/PORT [--watch] [--json]

Shows one printer: its device's link, the printer's state and detail
(paper-out, cover-open…), temperatures where the dialect reports them, the
queue and the current job with its progress.

With --watch it subscribes to the server's events and prints one line per
change of the printer or of its jobs until Ctrl-C (exit 0) or until the
connection is lost (exit 1). With --json each change is one JSON event line
({"event":"printer.status","printer":{…}}, {"event":"job.updated","job":{…}},
device.online/offline), starting with the printer's current status.
Exit status: 0 ok, 1 unknown printer or failure, 2 usage error.

Options:
${SERVER_HELP}
  --watch               follow changes live
  --json                print the printer as JSON (with --watch: JSON lines)
  -h, --help            show this help`;

function find(list: PrinterView[], id: string): PrinterView {
  const p = list.find((x) => x.id === id);
  if (p === undefined) throw new ClientError('UNKNOWN_PRINTER', `no such printer: ${id}`);
  return p;
}

async function once(client: Client, id: string, json: boolean): Promise<number> {
  const p = await client.request('printer.get', { printer: id });
  if (json) {
    printJson(p);
    return EXIT_OK;
  }
  const job = p.job === undefined ? undefined : await client.request('job.get', { job: p.job }).catch(() => undefined);
  printText(printerDetails(p, job));
  return EXIT_OK;
}

async function watch(client: Client, id: string, json: boolean, interrupted: Promise<unknown>): Promise<number> {
  const device = id.slice(0, id.lastIndexOf('/'));
  const relevant = (e: ClientEvent): boolean =>
    (e.event === 'printer.status' && e.printer.id === id) ||
    (e.event === 'job.updated' && e.job.printer === id) ||
    ((e.event === 'device.online' || e.event === 'device.offline') && e.device.id === device);
  // Anything pushed before the subscribe reply is older than its snapshot.
  let started = false;
  const show = (e: ClientEvent): void => {
    if (!relevant(e)) return;
    if (!started) return;
    if (json) return printJson(e);
    const now = Date.now();
    if (e.event === 'printer.status') printText(statusLine(now, e.printer));
    else if (e.event === 'job.updated') printText(jobLine(now, e.job));
    else if (e.event === 'device.online' || e.event === 'device.offline') printText(`${new Date(now).toISOString().slice(11, 19)}  device ${device} ${e.event === 'device.online' ? 'online' : 'offline'}`);
  };
  client.on('event', show);
  // Only a close we did not ask for is news: ours (after Ctrl-C, or an
  // unknown printer) follows an outcome already decided.
  let ending = false;
  const lost = new Promise<number>((resolve) =>
    client.on('close', (code, reason) => {
      if (ending) return;
      note(`printbridge status: connection to the server lost (${code}${reason ? ` ${reason}` : ''})`);
      resolve(EXIT_FAILURE);
    }),
  );
  try {
    const snapshot = await client.request('subscribe');
    const p = find(snapshot.printers, id);
    if (json) printJson({ event: 'printer.status', printer: p });
    else printText(printerDetails(p, snapshot.jobs.find((j) => j.id === p.job)));
    started = true;
    return await Promise.race([interrupted.then(() => EXIT_OK), lost]);
  } finally {
    ending = true;
  }
}

export const status: Command = {
  name: 'status',
  summary: "show one printer's status, or follow it live with --watch",
  help: HELP,
  async run(args) {
    const { values, positionals } = parse(args, { ...SERVER_OPTIONS, watch: { type: 'boolean' }, json: { type: 'boolean' } }, true);
    const id = printerId(positionals[0], 'the printer');
    noMore(positionals, 1);
    if (!values.watch) return withClient(values, (client) => once(client, id, values.json === true));
    // From the start, so that Ctrl-C while connecting ends as quietly as later.
    const interrupted = untilSignal();
    let connected = false;
    const work = withClient(values, (client) => {
      connected = true;
      return watch(client, id, values.json === true, interrupted);
    });
    // Once connected, the watch ends itself and closes politely.
    return Promise.race([interrupted.then(() => (connected ? work : EXIT_OK)), work]);
  },
};
