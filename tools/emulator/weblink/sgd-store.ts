// The printer's settings (SGD), answered on the config channel as JSON SGD
// (WEBLINK.md A.8) and on the raw channel as `! U1 getvar/setvar/do`.
//
// Each setting has a value and an access mode. A set on a read-only or
// unknown setting fails, and the JSON answer then carries the old value (an
// unknown name answers null), as A.8 says real printers do. A get of a
// branch name ("weblink", "odometer") answers every setting under it;
// "allvalues" answers everything and "allconfig" everything with metadata.

export type Access = 'RW' | 'R' | 'W';

interface Setting {
  value: string;
  access: Access;
  type: 'string' | 'integer' | 'enum';
}

export interface SgdIdentity {
  serial: string;
  product: string;
  firmware: string;
  retryInterval: string;
  retryRandomMax: string;
  maxConnections: string;
  location: string;
}

/** Settings that a set changes through the printer rather than by storing a value. */
export type SgdHook = (name: string, value: string) => string | undefined;

export class SgdStore {
  private readonly settings = new Map<string, Setting>();

  constructor(id: SgdIdentity, private readonly onSet?: SgdHook) {
    const rw = (name: string, value: string, type: Setting['type'] = 'string'): void => void this.settings.set(name, { value, access: 'RW', type });
    const ro = (name: string, value: string, type: Setting['type'] = 'string'): void => void this.settings.set(name, { value, access: 'R', type });
    ro('device.unique_id', id.serial);
    ro('device.product_name', id.product.replace(/^ZTC /, '').replace(/-.*$/, ''));
    rw('device.friendly_name', id.serial);
    rw('device.location', '');
    ro('device.languages', 'zpl');
    rw('device.reset', '');
    ro('appl.name', id.firmware);
    ro('appl.date', '1/8/2018');
    ro('appl.bootblock', '10.5.4');
    ro('appl.link_os_version', '5.0');
    ro('head.resolution.in_dpi', '203', 'integer');
    ro('head.latch', 'ok');
    ro('media.status', 'ok');
    ro('device.status', 'ok');
    ro('odometer.total_label_count', '0', 'integer');
    rw('odometer.user_label_count', '0', 'integer');
    ro('odometer.total_print_length', '0', 'integer');
    ro('weblink.enable', id.location === '' ? 'off' : 'on');
    rw('weblink.ip.conn1.location', id.location);
    rw('weblink.ip.conn1.retry_interval', id.retryInterval, 'integer');
    rw('weblink.ip.conn1.retry_interval_random_max', id.retryRandomMax, 'integer');
    rw('weblink.ip.conn1.maximum_simultaneous_connections', id.maxConnections, 'integer');
    ro('weblink.ip.conn1.num_connections', '0', 'integer');
    rw('weblink.ip.conn1.proxy', '');
    ro('weblink.printer_reset_required', 'no');
    rw('weblink.logging.max_entries', '0', 'integer');
    rw('alerts.configured', 'COLD START,SNMP,Y,N,255.255.255.255,162,N');
    rw('alerts.add', '');
    ro('file.dir', 'E:WEBLINK1_CA.NRD');
    rw('rtc.date', '');
    rw('rtc.time', '');
    rw('capture.channel1.port', 'off', 'enum');
    rw('ip.port', '9100', 'integer');
  }

  has(name: string): boolean {
    return this.settings.has(name);
  }

  get(name: string): string | undefined {
    if (name === 'rtc.date' || name === 'rtc.time') return clock(name);
    return this.settings.get(name)?.value;
  }

  /** Sets a value the printer itself maintains (counters, num_connections). */
  update(name: string, value: string): void {
    const s = this.settings.get(name);
    if (s) s.value = value;
  }

  /** A host's set: true when it took effect. */
  set(name: string, value: string): boolean {
    const s = this.settings.get(name);
    if (!s || s.access === 'R') return false;
    if (s.type === 'integer' && !/^\d+$/.test(value)) return false;
    const stored = this.onSet?.(name, value);
    s.value = stored ?? value;
    return true;
  }

  /** Every setting named `prefix` or under `prefix.`. */
  branch(prefix: string): [string, string][] {
    const out: [string, string][] = [];
    for (const name of this.settings.keys()) {
      if (name === prefix || name.startsWith(`${prefix}.`)) out.push([name, this.get(name) ?? '']);
    }
    return out;
  }

  /**
   * Answers one JSON SGD object (the part after `{}`): a get for null values,
   * a set (or do) for strings; one reply object with every key.
   */
  answerJson(request: Record<string, unknown>): Record<string, unknown> {
    const reply: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(request)) {
      if (name === 'allconfig') {
        reply[name] = Object.fromEntries(
          [...this.settings].map(([n, s]) => [n, { value: this.get(n) ?? '', type: s.type, range: '', clone: false, archive: false, access: s.access }]),
        );
      } else if (name === 'allvalues') {
        for (const n of this.settings.keys()) reply[n] = this.get(n);
      } else if (value === null) {
        if (this.settings.has(name)) reply[name] = this.get(name);
        else {
          const under = this.branch(name);
          if (under.length === 0) reply[name] = null;
          else for (const [n, v] of under) reply[n] = v;
        }
      } else {
        const text = typeof value === 'string' ? value : JSON.stringify(value);
        this.set(name, text);
        reply[name] = this.get(name) ?? null;
      }
    }
    return reply;
  }
}

function clock(name: 'rtc.date' | 'rtc.time'): string {
  const d = new Date();
  const two = (n: number): string => String(n).padStart(2, '0');
  return name === 'rtc.date' ? `${two(d.getMonth() + 1)}-${two(d.getDate())}-${d.getFullYear()}` : `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

/** Printer-local time as alerts carry it: `YYYY-MM-DD HH:MM:SS`. */
export function alertTimestamp(d = new Date()): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} ${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}
