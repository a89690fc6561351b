// A throwaway PostgreSQL cluster, for the tests (test/helpers/postgres.ts
// re-exports it) and the benches (tools/bench/cluster.ts): initdb in a
// temporary folder, the server on 127.0.0.1 at a free port with a password
// (SCRAM) over TCP, and nothing left behind: stop() shuts it down and
// removes the folder.
//
//   const pg = await startPostgres();
//   after(() => pg.stop());
//   const url = await pg.createDatabase();   // a fresh database per test file or test
//   await pg.terminateBackends(name);         // the "database connection cut" fault
//
// PostgreSQL refuses to run as root, and the tests run as root here and in
// CI: then initdb and postgres run as `nobody`, in a folder it owns. They run
// under `setpriv --pdeathsig SIGKILL`, so a process that dies any way at
// all (even SIGKILL, when no exit handler runs) takes its postmaster with it;
// the backends follow their postmaster. The binaries are Debian's
// (/usr/lib/postgresql/<version>/bin, scripts/install-system-deps.sh part
// `postgresql`), else those `pg_config --bindir` names.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './free-port.js';

export interface Postgres {
  /** postgres://USER:PASSWORD@127.0.0.1:PORT/printbridge, a database made at start. */
  readonly url: string;
  readonly port: number;
  readonly dataDir: string;
  /** The postmaster's process id. */
  readonly pid: number;
  /** A fresh empty database on this cluster (a name of its own unless given); returns its URL. */
  createDatabase(name?: string, opts?: DatabaseOptions): Promise<string>;
  /**
   * Ends every other connection to a database (by name, or the URL
   * createDatabase returned; default: the one of `url`) and returns how many
   * it ended; they are gone when this resolves.
   */
  terminateBackends(db?: string): Promise<number>;
  /** Fast shutdown (open transactions roll back), then the folder goes. */
  stop(): Promise<void>;
  /** SIGKILL to the postmaster and its backends, as a crash; stop() still removes the folder. */
  kill(): Promise<void>;
  /** After kill(): the postmaster again, on the same folder and port (crash recovery runs first). */
  restart(): Promise<void>;
}

export interface DatabaseOptions {
  /**
   * An ICU collation for the database (e.g. 'und', as most clusters in the
   * field sort: 'a' < 'B' < 'b'), instead of the cluster's C (byte order,
   * lower() folding ASCII only). A store must give the same answers on both.
   */
  icuLocale?: string;
}

export interface PostgresOptions {
  /** Enough for three server nodes' connections plus the tests' own. */
  maxConnections?: number;
  /** More `-c name=value` settings. */
  settings?: Record<string, string>;
}

const SUPERUSER = 'printbridge';
const MAIN_DB = 'printbridge';
/** A port another process took between our probe and postgres' bind is tried again, this many times in all. */
const PORT_ATTEMPTS = 5;
/** A slow first start (a loaded CI machine) is waited for; this only bounds a stuck one. */
const READY_TIMEOUT = 60_000;
const SHUTDOWN_GRACE = 10_000;
const DB_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The newest Debian PostgreSQL's bin folder, else pg_config's. */
export function postgresBinDir(): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions[0] !== undefined) return join(root, versions[0], 'bin');
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(dir, 'initdb'))) return dir;
  } catch {
    // No pg_config either: the error below says what to install.
  }
  throw new Error('PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): bash scripts/install-system-deps.sh postgresql');
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Who runs the cluster: the current user, or `nobody` when that is root. */
function clusterUser(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** setpriv's arguments: die with this process, and as `user` when given. */
function privArgs(user: RunAs | undefined): string[] {
  const as = user === undefined ? [] : ['--reuid', String(user.uid), '--regid', String(user.gid), '--clear-groups'];
  return [...as, '--pdeathsig', 'SIGKILL', '--'];
}

/** A folder the cluster's user can reach: TMPDIR unless some folder above it is closed to others. */
function clusterParent(user: RunAs | undefined): string {
  const base = tmpdir();
  if (user === undefined) return base;
  for (let d = base; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return '/tmp';
    if (dirname(d) === d) return base;
  }
}

/**
 * initdb or the postmaster, in a process group of its own (under setpriv):
 * its stderr kept, for the ready line and for failure messages.
 */
class ClusterProcess {
  stderr = '';
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  readonly exited: Promise<void>;
  private readonly child: ChildProcess;
  private readonly waiters = new Set<() => void>();

  constructor(args: string[], readonly name: string, env?: NodeJS.ProcessEnv) {
    this.child = spawn('setpriv', args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true, ...(env && { env }) });
    this.child.stderr?.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString('utf8');
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': only then has all of the output been read.
      this.child.once('close', (code, signal) => {
        this.exit = { code, signal };
        resolve();
        this.wake();
      });
      this.child.once('error', (e) => {
        this.stderr += `spawn error: ${e.message}\n`;
        this.exit = { code: null, signal: null };
        resolve();
        this.wake();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Resolves once stderr holds `text`; rejects if the process ends first or `timeout` ms pass. */
  waitForStderr(text: string, timeout: number): Promise<void> {
    return this.waitFor(`"${text}"`, timeout, () => this.stderr.includes(text));
  }

  async waitForExit(timeout: number): Promise<NonNullable<ClusterProcess['exit']>> {
    await this.waitFor('exit', timeout, () => this.exit !== undefined);
    return this.exit ?? { code: null, signal: null };
  }

  /** The last lines of stderr, for failure messages. */
  tail(n = 15): string {
    return `--- ${this.name} stderr ---\n${this.stderr.split('\n').slice(-n).join('\n')}`;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private waitFor(what: string, timeout: number, seen: () => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (seen()) done(resolve);
        else if (this.exit !== undefined) done(() => reject(new Error(`${this.name} exited (${this.exit?.code ?? this.exit?.signal}) before ${what}\n${this.tail()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`timed out after ${timeout} ms waiting for ${what}\n${this.tail()}`))), timeout);
      const done = (settle: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        settle();
      };
      this.waiters.add(check);
      check();
    });
  }
}


/** Clusters of this process still running, killed by the exit handler if a test forgot stop(). */
const running = new Map<ClusterProcess, string>();

function killLeftovers(): void {
  for (const [proc, dir] of running) {
    signalGroup(proc, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
  running.clear();
}
process.once('exit', killLeftovers);

function signalGroup(proc: ClusterProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined || proc.exit !== undefined) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // Already gone.
  }
}

async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  // A cluster killed under it: the failed query reports it, not an unhandled 'error'.
  client.on('error', () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<Postgres> {
  const bin = postgresBinDir();
  const user = clusterUser();
  const root = mkdtempSync(join(clusterParent(user), 'printbridge-pg-'));
  const dataDir = join(root, 'data');
  const password = randomBytes(18).toString('base64url');
  try {
    writeFileSync(join(root, 'pwfile'), `${password}\n`);
    if (user !== undefined) {
      chownSync(root, user.uid, user.gid);
      chownSync(join(root, 'pwfile'), user.uid, user.gid);
    }
    await initdb(bin, user, dataDir, join(root, 'pwfile'));
    rmSync(join(root, 'pwfile'));
    const settings = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: root,
      max_connections: String(opts.maxConnections ?? 200),
      // A throwaway cluster that no one reads after its tests: a power cut
      // may lose it whole. A killed postgres (kill()) loses nothing, since
      // its writes are in the kernel's page cache either way.
      fsync: 'off',
      full_page_writes: 'off',
      synchronous_commit: 'off',
      ...opts.settings,
    };
    let { proc, port } = await launch(bin, user, dataDir, settings);
    running.set(proc, root);
    const base = `postgres://${SUPERUSER}:${password}@127.0.0.1:${port}`;
    const dbUrl = (name: string) => `${base}/${name}`;
    const createDatabase = async (name = `t_${randomBytes(6).toString('hex')}`, db: DatabaseOptions = {}): Promise<string> => {
      if (!DB_NAME.test(name)) throw new Error(`database name must match ${DB_NAME}: ${name}`);
      const icu = db.icuLocale === undefined ? '' : ` TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '${db.icuLocale.replace(/'/g, "''")}'`;
      await admin(dbUrl('postgres'), (c) => c.query(`CREATE DATABASE "${name}"${icu}`));
      return dbUrl(name);
    };
    const url = await createDatabase(MAIN_DB);
    return {
      url,
      port,
      dataDir,
      get pid() {
        return proc.pid as number;
      },
      createDatabase,
      async terminateBackends(db = MAIN_DB) {
        const name = db.includes('://') ? decodeURIComponent(new URL(db).pathname.slice(1)) : db;
        // The timeout makes each call wait until its backend has exited.
        const r = await admin(dbUrl('postgres'), (c) =>
          c.query<{ n: number }>(
            `SELECT (count(*) FILTER (WHERE ended))::int AS n FROM (
               SELECT pg_terminate_backend(pid, 10000) AS ended FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()
             ) t`,
            [name],
          ),
        );
        return r.rows[0]?.n ?? 0;
      },
      async stop() {
        if (proc.exit === undefined) {
          // SIGINT to the postmaster alone is PostgreSQL's fast shutdown.
          try {
            process.kill(proc.pid as number, 'SIGINT');
          } catch {
            // Gone already, its exit not heard yet.
          }
          const timer = setTimeout(() => signalGroup(proc, 'SIGKILL'), SHUTDOWN_GRACE);
          await proc.exited;
          clearTimeout(timer);
        }
        running.delete(proc);
        rmSync(root, { recursive: true, force: true });
      },
      // Resolves once the postmaster is gone: a statement sent after that finds no server.
      async kill() {
        signalGroup(proc, 'SIGKILL');
        await proc.exited;
      },
      async restart() {
        if (proc.exit === undefined) throw new Error('restart() follows kill(): the postmaster still runs');
        running.delete(proc);
        ({ proc } = await launch(bin, user, dataDir, settings, port));
        running.set(proc, root);
      },
    };
  } catch (e) {
    rmSync(root, { recursive: true, force: true });
    throw e;
  }
}

function initdb(bin: string, user: RunAs | undefined, dataDir: string, pwfile: string): Promise<void> {
  const args = [
    join(bin, 'initdb'), '-D', dataDir, '-U', SUPERUSER, `--pwfile=${pwfile}`,
    '--auth-host=scram-sha-256', '--auth-local=scram-sha-256',
    // C: the same order and case rules on every machine, whatever locales it has.
    '--encoding=UTF8', '--locale=C',
    // Nothing is fsynced in a throwaway cluster (see fsync below).
    '--no-sync',
  ];
  const proc = new ClusterProcess([...privArgs(user), ...args], 'initdb');
  return proc.waitForExit(READY_TIMEOUT).then((exit) => {
    if (exit.code !== 0) throw new Error(`initdb failed (${exit.code ?? exit.signal})\n${proc.tail()}`);
  });
}

/** Starts the postmaster on a free port; ready to accept connections when this resolves. */
async function launch(bin: string, user: RunAs | undefined, dataDir: string, settings: Record<string, string>, fixedPort?: number): Promise<{ proc: ClusterProcess; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    const args = [join(bin, 'postgres'), '-D', dataDir, '-p', String(port), ...Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`])];
    // Its own process group, so that kill() reaches the backends too.
    const proc = new ClusterProcess([...privArgs(user), ...args], 'postgres', { ...process.env, LC_ALL: 'C' });
    try {
      // The postmaster's own word that it accepts connections (messages are
      // in English: the cluster's locale is C), rather than connecting in a
      // loop; a start that fails (the port taken) ends the wait at once.
      await proc.waitForStderr('database system is ready to accept connections', READY_TIMEOUT);
      return { proc, port };
    } catch (e) {
      signalGroup(proc, 'SIGKILL');
      await proc.exited;
      if (fixedPort === undefined && attempt < PORT_ATTEMPTS && proc.stderr.includes('Address already in use')) continue;
      throw e;
    }
  }
}
