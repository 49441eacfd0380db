import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyError, formatIssue, type PolicyIssue } from '../../../src/core/policy/issues';
import { cachingOf, effectiveLimits } from '../../../src/core/policy/effective';
import { DEFAULT_POLICY, loadPolicy, parsePolicyText, policyFilePath } from '../../../src/core/policy/load';
import { fixture, lineColOf, memoryFs } from './memoryFs';

const WS = '/ws';
const FILE = policyFilePath(WS);

function errorsOf(text: string): PolicyIssue[] {
  const r = parsePolicyText(text, FILE);
  assert.equal(r.policy, undefined, 'an invalid file yields no policy');
  return r.issues.filter((i) => i.severity === 'error');
}

function only(issues: PolicyIssue[], path: string): PolicyIssue {
  const at = issues.filter((i) => i.path === path);
  assert.equal(at.length, 1, `one issue at ${path}, got: ${issues.map(formatIssue).join(' | ')}`);
  return at[0]!;
}

function assertAt(issue: PolicyIssue, text: string, needle: string, nth = 0): void {
  const { line, column } = lineColOf(text, needle, nth);
  assert.equal(issue.file, FILE);
  assert.deepEqual({ line: issue.line, column: issue.column }, { line, column }, formatIssue(issue));
}

describe('policy: loading .agent-budget/budget.json', () => {
  it('a missing file means the built-in defaults', async () => {
    const fs = memoryFs({});
    const r = await loadPolicy(WS, fs);
    assert.equal(r.source, 'defaults');
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.policy, DEFAULT_POLICY);
    assert.deepEqual(fs.reads, [join(WS, '.agent-budget', 'budget.json')]);
    // Never unlimited: there are hard token limits and USD caps even without a file.
    assert.equal(r.policy.limits.task.hardTokens, 200_000);
    assert.equal(r.policy.limits.task.softTokens, 50_000);
    assert.equal(r.policy.limits.task.maxToolCalls, 50);
    assert.equal(r.policy.limits.task.maxSteps, 25);
    assert.equal(r.policy.limits.task.maxWallSeconds, 600);
    assert.deepEqual(r.policy.limits.session, { softTokens: 250_000, hardTokens: 1_000_000 });
    assert.deepEqual(r.policy.limits.workspace, { dailyUsd: 5, monthlyUsd: 50 });
    assert.deepEqual(r.policy.alerts.thresholdsPct, [50, 75, 90, 100]);
    assert.equal(r.policy.timeZone, undefined);
  });

  it('returns a fresh policy each time (DEFAULT_POLICY cannot be changed through it)', async () => {
    const a = await loadPolicy(WS, memoryFs({}));
    a.policy.limits.task.hardTokens = 1;
    a.policy.rules.push({ when: {}, action: 'block' });
    const b = await loadPolicy(WS, memoryFs({}));
    assert.equal(b.policy.limits.task.hardTokens, 200_000);
    assert.deepEqual(b.policy.rules, []);
    assert.ok(Object.isFrozen(DEFAULT_POLICY.limits.task));
  });

  it('the docs/policy.md example loads cleanly, every key carried into the typed policy', async () => {
    const text = fixture('policy-md-budget.json');
    const r = await loadPolicy(WS, memoryFs({ [FILE]: text }));
    assert.equal(r.source, 'file');
    assert.deepEqual(r.warnings, [], r.warnings.map(formatIssue).join('\n'));
    const raw = JSON.parse(text);
    assert.equal(r.policy.timeZone, 'UTC');
    assert.deepEqual(r.policy.limits, raw.limits);
    assert.deepEqual(r.policy.workflows, raw.workflows);
    assert.deepEqual(r.policy.rules, raw.rules);
    assert.deepEqual(r.policy.alerts, raw.alerts);
    assert.deepEqual(r.policy.providers, raw.providers);
    assert.deepEqual(r.policy.prices, raw.prices);
    assert.deepEqual(r.policy.tools, raw.tools);
    assert.deepEqual(r.policy.value, raw.value);
    assert.equal(r.policy.caching, 'auto');
  });

  it('dollar limits of tasks and runs, caching and the compact action: loaded, checked, and soft kept below hard', () => {
    const r = parsePolicyText(
      JSON.stringify({
        caching: 'off',
        limits: { task: { hardUsd: 0.5 }, session: { softUsd: 1, hardUsd: 2 } },
        workflows: { 'code-review': { caching: '1h', limits: { session: { hardUsd: 0.4 } } } },
        rules: [{ when: { scope: 'task.usd', atLeastPct: 80 }, action: 'compact' }],
      }),
      FILE,
    );
    assert.ok(r.policy, r.issues.map(formatIssue).join('\n'));
    assert.deepEqual(r.policy.limits.task, { ...DEFAULT_POLICY.limits.task, hardUsd: 0.5 });
    assert.equal(r.policy.caching, 'off');
    assert.equal(cachingOf(r.policy, 'code-review'), '1h');
    assert.equal(cachingOf(r.policy, 'explain'), 'off');
    assert.equal(cachingOf(DEFAULT_POLICY, 'explain'), 'auto');
    // A workflow's lower hard limit without a soft one warns at half of it (as for tokens).
    assert.deepEqual(effectiveLimits(r.policy, 'code-review').session, {
      ...DEFAULT_POLICY.limits.session,
      softUsd: 0.2,
      hardUsd: 0.4,
    });
    const text =
      '{\n  "caching": "always",\n  "limits": { "task": { "softUsd": 3, "hardUsd": 1 } },\n  "rules": [{ "when": { "scope": "task.dollars" }, "action": "compact" }]\n}';
    const errors = errorsOf(text);
    assert.match(only(errors, 'caching').message, /must be one of "auto", "off", "5m", "1h"/);
    assert.match(only(errors, 'limits.task.softUsd').message, /must not be above hardUsd: 3 > 1$/);
    assert.match(
      only(errors, 'rules[0].when.scope').message,
      /"task\.dollars" is not a scope name; use "task", "session", "task\.usd", "session\.usd"/,
    );
  });

  it('keys the file leaves out take the defaults; null switches a default off', () => {
    const r = parsePolicyText(
      '{ "limits": { "task": { "maxSteps": 5 }, "workspace": { "dailyUsd": null, "weeklyUsd": 10 } } }',
      FILE,
    );
    assert.ok(r.policy);
    assert.deepEqual(r.policy.limits.task, { ...DEFAULT_POLICY.limits.task, maxSteps: 5 });
    assert.deepEqual(r.policy.limits.workspace, { monthlyUsd: 50, weeklyUsd: 10 });
    assert.deepEqual(r.policy.limits.session, DEFAULT_POLICY.limits.session);
  });

  it('a hard limit below the default soft limit, with no soft limit written, warns at half of it', () => {
    const r = parsePolicyText(
      '{ "limits": { "task": { "hardTokens": 12000 }, "session": { "hardTokens": 100000 } } }',
      FILE,
    );
    assert.ok(r.policy);
    assert.equal(r.policy.limits.task.softTokens, 6000);
    assert.equal(r.policy.limits.task.hardTokens, 12000);
    assert.equal(r.policy.limits.session.softTokens, 50_000);
  });

  it('an explicit soft limit above the hard limit is an error, also against the default hard limit', () => {
    const text =
      '{\n  "limits": {\n    "task": { "softTokens": 30000, "hardTokens": 12000 },\n    "session": { "softTokens": 2000000 }\n  }\n}';
    const errors = errorsOf(text);
    const task = only(errors, 'limits.task.softTokens');
    assert.match(task.message, /must not be above hardTokens: 30000 > 12000$/);
    assert.deepEqual([task.line, task.column], [3, 29]);
    const session = only(errors, 'limits.session.softTokens');
    assert.match(session.message, /2000000 > 1000000 \(from the built-in default\)/);
    assertAt(session, text, '2000000');
  });

  it('schema errors name file, path, line and column in plain words', () => {
    const text = [
      '{',
      '  "limits": {',
      '    "task": { "hardTokens": "12k", "maxToolCalls": 2.5 },',
      '    "workspace": { "dailyUsd": -1 }',
      '  },',
      '  "rules": [',
      '    { "when": { "scope": "workspace.daily", "atLeastPct": 2000 }, "action": "deny" },',
      '    { "when": { "scope": "task" } }',
      '  ],',
      '  "providers": { "openai": { "api": "complete" } },',
      '  "prices": { "my-model": { "provider": "anthropic", "inputPerMTok": 3 } },',
      '  "tools": { "allow": ["readFile", "readFile"], "costsUsd": { "runComand": 0.01 } }',
      '}',
    ].join('\n');
    const errors = errorsOf(text);

    const hard = only(errors, 'limits.task.hardTokens');
    assert.equal(hard.message, 'must be a whole number ≥ 0 (or null for no limit), got "12k"');
    assert.deepEqual([hard.line, hard.column], [3, 29]);
    assert.equal(
      formatIssue(hard),
      `${FILE}:3:29: limits.task.hardTokens: must be a whole number ≥ 0 (or null for no limit), got "12k"`,
    );

    assert.match(only(errors, 'limits.task.maxToolCalls').message, /must be a whole number ≥ 0.*got 2\.5/);
    const daily = only(errors, 'limits.workspace.dailyUsd');
    assert.match(daily.message, /must be a number ≥ 0 .*got -1/);
    assertAt(daily, text, '-1');

    const pct = only(errors, 'rules[0].when.atLeastPct');
    assert.equal(pct.message, 'must be a number between 0 and 1000, got 2000');
    assertAt(pct, text, '2000');
    const action = only(errors, 'rules[0].action');
    assert.equal(action.message, 'must be one of "allow", "warn", "degrade", "compact", "block", got "deny"');
    assertAt(action, text, '"deny"');
    const missing = only(errors, 'rules[1]');
    assert.equal(missing.message, 'missing required key "action"');
    assertAt(missing, text, '{ "when": { "scope": "task" } }');

    assert.match(only(errors, 'providers.openai.api').message, /one of "chat", "responses", got "complete"/);
    const price = only(errors, 'prices.my-model');
    assert.equal(price.message, 'missing required key "outputPerMTok"');
    assertAt(price, text, '{ "provider"');

    const dup = only(errors, 'tools.allow[1]');
    assert.equal(dup.message, '"readFile" is listed twice (also at [0])');
    assertAt(dup, text, '"readFile"', 1);
    const tool = only(errors, 'tools.costsUsd.runComand');
    assert.match(
      tool.message,
      /^the key must be one of "readFile", .*got "runComand" \(did you mean "runCommand"\?\)$/,
    );
    assertAt(tool, text, '"runComand"');

    // The error's message lists every problem, each with its location.
    const err = new PolicyError(FILE, errors);
    assert.match(err.message, new RegExp(`is not valid \\(${errors.length} problems\\)`));
    for (const e of errors) assert.ok(err.message.includes(formatIssue(e)), formatIssue(e));
  });

  it('map keys are checked too: an empty model id, a bad workflow id under value', () => {
    const errors = errorsOf(
      '{ "prices": { "": { "provider": "openai", "inputPerMTok": 1, "outputPerMTok": 1 } },\n  "value": { "workflows": { "Bad": {} } } }',
    );
    assert.equal(only(errors, 'prices[""]').message, 'the key must be a non-empty string, got ""');
    const bad = only(errors, 'value.workflows.Bad');
    assert.match(bad.message, /^"Bad" is not a workflow id/);
    assert.deepEqual([bad.line, bad.column], [2, 29]);
  });

  it('loadPolicy throws PolicyError with every issue; warnings ride along', async () => {
    const text = '{\n  "limits": { "task": { "hardTokens": -5 } },\n  "colour": "red"\n}';
    await assert.rejects(loadPolicy(WS, memoryFs({ [FILE]: text })), (err: unknown) => {
      assert.ok(err instanceof PolicyError);
      assert.equal(err.file, FILE);
      assert.equal(err.issues.length, 1);
      assert.equal(err.issues[0]!.path, 'limits.task.hardTokens');
      assert.equal(err.issues[0]!.line, 2);
      assert.ok(err.message.includes(`${FILE}:2:`));
      assert.equal(err.warnings.length, 1);
      assert.equal(err.warnings[0]!.path, 'colour');
      return true;
    });
  });

  it('unknown keys are warnings, located at the key, with a suggestion when one is close', () => {
    const text = '{\n  "limits": { "task": { "hardToken": 9000 } },\n  "timezone": "UTC",\n  "colour": "red"\n}';
    const r = parsePolicyText(text, FILE);
    assert.ok(r.policy, 'unknown keys do not stop the policy from loading');
    assert.ok(r.issues.every((i) => i.severity === 'warning'));
    const a = only(r.issues, 'limits.task.hardToken');
    assert.equal(a.message, 'unknown key "hardToken" is ignored (did you mean "hardTokens"?)');
    assertAt(a, text, '"hardToken"');
    assert.equal(only(r.issues, 'timezone').message, 'unknown key "timezone" is ignored (did you mean "timeZone"?)');
    assert.equal(only(r.issues, 'colour').message, 'unknown key "colour" is ignored');
    assert.equal(r.policy.limits.task.hardTokens, DEFAULT_POLICY.limits.task.hardTokens, 'ignored means ignored');
    assert.equal(
      formatIssue(a),
      `${FILE}:2:25: warning: limits.task.hardToken: unknown key "hardToken" is ignored (did you mean "hardTokens"?)`,
    );
  });

  it('an unknown provider is a warning, not an error', () => {
    const r = parsePolicyText('{ "providers": { "mistral": { "baseUrl": "https://x.invalid" } } }', FILE);
    assert.ok(r.policy);
    assert.equal(only(r.issues, 'providers.mistral').severity, 'warning');
  });

  it('duplicate keys warn (only the last one counts)', () => {
    const text = '{\n  "timeZone": "UTC",\n  "timeZone": "Europe/Berlin"\n}';
    const r = parsePolicyText(text, FILE);
    assert.equal(r.policy?.timeZone, 'Europe/Berlin');
    const w = only(r.issues, 'timeZone');
    assert.equal(w.severity, 'warning');
    assert.deepEqual([w.line, w.column], [3, 3]);
  });

  describe('JSON syntax', () => {
    it('comments and trailing commas are accepted (JSONC, like settings.json; the schema tells VS Code so)', () => {
      const text =
        '{\n  // why: release week\n  "limits": { "task": { "hardTokens": 9000, }, },\n  /* block */ "timeZone": "UTC",\n}';
      const r = parsePolicyText(text, FILE);
      assert.deepEqual(r.issues, []);
      assert.equal(r.policy?.limits.task.hardTokens, 9000);
    });

    it('a missing comma points at the line after it', () => {
      const text =
        '{\n  "limits": {\n    "task": { "hardTokens": 5000 }\n    "session": { "hardTokens": 9000 }\n  }\n}';
      const [e, ...rest] = errorsOf(text);
      assert.deepEqual(rest, []);
      assert.ok(e);
      assert.match(e.message, /^JSON syntax: expected ","/);
      assert.deepEqual([e.line, e.column], [4, 5]);
      assert.equal(e.path, 'limits.session');
    });

    it('an unquoted key, an unclosed string and an empty file are located errors', () => {
      const unquoted = errorsOf('{\n  timeZone: "UTC"\n}');
      assert.ok(unquoted.length >= 1);
      assert.deepEqual([unquoted[0]!.line, unquoted[0]!.column], [2, 3]);
      assert.match(unquoted[0]!.message, /JSON syntax/);
      const unclosed = errorsOf('{\n  "timeZone": "UTC\n}');
      assert.ok(unclosed.some((e) => e.line === 2 && /string is not closed|control character/.test(e.message)));
      const empty = errorsOf('  \n');
      assert.equal(empty[0]!.message, 'the file is empty; expected a JSON object');
    });

    it('the root must be an object', () => {
      const [e] = errorsOf('[1, 2]');
      assert.equal(e!.path, '');
      assert.equal(e!.message, 'must be an object, got a list');
    });

    it('a byte-order mark does not shift columns', () => {
      const r = parsePolicyText('\uFEFF{ "limits": { "task": { "hardTokens": "x" } } }', FILE);
      assert.equal(only(r.issues, 'limits.task.hardTokens').column, 39);
    });
  });

  describe('checks beyond the schema', () => {
    it('a rule scope that does not parse is an error with a suggestion', () => {
      const text =
        '{ "rules": [\n  { "when": { "scope": "workspace.dayly", "atLeastPct": 90 }, "action": "degrade" },\n  { "when": { "scope": "workflow.Code Review.daily" }, "action": "warn" },\n  { "when": { "scope": "workspace" }, "action": "warn" }\n] }';
      const errors = errorsOf(text);
      const a = only(errors, 'rules[0].when.scope');
      assert.equal(
        a.message,
        '"dayly" is not a period; use daily, weekly or monthly (did you mean "workspace.daily"?)',
      );
      assertAt(a, text, '"workspace.dayly"');
      assert.match(only(errors, 'rules[1].when.scope').message, /^"Code Review" is not a workflow id/);
      assert.match(only(errors, 'rules[2].when.scope').message, /needs a period/);
    });

    it('a time zone Intl does not know is an error', () => {
      const text = '{ "timeZone": "Europe/Berlinn" }';
      const e = only(errorsOf(text), 'timeZone');
      assert.match(e.message, /is not a time zone.*did you mean "Europe\/Berlin"/);
      assert.equal(e.column, 15);
      assert.ok(parsePolicyText('{ "timeZone": "Asia/Kolkata" }', FILE).policy);
    });

    it('alert thresholds must ascend without repeats', () => {
      const text = '{ "alerts": { "thresholdsPct": [50, 90, 75, 75] } }';
      const errors = errorsOf(text);
      assert.match(only(errors, 'alerts.thresholdsPct[2]').message, /75 comes after 90/);
      assert.match(only(errors, 'alerts.thresholdsPct[3]').message, /75 is listed twice/);
      assertAt(only(errors, 'alerts.thresholdsPct[2]'), text, '75');
    });

    it('workflow ids in "workflows" must be well-formed', () => {
      const text = '{ "workflows": {\n  "Code Review": {},\n  "a..b": {},\n  "ok.id-1": {}\n} }';
      const errors = errorsOf(text);
      assert.equal(errors.length, 2, errors.map(formatIssue).join('\n'));
      const e = only(errors, 'workflows["Code Review"]');
      assert.match(e.message, /^"Code Review" is not a workflow id: use lowercase letters/);
      assertAt(e, text, '"Code Review"');
      assertAt(only(errors, 'workflows["a..b"]'), text, '"a..b"');
    });

    it('modelMatches must compile as a regular expression', () => {
      const errors = errorsOf(
        '{ "rules": [{ "when": { "scope": "task", "modelMatches": "(opus" }, "action": "block" },\n { "when": { "scope": "task", "modelMatches": "/opus/g" }, "action": "block" }] }',
      );
      assert.equal(
        only(errors, 'rules[0].when.modelMatches').message,
        '"(opus" is not a valid regular expression: Unterminated group',
      );
      assert.match(only(errors, 'rules[1].when.modelMatches').message, /flag "g" is not allowed/);
      assert.ok(
        parsePolicyText(
          '{ "rules": [{ "when": { "scope": "task", "modelMatches": "^claude-(opus|sonnet)" }, "action": "block" }] }',
          FILE,
        ).policy,
      );
    });

    it('atLeastPct needs a scope', () => {
      const e = only(
        errorsOf('{ "rules": [{ "when": { "atLeastPct": 80 }, "action": "warn" }] }'),
        'rules[0].when.atLeastPct',
      );
      assert.match(e.message, /needs a "scope"/);
    });

    it('webhookUrl and provider base URLs must be http(s)', () => {
      const text =
        '{ "alerts": { "webhookUrl": "ftp://example.invalid/x" },\n  "providers": { "openai": { "baseUrl": "localhost:8080" }, "gemini": { "baseUrl": "http://127.0.0.1:9000" } } }';
      const errors = errorsOf(text);
      assert.equal(errors.length, 2, errors.map(formatIssue).join('\n'));
      assert.equal(
        only(errors, 'alerts.webhookUrl').message,
        'must be an http:// or https:// URL, got "ftp://example.invalid/x"',
      );
      assertAt(only(errors, 'providers.openai.baseUrl'), text, '"localhost:8080"');
    });

    it('per-workflow soft limits are checked against the hard limit that applies to them', () => {
      const text =
        '{ "limits": { "task": { "hardTokens": 12000 } },\n  "workflows": { "code-review": { "limits": { "task": { "softTokens": 20000 } } } } }';
      const e = only(errorsOf(text), 'workflows.code-review.limits.task.softTokens');
      assert.equal(e.message, 'must not be above hardTokens: 20000 > 12000 (from limits.task)');
      assertAt(e, text, '20000');
      // Raising the hard limit in the same override makes it fine.
      assert.ok(
        parsePolicyText(
          '{ "limits": { "task": { "hardTokens": 12000 } }, "workflows": { "code-review": { "limits": { "task": { "softTokens": 20000, "hardTokens": 30000 } } } } }',
          FILE,
        ).policy,
      );
    });

    it('complexity without complexModel warns', () => {
      const r = parsePolicyText('{ "workflows": { "explain": { "complexity": { "inputTokensAbove": 100 } } } }', FILE);
      assert.ok(r.policy);
      assert.match(only(r.issues, 'workflows.explain.complexity').message, /no effect without "complexModel"/);
    });

    it('a tool in both allow and approve asks (warning); allow alone moves it out of the default approve list', () => {
      const both = parsePolicyText(
        '{ "tools": { "allow": ["readFile", "runCommand"], "approve": ["runCommand"] } }',
        FILE,
      );
      assert.deepEqual(both.policy?.tools.allow, ['readFile']);
      assert.deepEqual(both.policy?.tools.approve, ['runCommand']);
      assert.equal(only(both.issues, 'tools.allow[1]').severity, 'warning');
      const allowOnly = parsePolicyText('{ "tools": { "allow": ["readFile", "writeFile"] } }', FILE);
      assert.deepEqual(allowOnly.issues, []);
      assert.deepEqual(allowOnly.policy?.tools.allow, ['readFile', 'writeFile']);
      assert.deepEqual(allowOnly.policy?.tools.approve, ['editFile', 'runCommand']);
    });

    it('reports all problems at once, errors first in document order', () => {
      const text = '{ "colour": 1, "timeZone": "Mars/Base", "limits": { "task": { "hardTokens": -1 } } }';
      const issues = parsePolicyText(text, FILE).issues;
      assert.deepEqual(
        issues.map((i) => [i.severity, i.path]),
        [
          ['error', 'timeZone'],
          ['error', 'limits.task.hardTokens'],
          ['warning', 'colour'],
        ],
      );
    });
  });

  it('reads through node:fs by default (a real temp workspace)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'agent-budget-policy-'));
    try {
      assert.equal((await loadPolicy(dir)).source, 'defaults');
      mkdirSync(join(dir, '.agent-budget'));
      writeFileSync(join(dir, '.agent-budget', 'budget.json'), '{ "limits": { "workspace": { "dailyUsd": 2 } } }');
      const r = await loadPolicy(dir);
      assert.equal(r.source, 'file');
      assert.equal(r.policy.limits.workspace.dailyUsd, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
