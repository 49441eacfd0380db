import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * Which life of a process `pid` is, where the system can tell: on Linux the boot id and the process's start time in
 * clock ticks since boot (field 22 of /proc/<pid>/stat), so a pid reused after the owner died — by another process,
 * or after a reboot — reads differently. Undefined where there is no /proc, or the process is gone.
 */
export function processStart(
  pid: number,
  read: (file: string) => string = (f) => readFileSync(f, 'utf8'),
): string | undefined {
  try {
    const bootId = read('/proc/sys/kernel/random/boot_id').trim();
    const stat = read(`/proc/${pid}/stat`);
    // `pid (comm) state ppid …`: comm may hold spaces and parentheses, so count fields after the last ')' (field 3 on).
    const startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return bootId && startTicks && /^\d+$/.test(startTicks) ? `${bootId}.${startTicks}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Who owns a run, a reservation or a lock: `host:pid:nonce:start` (`host:pid:nonce` where processStart knows
 * nothing, and in stores written before it existed). The nonce tells two lives of one pid apart in logs; liveness
 * is judged on the same host by the pid and, when both sides know it, the process's start.
 */
export const CURRENT_OWNER = (() => {
  const start = processStart(process.pid);
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}${start ? `:${start}` : ''}`;
})();

export interface OwnerProbe {
  /**
   * False only when the owner is certainly gone: same host, and its pid not running or running a process that
   * started later (a reused pid, a reboot). Unknown hosts count as alive.
   */
  isAlive(owner: string): boolean;
}

/** What the probe asks the system; injected in tests. */
export interface ProcessTable {
  /** Whether a process `pid` exists (signal 0). */
  exists(pid: number): boolean;
  start(pid: number): string | undefined;
}

const systemProcesses: ProcessTable = {
  exists(pid) {
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
  start: (pid) => processStart(pid),
};

/** The liveness check of owner strings; `processes` and `self` are for tests. */
export function ownerProbe(processes: ProcessTable = systemProcesses, self = CURRENT_OWNER): OwnerProbe {
  return {
    isAlive(owner) {
      const [host, pidText, , start] = owner.split(':');
      const pid = Number(pidText);
      if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return true;
      if (owner === self) return true;
      if (pid === process.pid) return false; // an earlier life of our own pid
      if (!processes.exists(pid)) return false;
      // A process runs under that pid; it is the owner unless its start says it is a later one.
      if (start === undefined) return true;
      const now = processes.start(pid);
      return now === undefined || now === start;
    },
  };
}

export const processOwnerProbe: OwnerProbe = ownerProbe();

/** 64 characters in ASCII order, so ids sort as their creation times do. */
const SORTABLE = '-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz';

/**
 * Added to the time before encoding: one in the leading digit, so ids start with '0' (until 2109, then '1') where
 * they used to start with '-'. Ids that start with '-' read as options on command lines and as formulas in
 * spreadsheets. The alphabet stays (the run-id checks of the panel and run output accept exactly
 * it), and since '-' < '0' every new id sorts after every id of the old encoding: old stores stay newest-first.
 */
const LEADING_DIGIT_OFFSET = 64 ** 7;

/**
 * A 16-character id for ledger rows, runs, tasks and reservations: 8 characters of creation time (ms) and 48
 * random bits. Time-ordered ids land at the right edge of the store's B-tree indexes, which keeps an insert
 * as cheap with a million rows as with a thousand.
 */
export function newId(now = Date.now()): string {
  let out = '';
  let t = now + LEADING_DIGIT_OFFSET;
  for (let i = 0; i < 8; i++) {
    out = SORTABLE[t % 64]! + out;
    t = Math.floor(t / 64);
  }
  if (poolOffset + 8 > pool.length) {
    pool = randomBytes(4096);
    poolOffset = 0;
  }
  for (let i = 0; i < 8; i++) out += SORTABLE[pool[poolOffset++]! & 63]!;
  return out;
}

// Random bytes drawn 4 KiB at a time: one crypto call per 512 ids instead of one per id (ids are minted on every
// admission and settlement, the budget engine's hot path).
let pool = Buffer.alloc(0);
let poolOffset = 0;
