import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PolicyError } from '../../core/policy/issues';
import { loadInventory } from '../../core/policy/inventory';
import { estimateInventory } from '../../core/report/estimate';
import { renderEstimateMarkdown } from '../../core/report/render';
import { STATE_DIR } from '../../core/workspace';
import { CliError, ExitCode, loadPolicyFor, openWorkspace, printJson, type CliCommand } from '../context';

/**
 * `agent-budget estimate --inventory F`: monthly forecast per workflow and in total from a workflow inventory
 * (docs/policy.md), priced with the workspace's price overrides, against its caps; beside it the forecast from the
 * ledger's recent runs where a workflow of the same id has history. Exit 1 when an entry's model has no price.
 */
export const estimateCommand: CliCommand = {
  name: 'estimate',
  summary: 'forecast monthly cost from a workflow inventory',
  usage: 'agent-budget estimate --inventory <file> [--history-days N] [--workspace <dir>] [--json]',
  options: {
    inventory: { type: 'string' },
    'history-days': { type: 'string' },
  },
  async run(ctx, values) {
    const file = values.inventory;
    if (typeof file !== 'string') throw new CliError(`--inventory is required.\nUsage: ${estimateCommand.usage}`);
    const historyDays = values['history-days'] === undefined ? 30 : Number(values['history-days']);
    if (!Number.isInteger(historyDays) || historyDays < 1)
      throw new CliError('--history-days must be a whole number of days, 1 or more.');
    let inventory;
    try {
      ({ inventory } = await loadInventory(path.resolve(file)));
    } catch (err) {
      if (err instanceof PolicyError) throw new CliError(err.message);
      throw err;
    }
    // History only when the workspace has a store: estimating must not create one in a fresh checkout.
    const stateDir = ctx.env.AGENT_BUDGET_STATE_DIR
      ? path.resolve(ctx.workspace, ctx.env.AGENT_BUDGET_STATE_DIR)
      : path.join(ctx.workspace, STATE_DIR);
    const hasStore = existsSync(stateDir) && readdirSync(stateDir).some((f) => /^(journal|snapshot)-\d+/.test(f));
    let estimate;
    if (hasStore) {
      const workspace = await openWorkspace(ctx, { pollMs: 0 });
      try {
        if (workspace.policyError) throw new CliError(workspace.policyError.message);
        estimate = estimateInventory(inventory, workspace.policy, {
          queries: workspace.store.queries,
          now: Date.now(),
          historyDays,
        });
      } finally {
        await workspace.close();
      }
    } else {
      estimate = estimateInventory(inventory, (await loadPolicyFor(ctx)).policy);
    }
    if (ctx.json) printJson(ctx, estimate);
    else ctx.stdout.write(renderEstimateMarkdown(estimate, path.basename(file)));
    for (const error of estimate.errors) ctx.stderr.write(`${error}\n`);
    return estimate.errors.length > 0 ? ExitCode.usage : ExitCode.ok;
  },
};
