// Spending less, seen in the editor: a review run twice against the fake Anthropic server (which bills prompt caching
// as Anthropic does) reads its file back from the cache, and the budget panel's cache-savings card shows the saving;
// each run's notification carries its quote; a run dearer than the user's threshold asks first.
import assert from 'node:assert/strict';
import * as vscode from 'vscode';
import type { Workspace } from '../../src/core/workspace';
import type { AgentBudgetApi } from '../../src/vscode/extension';
import { Commands } from '../../src/vscode/ids';
import type { RunQuote } from '../../src/core/runner/runner';
import { startFakeAnthropic, type FakeAnthropic, type Running } from '../fakes';
import { prose } from '../support/prose';
import { activeApi, closeAllEditors, folder, policyUri, readText, setCaps, waitFor, writeText } from './helpers';

describe('Prompt caching and quotes (real extension host)', function () {
  this.timeout(60_000);
  let api: AgentBudgetApi;
  let workspace: Workspace;
  let fake: Running<FakeAnthropic>;
  let originalPolicy: string | undefined;
  const file = vscode.Uri.joinPath(folder(), 'src', 'cached-review.ts');
  const config = () => vscode.workspace.getConfiguration('agentBudget');

  before(async () => {
    api = await activeApi();
    workspace = await api.workspace.ready;
    originalPolicy = await readText(policyUri());
    await setCaps(workspace, { dailyUsd: 1000 }, { workflows: { 'code-review': { model: 'claude-sonnet-5' } } });
    await writeText(file, `export const notes = \`\n${prose(3_000, 'cached')}\n\`;\n`);
    fake = await startFakeAnthropic();
    await config().update('anthropic.baseUrl', fake.url, vscode.ConfigurationTarget.Global);
    await config().update('runs.revealOutput', false, vscode.ConfigurationTarget.Workspace);
    await waitFor('the base URL setting', () => api.settings.value.baseUrls.anthropic === fake.url);
    await api.apiKeys.set('anthropic', 'sk-ant-integration-test-key');
  });

  after(async () => {
    await config().update('anthropic.baseUrl', undefined, vscode.ConfigurationTarget.Global);
    await config().update('runs.revealOutput', undefined, vscode.ConfigurationTarget.Workspace);
    await config().update('runs.askAboveUsd', undefined, vscode.ConfigurationTarget.Global);
    api.runs.confirmForTests = undefined;
    await api.apiKeys.clear('anthropic');
    await fake.close();
    await vscode.workspace.fs.delete(file);
    // Leave budget.json as it was, absent included (a later suite creates the starter file).
    if (originalPolicy !== undefined) await writeText(policyUri(), originalPolicy);
    else await vscode.workspace.fs.delete(policyUri());
    await workspace.reloadPolicy();
    await closeAllEditors();
  });

  it('a review run twice reads the file back from the cache, and the panel’s cache-savings card shows the saving', async () => {
    const quotes: RunQuote[] = [];
    const sub = api.runs.onDidQuote(({ quote }) => quotes.push(quote));
    try {
      const first = await api.runs.start('code-review', { file: 'src/cached-review.ts' }, 'Review cached');
      const second = await api.runs.start('code-review', { file: 'src/cached-review.ts' }, 'Review cached');
      assert.equal(first?.status, 'completed', first?.error);
      assert.equal(second?.status, 'completed', second?.error);
      assert.ok(second!.costMicros < first!.costMicros, `${second!.costMicros} µ$ < ${first!.costMicros} µ$`);
      // The notification's quote: the second one counts the first run (the workspace may hold earlier ones).
      assert.equal(quotes.length, 2);
      assert.equal(quotes[1]!.basedOnRuns, Math.min(20, quotes[0]!.basedOnRuns + 1));
      assert.ok(quotes[1]!.p50Micros !== null && quotes[1]!.worstMicros! >= first!.costMicros);
    } finally {
      sub.dispose();
    }
    await vscode.commands.executeCommand(Commands.openPanel);
    // The page loads, shakes hands, then the host posts snapshots: the first real one carries the savings.
    const snapshot = await waitFor(
      'a panel snapshot with cache savings',
      async () => {
        const s = await api.panel.refresh();
        return s && s.cache.savedMicros > 0 ? s : undefined;
      },
      30_000,
      200,
    );
    assert.ok(snapshot.cache.readTokens > 3_000, `${snapshot.cache.readTokens} tokens read from the cache`);
    assert.ok(snapshot.cache.writeTokens > 3_000);
    assert.ok(snapshot.cache.savedMicros > snapshot.cache.writePremiumMicros, 'a net saving');
  });

  it('a run whose worst case is above the user’s agentBudget.runs.askAboveUsd asks first; no means no call', async () => {
    await config().update('runs.askAboveUsd', 0.0001, vscode.ConfigurationTarget.Global);
    await waitFor('the threshold setting', () => api.settings.value.askAboveUsd === 0.0001);
    const asked: string[] = [];
    api.runs.confirmForTests = (message) => {
      asked.push(message);
      return false;
    };
    const calls = fake.generationRequests.length;
    assert.equal(await api.runs.start('code-review', { file: 'src/cached-review.ts' }, 'Review cached'), undefined);
    assert.equal(fake.generationRequests.length, calls, 'declined: nothing was called');
    assert.match(
      asked[0]!,
      /^Review cached could cost up to \$0\.\d+, above \$0\.0001, the amount you asked to be asked about/,
    );
    api.runs.confirmForTests = () => true;
    const run = await api.runs.start('code-review', { file: 'src/cached-review.ts' }, 'Review cached');
    assert.equal(run?.status, 'completed', run?.error);
    // The threshold is the user's alone: a workspace cannot set it.
    await assert.rejects(
      Promise.resolve(config().update('runs.askAboveUsd', 1000, vscode.ConfigurationTarget.Workspace)),
    );
  });
});
