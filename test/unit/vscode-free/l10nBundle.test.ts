// The extension host's strings go through vscode.l10n.t and are exported to l10n/bundle.l10n.json (`npm run l10n`),
// the file translators start from. These tests fail when the committed bundle no longer matches the source (a string
// added, changed or removed without re-running the export), and when a call cannot be exported or filled in: a
// message that is not a literal (the exporter skips it, so it would never be translated) or a `{n}` placeholder
// without its argument.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getL10nJson } from '@vscode/l10n-dev';
import ts from 'typescript';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const SOURCES = path.join(ROOT, 'src', 'vscode');
const BUNDLE = path.join(ROOT, 'l10n', 'bundle.l10n.json');

function sourceFiles(): Array<{ file: string; text: string }> {
  return readdirSync(SOURCES, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts'))
    .sort()
    .map((f) => ({ file: path.join('src', 'vscode', f), text: readFileSync(path.join(SOURCES, f), 'utf8') }));
}

interface Call {
  where: string;
  message: string | undefined;
  args: number;
}

/** Every `….l10n.t(...)` call in a file: its message when it is a literal, and how many arguments follow it. */
function l10nCalls(file: string, text: string): Call[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const calls: Call[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === 't' &&
      ts.isPropertyAccessExpression(node.expression.expression) &&
      node.expression.expression.name.text === 'l10n'
    ) {
      const [first, ...rest] = node.arguments;
      const literal = first && (ts.isStringLiteral(first) || ts.isNoSubstitutionTemplateLiteral(first));
      const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
      calls.push({ where: `${file}:${line}`, message: literal ? first.text : undefined, args: rest.length });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return calls;
}

describe('l10n bundle (vscode.l10n.t strings of src/vscode)', () => {
  const files = sourceFiles();
  const calls = files.flatMap(({ file, text }) => l10nCalls(file, text));

  it('finds the extension’s translated strings (the scan itself works)', () => {
    assert.ok(calls.length > 50, `only ${calls.length} vscode.l10n.t calls found in src/vscode`);
  });

  it('every message is a literal, so the exporter sees it', () => {
    const dynamic = calls.filter((c) => c.message === undefined).map((c) => c.where);
    assert.deepEqual(dynamic, [], 'vscode.l10n.t needs a string literal as its message (put values in {0}, {1}…)');
  });

  it('every {n} placeholder has its argument', () => {
    const short = calls
      .filter((c) => c.message !== undefined)
      .flatMap((c) => {
        const used = [...c.message!.matchAll(/\{(\d+)\}/g)].map((m) => Number(m[1]));
        const needed = used.length ? Math.max(...used) + 1 : 0;
        return needed > c.args ? [`${c.where}: "${c.message}" uses {${needed - 1}} but passes ${c.args}`] : [];
      });
    assert.deepEqual(short, []);
  });

  it('the committed l10n/bundle.l10n.json is what `npm run l10n` exports now', async () => {
    const exported = await getL10nJson(files.map(({ text }) => ({ contents: text, extension: '.ts' })));
    const committed = JSON.parse(readFileSync(BUNDLE, 'utf8')) as Record<string, unknown>;
    const missing = Object.keys(exported).filter((k) => !(k in committed));
    const stale = Object.keys(committed).filter((k) => !(k in exported));
    assert.deepEqual(
      { missing, stale },
      { missing: [], stale: [] },
      'l10n/bundle.l10n.json is out of date: run `npm run l10n` and commit the result',
    );
    assert.deepEqual(committed, exported);
  });
});
