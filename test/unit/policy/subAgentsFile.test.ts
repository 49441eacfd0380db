import assert from 'node:assert/strict';
import { join } from 'node:path';
import { formatIssue, type PolicyIssue } from '../../../src/core/policy/issues';
import { parseWorkflowText, workflowsDir } from '../../../src/core/policy/workflowFile';
import { BUILTIN_WORKFLOWS } from '../../../src/core/runner/builtins';
import { lineColOf } from './memoryFs';

const file = (id: string) => join(workflowsDir('/ws'), `${id}.json`);

function parse(value: unknown, id = 'w') {
  return parseWorkflowText(typeof value === 'string' ? value : JSON.stringify(value, null, 2), file(id), id);
}

function errors(value: unknown): PolicyIssue[] {
  const r = parse(value);
  assert.equal(r.workflow, undefined, 'an invalid file yields no workflow');
  return r.issues.filter((i) => i.severity === 'error');
}

function only(issues: PolicyIssue[], path: string): string {
  const at = issues.filter((i) => i.path === path);
  assert.equal(at.length, 1, `one issue at ${path}, got: ${issues.map(formatIssue).join(' | ')}`);
  return at[0]!.message;
}

const PLAN = { id: 'plan', prompt: 'List the parts of {{input}}' };

describe('policy: sub-agents in workflow files', () => {
  it('a nested fan-out over a plan and over files loads, typed, with its prompt defaulted where it has steps', () => {
    const wf = {
      id: 'audit',
      steps: [
        PLAN,
        {
          id: 'each',
          subAgents: {
            itemsFrom: 'plan',
            max: 4,
            concurrency: 2,
            budget: { pool: 0.8, maxUsd: 0.5 },
            steps: [
              { id: 'files', prompt: 'Which files matter for {{item}}? Context: {{steps.plan.output}}' },
              {
                id: 'read',
                prompt: 'Check {{item}} ({{itemContent}}) for {{input}}',
                subAgents: { files: 'src/**/*.ts', budget: { share: 0.25 } },
              },
            ],
          },
        },
        { id: 'sum', prompt: 'Summarize {{steps.each.output}}' },
      ],
    };
    const r = parse(wf, 'audit');
    assert.deepEqual(
      r.issues.map((i) => formatIssue(i)),
      [],
    );
    const each = r.workflow!.steps[1]!;
    assert.equal(each.prompt, '', 'a fan-out whose sub-agents run steps has no prompt of its own');
    assert.deepEqual(each.subAgents?.budget, { pool: 0.8, maxUsd: 0.5 });
    assert.equal(each.subAgents?.steps?.[1]?.subAgents?.files, 'src/**/*.ts');
  });

  it('every built-in workflow is a valid workflow file but for its context blocks (research fans out like any file)', () => {
    for (const builtin of BUILTIN_WORKFLOWS) {
      // `context` (a step's cacheable material block) is the one key only built-ins have so far (builtins.ts).
      const steps = builtin.steps.map(({ context: _context, ...step }) => step);
      const r = parse({ ...builtin, steps }, builtin.id);
      assert.deepEqual(
        r.issues.map((i) => formatIssue(i)),
        [],
        builtin.id,
      );
    }
    assert.ok(BUILTIN_WORKFLOWS.find((w) => w.id === 'research')!.steps.some((s) => s.subAgents?.itemsFrom === 'plan'));
  });

  it('names the source of the items precisely', () => {
    const fan = (subAgents: object) => ({ steps: [PLAN, { id: 'dig', prompt: 'Dig {{item}}', subAgents }] });
    assert.match(
      only(errors(fan({ max: 3 })), 'steps[1].subAgents'),
      /needs "itemsFrom" \(an earlier step whose output lists the items\) or "files"/,
    );
    assert.equal(
      only(errors(fan({ itemsFrom: 'plan', files: '*.md' })), 'steps[1].subAgents'),
      'has both "itemsFrom" and "files"; use one',
    );
    assert.equal(
      only(errors(fan({ itemsFrom: 'plam' })), 'steps[1].subAgents.itemsFrom'),
      'refers to no earlier step "plam" (did you mean "plan"?)',
    );
    assert.equal(
      only(errors(fan({ itemsFrom: 'dig' })), 'steps[1].subAgents.itemsFrom'),
      'is this step itself; the items come from an earlier step',
    );
    const later = { steps: [{ id: 'dig', prompt: '{{item}}', subAgents: { itemsFrom: 'plan' } }, PLAN] };
    assert.equal(
      only(errors(later), 'steps[0].subAgents.itemsFrom'),
      'is a step that runs later ("plan"); the items come from an earlier step',
    );
    for (const outside of ['../secrets/*', '/etc/*', 'C:/x/*.ts', 'src/../../x']) {
      assert.match(only(errors(fan({ files: outside })), 'steps[1].subAgents.files'), /leaves the workspace folder/);
    }
    assert.match(only(errors(fan({ files: 'src/{a,b' })), 'steps[1].subAgents.files'), /is not a glob: unclosed "\{"/);
    assert.equal(
      only(errors(fan({ itemsFrom: 'plan', budget: { share: 0.2, pool: 0.5 } })), 'steps[1].subAgents.budget'),
      'has both "share" and "pool"; a fan-out budgets its sub-agents one way',
    );
    assert.match(
      only(errors(fan({ itemsFrom: 'plan', budget: { share: 1.5 } })), 'steps[1].subAgents.budget.share'),
      /must be a number above 0 and at most 1, got 1.5/,
    );
    assert.match(only(errors(fan({ itemsFrom: 'plan', concurrency: 0 })), 'steps[1].subAgents.concurrency'), /1/);
  });

  it('{{item}} and {{itemContent}} only where a sub-agent has them, pointing at the marker', () => {
    const text = JSON.stringify({ steps: [{ id: 'a', prompt: 'Look at {{item}}' }] });
    const issues = errors(text);
    const message = only(issues, 'steps[0].prompt');
    assert.equal(
      message,
      '{{item}} is a sub-agent\'s item; it exists only in a step with "subAgents" and in their steps',
    );
    const at = lineColOf(text, '{{item}}');
    assert.deepEqual([issues[0]!.line, issues[0]!.column], [at.line, at.column]);
    assert.equal(
      only(
        errors({ steps: [PLAN, { id: 'b', prompt: '{{itemContent}}', subAgents: { itemsFrom: 'plan' } }] }),
        'steps[1].prompt',
      ),
      '{{itemContent}} is the text of a file; it exists only in sub-agents that fan out over "files"',
    );
    // Inside a sub-agent's own steps the item is there, and later steps of the run see no item.
    const nested = {
      steps: [
        PLAN,
        { id: 'each', subAgents: { itemsFrom: 'plan', steps: [{ id: 'x', prompt: '{{item}}' }] } },
        { id: 'after', prompt: '{{item}}' },
      ],
    };
    assert.deepEqual(
      errors(nested).map((i) => i.path),
      ['steps[2].prompt'],
    );
  });

  it('a fan-out with steps has no prompt, system or tools of its own; a step needs one of the two', () => {
    const issues = errors({
      steps: [
        PLAN,
        {
          id: 'each',
          prompt: 'x',
          tools: ['readFile'],
          subAgents: { itemsFrom: 'plan', steps: [{ id: 'a', prompt: 'y' }] },
        },
      ],
    });
    assert.match(only(issues, 'steps[1].prompt'), /has no effect: each sub-agent runs subAgents\.steps/);
    assert.match(only(issues, 'steps[1].tools'), /has no effect/);
    assert.equal(
      only(errors({ steps: [PLAN, { id: 'each', subAgents: { itemsFrom: 'plan' } }] }), 'steps[1]'),
      'needs a "prompt" (or "subAgents" with their own "steps")',
    );
  });

  it('steps inside a sub-agent see earlier steps of the run and their own, never later ones; ids are per list', () => {
    const issues = errors({
      steps: [
        PLAN,
        {
          id: 'each',
          subAgents: {
            itemsFrom: 'plan',
            steps: [
              { id: 'plan', prompt: 'inner plan for {{item}} after {{steps.plan.output}}' },
              { id: 'b', prompt: '{{steps.c.output}} {{steps.sum.output}}' },
              { id: 'c', prompt: 'c' },
              { id: 'c', prompt: 'again' },
            ],
          },
        },
        { id: 'sum', prompt: '{{steps.each.output}}' },
      ],
    });
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      [
        'steps[1].subAgents.steps[1].prompt: {{steps.c.output}} refers to steps[1].subAgents.steps[2], which runs later; only earlier steps have output',
        'steps[1].subAgents.steps[1].prompt: {{steps.sum.output}} refers to no step; there is no step "sum"',
        'steps[1].subAgents.steps[3].id: "c" is already the id of steps[1].subAgents.steps[2]',
      ],
    );
  });

  it('sub-agents nest at most 3 levels deep', () => {
    const level = (depth: number): object =>
      depth === 0
        ? { id: 'leaf', prompt: '{{item}}' }
        : { id: `l${depth}`, subAgents: { files: '*.md', steps: [level(depth - 1)] } };
    assert.equal(parse({ steps: [level(3)] }).issues.length, 0);
    const issues = errors({ steps: [level(4)] });
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      [
        'steps[0].subAgents.steps[0].subAgents.steps[0].subAgents.steps[0].subAgents: sub-agents nest at most 3 levels deep; this would be level 4',
      ],
    );
  });

  it('prompt versions name top-level steps and follow their template rules', () => {
    const issues = errors({
      version: 'v1',
      steps: [PLAN, { id: 'dig', prompt: 'Dig {{item}}', subAgents: { itemsFrom: 'plan' } }],
      versions: {
        v2: { steps: { dig: { prompt: 'Dig deeper into {{item}} {{itemContent}}' }, plam: { prompt: 'x' } } },
      },
    });
    assert.deepEqual(
      issues.map((i) => `${i.path}: ${i.message}`),
      [
        'versions.v2.steps.dig.prompt: {{itemContent}} is the text of a file; it exists only in sub-agents that fan out over "files"',
        'versions.v2.steps.plam: there is no top-level step "plam" (did you mean "plan"?)',
      ],
    );
  });
});
