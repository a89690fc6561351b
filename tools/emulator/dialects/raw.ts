// A printer that only consumes bytes: no status channel, like most :9100
// label printers in "raw" mode. Useful to test pacing and stalls alone.

import type { DialectEmulator, EmulatedPrinter } from './dialect.js';

export const raw: DialectEmulator = {
  name: 'raw',
  conditions: ['ok'],
  create(): EmulatedPrinter {
    return {
      condition: 'ok',
      receive: () => [],
      reset: () => {},
      setCondition: (name) => name === 'ok',
    };
  },
};
