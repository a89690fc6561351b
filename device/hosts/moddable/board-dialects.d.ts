// The dialect drivers of one board's build. There is no source: the module
// is generated per board by tools/build-device.ts from the dialect modules
// the board's manifest lists, e.g. build/device/boards/esp32/dialects.js:
//   import { EscPos } from "../../core/dialects/escpos.js";
//   export default { escpos: EscPos };
// and the manifest maps device/hosts/moddable/board-dialects to that file.

import type { DialectSet } from '../../core/dialects/dialect.js';

declare const dialects: DialectSet;
export default dialects;
