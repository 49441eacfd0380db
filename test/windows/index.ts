// The windows tier's bundle entry: scripts/test-windows.mjs bundles it with the selected suites and mocha's CLI
// loads it under Wine's node.exe. Mocha has put describe/it on the global object before this file runs.
import './fetchForWine';
import suites from 'virtual:windows-suites';

for (const [, load] of suites) load();
