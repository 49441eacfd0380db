import path from 'node:path';
import { version } from '../../package.json';
import { costCommand } from './commands/cost';
import { estimateCommand } from './commands/estimate';
import { exportCommand } from './commands/export';
import { markCommand } from './commands/mark';
import { noticeStalePrices, pricesCommand } from './commands/prices';
import { proxyCommand } from './commands/proxy';
import { reportCommand } from './commands/report';
import { reservationsCommand } from './commands/reservations';
import { resumeCommand } from './commands/resume';
import { runCommand } from './commands/run';
import { runsCommand } from './commands/runs';
import { statusCommand } from './commands/status';
import { AgentBudgetError } from '../core/errors';
import {
  CliError,
  ExitCode,
  exitCodeFor,
  parseCommandArgs,
  printJson,
  trustsPolicy,
  type CliCommand,
  type CliContext,
} from './context';

/** Every command of the CLI contract; each lives in its own file under ./commands. */
const COMMANDS: CliCommand[] = [
  runCommand,
  resumeCommand,
  runsCommand,
  costCommand,
  pricesCommand,
  statusCommand,
  reportCommand,
  estimateCommand,
  exportCommand,
  markCommand,
  proxyCommand,
  reservationsCommand,
];

function usage(): string {
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(10)} ${c.summary}`);
  return [
    `agent-budget ${version} — run LLM workflows under hard budgets (same store and policy as the VS Code extension)`,
    '',
    'Usage: agent-budget <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Global options: --workspace <dir> (default: current directory), --json, --help,',
    "  --trust-policy (or AGENT_BUDGET_TRUST_POLICY=1): let the repository's budget.json loosen your own policy",
    'Exit codes: 0 ok · 1 usage/config/input · 2 blocked by a budget · 3 run failed/interrupted · 4 provider/auth',
  ].join('\n');
}

export async function main(argv: string[], io: Pick<CliContext, 'stdout' | 'stderr' | 'env'>): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage()}\n`);
    return name ? ExitCode.ok : ExitCode.usage;
  }
  if (name === '--version') {
    io.stdout.write(`${version}\n`);
    return ExitCode.ok;
  }
  // Until the arguments parse, `--json` is taken as written (a script asking for JSON gets JSON for a usage error too).
  let json = rest.slice(0, rest.includes('--') ? rest.indexOf('--') : undefined).includes('--json');
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.stderr.write(`agent-budget: unknown command "${name}"\n\n${usage()}\n`);
    if (json) printError(io, `unknown command "${name}"`, ExitCode.usage);
    return ExitCode.usage;
  }
  try {
    const { values, positionals } = parseCommandArgs(command, rest);
    json = values.json === true;
    if (values.help) {
      io.stdout.write(`Usage: ${command.usage}\n`);
      return ExitCode.ok;
    }
    const ctx: CliContext = {
      ...io,
      workspace: path.resolve(typeof values.workspace === 'string' ? values.workspace : process.cwd()),
      json,
      trustPolicy: trustsPolicy(values['trust-policy'], io.env),
    };
    await noticeStalePrices(ctx);
    return await command.run(ctx, values, positionals);
  } catch (err) {
    // Every failure core means to report says what to do in its message: one line, no stack trace.
    if (err instanceof AgentBudgetError) {
      const exitCode = err instanceof CliError ? err.exitCode : exitCodeFor(err.errorKind);
      io.stderr.write(`agent-budget ${name}: ${err.message}\n`);
      if (json) printError(io, err.message, exitCode);
      return exitCode;
    }
    io.stderr.write(`agent-budget ${name}: unexpected error: ${(err as Error)?.stack ?? String(err)}\n`);
    if (json) printError(io, `unexpected error: ${(err as Error)?.message ?? String(err)}`, ExitCode.runFailed);
    return ExitCode.runFailed;
  }
}

/**
 * `--json` when a command fails before it has a result (a run that started reports its outcome instead): the one
 * JSON document is `{error, exitCode}`; the message goes to stderr as well.
 */
function printError(io: Pick<CliContext, 'stdout'>, error: string, exitCode: number): void {
  printJson(io, { error, exitCode });
}

if (require.main === module) {
  // `agent-budget runs | head -4`: a reader that closes the pipe has what it wanted. The command finishes as usual
  // (the store closes cleanly) and the rest of its output goes nowhere.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  void main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }).then(
    (code) => {
      process.exitCode = code;
    },
  );
}
