// The bridge process of exactly-once.test.ts: the same runBridge that
// `printbridge bridge` runs, as its own process, with two changes:
//
// - A short reconnect backoff. The CLI's defaults (1 s base, 30 s cap, reset
//   after 30 s online) are right for a fleet; twenty server kills in a minute
//   would push them to their cap and spend the test waiting.
// - The printer port takes bytes at the 8N1 rate of BAUD, as a UART does. A
//   PTY has no line rate: whatever the emulator at its far end reads ahead,
//   the bridge could hand over at once, and a job would be "written" long
//   before it is printed. Paced here, a job is on its way from the server
//   for as long as it prints, which is the window the test aims its blows at.
//
//   node --import tsx test/e2e/exactly-once-bridge.ts WS_URL ID TOKEN PRINTER_URI BAUD
//
// Writes "link <state>" lines to stderr, like the CLI, and stops on SIGTERM.

import { runBridge } from '../../device/hosts/node/bridge.js';
import type { PrinterPort } from '../../device/hosts/node/ports/printer-port.js';
import { openPrinterPort } from '../../device/hosts/node/ports/uri.js';

const [server, id, token, uri, baud] = process.argv.slice(2);
if (server === undefined || id === undefined || token === undefined || uri === undefined || baud === undefined) {
  process.stderr.write('usage: exactly-once-bridge.ts WS_URL ID TOKEN PRINTER_URI BAUD\n');
  process.exit(2);
}

/** Tops up the port's room at `bytesPerSecond`, holding at most `burst` bytes of credit (a UART FIFO). */
function paced(port: PrinterPort, bytesPerSecond: number, burst = 256): PrinterPort {
  let credit = burst;
  let at = performance.now();
  const refill = (): void => {
    const now = performance.now();
    credit = Math.min(burst, credit + ((now - at) * bytesPerSecond) / 1000);
    at = now;
  };
  const room = (): number => {
    refill();
    return Math.max(0, Math.min(port.room(), Math.floor(credit)));
  };
  const writable: ((room: number) => void)[] = [];
  const tick = setInterval(() => {
    const r = room();
    if (port.isOpen && r > 0) for (const l of writable) l(r);
  }, 5);
  return {
    label: `${port.label} paced at ${bytesPerSecond} B/s`,
    open: () => port.open(),
    write(bytes) {
      refill();
      credit -= bytes.length;
      return port.write(bytes);
    },
    room,
    get isOpen() {
      return port.isOpen;
    },
    onWritable(l) {
      writable.push(l);
      port.onWritable(() => l(room()));
    },
    onData: (l) => port.onData(l),
    onState: (l) => port.onState(l),
    async close() {
      clearInterval(tick);
      await port.close();
    },
  };
}

let link: string | undefined;
const bridge = await runBridge({
  server, id, token,
  printers: [{ uri, dialect: 'raw' }],
  ports: [paced(openPrinterPort(uri), Number(baud) / 10)],
  window: 4096,
  maxChunk: 1024,
  timings: { backoffBase: 50, backoffCap: 400, stableAfter: 2000 },
  log: (level, message) => {
    if (level !== 'debug') process.stderr.write(`${level}: ${message}\n`);
  },
  onChange: (s) => {
    if (s.link === link) return;
    link = s.link;
    process.stderr.write(`link ${s.link}\n`);
  },
});
process.once('SIGTERM', () => {
  void bridge.stop().then(() => process.exit(0));
});
