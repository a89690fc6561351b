// What `broadcast` and `relay` share: the control message's arguments from
// --args JSON and --arg key=value, control.send, and the delivery report as a
// table or JSON. Exit 1 when any target did not answer ok, or none matched.

import type { DeliveryReport, Target } from '../../protocol/client-messages.js';
import type { Obj } from '../../protocol/fields.js';
import { ClientError } from '../client/client.js';
import { EXIT_FAILURE, EXIT_OK, integer, note, UsageError } from './command.js';
import { Explained } from './error-line.js';
import { withClient, type ServerValues } from './server-options.js';
import { fields, ShorthandError } from './shorthand.js';
import { printJson, printText, table } from './table.js';

export const CONTROL_OPTIONS = {
  args: { type: 'string' },
  arg: { type: 'string', multiple: true },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const CONTROL_HELP = `  --args JSON           the message's arguments as a JSON object
  --arg KEY=VALUE       one argument (repeatable; VALUE is JSON or text,
                        dots in KEY nest: --arg a.b=1)
  --timeout MS          how long devices get to answer, 1-60000 (server
                        default 10000)
  --json                print {ref, reports} as JSON instead of a table`;

export const CONTROL_NAMES = `Control messages the bridges understand: identify {seconds}, led {pattern,
seconds}, status, printer.command {port, data, emergency}, restart, config
{key: "value"...}; others are answered UNSUPPORTED.`;

export interface ControlValues extends ServerValues {
  args?: string | undefined;
  arg?: string[] | undefined;
  timeout?: string | undefined;
  json?: boolean | undefined;
}

export function controlArgs(values: ControlValues): Obj {
  let out: Obj = {};
  if (values.args !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(values.args);
    } catch (e) {
      throw new UsageError(`--args is not valid JSON: ${(e as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--args must be a JSON object, e.g. \'{"seconds":5}\'');
    out = parsed as Obj;
  }
  try {
    return { ...out, ...fields(values.arg ?? []) } as Obj;
  } catch (e) {
    if (e instanceof ShorthandError) throw new UsageError(`--arg: ${e.message}`);
    throw e;
  }
}

function reportRows(reports: DeliveryReport[]): string[][] {
  return reports.map((r) => [
    r.device, r.status, r.code ?? '', r.message ?? '', r.data === undefined || Object.keys(r.data).length === 0 ? '' : JSON.stringify(r.data),
  ]);
}

export function reportTable(reports: DeliveryReport[]): string {
  return table(['DEVICE', 'STATUS', 'CODE', 'MESSAGE', 'DATA'], reportRows(reports));
}

/**
 * Nothing was sent because nothing matched: a failure, never an empty
 * success. Every server refuses an unknown device (UNKNOWN_DEVICE), and one
 * since protocol 1.5 an unknown tag (UNKNOWN_TAG); what is left answering
 * with no reports is --all with no device registered, or a tag on a 1.4
 * server or older.
 */
function noTarget(to: Target): Error {
  if ('tag' in to) return new ClientError('UNKNOWN_TAG', `no registered device carries the tag ${JSON.stringify(to.tag)}; nothing was sent`);
  return new Explained(undefined, "no device is registered, so nothing was sent ('printbridge devices add ID' registers one)");
}

/** Sends, prints the report, and returns the exit code. */
export async function sendControl(command: string, values: ControlValues, to: Target, name: string): Promise<number> {
  const args = controlArgs(values);
  const timeout = integer(values.timeout, '--timeout', 1, 60_000);
  return withClient(values, async (client) => {
    const outcome = await client.request('control.send', { to, name, args, timeout });
    if (outcome.reports.length === 0) throw noTarget(to);
    const failed = outcome.reports.filter((r) => r.status !== 'ok');
    if (values.json) printJson(outcome);
    else printText(reportTable(outcome.reports));
    if (failed.length === 0) return EXIT_OK;
    note(`printbridge ${command}: ${failed.length} of ${outcome.reports.length} device(s) did not answer ok (${failed.map((r) => `${r.device} ${r.code ?? r.status}`).join(', ')})`);
    return EXIT_FAILURE;
  });
}
