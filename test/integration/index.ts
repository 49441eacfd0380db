// Entry point the extension host loads as `extensionTestsPath`: in the real VS Code from code-server
// (scripts/test-integration.mjs) and in desktop VS Code under @vscode/test-electron (scripts/test-desktop.mjs).
// VS Code calls `run()`; when it settles the extension host exits. Mocha comes from node_modules at run time
// (the bundle keeps it external); the test files are bundled in, listed by esbuild.mjs from *.test.ts here.
import Mocha from 'mocha';
import testFiles from 'virtual:integration-tests';
import ResultsReporter from '../../scripts/mocha-results-reporter.cjs';

export async function run(): Promise<void> {
  const mocha = new Mocha({ ui: 'bdd', color: false, timeout: 20_000, reporter: ResultsReporter });
  for (const [file, load] of testFiles) {
    // Mocha's own file loader does this: put describe/it on the global object, then evaluate the file.
    mocha.suite.emit(Mocha.Suite.constants.EVENT_FILE_PRE_REQUIRE, globalThis, file, mocha);
    load();
    mocha.suite.emit(Mocha.Suite.constants.EVENT_FILE_POST_REQUIRE, globalThis, file, mocha);
  }
  const failures = await new Promise<number>((resolve) => mocha.run(resolve));
  if (failures > 0) throw new Error(`${failures} integration test(s) failed`);
}
