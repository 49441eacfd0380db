// The extension host's strings go through vscode.l10n.t (or, in its plain-TypeScript modules, @vscode/l10n's l10n.t:
// the same bundle) and are exported to l10n/bundle.l10n.json (`npm run l10n`), the file translators start from. These tests fail when the committed bundle no longer matches the source (a string
// added, changed or removed without re-running the export), and when a call cannot be exported or filled in: a
// message that is not a literal (the exporter skips it, so it would never be translated) or a `{n}` placeholder
// without its argument.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as l10n from '@vscode/l10n';
import { getL10nJson, getL10nPseudoLocalized } from '@vscode/l10n-dev';
import ts from 'typescript';
import { capName } from '../../../src/vscode/budgetText';
import { runNotice } from '../../../src/vscode/runNotice';

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

/** Every `vscode.l10n.t(...)` / `l10n.t(...)` call in a file: its message when a literal, and how many arguments follow. */
function l10nCalls(file: string, text: string): Call[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const calls: Call[] = [];
  const visit = (node: ts.Node): void => {
    if (
      ts.isCallExpression(node) &&
      ts.isPropertyAccessExpression(node.expression) &&
      node.expression.name.text === 't' &&
      ((ts.isPropertyAccessExpression(node.expression.expression) && node.expression.expression.name.text === 'l10n') ||
        (ts.isIdentifier(node.expression.expression) && node.expression.expression.text === 'l10n'))
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

describe('l10n bundle (the l10n.t strings of src/vscode)', () => {
  const files = sourceFiles();
  const calls = files.flatMap(({ file, text }) => l10nCalls(file, text));

  it('finds the extension’s translated strings (the scan itself works)', () => {
    assert.ok(calls.length > 150, `only ${calls.length} l10n.t calls found in src/vscode`);
    assert.ok(
      calls.some((c) => c.where.startsWith(path.join('src', 'vscode', 'runNotice.ts'))),
      "@vscode/l10n's l10n.t calls are not seen",
    );
  });

  it('every message is a literal, so the exporter sees it', () => {
    const dynamic = calls.filter((c) => c.message === undefined).map((c) => c.where);
    assert.deepEqual(dynamic, [], 'l10n.t needs a string literal as its message (put values in {0}, {1}…)');
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

  describe('a translated bundle reaches the plain-TypeScript modules (what shareDisplayLanguage hands over)', () => {
    // @vscode/l10n keeps the bundle in module state: back to none (English) for the other tests.
    after(() => l10n.config({ contents: {} }));

    it('runNotice and budgetText speak the bundle’s language, whole sentences with their values', () => {
      const committed = JSON.parse(readFileSync(BUNDLE, 'utf8')) as Record<string, string>;
      const pseudo = getL10nPseudoLocalized(committed) as Record<string, string>;
      l10n.config({ contents: pseudo });
      const expected = (key: string, ...args: string[]) =>
        args.reduce((text, arg, i) => text.replace(`{${i}}`, arg), pseudo[key]!);
      const notice = runNotice({
        outcome: {
          runId: 'run-1',
          workflow: 'code-review',
          status: 'cancelled',
          costMicros: 1_250_000,
          tokens: { input: 0, output: 0, cacheRead: 0, cacheWrite: 0, reasoning: 0 },
          steps: [],
        },
      });
      assert.equal(notice.message, expected('Agent Budget: {0} cancelled after {1}.', 'code-review', '$1.25'));
      assert.notEqual(notice.message, 'Agent Budget: code-review cancelled after $1.25.');
      assert.equal(capName('workspace.daily'), pseudo['the workspace daily cap']);
    });
  });
});
