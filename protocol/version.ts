// The wire version carried in every hello. A peer with another major version
// is refused (close VERSION); minor versions only add optional fields and
// message types, which receivers must ignore or answer with UNKNOWN_TYPE.
export const PROTOCOL_MAJOR = 1;
// 1.1: job.state, job.pause/resume on devices, temperatures, `confirms`.
// 1.2: client API — job.submit text/lines with eol and encoding, resume;
//      printer.get, printer.command, token.issue/revoke, clients.list and
//      client.connected/disconnected events.
// 1.3: token scopes (token.issue `scopes`, FORBIDDEN naming the missing
//      scope); clients.list of every endpoint with `scopes`; printer.sgd
//      (settings of Link-OS printers on Weblink).
// 1.4: subscribe `compact` (the snapshot's devices and printers as tables).
// 1.5: job names (job.submit `name`, JobView `name`), jobs.list `q` (search
//      by name or id prefix) and UNKNOWN_PRINTER for a printer it has never
//      heard of; job.data and job.reprint (the bytes of a job the server
//      still holds, JOB_DATA_GONE once it does not); control.send to a tag no
//      device carries is UNKNOWN_TAG; JobView `line` and `layer` of G-code jobs.
//      The hello answer's `limits` (maxJobBytes, maxFrame, maxUnsent), and
//      REPLY_TOO_LARGE for a job.data answer over maxUnsent.
// 1.6: DeviceView `caps`; the event `device.removed`; the control messages `printers.scan` (scope
//      `control`) and `printers.add` of devices that announce them (Node
//      bridges): the printers a bridge's computer can reach, and adding one.
export const PROTOCOL_MINOR = 6;

export type Version = readonly [major: number, minor: number];

export const PROTOCOL_VERSION: Version = [PROTOCOL_MAJOR, PROTOCOL_MINOR];

export function compatible(v: Version): boolean {
  return v[0] === PROTOCOL_MAJOR;
}

/** Job data frames carry at most this many payload bytes unless the device asks for less. */
export const DEFAULT_MAX_CHUNK = 1024;
/** Bytes a device lets the server have in flight per job unless it says otherwise. */
export const DEFAULT_WINDOW = 8192;
