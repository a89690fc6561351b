// What the cli-* tests share: a real `printbridge serve` on port 0 with its
// own data dir, devices registered with `printbridge devices add`, real
// bridge and emulator processes, and `run` with the server and token in the
// environment, as a user's shell would have them.

import { join } from 'node:path';
import { Processes, type Proc, type RunResult, type SpawnOptions } from '../helpers/processes.js';
import { tcpEmulator, tempDir, type TcpEmulator } from './emulator-fixture.js';

export interface Served {
  procs: Processes;
  proc: Proc;
  port: number;
  token: string;
  dir: string;
  tmp: string;
  /** `printbridge ARGS` with PRINTBRIDGE_SERVER and PRINTBRIDGE_CLIENT_TOKEN set for this server. */
  run(args: string[], opts?: SpawnOptions & { input?: string }): Promise<RunResult>;
  /** A long-running `printbridge ARGS` with the same environment. */
  cli(args: string[], opts?: SpawnOptions): Proc;
  /** Registers a device and returns its token. */
  addDevice(id: string, tags?: string[]): Promise<string>;
  /** Registers a device and runs a bridge for it with one emulated printer; resolves once its link is online. */
  bridge(id: string, opts?: { tags?: string[]; dialect?: string; emulator?: string[] }): Promise<{ proc: Proc; emu: TcpEmulator }>;
  stop(): Promise<void>;
}

export async function startServe(): Promise<Served> {
  const procs = new Processes();
  const t = tempDir();
  const dir = join(t.dir, 'data');
  const proc = procs.cli(['serve', '--host', '127.0.0.1', '--port', '0', '--data', dir], { env: { PRINTBRIDGE_ADMIN_TOKEN: undefined } });
  const line = await proc.waitForLine(/clients: ws:\/\/127\.0\.0\.1:\d+\/v1\/client/);
  const port = Number(/:(\d+)\//.exec(line)?.[1]);
  const token = (await proc.waitForLine(/admin token: /)).split('admin token: ')[1]!.trim();
  const env = (extra: Record<string, string | undefined> = {}): Record<string, string | undefined> => ({
    PRINTBRIDGE_SERVER: `http://127.0.0.1:${port}`, PRINTBRIDGE_CLIENT_TOKEN: token, PRINTBRIDGE_ADMIN_TOKEN: undefined, NO_COLOR: undefined, ...extra,
  });
  const served: Served = {
    procs, proc, port, token, dir, tmp: t.dir,
    run: (args, opts = {}) => procs.run(args, { ...opts, env: env(opts.env) }),
    cli: (args, opts = {}) => procs.cli(args, { ...opts, env: env(opts.env) }),
    async addDevice(id, tags = []) {
      const r = await procs.run(['devices', 'add', id, '--data', dir, ...tags.flatMap((tag) => ['--tag', tag])]);
      if (r.code !== 0) throw new Error(`devices add ${id} failed: ${r.stderr}`);
      return r.stdout.trim();
    },
    async bridge(id, opts = {}) {
      const deviceToken = await served.addDevice(id, opts.tags);
      const dialect = opts.dialect ?? 'escpos';
      const emu = await tcpEmulator(procs, t.dir, opts.emulator ?? [], dialect);
      const proc = procs.cli(
        ['bridge', '--server', `ws://127.0.0.1:${port}`, '--id', id, '--printer', `tcp://127.0.0.1:${emu.port}`, '--dialect', dialect, '--poll', '0'],
        { env: { PRINTBRIDGE_TOKEN: deviceToken } },
      );
      await proc.waitForLine(/link online/, { stream: 'stderr' });
      return { proc, emu };
    },
    async stop() {
      await procs.killAll();
      t.cleanup();
    },
  };
  return served;
}
