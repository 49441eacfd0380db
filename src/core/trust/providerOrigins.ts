import { ANTHROPIC_DEFAULT_BASE_URL } from '../providers/anthropic';
import { GEMINI_DEFAULT_BASE_URL } from '../providers/gemini';
import { OPENAI_DEFAULT_BASE_URL } from '../providers/openai';
import type { ProviderId } from '../usage';

/** Each provider's official endpoint (the SDKs' defaults): a policy naming one of these sends the key nowhere new. */
export const OFFICIAL_ORIGINS: Readonly<Record<ProviderId, string>> = {
  anthropic: ANTHROPIC_DEFAULT_BASE_URL,
  openai: OPENAI_DEFAULT_BASE_URL,
  gemini: GEMINI_DEFAULT_BASE_URL,
};

/** Same scheme, host and port (what decides who receives the request); false when either is not a URL. */
export function sameOrigin(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}
