import type { SubAgentPlan, WorkflowDefinition, WorkflowStep } from '../policy/workflowTypes';
import type { ProviderId } from '../usage';

/**
 * The built-in workflows: plain WorkflowDefinitions like the files in `.agent-budget/workflows/`, so a workspace
 * file with the same id replaces one (and `agent-budget run code-review` works with no file at all).
 *
 * They name no model: the policy's routing for the workflow id decides (`workflows.<id>.model` / `complexModel`),
 * else DEFAULT_MODELS for the provider that has a key. They use no feature a workspace file cannot but `context`:
 * `research` fans out with `subAgents` exactly as a file would, and the tests validate every built-in (without its
 * steps' `context`) as a workflow file. `version`
 * is the prompt version recorded in every ledger row's variant (`claude-haiku-4-5@v1`): bump it whenever a prompt
 * changes so reports compare like with like.
 */

/**
 * A step as the runner reads it: a workflow step (sub-agents included, `{{item}}` being a sub-agent's item), plus the
 * built-ins' context.
 */
export interface RunnerStep extends WorkflowStep {
  /**
   * The large, stable material of the step (a file, notes, earlier findings), a template sent as its own block before
   * the prompt: steps and runs that send the same material share a cached prefix (runner/caching.ts). Built-ins only
   * for now: the workflow file schema has no key for it yet.
   */
  context?: string;
}
export type { SubAgentPlan };

export interface RunnerWorkflow extends WorkflowDefinition {
  steps: RunnerStep[];
}

/** The model a workflow uses when neither the run, the workflow nor the policy names one: cheap, fast, capable. */
export const DEFAULT_MODELS: Record<ProviderId, string> = {
  anthropic: 'claude-haiku-4-5',
  openai: 'gpt-4.1-mini',
  gemini: 'gemini-2.5-flash',
};

/** The file a step works on, sent first (the stable prefix a later step or run can read from the cache). */
const FILE_CONTEXT = `File: {{file}}
<file>
{{fileContent}}
</file>`;

/** The notes a requirements step works on, sent first (both steps share them). */
const NOTES_CONTEXT = `Notes:
<notes>
{{input}}
{{selection}}
</notes>`;

/** The sub-agents' findings, first in each later step: outline, write and review share them as a cached prefix. */
const FINDINGS_CONTEXT = `Findings:
{{steps.research.output}}`;

const GROUNDED =
  'Base everything you say on the material shown (and, where you have tools, on files you have read). Never invent ' +
  'files, functions, APIs or behaviour you cannot see; when something is not shown, say so.';

const codeReview: RunnerWorkflow = {
  id: 'code-review',
  title: 'Code Review',
  description:
    'Reviews the current file, or a working-tree diff (`git diff` output as input), for bugs, security problems and risky changes.',
  version: 'v2',
  system:
    'You are a senior software engineer reviewing code before it is merged. You are precise, concrete and brief: ' +
    `every finding points at code and says how to fix it. ${GROUNDED}`,
  steps: [
    {
      id: 'review',
      title: 'Review',
      maxOutputTokens: 2_500,
      context: FILE_CONTEXT,
      prompt: `Review the code above. Empty sections were not provided.

Look for, most important first:
1. Bugs: wrong logic, off-by-one errors, unhandled errors and edge cases (empty, missing, huge or malformed input), races, leaks.
2. Security: injection, unsafe paths or user input, secrets in code, missing authorization or validation.
3. Behaviour a caller would not expect, and tests that are missing or wrong for what changed.
4. Maintainability, only where it matters: misleading names, duplicated logic, dead code.

When the material is a diff (\`git diff\` output), review the changed lines (+ and -) and use the rest only as context.

Answer in Markdown:
- First line: a verdict — **Looks good**, **Minor issues** or **Needs changes**.
- Then one bullet per finding, most severe first: **blocker / major / minor / nit** · \`file:line\` when known · what is wrong · the fix (a short snippet when it helps).
- Nothing worth changing? Say so in one sentence. Do not pad the review with praise or generic advice.

<diff>
{{input}}
</diff>`,
    },
  ],
};

const explain: RunnerWorkflow = {
  id: 'explain',
  title: 'Explain',
  description:
    'Explains the selected code (or the whole file when nothing is selected), optionally answering a question about it.',
  version: 'v2',
  system: `You are a patient senior engineer explaining code to a colleague who knows the language but not this codebase. ${GROUNDED}`,
  steps: [
    {
      id: 'explain',
      title: 'Explain',
      maxOutputTokens: 1_500,
      context: `From: {{file}}
<code>
{{selection}}
</code>`,
      prompt: `Explain the code above.

1. Purpose — what it is for, in one or two sentences.
2. How it works — walk through the logic in order, naming the functions, variables and data that matter.
3. Watch out for — side effects, error handling, performance traps, assumptions about inputs, and anything that looks like a bug.

If the developer asked a question, answer it first, directly. Keep the whole answer under about 300 words unless the code is long; put identifiers in \`backticks\`.

The developer's question (may be empty): {{input}}`,
    },
  ],
};

const testGen: RunnerWorkflow = {
  id: 'test-gen',
  title: 'Generate Tests',
  description:
    'Plans the test cases for the current file, then writes a complete test file in the framework the project uses.',
  version: 'v2',
  system: `You are a senior engineer who writes focused, deterministic, maintainable automated tests. ${GROUNDED}`,
  steps: [
    {
      id: 'cases',
      title: 'Plan test cases',
      maxOutputTokens: 1_200,
      context: FILE_CONTEXT,
      prompt: `Plan the tests for the code above. Do not write test code yet.

1. Name the language and the test framework to use: the one the code's imports, file names and conventions point to, else the language's standard one.
2. List the test cases as a numbered list, grouped by the function or class they exercise: normal behaviour, boundaries and edge cases, error handling. One line each, saying the input and the expected result.
3. Note anything that needs a fake or stub (clock, network, file system, randomness).

Extra instructions from the developer (may be empty): {{input}}`,
    },
    {
      id: 'tests',
      title: 'Write tests',
      maxOutputTokens: 4_000,
      context: FILE_CONTEXT,
      prompt: `Write the test file for these cases of the code above ({{file}}).

Cases:
{{steps.cases.output}}

Rules: one self-contained file; import the code under test by its real relative path from where the test file will live (next to it, or in the project's test folder if its conventions show one); only the chosen framework and its assertions; no network and no real time or randomness (fake them); each test named for the behaviour it checks.
Reply with one line giving the path of the test file to create, then the complete file in a single fenced code block — no other commentary.`,
    },
  ],
};

const draftRequirements: RunnerWorkflow = {
  id: 'draft-requirements',
  title: 'Draft Requirements',
  description: 'Turns rough notes into a structured, testable requirements document, then checks it against the notes.',
  version: 'v2',
  system:
    'You are an experienced product engineer who turns rough notes into clear, testable requirements. You keep to what ' +
    'the notes say: where they are vague or silent you ask, you do not invent.',
  steps: [
    {
      id: 'draft',
      title: 'Draft',
      maxOutputTokens: 3_000,
      context: NOTES_CONTEXT,
      prompt: `Turn the notes above into a requirements document in Markdown with these sections:

1. Goal — the problem and who has it, in two or three sentences.
2. Users and context.
3. Functional requirements — numbered FR-1, FR-2, …; each one testable and stated as "The system shall …", with acceptance criteria as Given / When / Then.
4. Non-functional requirements — performance, security, privacy, accessibility, reliability — only those the notes imply, each measurable.
5. Out of scope.
6. Open questions — every place the notes are ambiguous, contradictory or silent on something the requirements need.`,
    },
    {
      id: 'review',
      title: 'Check against the notes',
      maxOutputTokens: 3_500,
      context: NOTES_CONTEXT,
      prompt: `Check this requirements draft against the notes above it came from.

Find: requirements that are vague or not testable; contradictions; anything in the notes the draft misses; anything in the draft the notes do not support (move it to Open questions). Then reply with only the corrected, final requirements document.

Draft:
{{steps.draft.output}}`,
    },
  ],
};

const research: RunnerWorkflow = {
  id: 'research',
  title: 'Research',
  description:
    'Researches a question over the files of this workspace: plans sub-questions, researches each with a sub-agent that reads, lists and searches files, then outlines, writes and reviews a cited report.',
  version: 'v2',
  system:
    'You are a careful technical researcher working inside a software project. Every claim you make rests on files of ' +
    'the workspace you have read, cited as `path:line`. When the workspace does not answer something, say so plainly.',
  steps: [
    {
      id: 'plan',
      title: 'Plan',
      maxOutputTokens: 400,
      prompt: `Break this research question into two to four focused sub-questions, each answerable by reading files of this workspace.
Reply with only the sub-questions, one per line, as a numbered list.

Question: {{input}}`,
    },
    {
      id: 'research',
      title: 'Research',
      maxOutputTokens: 2_000,
      tools: ['listFiles', 'searchText', 'readFile'],
      subAgents: { itemsFrom: 'plan', max: 4, concurrency: 2, budget: { pool: 0.8 } },
      // The sub-question comes last: every sub-agent's prompt starts alike, a prefix the caches share.
      prompt: `Research a sub-question in the workspace. Find the relevant files with listFiles and searchText, then read what you need with readFile — read economically, the budget is limited.
When you know enough, answer with concise findings, each citing the file (and lines) it comes from, and say what you could not find.

The whole question: {{input}}

Your sub-question: {{item}}`,
    },
    {
      id: 'outline',
      title: 'Outline',
      maxOutputTokens: 1_000,
      context: FINDINGS_CONTEXT,
      prompt: `Outline a short report that answers: {{input}}

Give a title and three to six sections; for each, one line on what it says and which findings (with their file citations) support it. Use only the findings above.`,
    },
    {
      id: 'write',
      title: 'Write',
      maxOutputTokens: 3_000,
      context: FINDINGS_CONTEXT,
      prompt: `Write the report in Markdown from the findings above, following the outline and citing files as \`path:line\` for every claim. Under about 800 words.

Question: {{input}}

Outline:
{{steps.outline.output}}`,
    },
    {
      id: 'review',
      title: 'Review',
      maxOutputTokens: 3_500,
      context: FINDINGS_CONTEXT,
      prompt: `Review this report against the findings above: remove or mark claims the findings do not support, add missing citations, tighten unclear passages. Reply with only the final report.

Report:
{{steps.write.output}}`,
    },
  ],
};

export const BUILTIN_WORKFLOWS: readonly RunnerWorkflow[] = [codeReview, explain, testGen, draftRequirements, research];

export function builtinWorkflow(id: string): RunnerWorkflow | undefined {
  return BUILTIN_WORKFLOWS.find((w) => w.id === id);
}

/** `git diff` / unified diff output. */
export function looksLikeDiff(text: string | undefined): boolean {
  return !!text && /^(diff --git |--- \S.*\n\+\+\+ |@@ -\d)/m.test(text);
}

/** Files a unified diff touches, in order. */
export function diffFiles(diff: string): string[] {
  const files: string[] = [];
  for (const m of diff.matchAll(/^\+\+\+ (?:b\/)?(\S+)/gm))
    if (m[1] !== '/dev/null' && !files.includes(m[1]!)) files.push(m[1]!);
  return files;
}

/** A run's title as the runs list shows it: "Review src/app.ts", "Explain selection in src/a.ts". */
export function runTitle(
  workflow: WorkflowDefinition,
  input: { input?: string; file?: string; selection?: string },
): string {
  const file = input.file;
  const gist = input.input ? oneLine(input.input, 60) : undefined;
  let title: string;
  // Workspace files that replace a built-in get the generic title: their prompts may do something else entirely.
  const builtin = !workflow.file && builtinWorkflow(workflow.id) ? workflow.id : '';
  switch (builtin) {
    case 'code-review':
      if (file) title = `Review ${file}`;
      else if (looksLikeDiff(input.input)) {
        const files = diffFiles(input.input!);
        title = files.length
          ? `Review diff of ${files[0]}${files.length > 1 ? ` and ${files.length - 1} more` : ''}`
          : 'Review diff';
      } else title = `Review ${gist ?? 'code'}`;
      break;
    case 'explain':
      title =
        input.selection && file
          ? `Explain selection in ${file}`
          : file
            ? `Explain ${file}`
            : `Explain ${gist ?? 'code'}`;
      break;
    case 'test-gen':
      title = `Tests for ${file ?? gist ?? 'code'}`;
      break;
    case 'draft-requirements':
      title = `Requirements: ${gist ?? file ?? 'notes'}`;
      break;
    case 'research':
      title = `Research: ${gist ?? file ?? 'workspace'}`;
      break;
    default:
      title = `${workflow.title}${file ? `: ${file}` : gist ? `: ${gist}` : ''}`;
  }
  return oneLine(title, 100);
}

/** Items of a plan: one per non-empty line, without list markers ("1.", "-", "*", "•"). */
export function parseItems(text: string, max: number): string[] {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const listed = lines.filter((l) => /^(?:\d+[.)]|[-*•])\s+/.test(l));
  const items = (listed.length ? listed : lines)
    .map((l) => l.replace(/^(?:\d+[.)]|[-*•])\s+/, '').trim())
    .filter((l) => l !== '');
  return items.slice(0, Math.max(1, max));
}

function oneLine(text: string, max: number): string {
  const s = text.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
