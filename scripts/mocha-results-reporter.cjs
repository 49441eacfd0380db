// Mocha's spec reporter, plus a JSON summary written to $AGENT_BUDGET_TEST_RESULTS when the run ends, so
// `npm test` can count passes/failures/pending per tier. Used by the unit and e2e tiers (mocha --reporter) and
// by the integration index inside the extension host (where mocha is loaded from node_modules, never bundled).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const Mocha = require('mocha');

const { EVENT_RUN_END, EVENT_TEST_FAIL, EVENT_TEST_PASS, EVENT_TEST_PENDING } = Mocha.Runner.constants;

/** Where the summary goes; the harness (scripts/test.mjs, scripts/test-integration.mjs) sets it. */
const RESULTS_ENV = 'AGENT_BUDGET_TEST_RESULTS';

class ResultsReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    const failures = [];
    const tests = [];
    runner.on(EVENT_TEST_PASS, (test) =>
      tests.push({ title: test.fullTitle(), state: 'passed', durationMs: test.duration }),
    );
    runner.on(EVENT_TEST_PENDING, (test) => tests.push({ title: test.fullTitle(), state: 'pending' }));
    runner.on(EVENT_TEST_FAIL, (test, error) => {
      tests.push({ title: test.fullTitle(), state: 'failed' });
      failures.push({
        title: test.fullTitle(),
        message: String((error && error.message) || error),
        stack: error && error.stack ? String(error.stack).split('\n').slice(0, 8).join('\n') : undefined,
      });
    });
    runner.once(EVENT_RUN_END, () => {
      const file = process.env[RESULTS_ENV];
      if (!file) return;
      const stats = runner.stats || {};
      const summary = {
        passes: stats.passes || 0,
        // Hook failures count here too ("before all" hook failing), so a broken fixture is never a green tier.
        failures: stats.failures || 0,
        pending: stats.pending || 0,
        tests: stats.tests || 0,
        durationMs: stats.duration || 0,
        failureDetails: failures,
        testDetails: tests,
        // Tests whose subject this platform lacks, never defined here (test/support/platform.ts itWhere).
        notApplicable: globalThis[Symbol.for('agent-budget.notApplicable')] ?? [],
      };
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
    });
  }
}

module.exports = ResultsReporter;
module.exports.RESULTS_ENV = RESULTS_ENV;
