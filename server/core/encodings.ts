// Turning job.submit's `text` or `lines` into the bytes a printer gets.
//
// Line endings: `lines` get `eol` after every line, the last one included
// (default lf); `text` keeps its own line breaks unless `eol` is given, and
// then every break in it (CR LF, CR or LF) becomes that one.
//
// Encodings: utf8 (default), latin1 (ISO-8859-1, U+0000–U+00FF), ascii
// (U+0000–U+007F) and cp437, the IBM PC code page that ESC/POS receipt
// printers use by default (code table 0): box drawing, accented letters, £ ¥
// ½ ° and so on in 0x80–0xFF. A character the encoding lacks is refused with
// UNENCODABLE, naming it and its position, rather than printed as "?".

import type { Eol, TextEncodingName } from '../../protocol/client-messages.js';
import { PrintbridgeError } from '../errors.js';

const EOL_BYTES: Record<Eol, string> = { lf: '\n', crlf: '\r\n', cr: '\r', none: '' };

/** Code page 437, bytes 0x80–0xFF in order. 0x00–0x7F are ASCII (control codes stay control codes for the printer). */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐' +
  '└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

const CP437 = new Map<number, number>();
for (let i = 0; i < CP437_HIGH.length; i++) CP437.set(CP437_HIGH.charCodeAt(i), 0x80 + i);
// Look-alikes that text often carries in place of the code page's own character.
CP437.set(0x03b2, 0xe1); // Greek beta for sharp s
CP437.set(0x03bc, 0xe6); // Greek mu for micro sign
CP437.set(0x2126, 0xea); // ohm sign for omega

/** The text with its line breaks made `eol` (text), or the lines each ended with `eol` (lines). */
export function composeText(payload: { text: string } | { lines: readonly string[] }, eol: Eol | undefined): string {
  if ('lines' in payload) {
    const end = EOL_BYTES[eol ?? 'lf'];
    let out = '';
    for (const line of payload.lines) out += line + end;
    return out;
  }
  if (eol === undefined) return payload.text;
  return payload.text.replace(/\r\n|\r|\n/g, EOL_BYTES[eol]);
}

/** Encodes `text`; throws UNENCODABLE for a character the encoding lacks. */
export function encodeText(text: string, encoding: TextEncodingName = 'utf8'): Uint8Array {
  if (encoding === 'utf8') return new Uint8Array(Buffer.from(text, 'utf8'));
  const out = new Uint8Array(text.length);
  let n = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0) ?? 0;
    const b = byteFor(cp, encoding);
    if (b === undefined) {
      const at = n;
      throw new PrintbridgeError('UNENCODABLE', `${JSON.stringify(ch)} (U+${cp.toString(16).toUpperCase().padStart(4, '0')}) at character ${at} is not in ${encoding}`);
    }
    out[n++] = b;
  }
  return out.subarray(0, n);
}

function byteFor(cp: number, encoding: Exclude<TextEncodingName, 'utf8'>): number | undefined {
  if (cp < 0x80) return cp;
  switch (encoding) {
    case 'ascii':
      return undefined;
    case 'latin1':
      return cp <= 0xff ? cp : undefined;
    case 'cp437':
      return CP437.get(cp);
  }
}
