// Entry point of the ESP32 firmware: the SDK calls the main module's default
// export once the runtime is up. Hardware objects are created here and not
// at module load, because preloaded modules run at build time, where there
// is no hardware to talk to.

import config from 'mc/config';
import { Firmware } from './firmware.js';

export default function main(): void {
  new Firmware(config).start();
}
