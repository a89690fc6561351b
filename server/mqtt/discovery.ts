// Home Assistant device discovery: one retained message per device at
// `<discovery>/device/<prefix>_<device>/config` whose `cmps` map holds, for
// each printer, a status sensor, a job progress sensor, a button that
// cancels all its jobs (commands need `jobs:any` in --mqtt-scopes for it)
// and, for G-code printers, a temperature sensor per heater it reported;
// and one identify button for the device. Abbreviated keys (`stat_t`,
// `cmd_t`, `avty`…) keep it small. A component is available while both its
// own availability topic and the node holding the device say `online`
// (`avty_mode: all`): a node that dies takes its devices with it by its Will.

import type { DeviceView } from '../../protocol/client-messages.js';
import { ONLINE, OFFLINE, type Topics } from './topics.js';

/** Heater names a template can name safely; others get no sensor. */
const TEMP_NAME = /^[A-Za-z0-9_-]{1,16}$/;
/** What a button sends: an empty JSON object, which every command topic takes. */
const PRESS = '{}';

export interface DiscoveryInput {
  /** Its printers are its ports (DeviceView.ports), known from its hello: the config does not change as their statuses come in. */
  readonly device: DeviceView;
  /** Heater names each G-code printer reported so far, by port. */
  readonly heaters: ReadonlyMap<number, readonly string[]>;
  /** The node level of the node holding the device. */
  readonly node: string;
  readonly version: string;
}

type Component = Record<string, unknown>;

/** The config message's payload (JSON text). */
export function discoveryPayload(topics: Topics, input: DiscoveryInput): string {
  const { device, node } = input;
  const object = topics.discoveryObject(device.id);
  const nodeAvailability = { t: topics.nodeStatus(node), pl_avail: ONLINE, pl_not_avail: OFFLINE };
  const cmps: Record<string, Component> = {
    identify: {
      p: 'button', name: 'Identify', uniq_id: `${object}_identify`, cmd_t: topics.identifyCommand(device.id), pl_prs: PRESS, dev_cla: 'identify', ent_cat: 'diagnostic',
    },
  };
  for (const printer of [...device.ports].sort((a, b) => a.port - b.port)) {
    const p = `p${printer.port}`;
    const label = printer.name ?? `Printer ${printer.port}`;
    const stat_t = topics.printerState(device.id, printer.port);
    const avty = [{ t: topics.printerAvailability(device.id, printer.port), pl_avail: ONLINE, pl_not_avail: OFFLINE }, nodeAvailability];
    const own = { avty, avty_mode: 'all' };
    cmps[`${p}_status`] = { p: 'sensor', name: `${label} status`, uniq_id: `${object}_${p}_status`, stat_t, val_tpl: '{{ value_json.status }}', json_attr_t: stat_t, ...own };
    cmps[`${p}_progress`] = {
      p: 'sensor', name: `${label} job progress`, uniq_id: `${object}_${p}_progress`, stat_t, unit_of_meas: '%', stat_cla: 'measurement',
      val_tpl: '{{ ((value_json.progress or 0) * 100) | round(1) }}', ...own,
    };
    cmps[`${p}_cancel`] = { p: 'button', name: `${label} cancel all jobs`, uniq_id: `${object}_${p}_cancel`, cmd_t: topics.cancelCommand(device.id, printer.port), pl_prs: PRESS, ...own };
    if (printer.dialect !== 'gcode') continue;
    for (const heater of input.heaters.get(printer.port) ?? []) {
      if (!TEMP_NAME.test(heater)) continue;
      cmps[`${p}_temp_${heater}`] = {
        p: 'sensor', name: `${label} ${heater} temperature`, uniq_id: `${object}_${p}_temp_${heater}`, stat_t, dev_cla: 'temperature', unit_of_meas: '°C', stat_cla: 'measurement',
        val_tpl: `{{ value_json.temps['${heater}'].current if '${heater}' in value_json.temps else none }}`, ...own,
      };
    }
  }
  return JSON.stringify({
    dev: { ids: [object], name: device.id, mf: 'printbridge', mdl: 'printbridge bridge', ...(device.fw !== undefined && { sw: device.fw }) },
    o: { name: 'printbridge', sw: input.version },
    avty: [{ t: topics.availability(device.id), pl_avail: ONLINE, pl_not_avail: OFFLINE }, nodeAvailability],
    avty_mode: 'all',
    qos: 1,
    cmps,
  });
}
