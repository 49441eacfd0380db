import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PolicyError, formatIssue, type PolicyIssue } from '../../../src/core/policy/issues';
import { loadWorkflow, loadWorkflows, parseWorkflowText, workflowsDir } from '../../../src/core/policy/workflowFile';
import { TOOL_NAMES } from '../../../src/core/policy/workflowTypes';
import { renderTemplate } from '../../../src/core/policy/templates';
import { fixture, lineColOf, memoryFs } from './memoryFs';

const WS = '/ws';
const DIR = workflowsDir(WS);
const path = (name: string) => join(DIR, name);

function errors(text: string, id: string): PolicyIssue[] {
  const r = parseWorkflowText(text, path(`${id}.json`), id);
  assert.equal(r.workflow, undefined, 'an invalid file yields no workflow');
  return r.issues.filter((i) => i.severity === 'error');
}

function only(issues: PolicyIssue[], p: string): PolicyIssue {
  const at = issues.filter((i) => i.path === p);
  assert.equal(at.length, 1, `one issue at ${p}, got: ${issues.map(formatIssue).join(' | ')}`);
  return at[0]!;
}

const step = (id: string, prompt: string, extra = '') => `{ "id": "${id}", "prompt": "${prompt}"${extra} }`;
const wf = (id: string, ...steps: string[]) =>
  `{\n  "id": "${id}",\n  "steps": [\n    ${steps.join(',\n    ')}\n  ]\n}`;

describe('policy: workflow files (.agent-budget/workflows/<id>.json)', () => {
  it('the docs/policy.md example loads cleanly and typed', async () => {
    const text = fixture('policy-md-summarize.json');
    const r = await loadWorkflow(WS, 'summarize', memoryFs({ [path('summarize.json')]: text }));
    assert.ok(r);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.workflow, { ...JSON.parse(text), file: path('summarize.json') });
    assert.equal(r.workflow.steps[1]!.limits?.hardTokens, 6000);
    assert.deepEqual(r.workflow.steps[1]!.tools, ['readFile', 'searchText']);
  });

  it('good and bad files side by side: the bad one is reported, the good ones load', async () => {
    const good1 = wf('alpha', step('one', 'Say {{input}}'));
    const bad = wf('broken', step('one', 'x {{steps.two.output}}'), step('two', 'y'));
    const good2 = wf('zeta.v2', step('a', '{{selection}}'), step('b', '{{steps.a.output}}'));
    const fs = memoryFs({
      [path('zeta.v2.json')]: good2,
      [path('broken.json')]: bad,
      [path('alpha.json')]: good1,
      [path('notes.txt')]: 'not a workflow',
    });
    const r = await loadWorkflows(WS, fs);
    assert.deepEqual(
      r.workflows.map((w) => w.id),
      ['alpha', 'zeta.v2'],
    );
    assert.equal(r.errors.length, 1);
    const e = r.errors[0]!;
    assert.ok(e instanceof PolicyError);
    assert.equal(e.file, path('broken.json'));
    assert.equal(e.issues[0]!.path, 'steps[0].prompt');
    assert.equal(e.issues[0]!.file, path('broken.json'));
    assert.ok(!fs.reads.includes(path('notes.txt')));
  });

  it('no workflows folder means no workspace workflows; loadWorkflow of a missing id is undefined', async () => {
    assert.deepEqual(await loadWorkflows(WS, memoryFs({})), { workflows: [], errors: [], warnings: [] });
    assert.equal(await loadWorkflow(WS, 'nope', memoryFs({})), undefined);
  });

  it('loadWorkflow never reads outside the folder for an id that is not a workflow id', async () => {
    const fs = memoryFs({ [join(WS, '.agent-budget', 'secret.json')]: '{}' });
    assert.equal(await loadWorkflow(WS, '../secret', fs), undefined);
    assert.equal(await loadWorkflow(WS, 'A/b', fs), undefined);
    assert.deepEqual(fs.reads, []);
  });

  it('loadWorkflow throws PolicyError for an invalid file', async () => {
    const fs = memoryFs({ [path('x.json')]: wf('x', step('a', '{{inptu}}')) });
    await assert.rejects(loadWorkflow(WS, 'x', fs), (err: unknown) => {
      assert.ok(err instanceof PolicyError);
      assert.match(err.message, /x\.json:4:\d+: steps\[0\]\.prompt: \{\{inptu\}\} is not a template variable/);
      return true;
    });
  });

  it('the id must match the file name; an omitted id and title default to it', () => {
    const text = wf('summary', step('a', 'x'));
    const e = only(errors(text, 'summarize'), 'id');
    assert.equal(e.message, 'must equal the file name "summarize", got "summary"');
    assert.deepEqual([e.line, e.column], [2, 9]);
    const r = parseWorkflowText('{ "steps": [{ "id": "a", "prompt": "x" }] }', path('tidy.json'), 'tidy');
    assert.equal(r.workflow?.id, 'tidy');
    assert.equal(r.workflow?.title, 'tidy');
  });

  it('a file name that is not a workflow id is an error', () => {
    const [e] = errors('{ "steps": [{ "id": "a", "prompt": "x" }] }', 'My Flow');
    assert.match(e!.message, /the file name "My Flow\.json" is not a workflow id/);
  });

  it('step ids are unique', () => {
    const text = wf('w', step('draft', 'a'), step('check', 'b'), step('draft', 'c'));
    const e = only(errors(text, 'w'), 'steps[2].id');
    assert.equal(e.message, '"draft" is already the id of steps[0]');
    const at = lineColOf(text, '"draft"', 1);
    assert.deepEqual([e.line, e.column], [at.line, at.column]);
  });

  it('{{steps.<id>.output}} must refer to an earlier step, pointing at the reference itself', () => {
    const text = wf(
      'w',
      step('a', 'Start: {{steps.b.output}}'),
      step('b', 'Self: {{steps.b.output}}'),
      step('c', 'Typo: {{steps.aa.output}} and fine {{ steps.a.output }}'),
    );
    const es = errors(text, 'w');
    assert.equal(es.length, 3, es.map(formatIssue).join('\n'));
    const later = only(es, 'steps[0].prompt');
    assert.equal(
      later.message,
      '{{steps.b.output}} refers to steps[1], which runs later; only earlier steps have output',
    );
    const at = lineColOf(text, '{{steps.b.output}}');
    assert.deepEqual([later.line, later.column], [at.line, at.column]);
    assert.equal(later.length, '{{steps.b.output}}'.length);
    assert.match(only(es, 'steps[1].prompt').message, /refers to this step itself/);
    assert.equal(
      only(es, 'steps[2].prompt').message,
      '{{steps.aa.output}} refers to no step; there is no step "aa" (did you mean "a"?)',
    );
  });

  it('locations stay exact after escapes earlier in the prompt', () => {
    const text = wf('w', step('a', 'Line one\\nLine \\"two\\" {{fileContnet}}'));
    const e = only(errors(text, 'w'), 'steps[0].prompt');
    assert.match(e.message, /\{\{fileContnet\}\} is not a template variable.*did you mean \{\{fileContent\}\}/);
    const at = lineColOf(text, '{{fileContnet}}');
    assert.deepEqual([e.line, e.column], [at.line, at.column]);
  });

  it('the workflow-wide system prompt may only use the run inputs', () => {
    const text = '{ "system": "Use {{steps.a.output}}", "steps": [{ "id": "a", "prompt": "{{file}}" }] }';
    assert.match(only(errors(text, 'w'), 'system').message, /refers to steps\[0\], which runs later/);
  });

  it('tools must be known tool names; provider must be valid; steps required and non-empty', () => {
    const text =
      '{\n  "provider": "azure",\n  "steps": [\n    { "id": "a", "prompt": "x", "tools": ["readFile", "deleteFile"] }\n  ]\n}';
    const es = errors(text, 'w');
    const tool = only(es, 'steps[0].tools[1]');
    assert.equal(tool.message, `must be one of ${TOOL_NAMES.map((t) => `"${t}"`).join(', ')}, got "deleteFile"`);
    const at = lineColOf(text, '"deleteFile"');
    assert.deepEqual([tool.line, tool.column], [at.line, at.column]);
    assert.match(only(es, 'provider').message, /must be one of "anthropic", "openai", "gemini", got "azure"/);
    assert.equal(only(errors('{ "steps": [] }', 'w'), 'steps').message, 'must list at least 1 item');
    assert.equal(only(errors('{ "id": "w" }', 'w'), '').message, 'missing required key "steps"');
    assert.equal(
      only(errors('{ "steps": [{ "id": "a" }] }', 'w'), 'steps[0]').message,
      'needs a "prompt" (or "subAgents" with their own "steps")',
    );
  });

  it('step ids must be plain identifiers; step soft ≤ hard', () => {
    const es = errors(wf('w', step('my step', 'x', ', "limits": { "softTokens": 9000, "hardTokens": 6000 }')), 'w');
    assert.match(only(es, 'steps[0].id').message, /must be a step id/);
    assert.equal(only(es, 'steps[0].limits.softTokens').message, 'must not be above hardTokens: 9000 > 6000');
  });

  it('unknown keys are warnings and the workflow still loads', async () => {
    const text = '{ "steps": [{ "id": "a", "prompt": "x", "maxTokens": 5 }] }';
    const r = await loadWorkflows(WS, memoryFs({ [path('w.json')]: text }));
    assert.equal(r.workflows.length, 1);
    assert.equal(r.warnings.length, 1);
    assert.equal(r.warnings[0]!.path, 'steps[0].maxTokens');
    assert.equal(r.warnings[0]!.severity, 'warning');
  });

  it('a syntax error in one file is located in that file', async () => {
    const r = await loadWorkflows(
      WS,
      memoryFs({
        [path('a.json')]: '{ "steps": [\n  { "id": "a" "prompt": "x" }\n] }',
        [path('b.json')]: wf('b', step('s', 'x')),
      }),
    );
    assert.deepEqual(
      r.workflows.map((w) => w.id),
      ['b'],
    );
    const issue = r.errors[0]!.issues[0]!;
    assert.equal(issue.file, path('a.json'));
    assert.deepEqual([issue.line, issue.column], [2, 15]);
  });

  it('templates render with the values a run has', () => {
    const out = renderTemplate('A {{input}} B {{ steps.x.output }} C {{file}} D {{unknown}}', {
      input: 'in',
      stepOutputs: { x: 'out' },
    });
    assert.equal(out, 'A in B out C  D {{unknown}}');
  });
});
