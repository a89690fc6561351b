// G-code as the device core's dialect sends it and the emulator records it,
// shared by the G-code tests of every layer (core, emulator, bridge).

import { existsSync, readFileSync } from 'node:fs';

/** `N<n> <cmd>*<XOR of every byte before '*'>`, without its newline, as OctoPrint and the dialect send a line. */
export function numbered(n: number, cmd: string): string {
  const body = `N${n} ${cmd}`;
  let x = 0;
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i) & 0xff;
  return `${body}*${x}`;
}

/** A job of `count` moves `G1 X<i>…` (from X1): the commands, and the job's text with a comment and a blank line the dialect strips. */
export function moveJob(count: number, cmd = (i: number): string => `G1 X${i}`): { cmds: string[]; text: string } {
  const cmds = Array.from({ length: count }, (_, i) => cmd(i + 1));
  return { cmds, text: `; a comment\n\n${cmds.join('\n')}\n` };
}

/** The commands a printer emulator ran, in order, from its --lines-out file (none before it exists). */
export function executed(linesOut: string): string[] {
  return existsSync(linesOut) ? readFileSync(linesOut, 'utf8').split('\n').slice(0, -1) : [];
}

/**
 * A record less the numbered `M105` the dialect puts after a job's last line
 * while that line is unanswered (with several lines in flight it usually
 * is): the commands of M110 and the job alone.
 */
export function lessFence(record: readonly string[]): string[] {
  return record.at(-1) === 'M105' ? record.slice(0, -1) : [...record];
}
