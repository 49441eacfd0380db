import { AgentBudgetError } from '../errors';
import { isIPv4, isIPv6 } from 'node:net';
import type { ProviderId } from '../usage';

/**
 * Where a provider call goes, and so where the user's API key goes: the one decision both front ends make through
 * `chooseEndpoint`. A key is sent only to
 * - the provider's official host,
 * - an endpoint the user set (the CLI's `*_BASE_URL` environment, the extension's user settings),
 * - a policy's `providers.<p>.baseUrl` the user chose (their own policy, or a repository's file they consented to).
 * A repository's endpoint without consent is passed over: the call goes to the official host, and the user is told.
 * Any endpoint other than the official one must be `https:`, or plain `http:` to this machine (127.0.0.0/8, ::1,
 * localhost: local servers and test fakes), and must not carry credentials in the URL.
 */

export const OFFICIAL_BASE_URLS: Record<ProviderId, string> = {
  anthropic: 'https://api.anthropic.com',
  openai: 'https://api.openai.com/v1',
  gemini: 'https://generativelanguage.googleapis.com',
};

const NAMES: Record<ProviderId, string> = { anthropic: 'Anthropic', openai: 'OpenAI', gemini: 'Gemini' };

export type EndpointSource = 'official' | 'environment' | 'settings' | 'policy';

export interface EndpointChoices {
  provider: ProviderId;
  /** The user's environment: `ANTHROPIC_BASE_URL`, `OPENAI_BASE_URL`, `GEMINI_BASE_URL` (the CLI); with its name. */
  environment?: { name: string; value: string };
  /** The user's own setting (the extension's user settings); with its name. */
  userSetting?: { name: string; value: string };
  /** The policy's `providers.<p>.baseUrl`, and whether the user chose it (their policy, or consent to the repository's). */
  policy?: { baseUrl: string; chosenByUser: boolean };
}

export interface Endpoint {
  baseUrl: string;
  source: EndpointSource;
  /** Set when the policy's endpoint was passed over: which one, and where the key goes instead. */
  notice?: string;
}

/** An endpoint the user chose that may not receive a key (plain http to another machine, credentials in the URL). */
export class EndpointError extends AgentBudgetError {
  override readonly name = 'EndpointError';
  constructor(message: string) {
    super('config', message);
  }
}

/** Why `raw` may not receive a key, or undefined when it may. */
export function endpointProblem(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return `"${raw}" is not a URL`;
  }
  if (url.username || url.password) return 'must not contain credentials (user:password@); keys are set separately';
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return `must start with https:// (got ${url.protocol}//)`;
  if (!isLoopback(url.hostname))
    return `must use https:// (plain http:// only to this machine: localhost, 127.0.0.1 or [::1]), got ${url.protocol}//${url.host}`;
  return undefined;
}

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) or `localhost`. URL has already normalised `127.1`, `0x7f.1`, `[0:…:1]`. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost') return true;
  if (isIPv4(host)) return host.startsWith('127.');
  if (isIPv6(host)) return host === '::1' || /^::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}$/.test(host);
  return false;
}

function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

const trimmed = (url: string) => url.trim().replace(/\/+$/, '');

/**
 * The endpoint for a call, by precedence: the environment, the user's setting, the policy, the official host.
 * Throws EndpointError for an endpoint the user set that may not receive a key (they must fix it: silently
 * sending their key elsewhere would be as wrong as sending it there).
 */
export function chooseEndpoint(choices: EndpointChoices): Endpoint {
  const official = OFFICIAL_BASE_URLS[choices.provider];
  for (const [source, chosen] of [
    ['environment', choices.environment],
    ['settings', choices.userSetting],
  ] as const) {
    if (!chosen?.value.trim()) continue;
    const problem = endpointProblem(chosen.value.trim());
    if (problem) throw new EndpointError(`${chosen.name} ${problem}.`);
    return { baseUrl: trimmed(chosen.value), source };
  }
  const policy = choices.policy;
  if (policy?.baseUrl.trim()) {
    const baseUrl = trimmed(policy.baseUrl);
    if (sameOrigin(baseUrl, official)) return { baseUrl, source: 'policy' };
    const problem = endpointProblem(baseUrl);
    const where = `providers.${choices.provider}.baseUrl (${baseUrl})`;
    if (policy.chosenByUser) {
      if (problem) throw new EndpointError(`${where} ${problem}.`);
      return { baseUrl, source: 'policy' };
    }
    return {
      baseUrl: official,
      source: 'official',
      notice:
        `${where} comes from the repository's budget.json, which you have not allowed: your ${NAMES[choices.provider]} ` +
        `key goes to ${official} instead. Allow the repository's policy to use its endpoint` +
        `${problem ? ` (it ${problem})` : ''}, or set the endpoint yourself.`,
    };
  }
  return { baseUrl: official, source: 'official' };
}
