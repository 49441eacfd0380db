import type { Clock } from '../clock';
import type { ProviderAdapter } from '../providers/types';
import { addSample, type PromptSample } from '../report/calibration';
import type { LedgerEntry, RunState, StoreRecord } from '../store/records';
import type { WorkspaceStore } from '../store/store';
import { totalTokens, type ProviderId } from '../usage';
import type { RunEvent, RunOptions, RunOutcome } from './api';
import { allTasks, type RunCheckpointState, type TaskCheckpoint } from './checkpoint';
import { taskRecord } from './status';

/**
 * One run's life in this process: its run row, its checkpoint state (the live object every part changes), the
 * task records waiting for the next durable write, its abort signal and its event stream.
 *
 * Durability has one primitive here, `durably`: whatever a step writes (a reservation, a ledger row, a run row)
 * goes out in the same write as the pending task records and the checkpoint of this moment, so what is recorded
 * and what is done never part (AGENTS.md, "Recorded ⇔ done").
 */
export class Execution {
  /** Task status changes, written with the next durable write. */
  private pending: StoreRecord[] = [];
  readonly abort = new AbortController();
  readonly adapters = new Map<ProviderId, ProviderAdapter>();
  /** Wall-time segments of tasks running in this process: time already spent before, and when this segment began. */
  readonly segments = new Map<string, { base: number; start: number }>();
  /** Tasks created by this execution: they have used nothing before it, so their counters need no store query. */
  readonly fresh = new Set<string>();
  /** How many flows of this run run beside the first right now (sub-agents running concurrently; see checkpointRecord). */
  concurrent = 0;
  /** Tool calls the checkpoint held when the run resumed: they ask even when tools.allow lists the tool. */
  readonly reapprove = new Set<string>();
  private readonly warned = new Set<string>();
  /** The run's calls by model — prompt basis, billed prompt, output — kept with the run for the calibration. */
  readonly prompts: Record<string, PromptSample> = {};
  private readonly onEvent: ((e: RunEvent) => void) | undefined;
  done!: Promise<RunOutcome>;

  constructor(
    public run: RunState,
    readonly state: RunCheckpointState,
    private seq: number,
    private readonly store: WorkspaceStore,
    private readonly clock: Clock,
    options: RunOptions,
  ) {
    this.onEvent = options.onEvent;
    const signal = options.signal;
    if (signal?.aborted) this.abort.abort('cancelled');
    else signal?.addEventListener('abort', () => this.abort.abort('cancelled'), { once: true });
  }

  get runId(): string {
    return this.run.id;
  }

  emit(event: RunEvent): void {
    try {
      this.onEvent?.(event);
    } catch {
      // a listener's failure never stops a run
    }
  }

  /** Warns once per kind of message (soft-limit warnings repeat on every call with new numbers). */
  warn(message: string): void {
    const key = message.replace(/\d[\d,.]*/g, '#');
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.emit({ type: 'warning', runId: this.runId, message });
  }

  /** Every charge ends with this event, billed or failed: the front ends' meters replace their estimates with it. */
  emitCharge(stepId: string, entry: LedgerEntry): void {
    this.emit({
      type: 'call',
      runId: this.runId,
      stepId,
      model: entry.model,
      costMicros: entry.costMicros,
      tokens: totalTokens(entry.usage),
      estimated: entry.estimated,
    });
  }

  /** A settled call's prompt sample (runner/estimates.ts), for the run record. */
  samplePrompt(model: string, sample: Omit<PromptSample, 'calls'>): void {
    addSample(this.prompts, model, sample);
  }

  /** `task`'s status as it is now goes out with the next durable write. */
  queueTask(task: TaskCheckpoint): void {
    this.pending.push(taskRecord(this.runId, task, this.store, this.clock.now()));
  }

  /**
   * Runs `write` with the pending task records and this moment's checkpoint, to write in the same durable write as
   * its own records. Once it succeeds they are written; when it throws (a refused admission, a failed write) they
   * stay pending for the next one.
   */
  async durably<T>(write: (records: StoreRecord[]) => Promise<T>): Promise<T> {
    const taken = [...this.pending];
    const result = await write([...taken, this.checkpointRecord()]);
    // Only what this write took: a concurrent sub-agent may have queued more while it was written.
    this.pending = this.pending.filter((r) => !taken.includes(r));
    return result;
  }

  /** Writes the pending task records and the checkpoint, alone. */
  commit(): Promise<void> {
    return this.durably((records) => this.store.commit(records));
  }

  /** Wall time `task` has run, this process's running segment included. */
  wallMs(task: TaskCheckpoint): number {
    const seg = this.segments.get(task.taskId);
    return seg ? seg.base + (this.clock.now() - seg.start) : task.wallMs;
  }

  private checkpointRecord(): StoreRecord {
    for (const task of allTasks(this.state)) if (this.segments.has(task.taskId)) task.wallMs = this.wallMs(task);
    this.seq += 1;
    // The live state, not a copy: the store serializes it when the write runs, and a run's one flow awaits every
    // write before changing its state again, so what is written is this moment's. Sub-agents running concurrently
    // are several flows: another may change the state (an answer it has not settled yet) before this write is
    // built, so each write then takes a copy of this moment — the highest `seq` is always the latest copy.
    const state = this.concurrent > 0 ? structuredClone(this.state) : this.state;
    return { k: 'checkpoint', checkpoint: { runId: this.runId, seq: this.seq, ts: this.clock.now(), state } };
  }
}
