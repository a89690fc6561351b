// What every CLI command shares: its help text, argument parsing that turns
// mistakes into usage errors (exit 2), and failures that print one line on
// stderr (exit 1). A command returns its exit code; long-running commands
// return when they have shut down.

import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest, didYouMean } from './suggest.js';

export interface Command {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** The full --help text. */
  readonly help: string;
  run(args: string[]): Promise<number>;
}

/** The user called the command wrongly: exit 2 with a pointer to --help. */
export class UsageError extends Error {}

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs in strict mode, with its errors reported as usage errors. */
export function parse<const O extends Options>(args: string[], options: O, positionals = false) {
  try {
    return parseArgs({ args: attachValues(args, options), options, allowPositionals: positionals, strict: true });
  } catch (e) {
    throw new UsageError(parseMistake(e, options, positionals));
  }
}

/**
 * parseArgs's complaint said the way the rest of the CLI speaks: the option
 * by its name, what to do instead, and for a typo the option it resembles.
 * (Its own text runs on for three sentences and quotes unevenly.)
 */
function parseMistake(e: unknown, options: Options, positionals: boolean): string {
  const text = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: unknown } | null)?.code;
  const option = /--[A-Za-z0-9][\w-]*/.exec(text)?.[0];
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION': {
      const given = /^Unknown option '([^']+)'/.exec(text)?.[1] ?? option ?? '?';
      const names = [...Object.keys(options), 'help'];
      const guess = given.startsWith('--') ? closest(given.slice(2).split('=')[0]!, names) : undefined;
      if (guess !== undefined) return `unknown option ${given}; did you mean --${guess}?`;
      return `unknown option ${given}${positionals ? '; an argument that itself starts with - goes after --' : ''}`;
    }
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (option !== undefined && /does not take an argument/.test(text)) return `${option} takes no value; give it alone`;
      if (option !== undefined && /ambiguous/.test(text)) return `${option} needs a value; one that starts with - is written ${option}=-VALUE`;
      if (option !== undefined) return `${option} needs a value`;
      break;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const given = /^Unexpected argument '([^']*)'/.exec(text)?.[1];
      if (given !== undefined) return `unexpected argument ${JSON.stringify(given)}; this command takes options only`;
      break;
    }
  }
  return text.split('\n')[0]!.replace(/\.$/, '');
}

/**
 * Generated tokens are base64url and may start with '-', which parseArgs
 * takes for an option; `--token -abc` becomes `--token=-abc` unless the value
 * is itself one of the command's options (then the value was forgotten and
 * parseArgs says so).
 */
function attachValues(args: string[], options: Options): string[] {
  const known = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    known.add(`--${name}`);
    if (o.short) known.add(`-${o.short}`);
  }
  known.add('--help').add('-h');
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const next = args[i + 1];
    const takesValue = arg.startsWith('--') && options[arg.slice(2)]?.type === 'string';
    if (takesValue && next !== undefined && next.startsWith('-') && next !== '-' && !known.has(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** "a, b or c". */
export function orList(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

/** The action a command was given, from its list; a missing or unknown one is a usage error naming the nearest. */
export function pickAction<const A extends string>(given: string | undefined, actions: readonly A[]): A {
  if (given === undefined) throw new UsageError(`say ${orList(actions)}`);
  if ((actions as readonly string[]).includes(given)) return given as A;
  throw new UsageError(`unknown action ${JSON.stringify(given)}${didYouMean(given, actions)} (actions: ${actions.join(', ')})`);
}

export function integer(value: string | undefined, name: string, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be an integer from ${min} to ${max}, not ${JSON.stringify(value)}`);
  return n;
}

export function required<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') throw new UsageError(`${what} is required`);
  return value;
}

/** One line on stderr for progress and state; stdout stays for results. */
export function note(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** Resolves on the first SIGINT or SIGTERM; a second one exits at once. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const force = (): never => process.exit(EXIT_FAILURE);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
