import Mocha = require('mocha');

/** Mocha's spec reporter that also writes a JSON summary to $AGENT_BUDGET_TEST_RESULTS at the end of the run. */
declare class ResultsReporter extends Mocha.reporters.Spec {}
declare namespace ResultsReporter {
  const RESULTS_ENV: 'AGENT_BUDGET_TEST_RESULTS';
}
export = ResultsReporter;
