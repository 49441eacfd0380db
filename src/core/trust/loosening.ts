/**
 * One thing a repository's budget.json asks for that loosens the user's policy, and the collector the merge files
 * them with. The list is data: the consent modal, the CLI's warnings and the tests all read it.
 */

export type LooseningKind = 'limit' | 'tool' | 'baseUrl' | 'price' | 'toolCost' | 'webhook' | 'hook' | 'other';

export interface Loosening {
  /** Where in budget.json: `limits.workspace.dailyUsd`, `tools.allow`, `providers.anthropic.baseUrl`. */
  path: string;
  /** What it does, in plain words: "raises the daily cap from $5.00 to $50.00". */
  what: string;
  /** The value the file asks for, as written. */
  value: unknown;
  kind: LooseningKind;
}

/** Collects what loosens and answers whether the repository's value applies. */
export class Decisions {
  readonly loosening: Loosening[] = [];
  readonly heldByUser: Loosening[] = [];
  constructor(private readonly consent: boolean) {}

  /** A loosening request; true when the repository's value applies (consent given, no limit of user.json in the way). */
  loosens(item: Loosening, heldByUserFile = false): boolean {
    if (heldByUserFile) {
      this.heldByUser.push(item);
      return false;
    }
    this.loosening.push(item);
    return this.consent;
  }
}

export type Json = Record<string, unknown>;

export function obj(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

export const num = (v: unknown): number | undefined => (typeof v === 'number' ? v : undefined);
