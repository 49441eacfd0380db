import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import budgetSchema from '../../../schemas/budget.schema.json';
import inventorySchema from '../../../schemas/inventory.schema.json';
import workflowSchema from '../../../schemas/workflow.schema.json';
import { DEFAULT_POLICY, parsePolicyText } from '../../../src/core/policy/load';
import { parseScope } from '../../../src/core/policy/scopes';
import { TOOL_NAMES, WORKFLOW_ID_PATTERN } from '../../../src/core/policy/workflowTypes';
import { PROVIDERS } from '../../../src/core/usage';

const ROOT = join(__dirname, '../../..');
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON Schema nodes, walked generically
type Schema = Record<string, any>;

function resolve(root: Schema, node: Schema): Schema {
  return typeof node.$ref === 'string'
    ? resolve(root, root.definitions[node.$ref.replace('#/definitions/', '')])
    : node;
}

/** Every named property, with its path, walking objects, maps and arrays. */
function properties(
  root: Schema,
  node: Schema,
  path: string,
  out: [string, Schema, Schema][] = [],
  seen = new Set<Schema>(),
): typeof out {
  const n = resolve(root, node);
  if (seen.has(n)) return out;
  seen.add(n);
  for (const [k, v] of Object.entries<Schema>(n.properties ?? {})) {
    out.push([`${path}${path ? '.' : ''}${k}`, v, resolve(root, v)]);
    properties(root, v, `${path}${path ? '.' : ''}${k}`, out, seen);
  }
  if (n.additionalProperties && typeof n.additionalProperties === 'object')
    properties(root, n.additionalProperties, `${path}.<key>`, out, seen);
  if (n.items) properties(root, n.items, `${path}[]`, out, seen);
  return out;
}

describe('policy: the JSON Schemas', () => {
  for (const [name, schema] of [
    ['budget', budgetSchema],
    ['workflow', workflowSchema],
    ['inventory', inventorySchema],
  ] as const) {
    it(`${name}: draft-07, JSONC allowed, every property described (hover text in the editor)`, () => {
      assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
      assert.equal(schema.allowComments, true);
      assert.equal(schema.allowTrailingCommas, true);
      const undocumented = properties(schema, schema, '')
        .filter(([path, own, target]) => path !== '$schema' && !own.description && !target.description)
        .map(([path]) => path);
      assert.deepEqual(undocumented, []);
    });
  }

  it('tool names and providers are the ones core knows', () => {
    assert.deepEqual(budgetSchema.definitions.toolName.enum, [...TOOL_NAMES]);
    assert.deepEqual(workflowSchema.definitions.toolName.enum, [...TOOL_NAMES]);
    assert.deepEqual(budgetSchema.definitions.priceOverride.properties.provider.enum, [...PROVIDERS]);
    assert.deepEqual(workflowSchema.properties.provider.enum, [...PROVIDERS]);
    assert.deepEqual(Object.keys(budgetSchema.properties.providers.properties), [...PROVIDERS]);
  });

  it('workflow-id and scope patterns agree with core', () => {
    assert.equal(budgetSchema.definitions.workflowId.pattern, WORKFLOW_ID_PATTERN.source);
    assert.equal(workflowSchema.properties.id.pattern, WORKFLOW_ID_PATTERN.source);
    const scope = new RegExp(budgetSchema.definitions.rule.properties.when.properties.scope.pattern, 'u');
    for (const name of [
      'task',
      'session',
      'workspace.daily',
      'workspace.weekly',
      'workspace.monthly',
      'workflow.code-review.daily',
      'workflow.a.b.monthly',
      'workspace.dayly',
      'workflow.daily',
      'workflow.A.daily',
      'tasks',
      'workspace.x.daily',
    ]) {
      assert.equal(scope.test(name), parseScope(name) !== undefined, name);
    }
  });

  it('the built-in defaults are a valid policy file themselves', () => {
    const r = parsePolicyText(JSON.stringify(DEFAULT_POLICY), 'defaults.json');
    assert.deepEqual(r.issues, []);
    assert.deepEqual(r.policy, DEFAULT_POLICY);
  });

  it('package.json maps the workspace files to the schemas (jsonValidation)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    const byUrl = new Map<string, string[]>(
      pkg.contributes.jsonValidation.map((v: { url: string; fileMatch: string[] }) => [v.url, v.fileMatch]),
    );
    // The user's own user.json (src/core/trust/userPolicyFile.ts) has the same schema as budget.json.
    assert.deepEqual(byUrl.get('./schemas/budget.schema.json'), [
      '**/.agent-budget/budget.json',
      '**/agent-budget/user.json',
    ]);
    assert.deepEqual(byUrl.get('./schemas/workflow.schema.json'), ['**/.agent-budget/workflows/*.json']);
    for (const url of byUrl.keys()) assert.ok(existsSync(join(ROOT, url)), url);
  });

  it('src/core/policy never imports vscode', () => {
    const dir = join(ROOT, 'src/core/policy');
    for (const f of readdirSync(dir)) {
      const text = readFileSync(join(dir, f), 'utf8');
      assert.ok(!/from ['"]vscode['"]|require\(['"]vscode['"]\)/.test(text.replace(/import type[^;]+;/g, '')), f);
    }
  });
});
