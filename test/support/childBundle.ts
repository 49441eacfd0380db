import * as esbuild from 'esbuild';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/**
 * Bundles a test helper script for child processes: a plain node process starts in ~50 ms, tsx in ~500 ms, and
 * the crash tests start dozens. The bundle lives under out/ so sql.js's wasm resolves from node_modules.
 */
export async function bundleChild(entry: string): Promise<string> {
  const outfile = path.join(ROOT, 'out', 'test-children', `${path.basename(entry, '.ts')}.js`);
  await esbuild.build({
    entryPoints: [path.join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['vscode'],
    logLevel: 'error',
  });
  return outfile;
}
