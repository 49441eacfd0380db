// Screenshots for review and for the README. Every call keeps one in .e2e-artifacts/; with
// README_SCREENSHOTS=1 the same picture also goes to media/screenshots/<name>.png (committed, shown in the README).
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { ROOT } from '../../scripts/vscode-server.mjs';
import { ARTIFACTS, type Workbench } from './workbench';

type Box = { x: number; y: number; width: number; height: number };

function union(boxes: Array<Box | null>, pad: number, page: { width: number; height: number }): Box | undefined {
  const real = boxes.filter((b): b is Box => b !== null);
  if (real.length === 0) return undefined;
  const x = Math.max(0, Math.min(...real.map((b) => b.x)) - pad);
  const y = Math.max(0, Math.min(...real.map((b) => b.y)) - pad);
  const right = Math.min(page.width, Math.max(...real.map((b) => b.x + b.width)) + pad);
  const bottom = Math.min(page.height, Math.max(...real.map((b) => b.y + b.height)) + pad);
  return { x, y, width: right - x, height: bottom - y };
}

/** `clip`: 'statusbar-hover' = the meter and its tooltip; 'sidebar' = activity bar and side bar; default the page. */
export async function saveScreenshot(
  wb: Workbench,
  name: string,
  options: { clip?: 'statusbar-hover' | 'sidebar' } = {},
): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `screenshot-${name}.png`);
  const size = wb.page.viewportSize() ?? { width: 1400, height: 900 };
  let clip: Box | undefined;
  if (options.clip === 'statusbar-hover') {
    const meter = await wb.statusBarItem('Agent Budget').first().boundingBox();
    const hover = await wb.page
      .locator('.monaco-hover, .workbench-hover')
      .first()
      .boundingBox()
      .catch(() => null);
    clip = union([meter, hover], 16, size);
    if (clip) {
      // Some of the status bar to the left, so the meter is seen in place.
      const x = Math.max(0, clip.x - 240);
      clip = { ...clip, x, width: Math.min(size.width - x, clip.width + (clip.x - x)) };
    }
  } else if (options.clip === 'sidebar') {
    const bar = await wb.page.locator('.part.activitybar').boundingBox();
    const side = await wb.page.locator('.part.sidebar').boundingBox();
    clip = union([bar, side], 0, size);
    if (clip) clip = { ...clip, height: Math.min(clip.height, 420) };
  }
  await wb.page.screenshot({ path: file, clip });
  if (process.env.README_SCREENSHOTS === '1') {
    const target = path.join(ROOT, 'media', 'screenshots', `${name}.png`);
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(file, target);
  }
  return file;
}
