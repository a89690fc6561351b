// Entry point of the firmware: the SDK calls the main module's default
// export once the runtime is up. Hardware objects are created here and not
// at module load, because preloaded modules run at build time, where there
// is no hardware to talk to.
//
// `./board-dialects` is not a source file: `npm run build:device` generates
// one per board from the dialect modules the board's manifest lists
// (build/device/boards/<board>/dialects.js), and the manifest maps this
// name to it, so the firmware carries only those drivers.

import config from 'mc/config';
import dialects from './board-dialects.js';
import { Firmware } from './firmware.js';

export default function main(): void {
  // The manifest turns on XS's abort hook: whatever ends the VM (an
  // exception nothing caught, memory full) is named on the console before
  // the board resets, instead of a bare "unhandled exception".
  globalThis.abort = (reason: string, error?: unknown): void => {
    const detail = error instanceof Error ? `${error.name}: ${error.message}${error.stack === undefined ? '' : `\n${error.stack}`}` : String(error);
    trace(`abort: ${reason}: ${detail}\n`);
  };
  new Firmware(config, dialects).start();
}
