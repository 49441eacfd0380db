import { formatUsd, usdToMicros, type Micros } from '../../core/money';
import { quoteText, type RunQuote } from '../../core/runner/runner';
import { CliError, ExitCode, printJson, type CliCommand, type CliContext } from '../context';
import { exitCodeOf, isTerminal, openRunner, printOutcome, resolveFileArg, withInterrupt } from '../runSupport';

/** The user's threshold: a run whose worst case is above it needs `--yes` (an environment variable: the user's own). */
export const ASK_ABOVE_ENV = 'AGENT_BUDGET_ASK_ABOVE_USD';

/**
 * `agent-budget run <workflow> [--input T] [--file F] [--model M] [--complex] [--quote] [--yes]`: runs a built-in or
 * workspace workflow to completion, a budget block or a failure, checkpointing as it goes. `--input -` reads the
 * input from stdin (`git diff | agent-budget run code-review --input -`). `--quote` prints what the run would likely
 * cost and at most, and exits. With AGENT_BUDGET_ASK_ABOVE_USD set, a run whose worst case is above it starts only
 * with `--yes` (exit 1 with the quote otherwise).
 */
export const runCommand: CliCommand = {
  name: 'run',
  summary:
    'run a workflow (code-review, explain, test-gen, draft-requirements, research, or .agent-budget/workflows/<id>.json)',
  usage:
    'agent-budget run <workflow> [--input <text> | --input -] [--file <path>] [--model <model>] [--complex] [--quote] [--yes] [--workspace <dir>] [--json]',
  options: {
    input: { type: 'string' },
    file: { type: 'string' },
    model: { type: 'string' },
    complex: { type: 'boolean' },
    quote: { type: 'boolean' },
    yes: { type: 'boolean' },
  },
  positionals: true,
  async run(ctx, values, positionals) {
    const [workflow, ...extra] = positionals;
    if (!workflow || extra.length > 0) throw new CliError(`give exactly one workflow id.\nUsage: ${runCommand.usage}`);
    let input = typeof values.input === 'string' ? values.input : undefined;
    if (input === '-') input = await readStdin(ctx);
    const file = typeof values.file === 'string' ? resolveFileArg(ctx, values.file) : undefined;
    const model = typeof values.model === 'string' ? values.model : undefined;
    const askAbove = askAboveMicros(ctx);
    const runInput = { input, file, model, ...(values.complex === true ? { complex: true } : {}) };

    const session = await openRunner(ctx);
    try {
      if (values.quote === true || (askAbove !== undefined && values.yes !== true)) {
        const quote = await session.runner.quote(workflow, runInput);
        if (values.quote === true) {
          if (ctx.json) printJson(ctx, quote);
          else ctx.stdout.write(`${workflow}: ${quoteText(quote)}\n`);
          return ExitCode.ok;
        }
        if (askAbove !== undefined && exceeds(quote, askAbove)) {
          throw new CliError(
            `${workflow}: ${quoteText(quote)} — above your ${ASK_ABOVE_ENV} of ${formatUsd(askAbove)}. ` +
              'Run it again with --yes to start it anyway.',
            ExitCode.usage,
          );
        }
        if (!ctx.json) ctx.stderr.write(`${workflow}: ${quoteText(quote)}\n`);
      }
      const outcome = await withInterrupt((signal) =>
        session.runner.start(workflow, runInput, { signal, onEvent: session.onEvent }),
      );
      printOutcome(ctx, outcome, isTerminal(ctx.stderr) && isTerminal(ctx.stdout));
      return exitCodeOf(outcome);
    } finally {
      await session.close();
    }
  },
};

/** AGENT_BUDGET_ASK_ABOVE_USD as µ$; undefined when unset; a usage error when it is not a dollar amount. */
function askAboveMicros(ctx: CliContext): Micros | undefined {
  const raw = ctx.env[ASK_ABOVE_ENV];
  if (raw === undefined || raw.trim() === '') return undefined;
  const usd = Number(raw);
  if (!Number.isFinite(usd) || usd < 0)
    throw new CliError(`${ASK_ABOVE_ENV} must be a dollar amount such as 0.50, got "${raw}".`, ExitCode.usage);
  return usdToMicros(usd);
}

/** A run whose worst case is above the threshold (or that nothing bounds) asks first. */
function exceeds(quote: RunQuote, threshold: Micros): boolean {
  return quote.worstMicros === null || quote.worstMicros > threshold;
}

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
