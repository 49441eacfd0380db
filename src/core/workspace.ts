import path from 'node:path';
import { BudgetEngine, policyDays } from './budget/engine';
import { systemClock, type Clock } from './clock';
import { PolicyError } from './policy/issues';
import { defaultPolicy, loadPolicy, type LoadedPolicy } from './policy/load';
import type { BudgetPolicy } from './policy/types';
import { recoverAbandoned } from './runner/abandoned';
import { WorkspaceStore, type StoreOptions } from './store/store';

/** The folder of workspace files and machine state, relative to the workspace folder. */
export const STATE_DIR = '.agent-budget';

export interface WorkspaceOptions {
  /** Where the store lives; default `<workspace>/.agent-budget` (policy and workflows are always read from there). */
  stateDir?: string;
  clock?: Clock;
  /** See StoreOptions.pollMs (0 in short-lived CLI commands that only read). */
  pollMs?: number;
  retentionDays?: number;
  /** Charge and interrupt dead processes' work on open and every 30 s (default true; off to list it first). */
  recover?: boolean;
  log?: (line: string) => void;
}

/**
 * One workspace as both front ends see it: the store, the policy and the budget engine over them. The CLI opens
 * one per command; the extension one per workspace folder, reloading the policy when budget.json changes.
 * An invalid policy does not stop the workspace from opening (spend stays visible); it stops every run.
 */
export class Workspace {
  private constructor(
    readonly folder: string,
    readonly store: WorkspaceStore,
    readonly engine: BudgetEngine,
    private loaded: LoadedPolicy | undefined,
    private error: PolicyError | undefined,
  ) {}

  static async open(folder: string, options: WorkspaceOptions = {}): Promise<Workspace> {
    const clock = options.clock ?? systemClock;
    let loaded: LoadedPolicy | undefined;
    let error: PolicyError | undefined;
    try {
      loaded = await loadPolicy(folder);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      error = err;
    }
    const policy = loaded?.policy ?? defaultPolicy();
    const storeOptions: StoreOptions = {
      dir: options.stateDir ?? path.join(folder, STATE_DIR),
      clock,
      days: policyDays(policy),
      pollMs: options.pollMs,
      retentionDays: options.retentionDays,
      // Work of dead processes is charged and interrupted on open and every 30 s (the runner's rule, not the store's).
      onSweep: options.recover === false ? undefined : (store) => recoverAbandoned(store, clock),
      log: options.log,
    };
    const store = await WorkspaceStore.open(storeOptions);
    const engine = new BudgetEngine(store, policy, clock);
    if (error) engine.setPolicyError(error);
    return new Workspace(folder, store, engine, loaded, error);
  }

  /** The policy in force (defaults when there is no file; the last valid one while the file is invalid). */
  get policy(): BudgetPolicy {
    return this.engine.currentPolicy;
  }

  /** Where the policy came from, and its warnings (unknown keys…). */
  get policyInfo(): LoadedPolicy | undefined {
    return this.loaded;
  }

  /** Why runs are refused, when budget.json is invalid. */
  get policyError(): PolicyError | undefined {
    return this.error;
  }

  /** Re-reads budget.json (the extension calls this when the file changes). */
  async reloadPolicy(): Promise<PolicyError | undefined> {
    try {
      const loaded = await loadPolicy(this.folder);
      // A new time zone moves day boundaries: the store re-keys its days before the engine counts in the new zone.
      await this.store.setDays(policyDays(loaded.policy));
      this.loaded = loaded;
      this.error = undefined;
      this.engine.setPolicy(loaded.policy);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      this.error = err;
      this.engine.setPolicyError(err);
    }
    return this.error;
  }

  async close(): Promise<void> {
    this.engine.dispose();
    await this.store.close();
  }
}
