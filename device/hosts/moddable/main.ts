// Entry point of the ESP32 firmware: the SDK calls the main module's default
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
  new Firmware(config, dialects).start();
}
