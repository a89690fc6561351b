// Where each thing lives on the broker: every topic name printbridge
// publishes (and the command topics its discovery messages point at) is
// built here and nowhere else, so docs/mqtt.md's table has one source.
//
//   <prefix>/node/<node>/status              online / offline (Will)
//   <prefix>/<device>/availability           online / offline
//   <prefix>/<device>/state                  device JSON
//   <prefix>/<device>/<port>/availability    online / offline
//   <prefix>/<device>/<port>/state           printer JSON
//   <prefix>/<device>/<port>/job/<state>     job events, not retained
//   <prefix>/control/<ref>/report            delivery reports, not retained
//   <prefix>/<device>/cmd/identify           in (server/mqtt/commands.ts)
//   <prefix>/<device>/<port>/cmd/cancel      in (server/mqtt/commands.ts)
//   <discovery>/device/<prefix>_<device>/config   Home Assistant discovery
//   <discovery>/status                       Home Assistant's birth: online
//
// Device ids are [A-Za-z0-9._-] and ports numbers, so no id can add a level
// or a wildcard; a device named `node` or `control` cannot collide either,
// because their last levels (`status`, `report`) are none a device uses.

import type { JobState } from '../../protocol/client-messages.js';

export const DEFAULT_PREFIX = 'printbridge';
export const DEFAULT_DISCOVERY_PREFIX = 'homeassistant';
/** What availability and node status topics carry. */
export const ONLINE = 'online';
export const OFFLINE = 'offline';
/** The version of every JSON payload's layout (its `schema` field); a field added keeps it, a field changed or removed raises it. */
export const PAYLOAD_SCHEMA = 1;

const MAX_PREFIX = 64;

/**
 * Why `value` cannot be a topic prefix, or undefined when it can: levels of
 * printable characters, no wildcards (`+`, `#`), no empty level, and not `$`
 * first (brokers keep `$…` topics for themselves).
 */
export function prefixProblem(value: string): string | undefined {
  if (value.length === 0 || value.length > MAX_PREFIX) return `must be 1-${MAX_PREFIX} characters`;
  if (/[+#\u0000-\u001f\u007f]/.test(value)) return 'must not hold +, # or control characters';
  if (value.startsWith('$')) return 'must not start with $';
  if (value.split('/').some((level) => level === '')) return 'must not start or end with / or hold //';
  return undefined;
}

/** A node's name as a topic level and in a client id: what is not [A-Za-z0-9._-] becomes `-`. */
export function nodeLevel(node: string): string {
  const safe = node.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64);
  return safe === '' ? 'node' : safe;
}

/** Home Assistant's object ids are [A-Za-z0-9_-]. */
function objectId(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_');
}

export class Topics {
  constructor(
    readonly prefix: string,
    /** undefined: discovery is off. */
    readonly discoveryPrefix: string | undefined,
  ) {}

  nodeStatus(node: string): string {
    return `${this.prefix}/node/${node}/status`;
  }

  availability(device: string): string {
    return `${this.prefix}/${device}/availability`;
  }

  deviceState(device: string): string {
    return `${this.prefix}/${device}/state`;
  }

  printerAvailability(device: string, port: number): string {
    return `${this.prefix}/${device}/${port}/availability`;
  }

  printerState(device: string, port: number): string {
    return `${this.prefix}/${device}/${port}/state`;
  }

  jobEvent(device: string, port: number, state: JobState): string {
    return `${this.prefix}/${device}/${port}/job/${state}`;
  }

  controlReport(ref: string): string {
    return `${this.prefix}/control/${ref}/report`;
  }

  /** The inbound topics discovery's buttons press (server/mqtt/commands.ts answers them). */
  identifyCommand(device: string): string {
    return `${this.prefix}/${device}/cmd/identify`;
  }

  cancelCommand(device: string, port: number): string {
    return `${this.prefix}/${device}/${port}/cmd/cancel`;
  }

  /** `<prefix>_<device>`: two printbridge installations with other prefixes on one broker stay apart in Home Assistant. */
  discoveryObject(device: string): string {
    return objectId(`${this.prefix}_${device}`);
  }

  discoveryConfig(device: string): string | undefined {
    return this.discoveryPrefix === undefined ? undefined : `${this.discoveryPrefix}/device/${this.discoveryObject(device)}/config`;
  }

  /** Home Assistant's birth and will topic. */
  discoveryStatus(): string | undefined {
    return this.discoveryPrefix === undefined ? undefined : `${this.discoveryPrefix}/status`;
  }
}
