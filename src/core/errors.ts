/**
 * The one root of every error core throws on purpose. Its `errorKind` is what a front end decides on — the CLI's exit
 * code (`exitCodeFor` in src/cli/context.ts), the editor's message and buttons (`runNotice` in
 * src/vscode/runNotice.ts) — and what a stopped run records (`RunOutcome.errorKind`): no failure is ever classified
 * by its message text. The field is `errorKind`, not `kind`, because ProviderError already has a `kind` (its finer
 * provider reason) and runs have long persisted this same word as `errorKind`.
 *
 * - `budget`: a hard limit, a cap or a BLOCK rule said no (the run is `blocked`, resumable once there is room).
 * - `rateLimit`: the provider asked to wait (the run is `paused`).
 * - `auth`: the provider refused the key. `missingKey`: no key is set for the provider.
 * - `provider`: any other provider failure (overloaded, server error, cut stream, refused request…).
 * - `config`: budget.json, a workflow file or a price is wrong or missing (fix the file, then run again).
 * - `input`: what the user handed in cannot be used (no input, an unreadable file, a bad argument).
 * - `notFound`: no such workflow or run. `conflict`: the run is busy elsewhere or changed under us.
 * - `crash`: the same call was in flight at two crashes. `cancelled`: the user (or another window) cancelled.
 * - `store`: the store cannot be read or written as it is (written by a newer version, overtaken).
 * - `internal`: a bug, or anything that is not an AgentBudgetError.
 */
export type ErrorKind =
  | 'budget'
  | 'rateLimit'
  | 'auth'
  | 'missingKey'
  | 'provider'
  | 'config'
  | 'input'
  | 'notFound'
  | 'conflict'
  | 'crash'
  | 'cancelled'
  | 'store'
  | 'internal';

export class AgentBudgetError extends Error {
  override readonly name: string = 'AgentBudgetError';
  constructor(
    readonly errorKind: ErrorKind,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** The kind of any thrown value: an AgentBudgetError's own, `internal` for everything else. */
export function errorKindOf(err: unknown): ErrorKind {
  return err instanceof AgentBudgetError ? err.errorKind : 'internal';
}

/** A thrown value's message, for the one line a front end shows. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
