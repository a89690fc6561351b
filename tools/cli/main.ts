// Entry point of the `printbridge` command (bin/printbridge.js loads it
// through tsx). Picks the command, handles --help, and maps outcomes to exit
// codes: 0 ok, 1 failure, 2 usage error. Errors are one line on stderr.

import { PACKAGE_VERSION } from '../../server/version.js';
import { bridge } from './bridge.js';
import { broadcast } from './broadcast.js';
import { cancel } from './cancel.js';
import { clients } from './clients.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command } from './command.js';
import { console_ } from './console.js';
import { devices } from './devices.js';
import { emulate } from './emulate.js';
import { errorLine } from './error-line.js';
import { jobs } from './jobs.js';
import { print } from './print.js';
import { printerCommand } from './printer-command.js';
import { printers } from './printers.js';
import { relay } from './relay.js';
import { serve } from './serve.js';
import { sgd } from './sgd.js';
import { status } from './status.js';
import { didYouMean } from './suggest.js';
import { tokens } from './tokens.js';

const COMMANDS: readonly Command[] = [
  serve, devices, bridge, printers, status, print, jobs, cancel, printerCommand, sgd, broadcast, relay, clients, tokens, console_, emulate,
];

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'printbridge — connect printers to the web',
    '',
    'Usage: printbridge <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    "Run 'printbridge <command> --help' for a command's options.",
  ].join('\n');
}

function wantsHelp(args: string[]): boolean {
  // Only before a lone `--`, so a file argument named -h can still be passed after it.
  const end = args.indexOf('--');
  return (end === -1 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? COMMANDS.find((c) => c.name === args[0]) : undefined;
    process.stdout.write(`${topic ? topic.help : overview()}\n`);
    return name === undefined ? EXIT_USAGE : EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${PACKAGE_VERSION}\n`);
    return EXIT_OK;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    const names = COMMANDS.map((c) => c.name);
    process.stderr.write(`printbridge: unknown command ${JSON.stringify(name)}${didYouMean(name, names)} (commands: ${names.join(', ')})\n`);
    return EXIT_USAGE;
  }
  if (wantsHelp(args)) {
    process.stdout.write(`${command.help}\n`);
    return EXIT_OK;
  }
  try {
    return await command.run(args);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`printbridge ${name}: ${e.message} (see 'printbridge ${name} --help')\n`);
      return EXIT_USAGE;
    }
    process.stderr.write(`printbridge ${name}: ${errorLine(e)}\n`);
    if (process.env['PRINTBRIDGE_DEBUG'] && e instanceof Error && e.stack) process.stderr.write(`${e.stack}\n`);
    return EXIT_FAILURE;
  }
}

// Exit explicitly: a command that returned has closed what it opened, and a
// stray handle (a slow socket close) must not keep the process alive.
process.exit(await main(process.argv.slice(2)));
