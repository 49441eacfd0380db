import { newId } from '../../src/core/processIdentity';
import type { RunCheckpointState } from '../../src/core/runner/checkpoint';
import type { StoreRecord } from '../../src/core/store/records';

/** A workflow with one agent-loop step that may run commands and read files. */
export const ACTING_WORKFLOW = {
  id: 'acting',
  title: 'Acting',
  model: 'claude-haiku-4-5',
  version: 'a1',
  steps: [{ id: 'act', prompt: 'Do it: {{input}}', maxOutputTokens: 300, tools: ['runCommand', 'readFile'] }],
} as const;

/**
 * The records of an `interrupted` run whose checkpoint ends in tool calls the model asked for and that never ran:
 * what a repository could plant in a committed journal, or what a crash leaves behind. `install` names the install
 * that wrote it (undefined: none, as an older version or a planted journal would have).
 */
export function interruptedRunRecords(options: {
  install?: string;
  owner?: string;
  calls: Array<{ name: string; input: unknown }>;
  now?: number;
}): { runId: string; records: StoreRecord[] } {
  const now = options.now ?? Date.now();
  const runId = newId(now - 60_000);
  const taskId = newId(now - 60_000);
  const state: RunCheckpointState = {
    v: 1,
    workflow: ACTING_WORKFLOW as unknown as RunCheckpointState['workflow'],
    promptVersion: 'a1',
    input: { input: 'tidy up' },
    steps: [
      {
        taskId,
        createdAt: now - 60_000,
        stepId: 'act',
        status: 'interrupted',
        provider: 'anthropic',
        model: 'claude-haiku-4-5',
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Do it: tidy up' }] },
          {
            role: 'assistant',
            content: options.calls.map((c, i) => ({
              type: 'toolCall' as const,
              id: `toolu_${i}`,
              name: c.name,
              input: c.input,
            })),
          },
        ],
        toolResults: [],
        calls: 1,
        toolCalls: 0,
        wallMs: 1_000,
      },
    ],
  };
  const owner = options.owner ?? 'gone-host:4242:dead';
  return {
    runId,
    records: [
      {
        k: 'run',
        run: {
          id: runId,
          workflow: 'acting',
          status: 'interrupted',
          title: 'Acting: tidy up',
          createdAt: now - 60_000,
          updatedAt: now - 30_000,
          rev: 1,
          owner,
          parentRunId: null,
          variant: 'claude-haiku-4-5@a1',
          data: {
            provider: 'anthropic',
            model: 'claude-haiku-4-5',
            ...(options.install ? { install: options.install } : {}),
          },
        },
      },
      {
        k: 'task',
        task: {
          id: taskId,
          runId,
          name: 'act',
          parentTaskId: null,
          status: 'interrupted',
          createdAt: now - 60_000,
          updatedAt: now - 30_000,
          rev: 1,
          data: { model: 'claude-haiku-4-5', provider: 'anthropic' },
        },
      },
      { k: 'checkpoint', checkpoint: { runId, seq: 3, ts: now - 30_000, state } },
    ],
  };
}
