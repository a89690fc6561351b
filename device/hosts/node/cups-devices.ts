// The network printers CUPS itself finds (the IPP operation CUPS-Get-Devices):
// cupsd runs its discovery backends for a few seconds and reports the
// devices that answered them. The bridge can print to one of them over its
// own raw port only when it is an AppSocket/JetDirect printer
// (socket://HOST[:PORT]), which becomes tcp://HOST:PORT. A printer CUPS
// reaches by IPP, LPD or a DNS-SD name speaks something else than raw bytes
// on a socket: it is left out, and printed to through a CUPS queue made for
// it (cups:QUEUE).

import { encodeRequest, IppError, IppHttpError, ippRequest, OP, TAG, type IppServer } from './ipp.js';
import type { ReachablePrinter } from './reachable.js';
import { checked, USER, type QueueInfo } from './ports/cups-queue.js';

/**
 * How long CUPS lets its backends look, in seconds (CUPS's own default is
 * 15). Printers answer the snmp backend's broadcast within a second or two
 * and the backend stops after 2 s of quiet; a server's printers.scan and
 * --list-printers wait for the whole of it.
 */
export const DISCOVERY_SECONDS = 4;
/** What the HTTP request allows beyond DISCOVERY_SECONDS, for cupsd to start and stop its backends and answer. */
const ANSWER_MARGIN_MS = 5_000;
/**
 * The backends CUPS runs for the bridge: snmp finds printers by address on
 * the local network and reports AppSocket ones as socket://. Not dnssd (it
 * reports dnssd:// service names, which the raw port cannot open), not usb
 * (the bridge reads USB printers itself), not serial, parallel or the
 * drivers' own backends (local, slow, or not raw).
 */
export const DISCOVERY_SCHEMES: readonly string[] = ['snmp'];
/** At most this many printers found by CUPS are listed; more is a note among the list's problems. */
export const DEVICES_MAX = 32;
/** What CUPS is asked for at most, other kinds of device included: it only keeps the answer small. */
const ASKED_MAX = DEVICES_MAX * 4;
/** AppSocket's port, which CUPS's socket backend also takes when the URI names none. */
const APPSOCKET_PORT = 9100;

const REQUESTED = ['device-uri', 'device-class', 'device-info', 'device-make-and-model', 'device-location'];

export interface CupsDevice {
  readonly uri: string;
  /** network, direct, serial or file, as the backend says. */
  readonly deviceClass: string | undefined;
  readonly info: string | undefined;
  readonly makeModel: string | undefined;
  readonly location: string | undefined;
}

export interface Discovery {
  readonly devices: readonly CupsDevice[];
  /** CUPS stopped a backend still looking at DISCOVERY_SECONDS: a printer slower to answer is missing. */
  readonly cutOff: boolean;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** Asks CUPS to look for network printers; rejects with an IppError saying why when it will not or does not answer. */
export async function discoverDevices(server: IppServer): Promise<Discovery> {
  const body = encodeRequest(OP.cupsGetDevices, [
    { tag: TAG.name, name: 'requesting-user-name', values: [USER] },
    { tag: TAG.integer, name: 'timeout', values: [DISCOVERY_SECONDS] },
    { tag: TAG.integer, name: 'limit', values: [ASKED_MAX] },
    { tag: TAG.name, name: 'include-schemes', values: DISCOVERY_SCHEMES },
    { tag: TAG.keyword, name: 'requested-attributes', values: REQUESTED },
  ]);
  const started = performance.now();
  let res;
  try {
    res = await ippRequest(server, '/', body, { timeoutMs: DISCOVERY_SECONDS * 1000 + ANSWER_MARGIN_MS });
  } catch (e) {
    if (e instanceof IppHttpError && (e.httpStatus === 401 || e.httpStatus === 403)) {
      throw new IppError(`${e.message}: CUPS lets only its administrators run CUPS-Get-Devices (its default policy), see docs/printers.md`);
    }
    throw e;
  }
  const elapsed = performance.now() - started;
  checked(res, 'CUPS-Get-Devices');
  const devices = res.groups
    .filter((g) => g.tag === TAG.printer)
    .flatMap((g) => {
      const uri = text(g.attrs.get('device-uri')?.[0]);
      if (uri === undefined) return [];
      return [{
        uri,
        deviceClass: text(g.attrs.get('device-class')?.[0]),
        info: text(g.attrs.get('device-info')?.[0]),
        makeModel: text(g.attrs.get('device-make-and-model')?.[0]),
        location: text(g.attrs.get('device-location')?.[0]),
      }];
    });
  // CUPS answers success either way; only the time tells that it stopped a backend.
  return { devices, cutOff: elapsed >= DISCOVERY_SECONDS * 1000 };
}

/** socket://HOST[:PORT][/…][?…]: a host name, an IPv4 address or a bracketed IPv6 one (no zone). */
const SOCKET_URI = /^socket:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)(?::(\d{1,5}))?(?:[/?].*)?$/;

/**
 * The bridge's address for an AppSocket device URI, tcp://HOST:PORT, or
 * undefined for any other. CUPS's options after the address (?contimeout=…,
 * /?waiteof=…) are its backend's, not the printer's.
 */
export function appSocketAddress(deviceUri: string): string | undefined {
  const m = SOCKET_URI.exec(deviceUri);
  if (!m) return undefined;
  const port = m[2] === undefined ? APPSOCKET_PORT : Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return `tcp://${m[1]!.toLowerCase()}:${port}`;
}

/**
 * The AppSocket printers among what CUPS found, as tcp:// addresses, each
 * once, at most DEVICES_MAX of them; `more` counts those left out. One that
 * is also a CUPS queue's device is still listed (printed to directly, the
 * bridge sees its status answers), and says which queue.
 */
export function networkPrinters(found: readonly CupsDevice[], queues: readonly QueueInfo[]): { printers: ReachablePrinter[]; more: number } {
  const queueOf = new Map<string, string>();
  for (const q of queues) {
    const address = q.deviceUri === undefined ? undefined : appSocketAddress(q.deviceUri);
    if (address !== undefined && !queueOf.has(address)) queueOf.set(address, q.name);
  }
  const byAddress = new Map<string, ReachablePrinter>();
  for (const d of found) {
    if (d.deviceClass !== 'network') continue;
    const uri = appSocketAddress(d.uri);
    if (uri === undefined || byAddress.has(uri)) continue;
    const about = [d.makeModel, d.info, d.location].filter((x) => x !== undefined && x !== 'Unknown');
    const queue = queueOf.get(uri);
    const detail = `found by CUPS${about.length > 0 ? `: ${about.join(', ')}` : ''}${queue === undefined ? '' : `; device of CUPS queue ${queue}`}`;
    byAddress.set(uri, { uri, kind: 'network', detail });
  }
  const printers = [...byAddress.values()];
  return { printers: printers.slice(0, DEVICES_MAX), more: Math.max(0, printers.length - DEVICES_MAX) };
}
