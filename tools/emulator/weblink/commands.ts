// Operator commands for the Weblink printer, one per line on stdin; each
// either acts or returns a message saying what is wrong.

import type { AlertState } from './alerts.js';
import { DEFAULT_POWER_OFF_MS, DEFAULT_SPLIT_PARTS, type ChannelKind, type Fault, type WeblinkPrinter } from './printer.js';

export const WEBLINK_COMMANDS = `Commands on stdin, one per line:
  head open | head close        HEAD OPEN set/clear (~HS goes silent, printing stops)
  paper out | paper in          PAPER OUT set/clear (likewise)
  ribbon out | ribbon in        RIBBON OUT set/clear (likewise)
  pause | unpause               PRINTER PAUSED set/clear (printing stops)
  drop [main|raw|config|all]    cut those connections without a close frame
                                (default raw); losing main takes the channels along
  close main|raw|config [CODE]  close those connections with a close frame (default 1000)
  split [N] [PARTS]             send the next N JSON messages (default 1) in PARTS
                                WebSocket messages each (default ${DEFAULT_SPLIT_PARTS})
  stall | resume                raw channels stop being read, or start again
  new-main                      open another main connection, keeping the old one
  config-close on|off           close the config channel after each answer (default on)
  alert CONDITION [SET|CLEAR]   raise any alert condition, e.g. alert MEDIA LOW
  lose-alerts [N]               the next N alerts (default 1) are lost on the way:
                                the condition happens, the server never hears of it
  scan DATA                     a scanner read DATA: SGD SET alert for
                                capture.channel1.data.raw (if subscribed)
  power-cycle [MS]              off (unprinted data lost, every socket cut), on
                                after MS (default ${DEFAULT_POWER_OFF_MS}) with a reset state
  power-off | power-on`;

const CHANNELS: readonly ChannelKind[] = ['main', 'raw', 'config'];
const TOGGLES: Record<string, [Fault, boolean]> = {
  'head open': ['head-open', true],
  'head close': ['head-open', false],
  'head closed': ['head-open', false],
  'paper out': ['paper-out', true],
  'paper in': ['paper-out', false],
  'ribbon out': ['ribbon-out', true],
  'ribbon in': ['ribbon-out', false],
  pause: ['pause', true],
  unpause: ['pause', false],
};

const count = (s: string | undefined, fallback: number): number | undefined => (s === undefined ? fallback : /^\d+$/.test(s) ? Number(s) : undefined);

/** Applies one line; returns an error message, or undefined when done. */
export function weblinkCommand(printer: WeblinkPrinter, line: string): string | undefined {
  const words = line.trim().split(/\s+/).filter((w) => w !== '');
  const text = words.join(' ').toLowerCase();
  if (words.length === 0) return undefined;
  const toggle = TOGGLES[text];
  if (toggle) {
    printer.setFault(toggle[0], toggle[1]);
    return undefined;
  }
  const [verb, a, b] = [words[0]!.toLowerCase(), words[1]?.toLowerCase(), words[2]];
  switch (verb) {
    case 'drop': {
      if (a !== undefined && a !== 'all' && !CHANNELS.includes(a as ChannelKind)) return `drop takes main, raw, config or all, not ${JSON.stringify(a)}`;
      printer.drop(a === 'all' ? undefined : ((a ?? 'raw') as ChannelKind));
      return undefined;
    }
    case 'close': {
      if (!CHANNELS.includes(a as ChannelKind)) return `close takes main, raw or config, not ${JSON.stringify(a)}`;
      const code = count(b, 1000);
      if (code === undefined || code < 1000 || code > 4999) return `close code must be 1000-4999, not ${JSON.stringify(b)}`;
      printer.closeChannels(a as ChannelKind, code);
      return undefined;
    }
    case 'split': {
      const n = count(a, 1);
      const parts = count(b, DEFAULT_SPLIT_PARTS);
      if (n === undefined || parts === undefined || parts < 2) return 'split takes [N] [PARTS], PARTS at least 2';
      printer.split(n, parts);
      return undefined;
    }
    case 'stall':
    case 'resume':
      printer.stall(verb === 'stall');
      return undefined;
    case 'new-main':
      printer.newMain();
      return undefined;
    case 'config-close':
      if (a !== 'on' && a !== 'off') return 'config-close takes on or off';
      printer.configCloses = a === 'on';
      return undefined;
    case 'alert': {
      const rest = words.slice(1);
      const last = rest[rest.length - 1]?.toUpperCase();
      const state: AlertState = last === 'CLEAR' ? 'CLEAR' : 'SET';
      if (last === 'SET' || last === 'CLEAR') rest.pop();
      if (rest.length === 0) return 'alert takes CONDITION [SET|CLEAR]';
      printer.raiseNamed(rest.join(' ').toUpperCase(), state);
      return undefined;
    }
    case 'lose-alerts': {
      const n = count(a, 1);
      if (n === undefined) return `lose-alerts takes a count, not ${JSON.stringify(a)}`;
      printer.loseAlerts(n);
      return undefined;
    }
    case 'scan': {
      const data = line.trim().slice(words[0]!.length).trim();
      if (data === '') return 'scan takes the scanned data';
      printer.scan(data);
      return undefined;
    }
    case 'power-cycle': {
      const ms = count(a, DEFAULT_POWER_OFF_MS);
      if (ms === undefined || ms > 2 ** 31 - 1) return `power-cycle takes milliseconds, not ${JSON.stringify(a)}`;
      printer.powerCycle(ms);
      return undefined;
    }
    case 'power-off':
      printer.powerOff();
      return undefined;
    case 'power-on':
      printer.powerOn();
      return undefined;
    default:
      return `unknown command ${JSON.stringify(line.trim())}`;
  }
}
