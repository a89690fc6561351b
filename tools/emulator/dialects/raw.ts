// A printer that only consumes bytes: no status channel, like most :9100
// label printers in "raw" mode. Useful to test pacing, stalls, XON/XOFF and
// a printer that disappears on their own.

import type { DialectEmulator, EmulatedPrinter } from './dialect.js';

export const raw: DialectEmulator = {
  name: 'raw',
  conditions: ['ok', 'offline'],
  faults: {},
  create(): EmulatedPrinter {
    let condition = 'ok';
    return {
      get condition() {
        return condition;
      },
      get blocked() {
        return condition !== 'ok';
      },
      receive: () => {},
      reset: () => {},
      powerOn: () => {
        condition = 'ok';
      },
      setCondition(name) {
        if (name !== 'ok' && name !== 'offline') return false;
        condition = name;
        return true;
      },
    };
  },
};
