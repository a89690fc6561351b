// One dialect driver per printer port, chosen by the port's dialect.

import type { Dialect as DialectName } from '../../../protocol/device-messages.js';
import { DEFAULT_POLL, type Dialect } from './dialect.js';
import { EscPos } from './escpos.js';
import { Gcode } from './gcode.js';
import { Raw } from './raw.js';
import { Tspl } from './tspl.js';
import { Zpl } from './zpl.js';

export function createDialect(name: DialectName, poll = DEFAULT_POLL): Dialect {
  const p = Number.isFinite(poll) && poll > 0 ? Math.max(100, poll) : 0;
  switch (name) {
    case 'escpos':
      return new EscPos(p);
    case 'tspl':
      return new Tspl(p);
    case 'zpl':
      return new Zpl(p);
    case 'gcode':
      return new Gcode(p);
    default:
      return new Raw();
  }
}

export type { Dialect, PrinterStatus } from './dialect.js';
