import assert from 'node:assert/strict';
import { parsePolicyText } from '../../../src/core/policy/load';
import { minimalEdit, promoteText } from '../../../src/core/policy/promote';

describe('policy: Promote Variant as an edit of the file', () => {
  const text = `{
  // Why the cap is what it is.
  "limits": { "workspace": { "dailyUsd": 5 } },
  "experiments": {
    "code-review": { "variants": [{ "model": "claude-haiku-4-5" }, { "model": "claude-sonnet-4-5", "promptVersion": "v2" }] },
    "explain": { "variants": [{ "model": "claude-haiku-4-5" }, { "model": "gpt-4.1-mini" }] }
  },
  "workflows": { "code-review": { "degradeModel": "claude-haiku-4-5" } }
}
`;

  it('writes the winner into the workflow’s routing, ends only its experiment, keeps comments and the rest', () => {
    const out = promoteText(text, 'code-review', { model: 'claude-sonnet-4-5', promptVersion: 'v2' });
    const { policy, issues } = parsePolicyText(out, 'budget.json');
    assert.deepEqual(issues, []);
    assert.deepEqual(policy!.workflows['code-review'], {
      degradeModel: 'claude-haiku-4-5',
      model: 'claude-sonnet-4-5',
      promptVersion: 'v2',
    });
    assert.deepEqual(Object.keys(policy!.experiments), ['explain']);
    assert.match(out, /\/\/ Why the cap is what it is\.\n {2}"limits": \{ "workspace": \{ "dailyUsd": 5 \} \},/);
  });

  it('removes `experiments` with its last experiment, and adds `workflows` when there is none', () => {
    const single = '{\n  "experiments": { "explain": { "variants": [{ "model": "a" }, { "model": "b" }] } }\n}\n';
    const out = promoteText(single, 'explain', { model: 'b' });
    assert.deepEqual(JSON.parse(out), { workflows: { explain: { model: 'b' } } });
  });

  it('the minimal edit turns the old text into the new one', () => {
    const out = promoteText(text, 'explain', { model: 'gpt-4.1-mini' });
    const e = minimalEdit(text, out);
    assert.equal(text.slice(0, e.offset) + e.text + text.slice(e.offset + e.length), out);
    assert.ok(e.offset > text.indexOf('"experiments"'), 'the edit starts where the file changes');
    const back = minimalEdit(out, text);
    assert.equal(out.slice(0, back.offset) + back.text + out.slice(back.offset + back.length), text);
  });
});
