import path from 'node:path';
import * as vscode from 'vscode';
import { errorKindOf, messageOf } from '../core/errors';
import { confirmForeignRun } from './foreignRun';
import { formatUsd, usdToMicros } from '../core/money';
import { ProviderError } from '../core/providers/errors';
import { MissingApiKeyError, quoteText, type RunQuote } from '../core/runner/runner';
import { UntrustedRunError } from '../core/trust/resumeGuard';
import type { ProviderId } from '../core/usage';
import type { RunState } from '../core/store/records';
import type { Workspace } from '../core/workspace';
import { PROVIDER_NAMES } from '../core/providers/errors';
import { toolLine } from './runViewModel';
import type { Settings } from './settings';
import type { RunActivity, RunActivitySource } from './budgetMeter';
import { Disposable } from './dispose';
import { Commands, ContextKeys } from './ids';
import { invalidPolicyFile } from './policyFiles';
import { runNotice, type RunNotice } from './runNotice';
import type { RunEvent, RunInput, RunOptions, RunOutcome, WorkflowRunner } from './runnerContract';
import type { WorkspaceHost } from './workspaceHost';

/** Why runs do not start in Restricted Mode, in the words every run command uses. */
export const UNTRUSTED_MESSAGE = vscode.l10n.t(
  "Agent Budget runs no workflow in Restricted Mode: a workflow sends this folder's files to a model provider and can edit files and run commands. Trust the folder to run workflows (spend and budgets stay visible either way).",
);

/** A run that is under way: `finished` settles when it ends (undefined: it failed to run, said in a notification). */
export interface Begun {
  finished: Promise<RunOutcome | undefined>;
}

interface LiveRun {
  runId: string | undefined;
  workflow: string;
  step: string;
  /** Tokens of the running step's settled calls. */
  stepTokens: number;
  /** Characters of the reply streaming now, before its call settles with the real token count. */
  streamedChars: number;
  costMicros: number;
  abort: AbortController;
  startedAt: number;
}

/**
 * Runs in this window: starts and resumes workflows through the runner with progress (cancellable: cancelling
 * aborts the run, which checkpoints and stops), streams each run's output into a read-only document that updates
 * as text arrives, tracks the running task's tokens for the meter, and refuses to start anything in an untrusted
 * workspace or under an invalid policy (saying why and how to fix it).
 */
export class RunSessions extends Disposable implements RunActivitySource {
  private readonly live = new Map<LiveRun, true>();
  private readonly activityEmitter = this.register(new vscode.EventEmitter<void>());
  /** A run started or stopped in this window (`active()` changed). */
  readonly onDidChangeActivity = this.activityEmitter.event;
  private readonly progressEmitter = this.register(new vscode.EventEmitter<void>());
  /**
   * The running step or its tokens changed: for the meter only, which debounces it. It fires for every streamed
   * chunk, so the panel and the Runs view (which recompute from the store) do not listen to it.
   */
  readonly onDidProgress = this.progressEmitter.event;
  private readonly eventEmitter = this.register(new vscode.EventEmitter<RunEvent>());
  /** Every runner event of runs in this window (tests follow runs with it). */
  readonly onDidRunEvent = this.eventEmitter.event;
  private readonly finishedEmitter = this.register(new vscode.EventEmitter<RunOutcome>());
  readonly onDidFinishRun = this.finishedEmitter.event;
  private readonly noticeEmitter = this.register(new vscode.EventEmitter<RunNotice>());
  /** Every notice shown about a run that could not start or ended, with its buttons (tests read them). */
  readonly onDidNotify = this.noticeEmitter.event;
  private runnerPromise: Promise<WorkflowRunner> | undefined;
  /** Tests answer the ask-first modal here instead of a person (undefined = ask the person). */
  confirmForTests: ((message: string, quote: RunQuote) => boolean) | undefined;
  private readonly quotedEmitter = this.register(new vscode.EventEmitter<{ workflow: string; quote: RunQuote }>());
  /** The quote of each run about to start (shown in its notification; tests read it). */
  readonly onDidQuote = this.quotedEmitter.event;
  /**
   * Whether runs show in the run view (set by it): then a run's progress goes to the status bar, not a toast (the
   * view has Cancel), and a completed run's toast is left out while its view is visible.
   */
  view: { followsRuns(): boolean; isVisible(runId: string): boolean } | undefined;
  /** Tests answer the first-run key offer here instead of a person (undefined = ask the person). */
  answerKeyOfferForTests: ((provider: ProviderId) => Promise<void> | void) | undefined;

  constructor(
    private readonly host: WorkspaceHost,
    private readonly settings: Settings,
    private readonly createRunner: (workspace: Workspace) => WorkflowRunner,
    /** Whether a provider's key is set now (after offering to set one, before running again). */
    private readonly hasKey: (provider: ProviderId) => Promise<boolean> = async () => false,
  ) {
    super();
    // The runner is made here, so it is disposed here (after the runs it carries were told to stop).
    this.register({
      dispose: () =>
        void this.runnerPromise?.then(
          (runner) => runner.dispose(),
          () => undefined,
        ),
    });
    this.register({ dispose: () => this.live.forEach((_, run) => run.abort.abort()) });
  }

  /** The runner over the open workspace (made once, when first needed). */
  runner(): Promise<WorkflowRunner> {
    this.runnerPromise ??= this.host.ready.then((workspace) => this.createRunner(workspace));
    return this.runnerPromise;
  }

  /** Run ids active in this window. */
  active(): string[] {
    return [...this.live.keys()].map((r) => r.runId).filter((id): id is string => id !== undefined);
  }

  activity(): RunActivity | undefined {
    const runs = [...this.live.keys()];
    const latest = runs[runs.length - 1];
    if (!latest) return undefined;
    // Output is about four characters a token in the models' tokenizers: close enough for a live "~" figure that
    // the call's settled usage replaces a moment later (the reply's input tokens are only counted then).
    const streaming = Math.ceil(latest.streamedChars / 4);
    return {
      workflow: latest.workflow,
      step: latest.step,
      tokens: latest.stepTokens + streaming,
      estimated: streaming > 0,
      active: runs.length,
    };
  }

  /**
   * Whether runs may start now; if not, tells the user why and how to fix it. Untrusted workspace → Manage
   * Workspace Trust; invalid policy → open budget.json.
   */
  async canStart(): Promise<boolean> {
    if (!vscode.workspace.isTrusted) {
      void vscode.window
        .showWarningMessage(UNTRUSTED_MESSAGE, vscode.l10n.t('Manage Workspace Trust'))
        .then((choice) => {
          if (choice) void vscode.commands.executeCommand('workbench.trust.manage');
        });
      return false;
    }
    const workspace = await this.host.ready.catch((err: unknown) => {
      void vscode.window.showErrorMessage(
        vscode.l10n.t('Agent Budget: {0}', err instanceof Error ? err.message : String(err)),
      );
      return undefined;
    });
    if (!workspace) return false;
    const policyError = workspace.policyError;
    if (policyError) {
      const first = policyError.issues[0];
      const file = invalidPolicyFile(policyError); // budget.json, or the user's own user.json
      const message = first
        ? vscode.l10n.t('runs are stopped until {0} is fixed (line {1}: {2}).', file.label, first.line, first.message)
        : vscode.l10n.t('runs are stopped until {0} is fixed.', file.label);
      const notice = runNotice({ refused: { errorKind: policyError.errorKind, message } });
      this.notify({
        ...notice,
        actions: [
          { title: vscode.l10n.t('Open {0}', path.basename(policyError.file)), command: file.command, args: [] },
        ],
      });
      return false;
    }
    return true;
  }

  /**
   * Starts a run: its quote (what runs of the workflow usually cost here, and at most) goes in its progress
   * notification, and a run whose worst case is above the user's `agentBudget.runs.askAboveUsd` asks first.
   */
  async start(workflow: string, input: RunInput, title = workflow): Promise<RunOutcome | undefined> {
    if (!(await this.canStart())) return undefined;
    const quote = await this.quote(workflow, input);
    if (quote && !(await this.confirm(title, quote))) return undefined;
    const shown = quote ? `${title} — ${quoteText(quote)}` : title;
    const begun = await this.launch(workflow, shown, (runner, options) => runner.start(workflow, input, options));
    return begun?.finished;
  }

  /** The run's quote; undefined when it cannot be made (the start then says why, as it would without one). */
  private async quote(workflow: string, input: RunInput): Promise<RunQuote | undefined> {
    try {
      const quote = await (await this.runner()).quote(workflow, input);
      this.quotedEmitter.fire({ workflow, quote });
      return quote;
    } catch {
      return undefined;
    }
  }

  /** Whether to start a run whose quote is `quote`: asks (a modal) when its worst case is above the user's threshold. */
  private async confirm(title: string, quote: RunQuote): Promise<boolean> {
    const threshold = this.settings.value.askAboveUsd;
    if (threshold === undefined) return true;
    const worst = quote.worstMicros;
    if (worst !== null && worst <= usdToMicros(threshold)) return true;
    const asked = formatUsd(usdToMicros(threshold));
    const message =
      worst === null
        ? vscode.l10n.t(
            '{0} could cost up to an unbounded amount (no limit bounds it), above {1}, the amount you asked to be asked about (agentBudget.runs.askAboveUsd).',
            title,
            asked,
          )
        : vscode.l10n.t(
            '{0} could cost up to {1}, above {2}, the amount you asked to be asked about (agentBudget.runs.askAboveUsd).',
            title,
            formatUsd(worst),
            asked,
          );
    if (this.confirmForTests) return this.confirmForTests(message, quote);
    const run = vscode.l10n.t('Run');
    // The quote's words are core's (the CLI prints the same).
    const choice = await vscode.window.showWarningMessage(
      message,
      { modal: true, detail: `${quoteText(quote)}.` },
      run,
    );
    return choice === run;
  }

  /**
   * Continues a completed run with a follow-up question (one more step of the same run); resolves as soon as it is
   * under way, undefined when it was refused (a notification says why).
   */
  async beginFollowUp(runId: string, text: string): Promise<Begun | undefined> {
    const run = await this.idleRun(runId, (workflow) =>
      vscode.l10n.t('Agent Budget: {0} is still running; ask when it is done.', workflow),
    );
    if (!run) return undefined;
    return this.launch(
      run.workflow,
      vscode.l10n.t('Follow-up on {0}', run.workflow),
      (runner, options) => runner.continue(runId, text, options),
      runId,
    );
  }

  /**
   * The run `runId` of this workspace when it is not running in this window; else undefined, having said why (no such
   * run, or `busy` for one that runs here).
   */
  private async idleRun(runId: string, busy: (workflow: string) => string): Promise<RunState | undefined> {
    const workspace = this.host.current ?? (await this.host.ready.catch(() => undefined));
    const run = workspace?.store.queries.getRun(runId);
    if (!run) {
      void vscode.window.showErrorMessage(vscode.l10n.t('Agent Budget: there is no run {0} in this workspace.', runId));
      return undefined;
    }
    if (this.active().includes(runId)) {
      void vscode.window.showInformationMessage(busy(run.workflow));
      return undefined;
    }
    return run;
  }

  /** Resumes a run and follows it to its end; undefined when it was refused. */
  async resume(runId: string): Promise<RunOutcome | undefined> {
    return (await this.beginResume(runId))?.finished;
  }

  /**
   * Resumes a run and resolves as soon as it is under way, with `finished` to follow it; undefined when it was
   * refused (a notification says why). The panel answers its Resume button with this, not with the whole run.
   */
  async beginResume(runId: string): Promise<Begun | undefined> {
    const run = await this.idleRun(runId, (workflow) =>
      vscode.l10n.t('Agent Budget: {0} is already running in this window.', workflow),
    );
    if (!run) return undefined;
    return this.launch(
      run.workflow,
      vscode.l10n.t('Resume {0}', run.workflow),
      // H4b: a run another install wrote is resumed only after the modal listing its pending tool calls.
      (runner, options) => runner.resume(runId, { ...options, trustForeignRun: confirmForeignRun }),
      runId,
    );
  }

  async cancel(runId: string): Promise<void> {
    for (const run of this.live.keys()) if (run.runId === runId) run.abort.abort();
    const runner = await this.runner();
    await runner.cancel(runId);
  }

  /**
   * Runs `go` with progress, streamed output and the meter's activity. Resolves once the run is under way (the
   * runner said `runStarted`, or already ended with an outcome) with `finished`; undefined when it never started
   * (refused here, or the runner threw first: either way a notification says why).
   */
  private async launch(
    workflow: string,
    title: string,
    go: (runner: WorkflowRunner, options: RunOptions) => Promise<RunOutcome>,
    knownRunId?: string,
  ): Promise<Begun | undefined> {
    const begun = await this.launchOnce(workflow, title, go, knownRunId);
    if (!begun || !('missingKey' in begun)) return begun;
    // The first step's provider has no key: nothing was recorded. Offer to set it, then run (no failed run to
    // resume afterwards).
    const provider = begun.missingKey;
    const name = PROVIDER_NAMES[provider];
    const setKey = vscode.l10n.t('Set API Key…');
    const offer: RunNotice = {
      severity: 'information',
      message: vscode.l10n.t(
        "Agent Budget: {0} runs on {1}, and no {1} API key is set yet. Set one to run it (it is kept in VS Code's secret storage, never in a file).",
        workflow,
        name,
      ),
      actions: [{ title: setKey, command: Commands.setApiKey, args: [provider] }],
    };
    this.noticeEmitter.fire(offer);
    if (this.answerKeyOfferForTests) await this.answerKeyOfferForTests(provider);
    else {
      const choice = await vscode.window.showInformationMessage(offer.message, setKey);
      if (choice !== setKey) return undefined;
      await vscode.commands.executeCommand(Commands.setApiKey, provider);
    }
    if (!(await this.hasKey(provider))) return undefined;
    const again = await this.launchOnce(workflow, title, go, knownRunId);
    if (again && 'missingKey' in again) return undefined;
    return again;
  }

  private async launchOnce(
    workflow: string,
    title: string,
    go: (runner: WorkflowRunner, options: RunOptions) => Promise<RunOutcome>,
    knownRunId?: string,
  ): Promise<Begun | { missingKey: ProviderId } | undefined> {
    if (!(await this.canStart())) return undefined;
    let runner: WorkflowRunner;
    try {
      runner = await this.runner();
    } catch (err) {
      void vscode.window.showErrorMessage(
        vscode.l10n.t('Agent Budget: runs are unavailable: {0}', err instanceof Error ? err.message : String(err)),
      );
      return undefined;
    }
    const live: LiveRun = {
      runId: knownRunId,
      workflow,
      step: 'starting',
      stepTokens: 0,
      streamedChars: 0,
      costMicros: 0,
      abort: new AbortController(),
      startedAt: Date.now(),
    };
    this.live.set(live, true);
    void vscode.commands.executeCommand('setContext', ContextKeys.running, true);
    this.activityEmitter.fire();
    let started!: (value: true) => void;
    const runStarted = new Promise<true>((resolve) => (started = resolve));
    let missingKey: ProviderId | undefined;
    const finished = this.follow(
      live,
      title,
      (options) => go(runner, options),
      () => started(true),
      (provider) => (missingKey = provider),
    );
    const underWay = await Promise.race([runStarted, finished.then((outcome) => outcome !== undefined)]);
    if (missingKey) return { missingKey };
    return underWay ? { finished } : undefined;
  }

  private async follow(
    live: LiveRun,
    title: string,
    go: (options: RunOptions) => Promise<RunOutcome>,
    onStarted: (runId: string) => void,
    onMissingKey: (provider: ProviderId) => void,
  ): Promise<RunOutcome | undefined> {
    const workflow = live.workflow;
    try {
      const outcome = await vscode.window.withProgress(
        {
          location: this.view?.followsRuns() ? vscode.ProgressLocation.Window : vscode.ProgressLocation.Notification,
          title: vscode.l10n.t('Agent Budget: {0}', title),
          cancellable: true,
        },
        async (progress, token) => {
          token.onCancellationRequested(() => live.abort.abort());
          return go({
            signal: live.abort.signal,
            onEvent: (event) => {
              this.observe(live, event);
              this.eventEmitter.fire(event);
              if (event.type === 'runStarted') onStarted(event.runId);
              const message = progressMessage(live, event);
              if (message) progress.report({ message });
            },
          });
        },
      );
      this.finishedEmitter.fire(outcome);
      // A completed run whose view is in sight needs no toast saying so (the others still get theirs).
      if (!(outcome.status === 'completed' && this.view?.isVisible(outcome.runId))) this.notify(runNotice({ outcome }));
      return outcome;
    } catch (err) {
      if (err instanceof UntrustedRunError) {
        // The user said no to resuming a run another install wrote; nothing ran, nothing failed.
        void vscode.window.showInformationMessage(vscode.l10n.t('Agent Budget: {0} was not resumed.', workflow));
        return undefined;
      }
      const message = messageOf(err);
      if (live.runId)
        this.eventEmitter.fire({ type: 'runFinished', runId: live.runId, status: 'failed', error: message });
      // The key to set: the provider whose key is missing or was refused.
      const provider = err instanceof MissingApiKeyError || err instanceof ProviderError ? err.provider : undefined;
      if (err instanceof MissingApiKeyError && !live.runId) {
        onMissingKey(err.provider);
        return undefined;
      }
      this.notify(runNotice({ refused: { errorKind: errorKindOf(err), message, provider }, workflow }));
      return undefined;
    } finally {
      this.live.delete(live);
      void vscode.commands.executeCommand('setContext', ContextKeys.running, this.live.size > 0);
      this.activityEmitter.fire();
    }
  }

  private observe(live: LiveRun, event: RunEvent): void {
    switch (event.type) {
      case 'runStarted':
        live.runId = event.runId;
        live.workflow = event.workflow;
        this.activityEmitter.fire();
        return;
      case 'stepStarted':
        live.step = event.stepId;
        live.stepTokens = 0;
        live.streamedChars = 0;
        break;
      case 'text':
        live.streamedChars += event.delta.length;
        break;
      case 'call':
        // Every call ends with this event, billed or failed: its usage replaces the streamed estimate.
        live.stepTokens += event.tokens;
        live.streamedChars = 0;
        live.costMicros += event.costMicros;
        break;
      case 'warning':
        // Shown in the run's view when it follows runs (no toast to pile up); as a toast otherwise.
        if (!this.view?.followsRuns())
          void vscode.window.showWarningMessage(vscode.l10n.t('Agent Budget ({0}): {1}', live.workflow, event.message));
        return;
      default:
        return;
    }
    this.progressEmitter.fire();
  }

  /** Shows a notice; its buttons run their commands. */
  private notify(notice: RunNotice): void {
    const buttons = notice.actions.map((a) => a.title);
    const shown =
      notice.severity === 'error'
        ? vscode.window.showErrorMessage(notice.message, ...buttons)
        : notice.severity === 'warning'
          ? vscode.window.showWarningMessage(notice.message, ...buttons)
          : vscode.window.showInformationMessage(notice.message, ...buttons);
    void shown.then((choice) => {
      const picked = notice.actions.find((a) => a.title === choice);
      if (picked) void vscode.commands.executeCommand(picked.command, ...picked.args);
    });
    this.noticeEmitter.fire(notice);
  }
}

function progressMessage(live: LiveRun, event: RunEvent): string | undefined {
  switch (event.type) {
    case 'stepStarted':
      return `${event.title || event.stepId} (${event.model})`;
    case 'call':
      return vscode.l10n.t(
        '{0}: {1} tokens · {2} so far',
        live.step,
        live.stepTokens.toLocaleString('en-US'),
        formatUsd(live.costMicros),
      );
    case 'tool':
      return `${live.step}: ${toolLine(event)}`;
    default:
      return undefined;
  }
}
