import type { BudgetPolicy } from '../policy/types';
import { TOOL_NAMES, type ToolName } from '../policy/workflowTypes';
import { PROVIDERS } from '../usage';

/**
 * What a policy reload changed that the user should hear about at once (issue 11): which tools run without asking,
 * ask first or are refused; where each provider's requests (and key) go; where budget alerts go. Limits are not
 * listed: the meter shows them. Plain sentences, in a stable order; empty when none of these changed.
 */
export function policyChanges(before: BudgetPolicy, after: BudgetPolicy): string[] {
  const out: string[] = [];
  const state = (p: BudgetPolicy, tool: ToolName): 'allow' | 'approve' | 'refuse' =>
    p.tools.allow.includes(tool) ? 'allow' : p.tools.approve.includes(tool) ? 'approve' : 'refuse';
  const NOW = { allow: 'now runs without asking', approve: 'now asks first', refuse: 'is now refused' };
  const WAS = { allow: 'ran without asking', approve: 'asked first', refuse: 'was refused' };
  for (const tool of TOOL_NAMES) {
    const [was, now] = [state(before, tool), state(after, tool)];
    if (was !== now) out.push(`${tool} ${NOW[now]} (it ${WAS[was]})`);
  }
  for (const provider of PROVIDERS) {
    const [was, now] = [before.providers[provider]?.baseUrl, after.providers[provider]?.baseUrl];
    if (was !== now)
      out.push(
        `${provider} requests now go to ${now ?? 'its official endpoint'} (were ${was ?? 'its official endpoint'})`,
      );
    const [api, nowApi] = [before.providers[provider]?.api, after.providers[provider]?.api];
    if (api !== nowApi) out.push(`${provider} now uses the ${nowApi ?? 'default'} API (was ${api ?? 'the default'})`);
  }
  const [hook, nowHook] = [before.alerts.webhookUrl, after.alerts.webhookUrl];
  if (hook !== nowHook)
    out.push(nowHook ? `budget alerts now go to ${nowHook}` : `budget alerts no longer go to ${hook}`);
  const [t, nowT] = [before.alerts.thresholdsPct.join(', '), after.alerts.thresholdsPct.join(', ')];
  if (t !== nowT) out.push(`budget alerts now fire at ${nowT || 'no threshold'} % (were ${t || 'none'})`);
  return out;
}
