// A local OpenAI-compatible model (Ollama, LM Studio, vLLM) in the real extension host, against the fake OpenAI
// server on loopback: with the endpoint in the user's own settings and no key, a run completes, no Authorization
// header is sent and the call is billed $0 marked `local`; the same endpoint from the workspace's settings (a
// repository's .vscode/settings.json) gets neither rule.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { startFakeOpenAI, type FakeOpenAI, type Running } from '../fakes';
import { activeApi, folder, readText, setCaps, waitFor, writeText } from './helpers';

describe('A local OpenAI-compatible model (real extension host)', function () {
  this.timeout(60_000);
  let api: AgentBudgetApi;
  let workspace: Workspace;
  let fake: Running<FakeOpenAI>;
  const config = () => vscode.workspace.getConfiguration('agentBudget');
  const localRows = (runId: string) =>
    [...workspace.store.queries.ledgerRows(0, Date.now() + 1)].flat().filter((r) => r.runId === runId);

  before(async () => {
    api = await activeApi();
    workspace = await api.workspace.ready;
    await setCaps(workspace, { dailyUsd: 1000 });
    fake = await startFakeOpenAI();
    await api.apiKeys.clear('openai');
  });

  after(async () => {
    await config().update('openai.baseUrl', undefined, vscode.ConfigurationTarget.Global);
    await fake.close();
  });

  it('with the endpoint in the user settings and no key, a run completes, sends no key and is billed $0 as local', async () => {
    await config().update('openai.baseUrl', fake.baseUrl, vscode.ConfigurationTarget.Global);
    await waitFor('the user setting', () => api.settings.value.baseUrls.openai === fake.baseUrl);
    fake.enqueue({ text: 'A constant set to one.', usage: { input: 140, output: 12 } });
    const outcome = await api.runs.start('explain', { selection: 'const a = 1;', model: 'llama3.2:3b' });
    assert.equal(outcome?.status, 'completed', outcome?.error);
    assert.equal(outcome.costMicros, 0);
    assert.equal(fake.requests.length, 1);
    assert.equal(fake.requests[0]!.hadApiKey, false, 'no made-up key reaches the local server');
    assert.deepEqual(
      localRows(outcome.runId).map((r) => [r.model, r.costMicros, r.priceSource, r.usage.input]),
      [['llama3.2:3b', 0, 'local', 140]],
    );
  });

  it("the same endpoint in the folder's .vscode/settings.json is not the user's: ignored, no key means no run, and nothing is free", async () => {
    await config().update('openai.baseUrl', undefined, vscode.ConfigurationTarget.Global);
    await waitFor('the user setting cleared', () => api.settings.value.baseUrls.openai === undefined);
    // As a cloned repository would commit it: VS Code refuses to write an application-scoped setting there, and
    // ignores it when a file holds one.
    const settingsFile = vscode.Uri.joinPath(folder(), '.vscode', 'settings.json');
    const before = await readText(settingsFile);
    const sentinel = `read-${Date.now()}`;
    const committed = {
      ...(before ? (JSON.parse(before) as object) : {}),
      'agentBudget.openai.baseUrl': fake.baseUrl,
      'agentBudgetTest.sentinel': sentinel,
    };
    await writeText(settingsFile, JSON.stringify(committed, null, 2));
    try {
      await waitFor(
        'VS Code to read the file',
        () => vscode.workspace.getConfiguration('agentBudgetTest').inspect('sentinel')?.workspaceValue === sentinel,
      );
      assert.equal(api.settings.value.baseUrls.openai, undefined, "the folder's endpoint is not used");
      const requests = fake.requests.length;
      const runs = workspace.store.queries.listRuns({ limit: 1000 }).length;
      const outcome = await api.runs.start('explain', { selection: 'const a = 1;', model: 'llama3.2:3b' });
      assert.equal(outcome, undefined, 'the run is refused before it starts');
      assert.equal(fake.requests.length, requests, 'no request reached the endpoint');
      assert.equal(workspace.store.queries.listRuns({ limit: 1000 }).length, runs, 'no run was recorded');
    } finally {
      if (before === undefined) await vscode.workspace.fs.delete(settingsFile);
      else await writeText(settingsFile, before);
    }
  });
});
