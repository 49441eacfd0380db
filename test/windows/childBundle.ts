import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * test/support/childBundle.ts for the windows tier: esbuild has no Windows binary in node_modules, so
 * scripts/test-windows.mjs bundles every `bundleChild('…')` script on the Linux side before the run, and this
 * returns it. Same signature, so the suites start their children unchanged.
 */
export async function bundleChild(entry: string): Promise<string> {
  const prebuilt = path.resolve(
    __dirname,
    '..',
    '..',
    'out',
    'test-windows',
    'children',
    `${path.basename(entry, '.ts')}.js`,
  );
  if (!existsSync(prebuilt)) {
    throw new Error(
      `${entry} was not prebuilt for the windows tier: scripts/test-windows.mjs bundles bundleChild('…') literals`,
    );
  }
  return prebuilt;
}
