// What this machine's bridge could print to, as --printer addresses: the
// serial ports the OS has (with their USB ids, when they are USB adapters),
// the USB printer-class devices (Linux's usblp), the queues of the CUPS
// server CUPS_SERVER names, and the AppSocket printers that server finds on
// the network (cups-devices.ts). A source that cannot be read is a problem
// in the answer, not a failure: the other sources are still worth showing.
//
// On Linux the serial ports are read from sysfs, as udev would describe
// them: serialport's own list needs udevadm, which containers and small
// images often lack. Elsewhere serialport lists them.

import { existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SerialPort } from 'serialport';
import { cupsServer, describeServer, PRINTER_STATE, type IppServer } from './ipp.js';
import { DEVICES_MAX, DISCOVERY_SECONDS, discoverDevices, networkPrinters } from './cups-devices.js';
import { listQueues, type QueueInfo } from './ports/cups-queue.js';
import type { PrinterList, ReachablePrinter } from './reachable.js';

export type { PrinterList, ReachablePrinter } from './reachable.js';

export interface ListOptions {
  /** The CUPS server (default: CUPS_SERVER, as lp reads it). */
  readonly cups?: IppServer;
  /** Where sysfs is mounted (default /sys); Linux only. */
  readonly sysfs?: string;
}

export async function listPrinters(opts: ListOptions = {}): Promise<PrinterList> {
  const [serial, cups] = await Promise.all([
    serialPrinters(opts.sysfs).then((printers) => ({ printers, problems: [] }), (e: unknown) => ({ printers: [], problems: [`serial ports: ${(e as Error).message}`] })),
    cupsSources(opts.cups),
  ]);
  return { printers: [...serial.printers, ...cups.printers], problems: [...serial.problems, ...cups.problems] };
}

/** CUPS's queues and the network printers it finds, asked at once: the discovery takes seconds. */
async function cupsSources(given: IppServer | undefined): Promise<{ printers: ReachablePrinter[]; problems: string[] }> {
  let server: IppServer;
  try {
    server = given ?? cupsServer();
  } catch (e) {
    return { printers: [], problems: [`CUPS: ${(e as Error).message}`] };
  }
  const [queues, discovery] = await Promise.all([
    listQueues(server).then((q) => ({ ok: true as const, q }), (e: unknown) => ({ ok: false as const, why: (e as Error).message })),
    discoverDevices(server).then((d) => ({ ok: true as const, d }), (e: unknown) => ({ ok: false as const, why: (e as Error).message })),
  ]);
  const problems: string[] = [];
  if (!queues.ok) problems.push(`CUPS: ${queues.why}`);
  const known: readonly QueueInfo[] = queues.ok ? queues.q : [];
  const network: ReachablePrinter[] = [];
  if (discovery.ok) {
    const { printers, more } = networkPrinters(discovery.d.devices, known);
    network.push(...printers);
    if (more > 0) problems.push(`CUPS device discovery: ${more} more printers found than the ${DEVICES_MAX} listed`);
    if (discovery.d.cutOff) problems.push(`CUPS device discovery: stopped after ${DISCOVERY_SECONDS} s; a printer slower to answer is not listed`);
  } else if (queues.ok) {
    // When CUPS cannot be reached at all, the queues' problem already says so.
    problems.push(`CUPS device discovery: ${discovery.why}`);
  }
  return { printers: [...known.map((q) => queuePrinter(server, q)), ...network], problems };
}

async function serialPrinters(sysfs = '/sys'): Promise<ReachablePrinter[]> {
  if (process.platform === 'linux' || sysfs !== '/sys') return [...sysfsSerialPorts(sysfs), ...sysfsUsbPrinters(sysfs)];
  const ports = await SerialPort.list();
  return ports.map((p) => {
    const usb = p.vendorId === undefined ? undefined : `USB ${p.vendorId}:${p.productId ?? '?'}${p.serialNumber === undefined ? '' : ` serial ${p.serialNumber}`}`;
    const detail = [usb, p.manufacturer].filter((x) => x !== undefined && x !== '').join(', ');
    return { uri: `serial:${p.path}`, kind: 'serial' as const, detail: detail === '' ? 'serial port' : detail };
  });
}

const STATE_NAMES: Record<number, string> = { [PRINTER_STATE.idle]: 'idle', [PRINTER_STATE.processing]: 'printing', [PRINTER_STATE.stopped]: 'stopped' };

function queuePrinter(server: IppServer, q: QueueInfo): ReachablePrinter {
  const reasons = q.reasons.filter((r) => r !== 'none');
  const detail = [
    `CUPS queue at ${describeServer(server)}`,
    q.deviceUri === undefined ? undefined : `device ${q.deviceUri}`,
    q.makeModel,
    q.info,
    `${STATE_NAMES[q.state] ?? `state ${q.state}`}${reasons.length > 0 ? ` (${reasons.join(', ')})` : ''}`,
    q.accepting ? undefined : 'not accepting jobs',
  ].filter((x) => x !== undefined && x !== '');
  return { uri: `cups:${q.name}`, kind: 'cups', detail: detail.join(', ') };
}

/** The serial devices the kernel has: USB-serial and CDC-ACM adapters, UARTs with hardware behind them. */
const SERIAL_NAME = /^(ttyUSB|ttyACM|ttyAMA|ttyS|ttyXRUSB|ttyAP|ttyTHS|ttymxc|rfcomm)\d+$/;

function sysfsSerialPorts(sysfs: string): ReachablePrinter[] {
  const classDir = join(sysfs, 'class/tty');
  return readdirSync(classDir)
    .filter((name) => SERIAL_NAME.test(name) && existsSync(join(classDir, name, 'device')))
    .filter((name) => {
      // The 8250 driver makes ttyS0–31 whether or not a UART is there.
      const driver = join(classDir, name, 'device/driver');
      return !(existsSync(driver) && realpathSync(driver).endsWith('/serial8250'));
    })
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => {
      const usb = usbDevice(realpathSync(join(classDir, name, 'device')), sysfs);
      const ids = usb === undefined ? undefined : `USB ${usb.vendor}:${usb.product}${usb.serial === undefined ? '' : ` serial ${usb.serial}`}`;
      const detail = [ids, usb?.manufacturer, usb?.name].filter((x) => x !== undefined && x !== '').join(', ');
      return { uri: `serial:/dev/${name}`, kind: 'serial' as const, detail: detail === '' ? 'serial port' : detail };
    });
}

/** usblp's devices: class usbmisc, lpN, at /dev/usb/lpN. */
function sysfsUsbPrinters(sysfs: string): ReachablePrinter[] {
  return usblpDevices(sysfs).map(({ name, usb }) => {
    const ids = usb === undefined ? undefined : `USB ${usb.vendor}:${usb.product}${usb.serial === undefined ? '' : ` serial ${usb.serial}`}`;
    // The ids are the name that survives a replug (usb:VID:PID[:SERIAL]).
    const stable = usb === undefined ? undefined : `usb:${usb.vendor}:${usb.product}${usb.serial === undefined ? '' : `:${usb.serial}`}`;
    const detail = ['USB printer', ids, usb?.manufacturer, usb?.name, stable === undefined ? undefined : `or ${stable}`].filter((x) => x !== undefined && x !== '').join(', ');
    return { uri: `usb:/dev/usb/${name}`, kind: 'usb' as const, detail, ...(stable === undefined ? {} : { stable }) };
  });
}

/** usblp's lpN devices with the ids of the USB device each hangs off, in number order. */
function usblpDevices(sysfs: string): { name: string; usb: UsbIds | undefined }[] {
  const classDir = join(sysfs, 'class/usbmisc');
  if (!existsSync(classDir)) return [];
  return readdirSync(classDir)
    .filter((name) => /^lp\d+$/.test(name) && existsSync(join(classDir, name, 'device')))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }))
    .map((name) => ({ name, usb: usbDevice(realpathSync(join(classDir, name, 'device')), sysfs) }));
}

/** Which USB printer a `usb:VID:PID[:SERIAL]` address means, whatever lpN the kernel gave it this time. */
export interface UsbPrinterIds {
  readonly vendor: string;
  readonly product: string;
  readonly serial?: string | undefined;
}

/**
 * The device node of the USB printer with these ids (hex compared in any
 * case), or undefined while none is plugged in: looked up at every open, so
 * the address survives a replug that renumbers it.
 */
export function findUsbPrinter(ids: UsbPrinterIds, sysfs = '/sys', devDir = '/dev'): string | undefined {
  const same = (a: string, b: string): boolean => a.toLowerCase() === b.toLowerCase();
  const found = usblpDevices(sysfs).find(({ usb }) => usb !== undefined && same(usb.vendor, ids.vendor) && same(usb.product, ids.product) && (ids.serial === undefined || usb.serial === ids.serial));
  return found === undefined ? undefined : join(devDir, 'usb', found.name);
}

interface UsbIds {
  readonly vendor: string;
  readonly product: string;
  readonly serial: string | undefined;
  readonly manufacturer: string | undefined;
  readonly name: string | undefined;
}

/** The USB device a tty hangs off: the nearest parent folder with an idVendor. */
function usbDevice(device: string, sysfs: string): UsbIds | undefined {
  const read = (dir: string, file: string): string | undefined => {
    try {
      return readFileSync(join(dir, file), 'utf8').trim() || undefined;
    } catch {
      return undefined;
    }
  };
  const top = realpathSync(sysfs);
  for (let dir = device; dir.startsWith(top) && dir !== top; dir = dirname(dir)) {
    const vendor = read(dir, 'idVendor');
    if (vendor === undefined) continue;
    return { vendor, product: read(dir, 'idProduct') ?? '?', serial: read(dir, 'serial'), manufacturer: read(dir, 'manufacturer'), name: read(dir, 'product') };
  }
  return undefined;
}
