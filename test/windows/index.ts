// The windows tier's bundle entry: scripts/test-windows.mjs bundles it with the selected suites and mocha's CLI
// loads it under Wine's node.exe. Mocha has put describe/it on the global object before this file runs.
import suites from 'virtual:windows-suites';
import { httpFetch } from './httpFetch';

// Before any suite loads, so every SDK client and the webhook sender get it (Wine's limit: see httpFetch.ts).
globalThis.fetch = httpFetch;
for (const [, load] of suites) load();
