// Every dialect driver, for hosts that carry them all (the Node bridge,
// tests). ESP32 builds carry only the drivers their manifest lists.

import type { DialectSet } from './dialect.js';
import { EscPos } from './escpos.js';
import { Gcode } from './gcode.js';
import { Raw } from './raw.js';
import { Tspl } from './tspl.js';
import { Zpl } from './zpl.js';

export const ALL_DIALECTS: DialectSet = { raw: Raw, escpos: EscPos, tspl: Tspl, zpl: Zpl, gcode: Gcode };
