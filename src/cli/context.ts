import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { Workspace, type WorkspaceOptions } from '../core/workspace';

/** Exit codes of the CLI contract (shared/CLI.md). Scripts depend on them; never renumber. */
export const ExitCode = {
  ok: 0,
  usage: 1,
  blocked: 2,
  runFailed: 3,
  provider: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** A failure the CLI reports as one line on stderr with its exit code (never a stack trace). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.usage,
  ) {
    super(message);
  }
}

/** What every command gets: parsed global options and the process's streams and environment. */
export interface CliContext {
  /** Absolute workspace folder (`--workspace`, default the current directory). */
  workspace: string;
  /** `--json`: exactly one JSON document on stdout; progress and logs go to stderr. */
  json: boolean;
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
  help: { type: 'boolean', short: 'h' },
} as const satisfies NonNullable<ParseArgsConfig['options']>;

export function parseCommandArgs(command: CliCommand, argv: string[]) {
  const options = { ...GLOBAL_OPTIONS, ...command.options };
  try {
    return parseArgs({
      args: command.positionals ? dashedPositionalsLast(argv, options) : argv,
      options,
      allowPositionals: command.positionals ?? false,
      strict: true,
    });
  } catch (err) {
    throw new CliError(`${(err as Error).message}\nUsage: ${command.usage}`);
  }
}

/**
 * Run ids start with "-" (their first character encodes the creation time, and will until 2109), so
 * `agent-budget resume -P74vSUcsz` must not read the id as an option: an argument that starts with "-" and is not
 * an option of the command moves behind "--", where parseArgs takes it as a positional.
 */
function dashedPositionalsLast(argv: string[], options: NonNullable<ParseArgsConfig['options']>): string[] {
  const isOption = (arg: string) => {
    if (arg.startsWith('--')) return Object.hasOwn(options, arg.slice(2).split('=')[0]!);
    return Object.values(options).some((o) => o.short === arg.slice(1, 2));
  };
  const kept: string[] = [];
  const moved: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      moved.push(...argv.slice(i + 1));
      break;
    }
    if (arg.length > 1 && arg.startsWith('-') && !isOption(arg)) {
      moved.push(arg);
      continue;
    }
    kept.push(arg);
    // The value of a string option stays with it (`--input -x`).
    const name = arg.startsWith('--') ? arg.slice(2) : undefined;
    if (name && !name.includes('=') && options[name]?.type === 'string' && i + 1 < argv.length) kept.push(argv[++i]!);
  }
  return moved.length ? [...kept, '--', ...moved] : kept;
}

/** Writes the one JSON document of `--json` mode. */
export function printJson(ctx: CliContext, value: unknown): void {
  ctx.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * The workspace a command works on: `--workspace`, with the store where `AGENT_BUDGET_STATE_DIR` says (relative to
 * the workspace; the extension's `agentBudget.stateDirectory` setting) or in `.agent-budget/`.
 */
export function openWorkspace(ctx: CliContext, options: Omit<WorkspaceOptions, 'stateDir'> = {}): Promise<Workspace> {
  const stateDir = ctx.env.AGENT_BUDGET_STATE_DIR ? path.resolve(ctx.workspace, ctx.env.AGENT_BUDGET_STATE_DIR) : undefined;
  return Workspace.open(ctx.workspace, { ...options, stateDir });
}
