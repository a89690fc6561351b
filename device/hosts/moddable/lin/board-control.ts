// The Linux test host has no pins and no radio, so its stand-ins for them
// take their outside world from here: one UDP port on 127.0.0.1 (config
// `linControlPort`, 0 for none) on which a test or a person sends text
// datagrams:
//
//   pin N 0|1       the level on input pin N (a printer's busy line)
//   wifi down       the access point goes away: the station loses it
//   wifi up         the access point is back: a join succeeds again
//
// Only the Linux board manifest (manifests/lin) carries this module.

import config from 'mc/config';
import UDP from 'embedded:io/socket/udp';

type Listener = (words: readonly string[]) => void;

const listeners: Listener[] = [];
let socket: UDP | undefined;

/** Adds a listener for control lines, opening the port on first use. */
export function onControl(listener: Listener): void {
  listeners.push(listener);
  if (socket !== undefined) return;
  const port = Number((config as Record<string, unknown>)['linControlPort'] ?? 0);
  if (!Number.isInteger(port) || port <= 0) return;
  try {
    socket = new UDP({
      port, address: '127.0.0.1',
      onReadable: (count: number) => {
        for (let i = 0; i < count; i++) {
          const packet = socket?.read();
          if (packet === undefined) return;
          const line = String.fromArrayBuffer === undefined ? '' : String.fromArrayBuffer(packet);
          const words = line.trim().split(/\s+/);
          trace(`control: ${words.join(' ')}\n`);
          try {
            for (const l of listeners) l(words);
          } catch (e) {
            // A callback run from the event loop must not throw: that aborts the VM.
            trace(`control: ${String(e)}\n`);
          }
        }
      },
    });
    trace(`control: listening on udp 127.0.0.1:${port}\n`);
  } catch (e) {
    trace(`control: cannot listen on ${port}: ${String(e)}\n`);
  }
}
