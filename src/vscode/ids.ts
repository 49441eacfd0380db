/** Every identifier the extension shares with package.json: commands, views, settings, context keys. */
export const EXTENSION_ID = 'agent-budget.agent-budget';

export const Commands = {
  setApiKey: 'agentBudget.setApiKey',
  clearApiKey: 'agentBudget.clearApiKey',
} as const;

export const Views = {
  container: 'agentBudget',
  runs: 'agentBudget.runs',
} as const;

export const SecretKeys = {
  apiKey: (provider: string) => `agentBudget.apiKey.${provider}`,
} as const;
