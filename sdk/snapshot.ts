// The subscribe snapshot as the SDK asks for it and hands it on: the compact
// form (devices and printers as tables, a third of the bytes at fleet size)
// is asked for, and expanded here, so that every listener of `snapshot` and
// LiveState see the one shape whichever form the server answered (a server
// before 1.4 ignores `compact` and sends the full form).

import { fromTable, type DeviceView, type PrinterView, type Snapshot } from '../protocol/client-messages.js';

export const SNAPSHOT_REQUEST = { compact: true } as const;

export function expandSnapshot(s: Snapshot): Snapshot {
  const { tables, ...rest } = s;
  if (tables === undefined) return s;
  return {
    ...rest,
    devices: [...s.devices, ...fromTable<DeviceView>(tables.devices)],
    printers: [...s.printers, ...fromTable<PrinterView>(tables.printers)],
  };
}
