import { BudgetEngine, policyDays } from './budget/engine';
import { systemClock, type Clock } from './clock';
import { PolicyError } from './policy/issues';
import { nodeStateSystem, POLICY_DIR, type Env } from './statePaths';
import { importLegacySpend, locateMachineState, recordWorkspace } from './trust/machineState';
import { defaultPolicy } from './policy/load';
import { loadEffectivePolicy, type EffectivePolicy, type EffectivePolicyOptions } from './trust/effectivePolicy';
import type { BudgetPolicy } from './policy/types';
import { recoverAbandoned } from './runner/abandoned';
import { WorkspaceStore, type StoreOptions } from './store/store';

/** The repository's folder of policy files (`budget.json`, `workflows/`); machine state lives elsewhere. */
export const STATE_DIR = POLICY_DIR;

export interface WorkspaceOptions {
  /**
   * Where the store lives. Default: this workspace's folder in the per-user state root (statePaths.ts), never the
   * repository (policy and workflows are always read from `<workspace>/.agent-budget/`).
   */
  stateDir?: string;
  /** The environment that places the per-user state root (AGENT_BUDGET_STATE_HOME…); default process.env. */
  env?: Env;
  /** The user's policy file (default userPolicyFile()) and the user's consent to what budget.json loosens. */
  policy?: Omit<EffectivePolicyOptions, 'fs'>;
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
    private loaded: EffectivePolicy | undefined,
    private error: PolicyError | undefined,
    /** This install (installId.ts): runs record it, and resuming a run that names another one asks first. */
    readonly installId: string,
    /** Said once, the first time the per-user folder is used: what was (or was not) imported from an older store. */
    readonly upgradeNote: string | undefined,
    private readonly policyOptions: WorkspaceOptions['policy'],
  ) {}

  static async open(folder: string, options: WorkspaceOptions = {}): Promise<Workspace> {
    const clock = options.clock ?? systemClock;
    let loaded: EffectivePolicy | undefined;
    let error: PolicyError | undefined;
    try {
      loaded = await loadEffectivePolicy(folder, options.policy);
    } catch (err) {
      if (!(err instanceof PolicyError)) throw err;
      error = err;
    }
    const policy = loaded?.policy ?? defaultPolicy();
    const sys = nodeStateSystem(options.env);
    const state = locateMachineState(folder, sys, options.stateDir);
    const storeOptions: StoreOptions = {
      dir: state.dir,
      clock,
      days: policyDays(policy),
      pollMs: options.pollMs,
      retentionDays: options.retentionDays,
      // Work of dead processes is charged and interrupted on open and every 30 s (the runner's rule, not the store's).
      onSweep: options.recover === false ? undefined : (store) => recoverAbandoned(store, clock),
      log: options.log,
    };
    const store = await WorkspaceStore.open(storeOptions);
    let upgradeNote: string | undefined;
    if (state.fresh) {
      upgradeNote = await importLegacySpend(folder, state, store);
      recordWorkspace(state, folder, sys);
    }
    const engine = new BudgetEngine(store, policy, clock);
    if (error) engine.setPolicyError(error);
    return new Workspace(folder, store, engine, loaded, error, state.installId, upgradeNote, options.policy);
  }

  /** The policy in force (defaults when there is no file; the last valid one while the file is invalid). */
  get policy(): BudgetPolicy {
    return this.engine.currentPolicy;
  }

  /** Where the policy came from, its warnings (unknown keys…), and what budget.json loosens and whether it applies. */
  get policyInfo(): EffectivePolicy | undefined {
    return this.loaded;
  }

  /** Why runs are refused, when budget.json is invalid. */
  get policyError(): PolicyError | undefined {
    return this.error;
  }

  /** Re-reads user.json and budget.json (the extension calls this when either changes, or consent does). */
  async reloadPolicy(): Promise<PolicyError | undefined> {
    try {
      const loaded = await loadEffectivePolicy(this.folder, this.policyOptions);
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
