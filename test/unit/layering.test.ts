// The folder tells what a file may import (AGENTS.md "Layers"):
// - src/core is plain TypeScript: no runtime import of `vscode`, nor of src/vscode, src/cli or src/webview;
// - src/webview is browser code: no runtime import of `vscode`, nor of anything outside src/webview (where
//   protocol.ts, the one file both sides share, lives).
// `import type` (and imports whose every name is `type`) are erased at build time, so they are allowed.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..');
const SRC = path.join(ROOT, 'src');

/** Module specifiers a file imports at run time (import/export-from, import =, require(), import()). */
export function runtimeImports(fileName: string, text: string): string[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const clause = node.importClause;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (!clause.name &&
            clause.namedBindings !== undefined &&
            ts.isNamedImports(clause.namedBindings) &&
            clause.namedBindings.elements.length > 0 &&
            clause.namedBindings.elements.every((e) => e.isTypeOnly)));
      if (!typeOnly) found.push(node.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly =
        node.isTypeOnly ||
        (node.exportClause !== undefined &&
          ts.isNamedExports(node.exportClause) &&
          node.exportClause.elements.length > 0 &&
          node.exportClause.elements.every((e) => e.isTypeOnly));
      if (!typeOnly) found.push(node.moduleSpecifier.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      !node.isTypeOnly &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression.text);
    } else if (
      ts.isCallExpression(node) &&
      (node.expression.kind === ts.SyntaxKind.ImportKeyword ||
        (ts.isIdentifier(node.expression) && node.expression.text === 'require')) &&
      node.arguments.length > 0 &&
      ts.isStringLiteralLike(node.arguments[0]!)
    ) {
      found.push((node.arguments[0] as ts.StringLiteralLike).text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** What is wrong with `file` importing `specifier` at run time, or undefined if the layer allows it. */
export function layerViolation(file: string, specifier: string): string | undefined {
  const layer = path.relative(SRC, file).split(path.sep)[0];
  const isVscode = specifier === 'vscode' || specifier.startsWith('vscode/');
  const target = specifier.startsWith('.') ? path.resolve(path.dirname(file), specifier) : undefined;
  // Only folders under src/ are layers; data outside it (schemas/*.json) may be imported by anyone.
  const insideSrc = target !== undefined && !path.relative(SRC, target).startsWith('..');
  const targetLayer = insideSrc ? path.relative(SRC, target).split(path.sep)[0] : undefined;
  if (layer === 'core') {
    if (isVscode) return 'src/core imports vscode at run time';
    if (targetLayer && targetLayer !== 'core') return `src/core imports src/${targetLayer} at run time`;
  }
  if (layer === 'webview') {
    if (isVscode) return 'src/webview imports vscode';
    if (targetLayer && targetLayer !== 'webview') return `src/webview imports src/${targetLayer} at run time`;
  }
  return undefined;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.(ts|tsx|mts|cts)$/.test(f) && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f));
}

function violationsIn(layer: string): string[] {
  const problems: string[] = [];
  for (const file of sourceFiles(path.join(SRC, layer))) {
    for (const specifier of runtimeImports(file, readFileSync(file, 'utf8'))) {
      const problem = layerViolation(file, specifier);
      if (problem) problems.push(`${path.relative(ROOT, file)}: ${problem} ('${specifier}')`);
    }
  }
  return problems;
}

describe('layering (AGENTS.md "Layers")', function () {
  // Parsing every source file is CPU-bound: seconds on a busy machine, which is no failure of the layering.
  this.timeout(30_000);
  it('src/core never imports vscode, src/vscode, src/cli or src/webview at run time', () => {
    assert.ok(sourceFiles(path.join(SRC, 'core')).length > 0, 'no files found under src/core');
    assert.deepEqual(violationsIn('core'), []);
  });

  it('src/webview imports nothing from src/vscode, src/core or vscode at run time', () => {
    assert.ok(sourceFiles(path.join(SRC, 'webview')).length > 0, 'no files found under src/webview');
    assert.deepEqual(violationsIn('webview'), []);
  });

  it('the check itself tells runtime imports from type-only ones', () => {
    const core = path.join(SRC, 'core', 'example.ts');
    const imports = (text: string) => runtimeImports(core, text).filter((s) => layerViolation(core, s));
    assert.deepEqual(imports(`import * as vscode from 'vscode';`), ['vscode']);
    assert.deepEqual(imports(`import { window } from 'vscode';`), ['vscode']);
    assert.deepEqual(imports(`import { type Uri, window } from 'vscode';`), ['vscode']);
    assert.deepEqual(imports(`import 'vscode';`), ['vscode']);
    assert.deepEqual(imports(`const v = require('vscode');`), ['vscode']);
    assert.deepEqual(imports(`const v = await import('vscode');`), ['vscode']);
    assert.deepEqual(imports(`export { ApiKeys } from '../vscode/apiKeys';`), ['../vscode/apiKeys']);
    assert.deepEqual(imports(`import { x } from '../webview/main';`), ['../webview/main']);
    assert.deepEqual(imports(`import type * as vscode from 'vscode';`), []);
    assert.deepEqual(imports(`import type { Uri } from 'vscode';`), []);
    assert.deepEqual(imports(`import { type Uri } from 'vscode';`), []);
    assert.deepEqual(imports(`export type { Uri } from 'vscode';`), []);
    assert.deepEqual(imports(`let u: import('vscode').Uri;`), []);
    assert.deepEqual(imports(`import { Money } from './money';`), []);
    assert.deepEqual(imports(`import budgetSchema from '../../schemas/budget.schema.json';`), []);
    assert.deepEqual(imports(`import { run } from '../cli/main';`), ['../cli/main']);

    const webview = path.join(SRC, 'webview', 'main.ts');
    const webviewImports = (text: string) => runtimeImports(webview, text).filter((s) => layerViolation(webview, s));
    assert.deepEqual(webviewImports(`import { Ledger } from '../core/ledger';`), ['../core/ledger']);
    assert.deepEqual(webviewImports(`import { Commands } from '../vscode/ids';`), ['../vscode/ids']);
    assert.deepEqual(webviewImports(`import type { Money } from '../core/money';`), []);
    assert.deepEqual(webviewImports(`import { type Msg } from './protocol';`), []);
    assert.deepEqual(webviewImports(`import { post } from './protocol';`), []);
  });
});
