import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Who owns a run, a reservation or a lock: `host:pid:nonce`. The nonce tells two lives of one pid apart in logs;
 * liveness is judged by the pid on the same host.
 */
export const CURRENT_OWNER = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;

export interface OwnerProbe {
  /** False only when the owner is certainly gone (same host, pid not running). Unknown hosts count as alive. */
  isAlive(owner: string): boolean;
}

export const processOwnerProbe: OwnerProbe = {
  isAlive(owner) {
    const [host, pidText] = owner.split(':');
    const pid = Number(pidText);
    if (host !== hostname() || !Number.isInteger(pid) || pid <= 0) return true;
    if (owner === CURRENT_OWNER) return true;
    if (pid === process.pid) return false; // an earlier life of our own pid
    try {
      process.kill(pid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};

/** A short random id (16 base64url chars, 96 bits): ledger rows, runs, tasks, reservations. */
export function newId(): string {
  return randomBytes(12).toString('base64url');
}
