import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createProviderAdapter } from '../../../src/core/providers';
import type { ProviderAdapter } from '../../../src/core/providers/types';
import type { LedgerEntry, Reservation } from '../../../src/core/store/records';
import type { RunnerWorkflow } from '../../../src/core/runner/builtins';
import {
  Runner,
  type ApprovalRequest,
  type Approver,
  type ProviderAccess,
  type RunEvent,
} from '../../../src/core/runner/runner';
import type { ProviderId } from '../../../src/core/usage';
import { Workspace } from '../../../src/core/workspace';

/** A workspace folder in the temp dir with optional budget.json and workflow files; removed by `cleanup()`. */
export function tempWorkspace(files: Record<string, string | object> = {}): { folder: string; cleanup(): void } {
  const folder = mkdtempSync(path.join(tmpdir(), 'ab-runner-'));
  for (const [rel, content] of Object.entries(files)) {
    const file = path.join(folder, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
  }
  return { folder, cleanup: () => rmSync(folder, { recursive: true, force: true }) };
}

/** Adapters pointed at fake servers, with retry waits skipped (an abort still interrupts them). */
export function fakeAccess(
  baseUrls: Partial<Record<ProviderId, string>>,
  apiKey = 'test-key',
): ProviderAccess & { made: ProviderId[] } {
  const made: ProviderId[] = [];
  return {
    made,
    hasKey: (p) => baseUrls[p] !== undefined,
    async adapter(provider): Promise<ProviderAdapter> {
      made.push(provider);
      return createProviderAdapter(
        { provider, apiKey, baseUrl: baseUrls[provider] },
        {
          sleep: async (_ms, signal) => {
            if (signal?.aborted) throw signal.reason;
          },
          random: () => 0.5,
        },
      );
    },
  };
}

/** Answers approvals from a script and remembers every request. */
export class ScriptedApprover implements Approver {
  readonly seen: ApprovalRequest[] = [];
  constructor(private readonly answer: (r: ApprovalRequest) => boolean = () => false) {}
  async approve(request: ApprovalRequest): Promise<boolean> {
    this.seen.push(request);
    return this.answer(request);
  }
}

export async function openRunner(
  folder: string,
  access: ProviderAccess,
  approver: Approver = new ScriptedApprover(),
  extra: { builtins?: RunnerWorkflow[]; trustPolicy?: boolean } = {},
): Promise<{ workspace: Workspace; runner: Runner; close(): Promise<void> }> {
  const { trustPolicy, ...runnerOptions } = extra;
  // trustPolicy: the user consented to what the test's budget.json loosens (tools.allow beyond reading, …).
  const workspace = await Workspace.open(folder, { pollMs: 0, policy: { consent: () => trustPolicy === true } });
  const runner = new Runner({ workspace, providers: access, approver, ...runnerOptions });
  return {
    workspace,
    runner,
    close: () => {
      runner.dispose();
      return workspace.close();
    },
  };
}

export function ledgerOf(workspace: Workspace, runId?: string): LedgerEntry[] {
  const rows: LedgerEntry[] = [];
  for (const page of workspace.store.queries.ledgerRows(0, Number.MAX_SAFE_INTEGER)) rows.push(...page);
  return runId ? rows.filter((r) => r.runId === runId) : rows;
}

/**
 * Every reservation this workspace's store applies from now on, in order: what each call was admitted with (the
 * prompt bound it held, its clamp). The ledger keeps the honest prompt estimate, not the bound.
 */
export function reservationsOf(workspace: Workspace): Reservation[] {
  const seen: Reservation[] = [];
  workspace.store.onDidApply(({ records }) => {
    for (const r of records) if (r.k === 'reserve') seen.push(r.reservation);
  });
  return seen;
}

export function collectEvents(): { events: RunEvent[]; onEvent: (e: RunEvent) => void } {
  const events: RunEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

/** A three-step workflow file whose prompts chain the outputs. */
export const CHAIN_WORKFLOW = {
  id: 'chain',
  title: 'Chain',
  model: 'claude-haiku-4-5',
  version: 'p7',
  steps: [
    { id: 'one', prompt: 'Step one about {{input}}', maxOutputTokens: 300 },
    { id: 'two', prompt: 'Step two after: {{steps.one.output}}', maxOutputTokens: 300 },
    { id: 'three', prompt: 'Step three after: {{steps.two.output}}', maxOutputTokens: 300 },
  ],
};

/** Writes budget.json (the test then calls workspace.reloadPolicy(), as the extension does when the file changes). */
export function writePolicy(folder: string, policy: object): void {
  mkdirSync(path.join(folder, '.agent-budget'), { recursive: true });
  writeFileSync(path.join(folder, '.agent-budget', 'budget.json'), JSON.stringify(policy, null, 2));
}

/** The `max_tokens` / prompt of the fake Anthropic server's generation requests. */
export function maxTokensSent(requests: Array<{ body: unknown }>): number[] {
  return requests.map((r) => (r.body as { max_tokens: number }).max_tokens);
}
