import { formatUsd, usdToMicros } from '../money';

/**
 * Limits in plain words, for the loosening list (the consent modal, the CLI's warnings): "the daily cap",
 * "each task's token limit", "code-review's monthly cap". Keys nobody named here yet (a limit added later) fall back
 * to their path, with the unit read from the key's suffix.
 */

const NAMES: Record<string, string> = {
  'workspace.dailyUsd': 'the daily cap',
  'workspace.weeklyUsd': 'the weekly cap',
  'workspace.monthlyUsd': 'the monthly cap',
  'task.softTokens': "each task's token warning",
  'task.hardTokens': "each task's token limit",
  'task.softUsd': "each task's dollar warning",
  'task.hardUsd': "each task's dollar limit",
  'task.maxToolCalls': "each task's tool-call limit",
  'task.maxSteps': "each task's agent-loop step limit",
  'task.maxWallSeconds': "each task's time limit",
  'session.softTokens': "each run's token warning",
  'session.hardTokens': "each run's token limit",
  'session.softUsd': "each run's dollar warning",
  'session.hardUsd': "each run's dollar limit",
};

/** `section` is `workspace`, `task`, `session` (or a section added later); `workflow` names a workflow's own limit. */
export function limitName(section: string | undefined, key: string, workflow?: string): string {
  const own = section === undefined ? NAMES[`workspace.${key}`] : NAMES[`${section}.${key}`];
  if (workflow === undefined) return own ?? `limits.${section ? `${section}.` : ''}${key}`;
  // "code-review's daily cap", "code-review's task token limit".
  const plain = own?.replace(/^the /, '').replace(/^each (task|run)'s /, '$1 ');
  return `${workflow}'s ${plain ?? `${section ? `${section}.` : ''}${key}`}`;
}

/** A limit's value with its unit: "$5.00", "200,000 tokens", "600 s", "50 tool calls". */
export function limitValue(key: string, value: number): string {
  if (/Usd$/.test(key)) return formatUsd(usdToMicros(value));
  const n = value.toLocaleString('en-US');
  if (/Tokens$/.test(key)) return `${n} tokens`;
  if (/Seconds$/.test(key)) return `${n} s`;
  if (key === 'maxToolCalls') return `${n} tool calls`;
  if (key === 'maxSteps') return `${n} steps`;
  return n;
}

/** "raises the daily cap from $5.00 to $50.00" / "removes the daily cap ($5.00)". */
export function describeLimitRaise(name: string, key: string, from: number, to: number | null): string {
  return to === null
    ? `removes ${name} (${limitValue(key, from)})`
    : `raises ${name} from ${limitValue(key, from)} to ${limitValue(key, to)}`;
}
