import type { BudgetEngine } from '../budget/engine';
import type { TaskLimits } from '../policy/types';
import type { ToolName } from '../policy/workflowTypes';
import type { ToolCall } from '../providers/types';
import type { ApprovalRequest, Approver } from './api';
import type { RunnerStep } from './builtins';
import type { TaskCheckpoint } from './checkpoint';
import type { Execution } from './execution';
import { wallTimeBlocked, type StepLimits } from './limits';
import { cancelledError } from './stop';
import type { WorkspaceTools } from './tools';
import { isWritingTool, ToolError } from './toolSpecs';

/**
 * One tool call of an agent loop: its limits, the policy's allow and approve lists (asking the user), its fixed
 * cost, its execution, and its result in the checkpoint. A refusal or a failure goes back to the model as the
 * tool's result; only a cancel, the wall-time limit, a budget block or a store failure stops the run.
 */
export class ToolCalls {
  constructor(
    private readonly engine: BudgetEngine,
    private readonly tools: WorkspaceTools,
    private readonly approver: Approver,
    private readonly limits: StepLimits,
  ) {}

  async run(ex: Execution, step: RunnerStep, task: TaskCheckpoint, call: ToolCall, limits: TaskLimits): Promise<void> {
    const record = async (content: string, isError: boolean) => {
      task.toolInFlight = undefined;
      task.toolCharged = undefined;
      task.toolCalls += 1;
      task.toolResults.push({
        type: 'toolResult',
        callId: call.id,
        name: call.name,
        content,
        ...(isError ? { isError: true } : {}),
      });
      await ex.commit();
    };
    if (task.toolInFlight === call.id) {
      // The process died (or the run was cancelled) while this writing tool ran: never re-run it blind.
      return record(
        'Error: this tool call was interrupted (the process stopped while it ran), so its effect is unknown. Check the ' +
          "file or the command's result before trying again.",
        true,
      );
    }
    this.limits.checkToolCalls(ex, step, task, limits);
    const tools = this.engine.currentPolicy.tools;
    let planned;
    try {
      if (!(step.tools ?? []).some((t) => t === call.name))
        throw new ToolError(`the tool "${call.name}" is not available in this step.`);
      planned = await this.tools.plan(call.name, call.input);
      ex.emit({ type: 'tool', runId: ex.runId, stepId: step.id, tool: planned.name, summary: planned.summary });
      // `approve` wins over `allow`, as in the policy loader (a tool in both lists asks). A call the checkpoint held
      // when the run resumed asks too, although tools.allow lists it (it was approved, if ever, elsewhere).
      const fromCheckpoint = ex.reapprove.has(call.id);
      if (tools.approve.includes(planned.name) || (fromCheckpoint && tools.allow.includes(planned.name))) {
        const approved = await this.ask(ex, {
          runId: ex.runId,
          tool: planned.name,
          summary: planned.summary,
          path: planned.path,
          before: planned.before,
          after: planned.after,
          command: planned.command,
          ...(fromCheckpoint ? { fromCheckpoint: true } : {}),
        });
        if (!approved) {
          const what = planned.name === 'runCommand' ? 'command' : isWritingTool(planned.name) ? 'change' : 'tool call';
          throw new ToolError(
            `the user did not approve this ${what}. Do not try it again; continue without it, or say what you would have done.`,
          );
        }
      } else if (!tools.allow.includes(planned.name)) {
        throw new ToolError(
          `${planned.name} is in neither tools.allow nor tools.approve of .agent-budget/budget.json, so agents may not use it in this workspace.`,
        );
      }
    } catch (err) {
      if (!(err instanceof ToolError)) throw err; // cancelled while waiting for approval, a store failure
      ex.emit({ type: 'tool', runId: ex.runId, stepId: step.id, tool: call.name, summary: `refused: ${err.message}` });
      return record(`Error: ${err.message}`, true);
    }
    // Waiting for the user counts as the step's time: past the deadline, block before the tool starts, not as it starts.
    this.limits.checkWallTime(ex, step, task, limits);
    const usd = tools.costsUsd[planned.name];
    if (usd) await this.chargeOnce(ex, step, task, call, planned.name, usd, limits);
    if (isWritingTool(planned.name)) {
      task.toolInFlight = call.id;
      await ex.commit();
    }
    // Whatever happens now is the tool's result, a cancel or the wall deadline included (a killed command's effect
    // is unknown): it is recorded before the run stops, so a resumed run never runs it again.
    const deadline = this.limits.signal(ex, task, limits);
    let content: string;
    let isError = false;
    try {
      content = await planned.execute(deadline.signal);
    } catch (err) {
      content = `Error: ${err instanceof Error ? err.message : String(err)}`;
      isError = true;
    } finally {
      deadline.dispose();
    }
    if (deadline.signal.reason === 'wall') {
      await record(
        `Error: stopped at the step's wall-time limit of ${limits.maxWallSeconds} s before it finished` +
          `${isWritingTool(planned.name) ? '; its effect is unknown, so check before trying again' : ''}.`,
        true,
      );
      throw wallTimeBlocked(step, task, limits, `${planned.summary} was stopped`);
    }
    await record(content, isError);
  }

  /**
   * Charges a tool's fixed cost once, across crashes too: the ledger row and the checkpoint saying this call is
   * charged are one durable write, so a resumed run either finds both or neither.
   */
  private async chargeOnce(
    ex: Execution,
    step: RunnerStep,
    task: TaskCheckpoint,
    call: ToolCall,
    tool: ToolName,
    usd: number,
    limits: TaskLimits,
  ): Promise<void> {
    if (task.toolCharged === call.id) return;
    task.toolCharged = call.id;
    const charge = {
      workflow: ex.state.workflow.id,
      runId: ex.runId,
      taskId: task.taskId,
      task: step.id,
      tool,
      usd,
      spendScopes: this.limits.spendScopes(ex, task, limits),
    };
    try {
      const entry = await ex.durably((records) => this.engine.chargeTool(charge, records));
      ex.emitCharge(step.id, entry);
    } catch (err) {
      task.toolCharged = undefined; // refused by a cap: nothing was written
      throw err;
    }
  }

  /** Asks the user; a cancel while the question is open stops the run (the question's answer no longer matters). */
  private ask(ex: Execution, request: ApprovalRequest): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = () => reject(cancelledError());
      if (ex.abort.signal.aborted) return onAbort();
      ex.abort.signal.addEventListener('abort', onAbort, { once: true });
      this.approver.approve(request).then(
        (ok) => {
          ex.abort.signal.removeEventListener('abort', onAbort);
          resolve(ok === true);
        },
        () => {
          ex.abort.signal.removeEventListener('abort', onAbort);
          resolve(false);
        },
      );
    });
  }
}
