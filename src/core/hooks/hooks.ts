import type { BudgetAlert, BudgetDecision } from '../budget/types';
import { systemClock, type Clock } from '../clock';
import type { Subscription } from '../events';
import type { BudgetPolicy, Hook, HookEventName } from '../policy/types';
import { postWebhook, type WebhookOptions } from '../report/alerts';
import type { RunState, StoreRecord } from '../store/records';
import { runHookCommand, type HookCommandResult } from './command';
import { alertEvent, decisionEvent, runEvent, type HookEvent } from './events';

/** Seconds a hook command may run when its hook does not say. */
export const DEFAULT_HOOK_TIMEOUT_SECONDS = 10;

/** Asks the user whether a repository's hook command may run (VS Code: a modal; the CLI cannot ask: no). */
export interface HookApprover {
  approve(request: { event: HookEventName; command: string }): Promise<boolean>;
}

/** What BudgetHooks needs of a Workspace. */
export interface HookSource {
  folder: string;
  /** The policy in force now (hooks and tools change when a policy file is edited). */
  readonly policy: Pick<BudgetPolicy, 'hooks' | 'tools'>;
  engine: {
    onDecision(listener: (d: BudgetDecision) => void): Subscription;
    onAlert(listener: (a: BudgetAlert) => void): Subscription;
  };
  store: {
    onDidApply(listener: (e: { records: StoreRecord[]; origin: 'local' | 'remote' }) => void): Subscription;
    queries: { runTotals(runId: string): { costMicros: number } };
  };
}

export interface BudgetHooksOptions extends WebhookOptions {
  clock?: Clock;
  /** Asked before a repository's hook command runs when the policy has runCommand under `approve`. */
  approver?: HookApprover;
  /** Runs a command hook (tests hand in their own); default runHookCommand. */
  runCommand?: typeof runHookCommand;
}

/** Run statuses a run stops in: each write of one, by this process, is a run that finished (onRunFinished). */
const STOPPED = new Set(['completed', 'failed', 'cancelled', 'blocked', 'paused']);

/**
 * Hooks on budget events (docs/policy.md "Hooks"): `hooks.onWarn | onDegrade | onBlock | onAlert | onRunFinished`, each
 * a command (the event as JSON on its stdin, a timeout) or a webhook (the event POSTed, retried like alerts).
 *
 * **A hook never opens a gate.** Hooks hear of a decision after it is made — the engine's admission and the run's
 * stop are written first — and nothing they do (fail, hang, exit 0, print "allow") is read back: a block stays a
 * block, a warning stays a warning. Hook failures are logged, never thrown.
 *
 * Trust: the user's own hooks (user.json) run as written; a repository's applies only with the user's consent
 * (trust/policyMerge.ts) and its commands then follow runCommand's rule: they run without asking only when the
 * policy has runCommand in `tools.allow`, ask (once per command in this session) when it is in `tools.approve`,
 * and are refused otherwise. Webhooks never run anything here, so they need only the consent.
 *
 * Where events come from: warnings and degrades from the engine's admissions in this process (the runner's and the
 * proxy's), once per run and scope; blocks from a run this process stops blocked (with the engine's figures when an
 * admission blocked it) or from a refused call outside any run; alerts from the engine (once per scope and period
 * across processes); finished runs from this process's own run records.
 */
export class BudgetHooks {
  private readonly subscriptions: Subscription[];
  private readonly pending = new Set<Promise<void>>();
  private readonly fired = new Set<string>();
  /** The last block the engine made per run: its figures go with the run's onBlock. */
  private readonly lastBlock = new Map<string, BudgetDecision>();
  private readonly answered = new Map<string, boolean>();
  private readonly clock: Clock;
  private disposed = false;

  constructor(
    private readonly source: HookSource,
    private readonly options: BudgetHooksOptions = {},
  ) {
    this.clock = options.clock ?? systemClock;
    this.subscriptions = [
      source.engine.onDecision((d) => this.onDecision(d)),
      source.engine.onAlert((a) => this.dispatch(alertEvent(a, source.folder, this.clock.now()))),
      source.store.onDidApply(({ records, origin }) => {
        if (origin !== 'local') return;
        for (const r of records) if (r.k === 'run') this.onRun(r.run);
      }),
    ];
  }

  /** Waits for the hooks running now (the CLI, before it exits). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  dispose(): void {
    this.disposed = true;
    for (const s of this.subscriptions) s.dispose();
  }

  private onDecision(d: BudgetDecision): void {
    if (d.action === 'block' && d.runId) {
      this.lastBlock.set(d.runId, d); // the run's own stop says it, once
      return;
    }
    // A warning repeats on every call while a scope is past its soft limit: once per run (or caller) and scope.
    const key = `${d.action}|${d.runId ?? ''}|${d.scope?.key ?? d.messages.join('|')}`;
    if (this.fired.has(key)) return;
    this.remember(key);
    this.dispatch(decisionEvent(d, this.source.folder, this.clock.now()));
  }

  private onRun(run: RunState): void {
    if (!STOPPED.has(run.status)) return;
    const key = `run|${run.id}|${run.rev}`;
    if (this.fired.has(key)) return;
    this.remember(key);
    const data = (run.data ?? {}) as { error?: string; blockedScope?: string };
    const stopped = {
      id: run.id,
      workflow: run.workflow,
      status: run.status,
      costMicros: this.source.store.queries.runTotals(run.id).costMicros,
      error: data.error,
      blockedScope: data.blockedScope,
    };
    const now = this.clock.now();
    if (run.status === 'blocked') {
      const block = this.lastBlock.get(run.id);
      this.lastBlock.delete(run.id);
      const figures = block && block.scope?.scope === data.blockedScope ? block : undefined;
      this.dispatch(runEvent('onBlock', stopped, this.source.folder, now, figures));
    }
    this.dispatch(runEvent('onRunFinished', stopped, this.source.folder, now));
  }

  /** What fired, so it fires once; bounded for a window open for weeks (an old run's key is never asked again). */
  private remember(key: string): void {
    if (this.fired.size >= 10_000) this.fired.clear();
    this.fired.add(key);
  }

  private dispatch(event: HookEvent): void {
    if (this.disposed) return;
    for (const hook of this.source.policy.hooks[event.event] ?? []) {
      const done = this.run(hook, event).catch((err) =>
        this.log(`Agent Budget: hook ${event.event} failed: ${(err as Error).message}`),
      );
      this.pending.add(done);
      void done.finally(() => this.pending.delete(done));
    }
  }

  private async run(hook: Hook, event: HookEvent): Promise<void> {
    if ('url' in hook) {
      await postWebhook(hook.url, event, { ...this.options, log: this.options.log });
      return;
    }
    if (!(await this.mayRun(hook, event.event))) return;
    const timeoutSeconds = hook.timeoutSeconds ?? DEFAULT_HOOK_TIMEOUT_SECONDS;
    const result = await (this.options.runCommand ?? runHookCommand)(hook.command, `${JSON.stringify(event)}\n`, {
      cwd: this.source.folder,
      timeoutMs: timeoutSeconds * 1000,
      signal: this.options.signal,
    });
    const failure = describeFailure(result, timeoutSeconds);
    if (failure)
      this.log(
        `Agent Budget: hook ${event.event} \`${hook.command}\` ${failure}${result.output ? `: ${result.output.split('\n')[0]}` : ''}. The budget's decision stands.`,
      );
  }

  /** runCommand's rule for a repository's command; the user's own commands run. */
  private async mayRun(hook: Hook & { command: string }, event: HookEventName): Promise<boolean> {
    if (hook.origin === 'user') return true;
    const tools = this.source.policy.tools;
    if (tools.allow.includes('runCommand')) return true;
    if (!tools.approve.includes('runCommand')) {
      this.log(
        `Agent Budget: hook ${event} \`${hook.command}\` from budget.json was not run: runCommand is in neither tools.allow nor tools.approve.`,
      );
      return false;
    }
    let answer = this.answered.get(hook.command);
    if (answer === undefined) {
      answer = (await this.options.approver?.approve({ event, command: hook.command }).catch(() => false)) === true;
      this.answered.set(hook.command, answer);
    }
    if (!answer)
      this.log(`Agent Budget: hook ${event} \`${hook.command}\` from budget.json was not approved, so it did not run.`);
    return answer;
  }

  private log(line: string): void {
    this.options.log?.(line);
  }
}

function describeFailure(r: HookCommandResult, timeoutSeconds: number): string | undefined {
  if (r.timedOut) return `was stopped after ${timeoutSeconds} s`;
  if (r.error) return `could not run (${r.error})`;
  if (r.exitCode !== 0) return `exited with ${r.exitCode}`;
  return undefined;
}
