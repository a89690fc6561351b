// The dialects the emulator can play. Adding one is a file in this folder and
// a line here; the rest of the emulator does not know printer languages.

import type { DialectEmulator } from './dialect.js';
import { escpos } from './escpos.js';
import { gcode } from './gcode.js';
import { raw } from './raw.js';
import { tspl } from './tspl.js';
import { zpl } from './zpl.js';

export const EMULATED_DIALECTS: Readonly<Record<string, DialectEmulator>> = { escpos, gcode, raw, tspl, zpl };

export type { DialectEmulator, EmulatedPrinter, EventFields, FaultSpec, PrinterContext, PrinterSettings } from './dialect.js';
