// A child process that runs (or resumes) a workflow against a fake Anthropic server, for the SIGKILL tests.
// Usage: node runChild.js <workspace> <anthropicBaseUrl> start <workflow> <input> | resume <runId> | cancel <runId>
// Prints `run <id>` once the run is recorded, `step <id>` as steps start, and `done <status>` at the end.
// With AB_DIE_AFTER_TOOL_CHARGE=1 it SIGKILLs itself the moment a tool's fixed cost is durably charged.
import { createProviderAdapter } from '../../../src/core/providers';
import { Runner } from '../../../src/core/runner/runner';
import { Workspace } from '../../../src/core/workspace';

async function main(): Promise<void> {
  const [folder, baseUrl, mode, target, input] = process.argv.slice(2);
  // The tests' budget.json stands for one the user consented to (e.g. tools.allow: ["runCommand"]).
  const workspace = await Workspace.open(folder!, { pollMs: 0, policy: { consent: () => true } });
  const runner = new Runner({
    workspace,
    providers: { adapter: async (provider) => createProviderAdapter({ provider, apiKey: 'test-key', baseUrl }) },
    approver: { approve: async () => false },
  });
  if (process.env.AB_DIE_AFTER_TOOL_CHARGE) {
    const charge = workspace.engine.chargeTool.bind(workspace.engine);
    workspace.engine.chargeTool = async (args, alsoCommit) => {
      await charge(args, alsoCommit);
      process.kill(process.pid, 'SIGKILL');
      throw new Error('unreachable');
    };
  }
  const onEvent = (e: { type: string; runId?: string; stepId?: string }) => {
    if (e.type === 'runStarted') process.stdout.write(`run ${e.runId}\n`);
    if (e.type === 'stepStarted') process.stdout.write(`step ${e.stepId}\n`);
  };
  if (mode === 'cancel') {
    await runner.cancel(target!);
    process.stdout.write('cancelled\n');
    runner.dispose();
    await workspace.close();
    return;
  }
  const outcome =
    mode === 'start' ? await runner.start(target!, { input }, { onEvent }) : await runner.resume(target!, { onEvent });
  process.stdout.write(`done ${outcome.status}\n`);
  runner.dispose();
  await workspace.close();
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
