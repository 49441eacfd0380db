import { AgentBudgetError } from '../errors';
/**
 * Why a team-ledger call failed, in the two kinds the caller acts on differently: the server cannot be reached
 * (admissions fall back to the offline allowance; the outbox waits) or it refused us (a wrong URL, password or
 * database: nothing to wait for, the user must fix the connection string).
 */

/** The server cannot be reached now: network down, server stopped or restarting, a timeout. */
export class TeamLedgerUnreachableError extends AgentBudgetError {
  override readonly name = 'TeamLedgerUnreachableError';
  constructor(message: string, options?: ErrorOptions) {
    super('store', message, options);
  }
}

/** The server answered but refuses: the connection string, credentials or database are wrong. */
export class TeamLedgerConfigError extends AgentBudgetError {
  override readonly name = 'TeamLedgerConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super('config', message, options);
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** SQLSTATEs of a server going away or not taking connections yet (class 08: connection exceptions). */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** Messages node-postgres uses for a connection that died or never came up (it sets no code on them). */
const DRIVER_MESSAGES =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Connection ended/i;

/** Maps a driver error to one of the two kinds above, or returns it unchanged (a bug, a bad argument). */
export function classifyTeamError(err: unknown): Error {
  if (err instanceof TeamLedgerUnreachableError || err instanceof TeamLedgerConfigError) return err;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  if (NETWORK_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_STATES.has(code) || DRIVER_MESSAGES.test(message))
    return new TeamLedgerUnreachableError(`The team ledger is unreachable: ${message}`, { cause: err });
  if (code.startsWith('28') || code === '3D000')
    return new TeamLedgerConfigError(
      `The team database refused the connection (${message}). Check AGENT_BUDGET_TEAM_DATABASE_URL ` +
        '(user, password, host and database name).',
      { cause: err },
    );
  return err instanceof Error ? err : new Error(message);
}

/** A lock cycle (40P01) or a serialization failure (40001): the transaction did nothing and may be retried. */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

/** An established connection the server or the network dropped (not a failure to connect). */
export function isDroppedConnection(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  return (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code === '57P01' ||
    code === '57P02' ||
    (typeof e?.message === 'string' && /Connection terminated unexpectedly/i.test(e.message))
  );
}
