import os from 'node:os';
import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AgentBudgetError, type ErrorKind } from '../core/errors';
import { PolicyError } from '../core/policy/issues';
import { loadEffectivePolicy, type EffectivePolicy, type EffectivePolicyOptions } from '../core/trust/effectivePolicy';
import { userPolicyFile } from '../core/trust/userPolicyFile';
import { setsTeamCaps } from '../core/policy/teamPolicy';
import { teamConnectionFromEnv } from '../core/team/env';
import { Workspace, type WorkspaceOptions } from '../core/workspace';

/** Exit codes of the CLI contract (docs/cli.md). Scripts depend on them; never renumber. */
export const ExitCode = {
  ok: 0,
  usage: 1,
  blocked: 2,
  runFailed: 3,
  provider: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * The exit code of every failure, by its kind (src/core/errors.ts): the one place the CLI maps failures, for errors
 * thrown before a run starts and for runs that stopped short alike.
 */
export function exitCodeFor(kind: ErrorKind): ExitCode {
  switch (kind) {
    case 'budget':
      return ExitCode.blocked;
    case 'rateLimit':
    case 'auth':
    case 'provider':
      return ExitCode.provider;
    case 'missingKey':
    case 'config':
    case 'input':
    case 'notFound':
    case 'conflict':
      return ExitCode.usage;
    case 'crash':
    case 'cancelled':
    case 'store':
    case 'internal':
      return ExitCode.runFailed;
  }
}

/** A wrong command line: reported as one line on stderr with its exit code (never a stack trace). */
export class CliError extends AgentBudgetError {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.usage,
  ) {
    super('input', message);
  }
}

/** What every command gets: parsed global options and the process's streams and environment. */
export interface CliContext {
  /** Absolute workspace folder (`--workspace`, default the current directory). */
  workspace: string;
  /** `--json`: exactly one JSON document on stdout; progress and logs go to stderr. */
  json: boolean;
  /** `--trust-policy` or AGENT_BUDGET_TRUST_POLICY=1: the repository's budget.json may also loosen the user's policy. */
  trustPolicy: boolean;
  env: NodeJS.ProcessEnv;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

export interface CliCommand {
  name: string;
  /** One line for `agent-budget --help`. */
  summary: string;
  /** Usage line(s) shown by `agent-budget <command> --help` and on usage errors. */
  usage: string;
  /** Options of this command (global ones are added by the dispatcher). */
  options: NonNullable<ParseArgsConfig['options']>;
  /** Whether positional arguments are accepted. */
  positionals?: boolean;
  run(ctx: CliContext, values: Record<string, unknown>, positionals: string[]): Promise<ExitCode>;
}

export const GLOBAL_OPTIONS = {
  workspace: { type: 'string' },
  json: { type: 'boolean' },
  'trust-policy': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs(command: CliCommand, argv: string[]) {
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  try {
    return parseArgs({
      args: command.positionals ? positionalsLast(argv, options) : argv,
      options,
      allowPositionals: command.positionals ?? false,
      strict: true,
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\nUsage: ${command.usage}`);
  }
}

/**
 * Run ids of older stores start with "-" (their first character encodes the creation time), so
 * `agent-budget resume -P74vSUcsz` must not read the id as an option: every positional moves behind "--", in the
 * order given (`mark <runId> accepted`), where parseArgs takes it as a positional even when it starts with "-".
 * A single-dash argument is an option only when the command (or a global) has that short name.
 */
function positionalsLast(argv: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const optionOf = (arg: string) => {
    if (arg.startsWith('--')) return Object.hasOwn(options, arg.slice(2)) ? options[arg.slice(2)] : undefined;
    return arg.length === 2 ? Object.values(options).find((o) => o.short === arg[1]) : undefined;
  };
  const kept: string[] = [];
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    // `--input=-x`: a value joined to its option.
    const joined = arg.startsWith('--') && arg.includes('=') && Object.hasOwn(options, arg.slice(2, arg.indexOf('=')));
    const option = arg.length > 1 && arg.startsWith('-') && !joined ? optionOf(arg) : undefined;
    if (joined || option) {
      kept.push(arg);
      // The value of a string option stays with it (`--input -x`).
      if (option?.type === 'string' && i + 1 < argv.length) kept.push(argv[++i]!);
    } else if (arg.startsWith('--')) {
      kept.push(arg); // an unknown long option (no id starts with "--"): parseArgs says so
    } else {
      positionals.push(arg);
    }
  }
  return positionals.length ? [...kept, '--', ...positionals] : kept;
}

/** Writes the one JSON document of `--json` mode. */
export function printJson(ctx: Pick<CliContext, 'stdout'>, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** `AGENT_BUDGET_TRUST_POLICY=1` (also `true`/`yes`) trusts the repository's policy like `--trust-policy`. */
export function trustsPolicy(flag: unknown, env: NodeJS.ProcessEnv): boolean {
  return flag === true || /^(1|true|yes)$/i.test(env.AGENT_BUDGET_TRUST_POLICY ?? '');
}

/** Which user.json and whether budget.json may loosen it, for this invocation. */
function policyOptions(ctx: CliContext): Omit<EffectivePolicyOptions, 'fs'> {
  return {
    userFile: userPolicyFile({ env: ctx.env, platform: process.platform, home: os.homedir() }),
    consent: () => ctx.trustPolicy,
  };
}

/**
 * The workspace a command works on: `--workspace`, with the store in this workspace's per-user folder (the one the
 * extension uses: statePaths.ts), or where `AGENT_BUDGET_STATE_DIR` says (relative to the workspace). The first
 * time the per-user folder is used, what was imported from an older store is said on stderr. The policy is the
 * user's merged with budget.json, and what budget.json loosens without `--trust-policy` is named on stderr.
 */
export async function openWorkspace(
  ctx: CliContext,
  options: Omit<WorkspaceOptions, 'stateDir' | 'policy' | 'env' | 'team'> = {},
): Promise<Workspace> {
  const stateDir = ctx.env.AGENT_BUDGET_STATE_DIR
    ? path.resolve(ctx.workspace, ctx.env.AGENT_BUDGET_STATE_DIR)
    : undefined;
  const connection = teamConnectionFromEnv(ctx.env, ctx.workspace);
  const workspace = await Workspace.open(ctx.workspace, {
    ...options,
    stateDir,
    env: ctx.env,
    policy: policyOptions(ctx),
    team: connection && { connection, log: (line) => ctx.stderr.write(`agent-budget: ${line}\n`) },
  });
  if (workspace.upgradeNote) ctx.stderr.write(`${workspace.upgradeNote}\n`);
  if (!connection && setsTeamCaps(workspace.policy))
    ctx.stderr.write(
      'agent-budget: the policy sets team caps (limits.team, team.tiers) but no team ledger is configured, so they ' +
        'are ignored here: set AGENT_BUDGET_TEAM_DATABASE_URL (and AGENT_BUDGET_TEAM_MEMBER) to debit it.\n',
    );
  if (workspace.policyInfo) reportTrust(ctx, workspace.policyInfo);
  return workspace;
}

/** The effective policy without opening the store (`cost`, `estimate` in a fresh checkout); CliError when invalid. */
export async function loadPolicyFor(ctx: CliContext): Promise<EffectivePolicy> {
  try {
    const info = await loadEffectivePolicy(ctx.workspace, policyOptions(ctx));
    reportTrust(ctx, info);
    return info;
  } catch (err) {
    if (err instanceof PolicyError) throw new CliError(err.message);
    throw err;
  }
}

/** Names on stderr each setting of budget.json that loosens the user's policy and is ignored (docs/cli.md). */
function reportTrust(ctx: CliContext, info: EffectivePolicy): void {
  const file = path.relative(ctx.workspace, info.file) || info.file;
  const lines = (items: EffectivePolicy['loosening']) => items.map((i) => `  ${i.path}: ${i.what}\n`).join('');
  if (info.loosening.length && !info.consented) {
    ctx.stderr.write(
      `agent-budget: ignoring what ${file} loosens in your policy (pass --trust-policy, or set ` +
        `AGENT_BUDGET_TRUST_POLICY=1, if you trust this repository); its tighter settings apply:\n${lines(info.loosening)}`,
    );
  } else if (info.loosening.length) {
    ctx.stderr.write(`agent-budget: --trust-policy: ${file} loosens your policy as written:\n${lines(info.loosening)}`);
  }
  if (info.heldByUser.length) {
    ctx.stderr.write(
      `agent-budget: ignoring limits in ${file} above those your ${info.user.file} sets (edit it to raise them):\n` +
        lines(info.heldByUser),
    );
  }
}
