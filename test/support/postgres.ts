/**
 * A real PostgreSQL server for the team-ledger tests and benchmark: Debian's `postgresql` package (installed by
 * .ci/run), started in a temporary data directory on a free port, and stopped and deleted after.
 *
 * PostgreSQL refuses to run as root, and CI runs as root: then the data directory is given to the unprivileged
 * `postgres` user the package creates and every server binary runs through `runuser -u postgres`. As any other
 * user the binaries run as that user. Nothing here skips: a server that cannot start fails the suite with the
 * reason and the server's log.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';

const SERVICE_USER = 'postgres';

/** The directory of Debian's server binaries (newest version), or of `AGENT_BUDGET_PG_BIN`, or of initdb on PATH. */
export function postgresBinDir(): string {
  const fromEnv = process.env.AGENT_BUDGET_PG_BIN;
  if (fromEnv) {
    if (!existsSync(path.join(fromEnv, 'initdb'))) throw new Error(`AGENT_BUDGET_PG_BIN=${fromEnv} has no initdb`);
    return fromEnv;
  }
  const debian = '/usr/lib/postgresql';
  if (existsSync(debian)) {
    const versions = readdirSync(debian)
      .filter((v) => existsSync(path.join(debian, v, 'bin', 'initdb')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return path.join(debian, versions[0], 'bin');
  }
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).stdout.trim();
  if (onPath) return path.dirname(onPath);
  throw new Error(
    'PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, no initdb on PATH). ' +
      'Install them: `apt-get install -y postgresql` (Debian/Ubuntu; .ci/run does), `brew install postgresql` ' +
      '(macOS), or set AGENT_BUDGET_PG_BIN to the folder holding initdb and pg_ctl.',
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** One PostgreSQL server of a test file or benchmark. */
export class PostgresServer {
  private stopped = true;
  /** A test process that dies without `stop()` still takes its server and data with it. */
  private readonly onExit = () => {
    this.stopNow('immediate');
    this.remove();
  };

  private constructor(
    private readonly bin: string,
    /** Temporary folder holding the data directory, the socket and the log. */
    readonly root: string,
    readonly port: number,
    private readonly asServiceUser: boolean,
  ) {}

  /**
   * Creates a data directory and starts the server. `settings` are extra `-c name=value` server settings (the
   * benchmark keeps the durable defaults; tests may not).
   */
  static async start(settings: Record<string, string> = {}): Promise<PostgresServer> {
    const bin = postgresBinDir();
    const asServiceUser = process.getuid?.() === 0;
    const root = mkdtempSync(path.join(tmpdir(), 'ab-pg-'));
    if (asServiceUser) {
      const ids = (flag: string) => Number(execFileSync('id', [flag, SERVICE_USER], { encoding: 'utf8' }).trim());
      let uid: number;
      let gid: number;
      try {
        uid = ids('-u');
        gid = ids('-g');
      } catch {
        rmSync(root, { recursive: true, force: true });
        throw new Error(
          `Running as root, PostgreSQL needs an unprivileged user, and there is no "${SERVICE_USER}" user ` +
            "(Debian's postgresql package creates it): `apt-get install -y postgresql`, or run the tests as a normal user.",
        );
      }
      chownSync(root, uid, gid);
    }
    const server = new PostgresServer(bin, root, await freePort(), asServiceUser);
    const access = server.run('sh', ['-c', `test -w "${root}" && test -x "${root}"`]);
    if (access.status !== 0) {
      server.remove();
      throw new Error(
        `${root} is not writable by ${asServiceUser ? SERVICE_USER : 'this user'}: set TMPDIR to a folder it can use`,
      );
    }
    const init = server.run(path.join(bin, 'initdb'), [
      '-D',
      server.dataDir,
      '-U',
      'test',
      '--auth=trust',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    if (init.status !== 0) {
      server.remove();
      const why = init.error
        ? `${init.error.message} (running as root needs runuser, from util-linux)`
        : init.stderr || init.stdout;
      throw new Error(`initdb failed (${init.status}): ${why}`);
    }
    server.settings = {
      listen_addresses: '127.0.0.1',
      port: String(server.port),
      unix_socket_directories: root,
      max_connections: '200',
      ...settings,
    };
    server.startNow();
    process.once('exit', server.onExit);
    return server;
  }

  private settings: Record<string, string> = {};

  get dataDir(): string {
    return path.join(this.root, 'data');
  }

  private get logFile(): string {
    return path.join(this.root, 'server.log');
  }

  /** A connection string for `database` (as the trusted superuser `test`). */
  url(database = 'postgres'): string {
    return `postgres://test@127.0.0.1:${this.port}/${database}`;
  }

  /** Creates a fresh database and returns its connection string. */
  async createDatabase(name: string): Promise<string> {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a plain database name: ${name}`);
    const client = new Client({ connectionString: this.url() });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE ${name}`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Starts the server on its data directory (again, after `stop`), on the same port. */
  startNow(): void {
    const options = Object.entries(this.settings)
      .map(([k, v]) => `-c ${k}=${v}`)
      .join(' ');
    const started = this.run(path.join(this.bin, 'pg_ctl'), [
      'start',
      '-D',
      this.dataDir,
      '-l',
      this.logFile,
      '-w',
      '-t',
      '60',
      '-o',
      options,
    ]);
    if (started.status !== 0) {
      const log = existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8').slice(-3000) : '(no log)';
      throw new Error(`PostgreSQL did not start (pg_ctl ${started.status}): ${started.stderr}\n${log}`);
    }
    this.stopped = false;
  }

  get running(): boolean {
    return !this.stopped;
  }

  /** Stops the server (`fast` ends sessions cleanly; `immediate` is a crash-like stop) and keeps its data. */
  stopNow(mode: 'fast' | 'immediate' = 'fast'): void {
    if (this.stopped) return;
    this.run(path.join(this.bin, 'pg_ctl'), ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', '60']);
    this.stopped = true;
  }

  /** Stops the server and deletes everything it wrote. */
  async stop(): Promise<void> {
    this.stopNow('fast');
    process.removeListener('exit', this.onExit);
    this.remove();
    await Promise.resolve();
  }

  private remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }

  private run(command: string, args: string[]) {
    const [cmd, argv] = this.asServiceUser
      ? ['runuser', ['-u', SERVICE_USER, '--', command, ...args]]
      : [command, args];
    // The server must not inherit our stdio: pg_ctl's child would keep mocha's pipes open.
    return spawnSync(cmd, argv, {
      encoding: 'utf8',
      cwd: this.root,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
  }
}
