// The dialects the emulator can play. Adding one is a file in this folder and
// a line here; the rest of the emulator does not know printer languages.

import type { DialectEmulator } from './dialect.js';
import { escpos } from './escpos.js';
import { raw } from './raw.js';

export const EMULATED_DIALECTS: Readonly<Record<string, DialectEmulator>> = { escpos, raw };

export type { DialectEmulator, EmulatedPrinter } from './dialect.js';
