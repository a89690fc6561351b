// Which scope each client op needs: the one table the server's dispatcher
// checks and a client may consult before asking. One op needs one scope (or
// none: hello and ping); control.send needs the scope of the name it relays.
// An op on a job the caller did not submit needs `jobs:any` besides (the
// dispatcher checks ownership, since only it knows whose job it is).

import { CONTROL_HARMLESS, type ClientRequestBody, type Scope } from './client-messages.js';

/** The scope control.send needs to relay `name`: read-only names `control`, the printer relay `printer:command`, the rest `devices:config`. */
export function controlScope(name: string): Scope {
  if (CONTROL_HARMLESS.includes(name)) return 'control';
  if (name === 'printer.command') return 'printer:command';
  return 'devices:config';
}

/** The scope `req` needs, or undefined when anyone authenticated may ask. */
export function requiredScope(req: ClientRequestBody): Scope | undefined {
  switch (req.op) {
    case 'hello':
    case 'ping':
      return undefined;
    case 'devices.list':
    case 'printers.list':
    case 'printer.get':
    case 'subscribe':
    case 'unsubscribe':
    case 'job.submit':
    case 'job.get':
    case 'jobs.list':
    case 'job.cancel':
    case 'job.pause':
    case 'job.resume':
    case 'job.data':
    case 'job.reprint':
      return 'print';
    case 'printer.pause':
    case 'printer.resume':
    case 'printer.cancel':
      return 'jobs:any';
    case 'printer.command':
      return 'printer:command';
    case 'printer.sgd':
      // Reading settings is harmless; changing them can take the printer off the network.
      return req.set !== undefined ? 'devices:config' : 'print';
    case 'control.send':
      return controlScope(req.name);
    case 'device.remove':
      return 'devices';
    case 'token.issue':
    case 'token.revoke':
    case 'clients.list':
      return 'tokens';
  }
}
