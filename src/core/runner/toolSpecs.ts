import type { ToolName } from '../policy/workflowTypes';
import type { ToolSpec } from '../providers/types';

/**
 * What the agent tools are, apart from how they run (tools.ts): the spec each one is offered to the model with,
 * which of them change the workspace, their limits, and the error whose message goes back to the model. The runner's
 * other rooms (toolCalls.ts, trust/resumeGuard.ts) need these without the file system behind them.
 */

/** Tools that change the workspace or run programs: they ask for approval unless the policy allows them. */
export const WRITING_TOOLS = ['writeFile', 'editFile', 'runCommand'] as const;
export type WritingTool = (typeof WRITING_TOOLS)[number];

export function isWritingTool(name: string): name is WritingTool {
  return (WRITING_TOOLS as readonly string[]).includes(name);
}

/** A tool call the model got wrong, or one the workspace refuses: the message goes back to the model. */
export class ToolError extends Error {
  override readonly name = 'ToolError';
}

export interface ToolLimits {
  /** Largest file `readFile` returns in full (bytes); longer files are cut with a note. */
  readBytes: number;
  /** Most paths `listFiles` returns. */
  listEntries: number;
  /** Most matching lines `searchText` returns. */
  searchMatches: number;
  /** Files larger than this are not searched. */
  searchFileBytes: number;
  /** Longest a `searchText` regular expression may run on one file (it runs in a worker that is then stopped). */
  searchRegexMs: number;
  /** Wall time of one `runCommand`. */
  commandTimeoutMs: number;
  /** Output of one `runCommand` kept (stdout and stderr together); the middle is cut beyond this. */
  commandOutputBytes: number;
  /** Most of an existing file read before approval (the diff of writeFile; editFile works on files up to this). */
  previewBytes: number;
}

export const DEFAULT_TOOL_LIMITS: ToolLimits = {
  readBytes: 200_000,
  listEntries: 500,
  searchMatches: 100,
  searchFileBytes: 1_000_000,
  searchRegexMs: 2_000,
  commandTimeoutMs: 120_000,
  commandOutputBytes: 32_000,
  previewBytes: 1_000_000,
};

export const TOOL_SPECS: Record<ToolName, ToolSpec> = {
  readFile: {
    name: 'readFile',
    description:
      'Read a text file of the workspace. Paths are relative to the workspace folder. Optionally only lines startLine..endLine (1-based, inclusive).',
    inputSchema: {
      type: 'object',
      properties: {
        path: { type: 'string', description: 'File path relative to the workspace folder, e.g. src/app.ts' },
        startLine: { type: 'integer', minimum: 1 },
        endLine: { type: 'integer', minimum: 1 },
      },
      required: ['path'],
    },
  },
  listFiles: {
    name: 'listFiles',
    description:
      'List files of the workspace matching a glob pattern (e.g. "src/**/*.ts"; a pattern without "/" matches file names at any depth). .git, node_modules and .agent-budget are skipped.',
    inputSchema: {
      type: 'object',
      properties: {
        pattern: { type: 'string', description: 'Glob pattern; default "**/*" (everything)' },
      },
    },
  },
  searchText: {
    name: 'searchText',
    description:
      'Search the text files of the workspace for a string (or a regular expression with regex: true). Returns "path:line: text" for each match.',
    inputSchema: {
      type: 'object',
      properties: {
        query: { type: 'string', description: 'Text to find' },
        regex: { type: 'boolean', description: 'Treat query as a JavaScript regular expression' },
        caseSensitive: { type: 'boolean' },
        pattern: { type: 'string', description: 'Only files matching this glob, e.g. "**/*.ts"' },
      },
      required: ['query'],
    },
  },
  writeFile: {
    name: 'writeFile',
    description:
      'Create or overwrite a file of the workspace with the given content (the user may be asked to approve).',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string' }, content: { type: 'string' } },
      required: ['path', 'content'],
    },
  },
  editFile: {
    name: 'editFile',
    description:
      'Replace one exact occurrence of oldText with newText in a file of the workspace. oldText must match the file exactly (whitespace included) and occur once; include surrounding lines to make it unique.',
    inputSchema: {
      type: 'object',
      properties: { path: { type: 'string' }, oldText: { type: 'string' }, newText: { type: 'string' } },
      required: ['path', 'oldText', 'newText'],
    },
  },
  runCommand: {
    name: 'runCommand',
    description:
      'Run a shell command in the workspace folder (the user may be asked to approve). Returns the exit code and output; long output is cut.',
    inputSchema: {
      type: 'object',
      properties: { command: { type: 'string', description: 'The command line, e.g. "npm test"' } },
      required: ['command'],
    },
  },
};
