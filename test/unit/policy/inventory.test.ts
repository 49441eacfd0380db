import assert from 'node:assert/strict';
import { PolicyError } from '../../../src/core/policy/issues';
import { loadInventory, parseInventoryText, tokensPerRun } from '../../../src/core/policy/inventory';
import { fixture, memoryFs } from './memoryFs';

describe('policy: estimate inventory', () => {
  it('the docs/policy.md example loads cleanly', async () => {
    const text = fixture('policy-md-inventory.json');
    const r = await loadInventory('/ws/inv.json', memoryFs({ '/ws/inv.json': text }));
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.inventory, JSON.parse(text));
    assert.deepEqual(tokensPerRun(r.inventory.workflows[0]!), { input: 4700, output: 650 });
    assert.deepEqual(tokensPerRun(r.inventory.workflows[1]!), { input: 6000, output: 3600 });
  });

  it('each entry needs per-run or per-turn token counts, not both; errors are located', () => {
    const text =
      '{ "workflows": [\n  { "id": "a", "model": "m", "runsPerMonth": 1 },\n  { "id": "b", "model": "m", "runsPerMonth": 1, "inputTokensPerRun": 1, "turnsPerRun": 2 },\n  { "id": "c", "model": "m", "runsPerMonth": -3, "inputTokensPerTurn": 5 }\n] }';
    const r = parseInventoryText(text, 'inv.json');
    assert.equal(r.inventory, undefined);
    const at = (p: string) => r.issues.filter((i) => i.path === p);
    assert.match(at('workflows[0]')[0]!.message, /missing token counts/);
    assert.equal(at('workflows[0]')[0]!.line, 2);
    assert.match(at('workflows[1]')[0]!.message, /not both/);
    assert.match(at('workflows[2]')[0]!.message, /missing "turnsPerRun"/);
    assert.match(at('workflows[2].runsPerMonth')[0]!.message, /must be a number ≥ 0, got -3/);
    assert.equal(at('workflows[2].runsPerMonth')[0]!.line, 4);
  });

  it('a missing inventory file is a PolicyError naming it', async () => {
    await assert.rejects(
      loadInventory('/ws/none.json', memoryFs({})),
      (e: unknown) => e instanceof PolicyError && /none\.json/.test(e.message),
    );
  });
});
