import type { ErrorObject, ValidateFunction } from 'ajv';
import {
  findNodeAtLocation,
  getLocation,
  getNodeValue,
  parseTree,
  printParseErrorCode,
  type Node,
  type ParseError,
} from 'jsonc-parser/lib/esm/main.js'; // the package's "main" is a UMD build with dynamic requires esbuild cannot bundle
import { formatJsonPath, type PolicyIssue } from './issues';
import { closest } from './scopes';

/**
 * A workspace JSON file parsed with VS Code's own parser, keeping every value's location so that schema and
 * semantic problems point at the right line and column.
 *
 * The files are read as JSONC, like VS Code's settings.json and tsconfig.json: `//` and block comments and trailing
 * commas are accepted (teams comment why a budget is what it is). The schemas declare `allowComments` and
 * `allowTrailingCommas`, so the editor agrees and shows no squiggle for them either.
 */
export class JsonDocument {
  /** The text as parsed (without a byte-order mark). */
  readonly text: string;
  readonly root: Node | undefined;
  /** The parsed value (objects have no prototype); undefined when the text is not JSON at all. */
  readonly value: unknown;
  /** Syntax errors; when there are any, nothing else is checked. */
  readonly syntaxIssues: PolicyIssue[] = [];
  private readonly lineStarts: number[] = [0];

  constructor(
    readonly file: string,
    text: string,
  ) {
    // A byte-order mark is not content: VS Code hides it too, so offsets stay aligned with the editor.
    this.text = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    for (let i = 0; i < this.text.length; i++) if (this.text.charCodeAt(i) === 10) this.lineStarts.push(i + 1);
    const errors: ParseError[] = [];
    this.root = parseTree(this.text, errors, { allowTrailingComma: true, disallowComments: false });
    if (this.text.trim() === '') {
      this.syntaxIssues.push(this.issueAtOffset('error', '', 0, 0, 'the file is empty; expected a JSON object'));
    } else {
      for (const e of errors) {
        const path = formatJsonPath(getLocation(this.text, e.offset).path.filter((s) => s !== ''));
        this.syntaxIssues.push(this.issueAtOffset('error', path, e.offset, e.length, syntaxMessage(e.error)));
      }
    }
    this.value = this.root && this.syntaxIssues.length === 0 ? getNodeValue(this.root) : undefined;
  }

  /** 1-based line and column of a character offset. */
  position(offset: number): { line: number; column: number } {
    let lo = 0;
    let hi = this.lineStarts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.lineStarts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - this.lineStarts[lo]! + 1 };
  }

  issueAtOffset(
    severity: PolicyIssue['severity'],
    path: string,
    offset: number,
    length: number,
    message: string,
  ): PolicyIssue {
    const { line, column } = this.position(offset);
    return { severity, file: this.file, path, line, column, offset, length, message };
  }

  /**
   * An issue located at the value at `segments` (or at its key with `at: 'key'`). Where the value is missing the
   * nearest enclosing value that exists is used, so a missing key points at the object that lacks it.
   */
  issueAt(
    severity: PolicyIssue['severity'],
    segments: readonly (string | number)[],
    message: string,
    at: 'value' | 'key' = 'value',
  ): PolicyIssue {
    const path = formatJsonPath(segments);
    let node = this.node(segments);
    for (let n = segments.length - 1; !node && n >= 0; n--) node = this.node(segments.slice(0, n));
    if (!node) return this.issueAtOffset(severity, path, 0, 0, message);
    if (at === 'key' && node.parent?.type === 'property' && node.parent.children?.[0]) node = node.parent.children[0];
    return this.issueAtOffset(severity, path, node.offset, node.length, message);
  }

  /** An issue at a stretch of a string value: `index` counts characters of the string's raw text after its quote. */
  issueInString(
    severity: PolicyIssue['severity'],
    segments: readonly (string | number)[],
    rawIndex: number,
    length: number,
    message: string,
  ): PolicyIssue {
    const node = this.node(segments);
    if (!node || node.type !== 'string') return this.issueAt(severity, segments, message);
    return this.issueAtOffset(severity, formatJsonPath(segments), node.offset + 1 + rawIndex, length, message);
  }

  /** The raw text of the string value at `segments`, between its quotes (escapes as written). */
  rawString(segments: readonly (string | number)[]): string | undefined {
    const node = this.node(segments);
    if (!node || node.type !== 'string') return undefined;
    return this.text.slice(node.offset + 1, node.offset + node.length - 1);
  }

  node(segments: readonly (string | number)[]): Node | undefined {
    if (!this.root) return undefined;
    return segments.length === 0 ? this.root : findNodeAtLocation(this.root, segments as (string | number)[]);
  }

  /** Keys written twice in one object: JSON keeps the last silently, which hides edits; warn like VS Code does. */
  duplicateKeyWarnings(): PolicyIssue[] {
    const out: PolicyIssue[] = [];
    const walk = (node: Node, segments: (string | number)[]) => {
      if (node.type === 'object') {
        const seen = new Set<string>();
        for (const prop of node.children ?? []) {
          const key = prop.children?.[0];
          const value = prop.children?.[1];
          if (!key) continue;
          const name = String(key.value);
          if (seen.has(name)) {
            out.push(
              this.issueAtOffset(
                'warning',
                formatJsonPath([...segments, name]),
                key.offset,
                key.length,
                `duplicate key "${name}"; only the last one counts`,
              ),
            );
          }
          seen.add(name);
          if (value) walk(value, [...segments, name]);
        }
      } else if (node.type === 'array') {
        (node.children ?? []).forEach((child, i) => walk(child, [...segments, i]));
      }
    };
    if (this.root) walk(this.root, []);
    return out;
  }

  /**
   * Runs a compiled schema (ajv, `allErrors`) and maps its errors to plain words. Unknown keys
   * (`additionalProperties: false` in the schema, which VS Code also shows as warnings) become warnings: docs/policy.md
   * says unknown keys are warnings, so a newer file still loads in an older extension.
   */
  schemaIssues(validate: ValidateFunction): PolicyIssue[] {
    if (this.value === undefined || validate(this.value)) return [];
    const out: PolicyIssue[] = [];
    for (const e of validate.errors ?? []) {
      const issue = this.schemaIssue(e, validate.schema as SchemaNode);
      if (issue) out.push(issue);
    }
    return out;
  }

  /** JSON-pointer → path segments, with array indices as numbers (looked up in the value). */
  segmentsOf(pointer: string): (string | number)[] {
    if (pointer === '') return [];
    const out: (string | number)[] = [];
    let cur: unknown = this.value;
    for (const raw of pointer.slice(1).split('/')) {
      const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
      if (Array.isArray(cur)) {
        const i = Number(seg);
        out.push(i);
        cur = cur[i];
      } else {
        out.push(seg);
        cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[seg] : undefined;
      }
    }
    return out;
  }

  /** The value at a JSON pointer of this document. */
  valueAt(segments: readonly (string | number)[]): unknown {
    let cur: unknown = this.value;
    for (const s of segments)
      cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[s] : undefined;
    return cur;
  }

  private schemaIssue(e: ErrorObject, root: SchemaNode): PolicyIssue | undefined {
    const segs = this.segmentsOf(e.instancePath);
    // Read the failing value and its schema node from the paths rather than ajv's `verbose` option, which makes
    // compiling the schema about twice as slow (it is compiled on every CLI start).
    const propertyName = (e as ErrorObject & { propertyName?: string }).propertyName;
    const at = schemaAt(root, segs);
    const parent = propertyName !== undefined ? resolveRef(root, (at.propertyNames ?? {}) as SchemaNode) : at;
    const data = this.valueAt(segs);
    if (e.keyword === 'propertyNames' || e.keyword === 'if') return undefined; // the inner error says it better
    if (propertyName !== undefined) {
      const expected = parent.patternErrorMessage ?? `must be ${describeExpected(parent)}`;
      const near = parent.enum ? closest(propertyName, parent.enum.map(String)) : undefined;
      return this.issueAt(
        'error',
        [...segs, propertyName],
        `the key ${expected}, got "${propertyName}"${near ? ` (did you mean "${near}"?)` : ''}`,
        'key',
      );
    }
    switch (e.keyword) {
      case 'additionalProperties': {
        const key = String((e.params as { additionalProperty: string }).additionalProperty);
        const known = Object.keys(parent.properties ?? {});
        const near = closest(key, known);
        return this.issueAt(
          'warning',
          [...segs, key],
          `unknown key "${key}" is ignored${near ? ` (did you mean "${near}"?)` : ''}`,
          'key',
        );
      }
      case 'required': {
        const key = String((e.params as { missingProperty: string }).missingProperty);
        return this.issueAt('error', segs, `missing required key "${key}"`);
      }
      case 'uniqueItems': {
        const { i, j } = e.params as { i: number; j: number };
        const item = Array.isArray(data) ? data[Math.max(i, j)] : undefined;
        return this.issueAt(
          'error',
          [...segs, Math.max(i, j)],
          `${show(item)} is listed twice (also at [${Math.min(i, j)}])`,
        );
      }
      case 'minItems':
      case 'maxItems': {
        const limit = (e.params as { limit: number }).limit;
        const word = e.keyword === 'minItems' ? 'at least' : 'at most';
        return this.issueAt('error', segs, `must list ${word} ${limit} item${limit === 1 ? '' : 's'}`);
      }
      case 'pattern':
        return this.issueAt(
          'error',
          segs,
          `${parent.patternErrorMessage ?? `must match ${String(parent.pattern)}`}, got ${show(data)}`,
        );
      case 'enum': {
        const near = typeof data === 'string' && parent.enum ? closest(data, parent.enum.map(String)) : undefined;
        return this.issueAt(
          'error',
          segs,
          `must be ${describeExpected(parent)}, got ${show(data)}${near ? ` (did you mean "${near}"?)` : ''}`,
        );
      }
      default:
        return this.issueAt('error', segs, `must be ${describeExpected(parent)}, got ${show(data)}`);
    }
  }
}

/**
 * The schema node that describes the value at `segments`, walking properties / additionalProperties / items from
 * the root. (ajv's `schemaPath` is relative to whichever `$ref` target was compiled separately, so it cannot be
 * resolved from the root reliably.) These schemas use no anyOf/oneOf, so the walk is unambiguous.
 */
function schemaAt(root: SchemaNode, segments: readonly (string | number)[]): SchemaNode {
  let cur = resolveRef(root, root);
  for (const seg of segments) {
    const next =
      typeof seg === 'number'
        ? cur.items
        : cur.properties && Object.hasOwn(cur.properties, seg)
          ? cur.properties[seg]
          : cur.additionalProperties;
    if (next === null || typeof next !== 'object') return {};
    cur = resolveRef(root, next as SchemaNode);
  }
  return cur;
}

function resolveRef(root: SchemaNode, node: SchemaNode): SchemaNode {
  for (let i = 0; i < 16 && typeof node.$ref === 'string'; i++) {
    const target = node.$ref.startsWith('#/definitions/')
      ? root.definitions?.[node.$ref.slice('#/definitions/'.length)]
      : undefined;
    if (!target) return {};
    node = target;
  }
  return node;
}

/** The parts of a JSON schema node the messages read. */
interface SchemaNode {
  $ref?: string;
  definitions?: Record<string, SchemaNode>;
  items?: unknown;
  additionalProperties?: unknown;
  propertyNames?: unknown;
  type?: string | string[];
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  minLength?: number;
  pattern?: string;
  patternErrorMessage?: string;
  format?: string;
  properties?: Record<string, unknown>;
}

/** "a whole number ≥ 0", "a number between 0 and 1000", "one of "chat", "responses"", … */
export function describeExpected(schema: SchemaNode): string {
  if (schema.enum) return `one of ${schema.enum.map((v) => JSON.stringify(v)).join(', ')}`;
  const types = schema.type === undefined ? [] : Array.isArray(schema.type) ? schema.type : [schema.type];
  const nullable = types.includes('null');
  const main = types.filter((t) => t !== 'null');
  let what: string;
  if (main.length === 1 && main[0] === 'integer') what = 'a whole number';
  else if (main.length === 1 && main[0] === 'number') what = 'a number';
  else if (main.length === 1 && main[0] === 'string')
    what =
      schema.format === 'uri' ? 'an http(s) URL' : (schema.minLength ?? 0) >= 1 ? 'a non-empty string' : 'a string';
  else if (main.length === 1 && main[0] === 'boolean') what = 'true or false';
  else if (main.length === 1 && main[0] === 'object') what = 'an object';
  else if (main.length === 1 && main[0] === 'array') what = 'a list';
  else {
    const names: Record<string, string> = {
      object: 'an object',
      array: 'a list',
      string: 'a string',
      number: 'a number',
    };
    what = main.map((t) => names[t] ?? t).join(' or ') || 'a valid value';
  }
  if (schema.minimum !== undefined && schema.maximum !== undefined)
    what += ` between ${schema.minimum} and ${schema.maximum}`;
  else if (schema.exclusiveMinimum !== undefined && schema.maximum !== undefined)
    what += ` above ${schema.exclusiveMinimum} and at most ${schema.maximum}`;
  else if (schema.exclusiveMinimum !== undefined) what += ` > ${schema.exclusiveMinimum}`;
  else if (schema.minimum !== undefined) what += ` ≥ ${schema.minimum}`;
  else if (schema.maximum !== undefined) what += ` ≤ ${schema.maximum}`;
  if (nullable) what += ' (or null for no limit)';
  return what;
}

/** A value as it appears in a message: strings quoted (and cut short), containers named. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (value !== null && typeof value === 'object') return 'an object';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 37)}…` : value);
  return String(value);
}

function syntaxMessage(code: ParseError['error']): string {
  // ParseErrorCode is a const enum (unusable under isolatedModules): switch on its printed name.
  switch (printParseErrorCode(code)) {
    case 'InvalidSymbol':
      return 'JSON syntax: unexpected character (keys and strings need double quotes)';
    case 'InvalidNumberFormat':
      return 'JSON syntax: not a valid number';
    case 'PropertyNameExpected':
      return 'JSON syntax: expected a key in double quotes';
    case 'ValueExpected':
      return 'JSON syntax: expected a value';
    case 'ColonExpected':
      return 'JSON syntax: expected ":" after the key';
    case 'CommaExpected':
      return 'JSON syntax: expected "," (is one missing at the end of the previous line?)';
    case 'CloseBraceExpected':
      return 'JSON syntax: expected "}" to close the object';
    case 'CloseBracketExpected':
      return 'JSON syntax: expected "]" to close the list';
    case 'EndOfFileExpected':
      return 'JSON syntax: unexpected text after the end of the document';
    case 'InvalidCommentToken':
      return 'JSON syntax: invalid comment';
    case 'UnexpectedEndOfComment':
      return 'JSON syntax: comment is not closed (missing "*/")';
    case 'UnexpectedEndOfString':
      return "JSON syntax: string is not closed (missing '\"')";
    case 'UnexpectedEndOfNumber':
      return 'JSON syntax: number is cut off';
    case 'InvalidUnicode':
      return 'JSON syntax: invalid \\u escape';
    case 'InvalidEscapeCharacter':
      return 'JSON syntax: invalid escape (use \\\\ for a backslash)';
    case 'InvalidCharacter':
      return 'JSON syntax: control character in a string (write a line break as \\n)';
    default:
      return 'JSON syntax error';
  }
}

/** Drops schema errors at paths where a semantic check already said something more precise. */
export function preferSemantic(schema: PolicyIssue[], semantic: PolicyIssue[]): PolicyIssue[] {
  const said = new Set(semantic.filter((i) => i.severity === 'error').map((i) => i.path));
  return [...schema.filter((i) => i.severity !== 'error' || !said.has(i.path)), ...semantic];
}

/** Errors first, then warnings, each in document order. */
export function sortIssues(issues: PolicyIssue[]): PolicyIssue[] {
  return [...issues].sort((a, b) =>
    a.severity !== b.severity ? (a.severity === 'error' ? -1 : 1) : a.offset - b.offset || a.path.localeCompare(b.path),
  );
}
