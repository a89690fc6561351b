// A short test page in each printer language printbridge knows, for the
// dashboard's "Test print" button and for anyone checking a new printer.
// Nothing here moves a 3D printer: the G-code page only shows a message.

import type { Dialect } from '../protocol/device-messages.js';

export function testPage(dialect: Dialect | string, title = 'printbridge test page', when = new Date()): string {
  const stamp = when.toISOString().replace('T', ' ').slice(0, 19);
  switch (dialect) {
    case 'escpos':
      // ESC @ init, centered double-size title, normal text, feed 4 lines, partial cut.
      return `\x1b@\x1ba\x01\x1d!\x11${title}\n\x1d!\x00${stamp} UTC\nIf you can read this, the printer works.\n\x1ba\x00\x1bd\x04\x1dV\x42\x00`;
    case 'tspl':
      return ['SIZE 50 mm,30 mm', 'GAP 2 mm,0 mm', 'CLS', `TEXT 20,20,"3",0,1,1,"${title}"`, `TEXT 20,70,"2",0,1,1,"${stamp} UTC"`, 'PRINT 1,1', ''].join('\r\n');
    case 'zpl':
      return `^XA^CI28^FO30,30^A0N,36,36^FD${title}^FS^FO30,80^A0N,28,28^FD${stamp} UTC^FS^XZ\n`;
    case 'gcode':
      return `M117 ${title}\nM118 ${title} ${stamp}\n`;
    default:
      return `${title}\n${stamp} UTC\nIf you can read this, the printer works.\n\n\n`;
  }
}
