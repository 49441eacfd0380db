import assert from 'node:assert/strict';
import { parsePolicyText } from '../../../src/core/policy/load';

const problems = (experiments: unknown) =>
  parsePolicyText(JSON.stringify({ experiments }), 'budget.json').issues.map((i) => `${i.path}: ${i.message}`);

describe('policy: experiments in budget.json', () => {
  it('two or more distinct variants, one share each adding up to 100, a workflow id as the key', () => {
    const good = {
      'code-review': {
        variants: [{ model: 'claude-haiku-4-5' }, { model: 'claude-sonnet-4-5', promptVersion: 'v2' }],
        split: [30, 70],
        until: { runs: 100 },
      },
    };
    assert.deepEqual(problems(good), []);
    const { policy } = parsePolicyText(JSON.stringify({ experiments: good }), 'budget.json');
    assert.deepEqual(policy!.experiments, good);
    assert.deepEqual(problems({ x: { variants: [{ model: 'a' }, { model: 'a' }], split: [50, 40] } }), [
      'experiments.x.variants[1]: is the same variant as variants[0]',
      'experiments.x.split: must add up to 100 (percent of runs), got 90',
    ]);
    assert.deepEqual(problems({ x: { variants: [{ model: 'a' }, {}], split: [100] } }), [
      'experiments.x.variants[1]: needs a "model", a "promptVersion", or both',
      'experiments.x.split: has 1 shares for 2 variants; give one per variant',
    ]);
    assert.match(
      problems({ x: { variants: [{ model: 'a' }] } }).join('\n'),
      /experiments\.x\.variants: must list at least 2/,
    );
    assert.match(problems({ X: { variants: [{ model: 'a' }, { model: 'b' }] } }).join('\n'), /experiments\.X/);
    assert.match(
      problems({ x: { variants: [{ model: 'a' }, { model: 'b' }], until: { runs: 0 } } }).join('\n'),
      /until\.runs/,
    );
  });
});
