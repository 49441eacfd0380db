import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';

/** Where esbuild.mjs emits the webview pages' files: the one folder our webviews may load from. */
export function webviewAssets(extensionUri: vscode.Uri): vscode.Uri {
  return vscode.Uri.joinPath(extensionUri, 'dist', 'webview');
}

/**
 * The HTML of one of our webview pages (the budget panel, a run's view): a strict Content-Security-Policy — scripts
 * only with this page's fresh nonce, styles, fonts and images only from the extension's webview folder — the codicon
 * stylesheet, the page's own stylesheet and script, and `body` (its attributes, already escaped) around `main`.
 */
export function webviewPage(
  webview: vscode.Webview,
  assets: vscode.Uri,
  page: { title: string; css: string; js: string; bodyAttributes: string; main: string },
): string {
  const nonce = randomBytes(16).toString('base64');
  const asset = (file: string) => webview.asWebviewUri(vscode.Uri.joinPath(assets, file)).toString();
  const csp = [
    `default-src 'none'`,
    `script-src 'nonce-${nonce}'`,
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `img-src ${webview.cspSource} data:`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" href="${asset('codicon.css')}" id="vscode-codicon-stylesheet">
  <link rel="stylesheet" href="${asset(page.css)}">
  <title>${page.title}</title>
</head>
<body ${page.bodyAttributes}>
  ${page.main}
  <script nonce="${nonce}" src="${asset(page.js)}"></script>
</body>
</html>`;
}
