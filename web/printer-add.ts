// Adding a printer to a Node bridge from the "Printers…" dialog
// (bridge-printers.ts): the request both of its forms send, and the form
// for a network printer. A scan lists only the network printers CUPS's
// discovery found, and only where CUPS lets the bridge ask; any other the
// operator gives by its address, which the bridge takes as given.

import { DIALECTS, type Dialect, type NewPrinter } from '../sdk/index.js';
import { describe, type App } from './app.js';
import { byId, setAttr, setText } from './dom.js';

/** Where a network printer takes print data when nothing else is said (raw/JetDirect). */
const DEFAULT_PORT = '9100';

const DIALECT_LABEL: Record<Dialect, string> = { raw: 'raw (bytes as sent)', escpos: 'ESC/POS', tspl: 'TSPL', zpl: 'ZPL', gcode: 'G-code' };

/** The dialog as an add form sees it. */
export interface AddContext {
  app: App;
  device(): string;
  online(): boolean;
  /** An add succeeded: the bridge is reconnecting with printer `port`. */
  added(port: number): void;
}

/** A dialect select's options; raw is chosen first because it sends the job's bytes unchanged, whatever the printer. */
export function dialectOptions(choices: readonly Dialect[]): HTMLOptionElement[] {
  return choices.map((x) => new Option(DIALECT_LABEL[x], x, x === 'raw', x === 'raw'));
}

/**
 * Sends printers.add and says how it went: a toast and a log line, or the
 * bridge's reason (with its code) in `error`. Resolves true when the
 * printer was added and the dialog still shows the same device, so that a
 * late answer for another device neither marks nor waits for anything.
 */
export async function sendAdd(ctx: AddContext, wanted: NewPrinter, error: HTMLElement): Promise<boolean> {
  const { app } = ctx;
  const device = ctx.device();
  const label = wanted.name ? ` "${wanted.name}"` : '';
  try {
    const r = await app.client.addPrinter(device, wanted);
    const id = `${device}/${r.port}`;
    app.toast(`Added ${id}${r.saved ? '' : ' (not saved: the bridge has no settings file, so it lasts until the bridge stops)'}`, r.saved ? 'ok' : 'warn');
    app.log(`Added ${id}: ${wanted.uri} (${wanted.dialect})${label}`, 'ok', r.ref);
    if (ctx.device() !== device) return false;
    ctx.added(r.port);
    return true;
  } catch (err) {
    app.toast(`Adding ${wanted.uri} to ${device} failed — ${describe(err)}`, 'bad');
    if (ctx.device() === device) setText(error, describe(err));
    return false;
  }
}

export type NetworkAddress = { uri: string } | { field: 'host' | 'port'; problem: string };

const IPV4 = /^[\d.]+$/;
const OCTET = /^(?:0|[1-9]\d{0,2})$/;
const LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOSTNAME = new RegExp(`^${LABEL}(?:\\.${LABEL})*\\.?$`, 'i');
const ZONE = /^[\w.-]+$/;

/** The tcp:// address a host and a port make, or what is wrong with them, said for the operator. */
export function networkAddress(hostText: string, portText: string): NetworkAddress {
  let host = hostText.trim();
  const p = portText.trim();
  if (host === '') return { field: 'host', problem: 'Enter the printer\'s host name or IP address.' };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(host)) return { field: 'host', problem: 'Enter the host alone, without tcp:// (the port has its own field).' };
  const bracketed = /^\[(.*)\]$/.exec(host);
  if (bracketed) host = bracketed[1]!;
  let uriHost: string;
  if (host.includes(':')) {
    if (!bracketed && /^[^:]+:\d*$/.test(host)) return { field: 'host', problem: 'Enter the host alone: the port goes in the Port field.' };
    if (!isIpv6(host)) return { field: 'host', problem: `${host} is not an IPv6 address.` };
    uriHost = `[${host}]`;
  } else if (IPV4.test(host)) {
    const parts = host.split('.');
    if (parts.length !== 4 || !parts.every((x) => OCTET.test(x) && Number(x) <= 255)) {
      return { field: 'host', problem: `${host} is not an IPv4 address: four numbers from 0 to 255, separated by dots.` };
    }
    uriHost = host;
  } else {
    if (bracketed || host.length > 253 || !HOSTNAME.test(host)) {
      return { field: 'host', problem: `${host} is not a host name: letters, digits and hyphens, with dots between the parts.` };
    }
    uriHost = host;
  }
  if (p === '') return { field: 'port', problem: `Enter the printer's port (most take print data on ${DEFAULT_PORT}).` };
  const port = /^\d{1,5}$/.test(p) ? Number(p) : NaN;
  if (!(port >= 1 && port <= 65535)) return { field: 'port', problem: 'The port must be a number from 1 to 65535.' };
  return { uri: `tcp://${uriHost}:${port}` };
}

/** An IPv6 address, with a zone (fe80::1%eth0) allowed: link-local printers need one. */
function isIpv6(text: string): boolean {
  const cut = text.indexOf('%');
  const addr = cut < 0 ? text : text.slice(0, cut);
  if (cut >= 0 && !ZONE.test(text.slice(cut + 1))) return false;
  if (!/^[\da-f:.]+$/i.test(addr)) return false;
  try {
    // The browser's own parser knows every shorthand (::, an embedded IPv4 part).
    new URL(`http://[${addr}]/`);
    return true;
  } catch {
    return false;
  }
}

export interface NetworkForm {
  /** Follows the device: usable only while it is online. */
  update(): void;
  /** Back to empty fields, for a dialog opened anew. */
  reset(): void;
}

/** The "Add a network printer" form of the dialog (its fields are in index.html). */
export function networkForm(ctx: AddContext): NetworkForm {
  const form = byId<HTMLFormElement>('finder-net');
  const host = byId<HTMLInputElement>('finder-net-host');
  const port = byId<HTMLInputElement>('finder-net-port');
  const dialect = byId<HTMLSelectElement>('finder-net-dialect');
  const name = byId<HTMLInputElement>('finder-net-name');
  const add = byId<HTMLButtonElement>('finder-net-add');
  const error = byId('finder-net-error');
  const preview = byId('finder-net-uri');
  const idle = add.textContent ?? 'Add';
  dialect.append(...dialectOptions(DIALECTS));
  let busy = false;

  const enable = (): void => {
    const can = ctx.online() && !busy;
    for (const f of [host, port, dialect, name, add]) f.disabled = !can;
  };
  /** The operator sees the exact address before sending it (brackets around IPv6, the port). */
  const showUri = (): void => {
    const a = networkAddress(host.value, port.value);
    setText(preview, 'uri' in a ? `Adds ${a.uri}` : '');
  };
  const mark = (bad?: HTMLInputElement): void => {
    for (const f of [host, port]) setAttr(f, 'aria-invalid', f === bad ? 'true' : undefined);
  };
  const reset = (): void => {
    form.reset();
    mark();
    setText(error, '');
    showUri();
  };

  for (const f of [host, port]) {
    f.addEventListener('input', () => {
      // Whether the page's or the bridge's, the complaint was about the address as it was.
      mark();
      setText(error, '');
      showUri();
    });
  }
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (busy || !ctx.online()) return;
    const a = networkAddress(host.value, port.value);
    if (!('uri' in a)) {
      const bad = a.field === 'host' ? host : port;
      mark(bad);
      setText(error, a.problem);
      bad.focus();
      return;
    }
    mark();
    setText(error, '');
    const label = name.value.trim();
    busy = true;
    enable();
    setText(add, 'Adding…');
    void sendAdd(ctx, { uri: a.uri, dialect: dialect.value as Dialect, name: label || undefined }, error).then((added) => {
      busy = false;
      setText(add, idle);
      if (added) reset();
      enable();
    });
  });
  showUri();

  return {
    update: enable,
    reset() {
      reset();
      enable();
    },
  };
}
