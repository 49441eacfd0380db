// Draws the marketplace icon (media/icon.png, 128×128) from the activity-bar glyph (media/agent-budget.svg):
// the gauge in white on a rounded square, rendered by headless Chromium (the browser the e2e tests already use)
// and screenshotted with a transparent background. Run `node scripts/icon.mjs` after changing the glyph and
// commit the PNG (the package step does not draw it).
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { launchBrowser } from './vscode-server.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const glyph = readFileSync(path.join(root, 'media', 'agent-budget.svg'), 'utf8')
  .replace(/width="24" height="24"/, 'width="92" height="92"')
  .replace(/stroke-width="1.6"/, 'stroke-width="1.9"');

const page = `<!doctype html><html><body style="margin:0;background:transparent">
<div id="icon" style="width:128px;height:128px;border-radius:28px;display:flex;align-items:center;justify-content:center;
  background:linear-gradient(145deg,#2f6fda 0%,#1d4fa8 100%);color:#fff">${glyph}</div></body></html>`;

const browser = await launchBrowser();
try {
  const tab = await browser.newPage({ viewport: { width: 128, height: 128 }, deviceScaleFactor: 1 });
  await tab.setContent(page);
  const png = await tab.locator('#icon').screenshot({ omitBackground: true, type: 'png' });
  writeFileSync(path.join(root, 'media', 'icon.png'), png);
  console.log(`media/icon.png: ${png.length} bytes`);
} finally {
  await browser.close();
}
