// The printer's first message on a main connection: {"discovery_b64":
// "<base64>:<crc>"}. The base64 text decodes to the printer's discovery
// packet (fixed offsets, NUL-terminated strings); the suffix is four hex
// digits of CRC-16/XMODEM over the base64 text, which we check so that a
// truncated or mangled packet is refused instead of misread. Only the fields
// the server uses are read: the serial (which must match the login), the
// product name and the firmware.

export interface Discovery {
  readonly serial: string;
  readonly product: string;
  readonly firmware: string;
}

export type DiscoveryResult = { ok: true; value: Discovery } | { ok: false; message: string };

const SERIAL_AT = 188;
const SERIAL_LEN = 32;
const PRODUCT_AT = 76;
const PRODUCT_LEN = 32;
const FIRMWARE_AT = 108;
const FIRMWARE_LEN = 16;
/** The packet must reach past the serial, the last field we read. */
const MIN_PACKET = SERIAL_AT + SERIAL_LEN;
const MAGIC = [0x3a, 0x2c, 0x2e];

/** CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection. */
export function crc16xmodem(text: string): number {
  let crc = 0;
  for (let i = 0; i < text.length; i++) {
    crc ^= (text.charCodeAt(i) & 0xff) << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export function parseDiscovery(value: string): DiscoveryResult {
  const colon = value.lastIndexOf(':');
  const b64 = colon < 0 ? value : value.slice(0, colon);
  if (colon >= 0) {
    const suffix = value.slice(colon + 1);
    if (!/^[0-9a-fA-F]{4}$/.test(suffix)) return { ok: false, message: 'discovery_b64 has a malformed checksum suffix' };
    if (parseInt(suffix, 16) !== crc16xmodem(b64)) return { ok: false, message: 'discovery_b64 checksum does not match' };
  }
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return { ok: false, message: 'discovery_b64 is not base64' };
  const packet = Buffer.from(b64, 'base64');
  if (packet.length < MIN_PACKET) return { ok: false, message: `discovery packet is ${packet.length} bytes, shorter than ${MIN_PACKET}` };
  if (!MAGIC.every((m, i) => packet[i] === m)) return { ok: false, message: 'discovery packet lacks its magic' };
  const serial = field(packet, SERIAL_AT, SERIAL_LEN);
  if (serial === '') return { ok: false, message: 'discovery packet names no serial number' };
  return { ok: true, value: { serial, product: field(packet, PRODUCT_AT, PRODUCT_LEN), firmware: field(packet, FIRMWARE_AT, FIRMWARE_LEN) } };
}

function field(packet: Buffer, at: number, len: number): string {
  const bytes = packet.subarray(at, at + len);
  const end = bytes.indexOf(0);
  // Printable ASCII only: these strings end up in logs and views.
  return bytes.subarray(0, end < 0 ? bytes.length : end).toString('latin1').replace(/[^\x20-\x7e]/g, '').trim();
}
