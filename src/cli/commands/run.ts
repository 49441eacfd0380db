import { CliError, ExitCode, type CliCommand, type CliContext } from '../context';
import { exitCodeOf, isTerminal, openRunner, printOutcome, resolveFileArg, withInterrupt } from '../runSupport';

/**
 * `agent-budget run <workflow> [--input T] [--file F] [--model M] [--complex]`: runs a built-in or workspace workflow
 * to completion, a budget block or a failure, checkpointing as it goes. `--input -` reads the input from stdin
 * (`git diff | agent-budget run code-review --input -`).
 */
export const runCommand: CliCommand = {
  name: 'run',
  summary:
    'run a workflow (code-review, explain, test-gen, draft-requirements, research, or .agent-budget/workflows/<id>.json)',
  usage:
    'agent-budget run <workflow> [--input <text> | --input -] [--file <path>] [--model <model>] [--complex] [--workspace <dir>] [--json]',
  options: {
    input: { type: 'string' },
    file: { type: 'string' },
    model: { type: 'string' },
    complex: { type: 'boolean' },
  },
  positionals: true,
  async run(ctx, values, positionals) {
    const [workflow, ...extra] = positionals;
    if (!workflow || extra.length > 0) throw new CliError(`give exactly one workflow id.\nUsage: ${runCommand.usage}`);
    let input = typeof values.input === 'string' ? values.input : undefined;
    if (input === '-') input = await readStdin(ctx);
    const file = typeof values.file === 'string' ? resolveFileArg(ctx, values.file) : undefined;
    const model = typeof values.model === 'string' ? values.model : undefined;

    const session = await openRunner(ctx);
    try {
      const outcome = await withInterrupt((signal) =>
        session.runner.start(
          workflow,
          { input, file, model, ...(values.complex === true ? { complex: true } : {}) },
          { signal, onEvent: session.onEvent },
        ),
      );
      printOutcome(ctx, outcome, isTerminal(ctx.stderr) && isTerminal(ctx.stdout));
      return exitCodeOf(outcome);
    } finally {
      await session.close();
    }
  },
};

async function readStdin(ctx: CliContext): Promise<string> {
  void ctx;
  if (process.stdin.isTTY)
    throw new CliError(
      '--input - reads the input from stdin, but stdin is a terminal; pipe something in.',
      ExitCode.usage,
    );
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
