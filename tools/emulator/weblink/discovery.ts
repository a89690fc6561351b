// The main channel's first message (WEBLINK.md A.6): a binary "advanced
// discovery" packet (version 4, advanced version 4, 422 bytes, big-endian,
// NUL-padded fixed fields), base64, then ":" and the CRC-16/XMODEM of the
// base64 text as four lowercase hex digits. With the defaults below and
// serial 50J000000001 the value is the one A.13 prints, byte for byte.

import { crc16xmodem } from '../../../server/weblink/discovery.js';

export const DISCOVERY_LENGTH = 422;

export interface DiscoveryFields {
  serial: string;
  product: string;
  firmware: string;
  /** Shown as the system name; a real printer defaults it to the serial. */
  friendlyName: string;
  odometer: number;
  labelsRemaining: number;
  labelsQueued: number;
}

/** CRC-16/XMODEM of bytes: the server's one implementation (the tests hold it to the standard check value and A.13's sample). */
export function crc16Xmodem(bytes: Uint8Array): number {
  return crc16xmodem(Buffer.from(bytes).toString('latin1'));
}

export function discoveryPacket(f: DiscoveryFields): Buffer {
  const p = Buffer.alloc(DISCOVERY_LENGTH);
  const text = (offset: number, length: number, value: string): void => {
    // Keep the last byte of the field for the terminating NUL.
    p.write(value.slice(0, length - 1), offset, 'latin1');
  };
  p.write(':,.', 0, 'latin1');
  p[3] = 4; // advanced discovery
  p[4] = 4; // advanced version, as a ZD420 on V84
  p.set([1, 0, 1], 5);
  text(8, 5, 'ZBR');
  text(13, 63, f.friendlyName);
  text(76, 32, f.product);
  text(108, 16, f.firmware);
  text(188, 32, f.serial);
  text(220, 100, 'local');
  p.set([0x00, 0x07, 0x4d, 0x00, 0x00, 0x01], 324); // a MAC in Zebra's OUI
  p.set([127, 0, 0, 1], 332);
  p.set([255, 0, 0, 0], 336);
  p.set([127, 0, 0, 1], 340);
  p.writeUInt16BE(9100, 344);
  p.writeUInt16BE(8, 360); // dots per mm (203 dpi)
  p.writeUInt16BE(1218, 364); // label length
  p.writeUInt16BE(832, 366); // label width
  p.writeUInt16BE(100, 368); // darkness
  p.writeUInt32BE(f.odometer >>> 0, 376);
  p.writeUInt16BE(Math.min(f.labelsRemaining, 0xffff), 388);
  p.writeUInt16BE(Math.min(f.labelsQueued, 0xffff), 390);
  p.writeUInt16BE(832, 396); // print head width
  p.writeUInt16BE(9200, 398); // JSON port
  p[400] = 6; // Link-OS major
  p[401] = 4; // Link-OS minor
  text(402, 6, '0.13');
  p.writeUInt16BE(9143, 416); // TLS raw port
  p.writeUInt16BE(9243, 418); // TLS JSON port
  return p;
}

/** The `discovery_b64` value: base64, ":", CRC of the base64 text. */
export function discoveryValue(f: DiscoveryFields): string {
  const b64 = discoveryPacket(f).toString('base64');
  return `${b64}:${crc16Xmodem(Buffer.from(b64, 'latin1')).toString(16).padStart(4, '0')}`;
}
