import { existsSync } from 'node:fs';
import path from 'node:path';
import { formatUsd } from '../core/money';
import { formatIssue } from '../core/policy/issues';
import type { ProviderSettingsMap } from '../core/policy/types';
import { isLoopbackEndpoint } from '../core/pricing/local';
import { createProviderAdapter } from '../core/providers';
import { BudgetHooks } from '../core/hooks/hooks';
import { AlertNotifier } from '../core/report/alerts';
import { API_KEY_ENV, PROVIDER_NAMES } from '../core/providers/errors';
import type { ProviderAdapter } from '../core/providers/types';
import {
  MissingApiKeyError,
  Runner,
  type ApprovalRequest,
  type Approver,
  type ProviderAccess,
  type RunEvent,
  type RunOutcome,
} from '../core/runner/runner';
import type { ProviderId } from '../core/usage';
import { chooseEndpoint } from '../core/trust/origins';
import type { Workspace } from '../core/workspace';
import { CliError, ExitCode, exitCodeFor, openWorkspace, printJson, type CliContext } from './context';

/**
 * What `run` and `resume` share: provider access from the environment, the CLI's approval rule, progress on
 * stderr, the outcome on stdout, and the exit codes of the contract (docs/cli.md).
 */

/** How many characters of a run id the CLI shows; `resume` and `runs` accept any unique prefix. */
export const SHORT_ID = 10;

export const BASE_URL_ENV: Record<ProviderId, string> = {
  anthropic: 'ANTHROPIC_BASE_URL',
  openai: 'OPENAI_BASE_URL',
  gemini: 'GEMINI_BASE_URL',
};

/**
 * Keys from ANTHROPIC_API_KEY / OPENAI_API_KEY / GEMINI_API_KEY, sent where `chooseEndpoint` allows: *_BASE_URL, else
 * the policy's `providers` when the user chose it, else the provider's official host. A repository endpoint passed
 * over is said once per provider through `notify` (stderr).
 */
export class EnvProviderAccess implements ProviderAccess {
  private readonly told = new Set<string>();

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly providers: () => ProviderSettingsMap,
    private readonly notify: (text: string) => void = () => undefined,
  ) {}

  hasKey(provider: ProviderId): boolean {
    return !!this.env[API_KEY_ENV[provider]];
  }

  /** OPENAI_BASE_URL (the user's own environment) on loopback: a local server that needs no key (pricing/local.ts). */
  isLocal(provider: ProviderId): boolean {
    const url = this.env[BASE_URL_ENV[provider]];
    return provider === 'openai' && !!url && isLoopbackEndpoint(url);
  }

  async adapter(provider: ProviderId): Promise<ProviderAdapter> {
    const apiKey = this.env[API_KEY_ENV[provider]] ?? '';
    if (!apiKey && !this.isLocal(provider)) {
      throw new MissingApiKeyError(
        provider,
        `${API_KEY_ENV[provider]} is not set: the CLI reads the ${PROVIDER_NAMES[provider]} API key from the environment. ` +
          `Set ${API_KEY_ENV[provider]} and run again (or pass --model for a provider whose key is set).`,
      );
    }
    const settings = this.providers()[provider];
    const endpoint = chooseEndpoint({
      provider,
      environment: { name: BASE_URL_ENV[provider], value: this.env[BASE_URL_ENV[provider]] ?? '' },
      // The effective policy holds a repository's baseUrl only with the user's consent (--trust-policy), and the
      // user's own user.json: either way the user chose it (trust/policyMerge.ts drops it otherwise).
      policy: settings?.baseUrl ? { baseUrl: settings.baseUrl, chosenByUser: true } : undefined,
    });
    if (endpoint.notice && !this.told.has(endpoint.notice)) {
      this.told.add(endpoint.notice);
      this.notify(endpoint.notice);
    }
    return createProviderAdapter({
      provider,
      apiKey,
      baseUrl: endpoint.baseUrl,
      api: provider === 'openai' ? settings?.api : undefined,
    });
  }
}

/**
 * The CLI never prompts (it runs in CI, where no one can answer): a writing tool runs only when the policy's
 * `tools.allow` lists it — the user's user.json, or budget.json with --trust-policy — and then the runner does not
 * even ask. Anything else is refused here, with how to allow it; the model is told and the run goes on.
 */
export class CliApprover implements Approver {
  constructor(private readonly stderr: NodeJS.WritableStream) {}

  async approve(request: ApprovalRequest): Promise<boolean> {
    if (request.fromCheckpoint) {
      this.stderr.write(
        `  refused ${request.summary}: it was pending in the checkpoint this run resumed from, and the CLI cannot ask ` +
          'about it. The model is told; a call it makes again follows tools.allow as usual.\n',
      );
      return false;
    }
    const what =
      request.tool === 'runCommand'
        ? 'run commands'
        : ['writeFile', 'editFile'].includes(request.tool)
          ? 'change files'
          : `use ${request.tool}`;
    this.stderr.write(
      `  refused ${request.summary}: the CLI does not ask for approval. To let workflows ${what} without asking, add ` +
        `"${request.tool}" to tools.allow (and take it out of tools.approve) in your own user.json, or in ` +
        `.agent-budget/budget.json and run with --trust-policy.\n`,
    );
    return false;
  }
}

/** How long the CLI waits, at the end, for budget alerts and hooks still being delivered or running. */
export const ALERT_FLUSH_MS = 10_000;

/** What `run` and `resume` work with; `close()` delivers pending budget alerts, then disposes the runner and closes the workspace. */
export interface RunSession {
  runner: Runner;
  /** Progress on stderr: pass as `onEvent`. */
  onEvent: (e: RunEvent) => void;
  close(): Promise<void>;
}

/**
 * Opens the workspace and a runner over it; refuses an invalid budget.json (exit 1) and prints its warnings (a
 * mistyped key is ignored, so the limit it meant does not hold). Budget alerts this process fires go to stderr and
 * to `alerts.webhookUrl`: the engine records an alert as fired when it settles the call, so no one else sends it.
 */
export async function openRunner(ctx: CliContext): Promise<RunSession> {
  const workspace = await openWorkspace(ctx);
  if (workspace.store.report.problem) ctx.stderr.write(`${workspace.store.report.problem}\n`);
  for (const warning of workspace.policyInfo?.warnings ?? workspace.policyError?.warnings ?? [])
    ctx.stderr.write(`${formatIssue(warning)}\n`);
  if (workspace.policyError) {
    await workspace.close();
    throw new CliError(`${workspace.policyError.message}\nNo workflow runs until it is fixed.`, ExitCode.usage);
  }
  const progress = new RunProgress(ctx, workspace);
  // Giving up at the end aborts the delivery in flight and its retry waits, so the process does not linger.
  const giveUp = new AbortController();
  const notifier = new AlertNotifier(workspace, {
    attempts: 3,
    timeoutMs: 5_000,
    maxDelayMs: 2_000,
    signal: giveUp.signal,
    onAlert: (_alert, payload) => progress.line(`  alert: ${payload.text}`),
    log: (text) => progress.line(`  ${text}`),
  });
  const hooks = new BudgetHooks(workspace, {
    attempts: 3,
    timeoutMs: 5_000,
    maxDelayMs: 2_000,
    signal: giveUp.signal,
    approver: {
      // The CLI never prompts: a repository's hook command runs only where runCommand runs without asking.
      approve: async ({ command }) => {
        progress.line(
          `  hook \`${command}\` not run: the CLI does not ask. Add "runCommand" to tools.allow in your user.json ` +
            '(or in .agent-budget/budget.json with --trust-policy) to let budget.json run hook commands.',
        );
        return false;
      },
    },
    log: (text) => progress.line(`  ${text}`),
  });
  const runner = new Runner({
    workspace,
    providers: new EnvProviderAccess(
      ctx.env,
      () => workspace.policy.providers,
      (text) => progress.line(`  ${text}`),
    ),
    approver: new CliApprover(ctx.stderr),
  });
  const close = async () => {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>(
      (resolve) => (timer = setTimeout(() => resolve('timeout'), ALERT_FLUSH_MS)),
    );
    const result = await Promise.race([Promise.all([notifier.flush(), hooks.flush()]), timedOut]);
    clearTimeout(timer);
    if (result === 'timeout') {
      giveUp.abort();
      await Promise.all([notifier.flush(), hooks.flush()]);
    }
    notifier.dispose();
    hooks.dispose();
    runner.dispose();
    await workspace.close();
  };
  return { runner, onEvent: (e) => progress.event(e), close };
}

/**
 * Progress on stderr: each step and its model, each call's tokens and cost with the run's total so far (a resumed
 * run's from what it had spent), tools, warnings, budget alerts; streamed text too unless --json.
 */
class RunProgress {
  private totalMicros = 0;
  private midLine = false;

  constructor(
    private readonly ctx: CliContext,
    private readonly workspace: Workspace,
  ) {}

  /** One line, after any streamed text that did not end its line. */
  line(text: string): void {
    if (this.midLine) this.ctx.stderr.write('\n');
    this.midLine = false;
    this.ctx.stderr.write(`${text}\n`);
  }

  event(e: RunEvent): void {
    const { ctx } = this;
    const line = (text: string) => this.line(text);
    switch (e.type) {
      case 'runStarted':
        this.totalMicros = this.workspace.store.queries.runTotals(e.runId).costMicros;
        line(`▸ ${e.title} — run ${e.runId.slice(0, SHORT_ID)} (${e.workflow})`);
        return;
      case 'stepStarted':
        line(
          `▸ step ${e.title.toLowerCase() === e.stepId.toLowerCase() ? e.stepId : `${e.stepId}: ${e.title}`} (${e.model})`,
        );
        return;
      case 'text':
        if (ctx.json || e.delta === '') return;
        ctx.stderr.write(e.delta);
        this.midLine = !e.delta.endsWith('\n');
        return;
      case 'call':
        this.totalMicros += e.costMicros;
        line(
          `  ${e.model}: ${e.tokens.toLocaleString('en-US')} tokens, ${formatUsd(e.costMicros)}${e.estimated ? ' (estimated)' : ''} · run so far ${formatUsd(this.totalMicros)}`,
        );
        return;
      case 'tool':
        line(`  ${e.summary}`);
        return;
      case 'warning':
        line(`  warning: ${e.message}`);
        return;
      case 'stepFinished':
      case 'runFinished':
        if (this.midLine) line('');
        return;
    }
  }
}

/**
 * Exit code of an outcome (docs/cli.md): 0 completed · 2 blocked · else by the kind of error that stopped it
 * (exitCodeFor: 4 provider, auth or a rate-limit pause · 1 configuration · 3 otherwise); 3 for a run stopped with no
 * kind recorded (interrupted).
 */
export function exitCodeOf(outcome: RunOutcome): ExitCode {
  if (outcome.status === 'completed') return ExitCode.ok;
  if (outcome.status === 'blocked') return ExitCode.blocked;
  return outcome.errorKind ? exitCodeFor(outcome.errorKind) : ExitCode.runFailed;
}

/** `--json`: the contract's shape plus title, output, error, errorKind, blockedScope. Otherwise: the output on stdout, a summary on stderr. */
export function printOutcome(ctx: CliContext, outcome: RunOutcome, streamedToTerminal: boolean): void {
  if (ctx.json) {
    printJson(ctx, {
      runId: outcome.runId,
      workflow: outcome.workflow,
      status: outcome.status,
      costMicros: outcome.costMicros,
      tokens: outcome.tokens,
      steps: outcome.steps.map((s) => ({ id: s.id, status: s.status, costMicros: s.costMicros })),
      title: outcome.title,
      ...(outcome.output !== undefined ? { output: outcome.output } : {}),
      ...(outcome.error !== undefined ? { error: outcome.error } : {}),
      ...(outcome.errorKind !== undefined ? { errorKind: outcome.errorKind } : {}),
      ...(outcome.blockedScope !== undefined ? { blockedScope: outcome.blockedScope } : {}),
    });
    return;
  }
  // The result goes to stdout (`agent-budget run code-review --file a.ts > review.md`), unless it was just streamed
  // to the same terminal.
  if (outcome.status === 'completed' && outcome.output !== undefined && !streamedToTerminal) {
    ctx.stdout.write(outcome.output.endsWith('\n') ? outcome.output : `${outcome.output}\n`);
  }
  const t = outcome.tokens;
  const tokens = t.input + t.output + t.cacheRead + t.cacheWrite + t.reasoning;
  const short = outcome.runId.slice(0, SHORT_ID);
  ctx.stderr.write(
    `■ ${outcome.status} · ${costText(outcome)} · ${tokens.toLocaleString('en-US')} tokens · run ${short}\n`,
  );
  if (outcome.status !== 'completed') {
    if (outcome.error) ctx.stderr.write(`  ${outcome.error}\n`);
    // A configuration failure (a missing key, an unpriced model) before any step finished has nothing to continue
    // (fix it and run again); after one, resume keeps what was paid for.
    const resumable =
      outcome.status !== 'failed' ||
      exitCodeOf(outcome) !== ExitCode.usage ||
      outcome.steps.some((s) => s.status === 'completed');
    if (resumable) ctx.stderr.write(`  Continue it with: agent-budget resume ${short}\n`);
  }
}

/** `--file`: relative to the workspace when it is there, else to the current directory when it is there. */
export function resolveFileArg(ctx: CliContext, file: string): string {
  if (path.isAbsolute(file) || existsSync(path.resolve(ctx.workspace, file))) return file;
  const fromCwd = path.resolve(process.cwd(), file);
  return existsSync(fromCwd) ? fromCwd : file;
}

/** Runs `go` with Ctrl+C cancelling the run (a second Ctrl+C ends the process the usual way). */
export async function withInterrupt<T>(go: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSigint = () => controller.abort();
  process.once('SIGINT', onSigint);
  try {
    return await go(controller.signal);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

export function isTerminal(stream: NodeJS.WritableStream): boolean {
  return (stream as { isTTY?: boolean }).isTTY === true;
}

/** `$0.0021`, or `$0.0021 (of which $0.0004 estimated)` when a call's usage never arrived. */
function costText(outcome: RunOutcome): string {
  const estimated = outcome.estimatedMicros ?? 0;
  return estimated > 0
    ? `${formatUsd(outcome.costMicros)} (of which ${formatUsd(estimated)} estimated)`
    : formatUsd(outcome.costMicros);
}
