// The budget panel's team section, read from the team ledger (PostgreSQL) off the panel's first paint: the member's
// team scopes and the range's team spend by member, workflow, model and client (what `agent-budget report --team`
// prints). Plain TypeScript: no vscode import.
import { daysToMs } from '../core/report/days';
import { TeamLedgerUnreachableError } from '../core/team/errors';
import { teamScopeLevels } from '../core/team/teamStatus';
import type { TeamReport, TeamScopeUse } from '../core/team/types';
import type { WorkspaceTeam } from '../core/team/workspaceTeam';
import {
  MAX_TEAM_ROWS,
  parseTeamSection,
  type RangeId,
  type TeamScopeRow,
  type TeamSection,
  type TeamSpendRow,
} from '../webview/protocol';
import { scopeLabel } from './budgetText';
import { rangeDays } from './panelSnapshot';

/** What a section shows before the ledger answered, or without an answer: who, and the scopes last read. */
function base(team: WorkspaceTeam): Omit<TeamSection, 'state' | 'message' | 'spend'> {
  const latest = team.latest;
  return {
    member: team.member,
    tier: team.tier ?? null,
    scopes: latest ? scopeRows(latest.scopes) : [],
    scopesAt: latest?.at ?? null,
  };
}

function scopeRows(scopes: readonly TeamScopeUse[]): TeamScopeRow[] {
  return teamScopeLevels(scopes).map((s) => ({
    scope: s.scope,
    label: scopeLabel(s.scope),
    usedMicros: s.used,
    heldMicros: s.reserved,
    limitMicros: s.limit ?? 0,
    pct: s.pct,
    level: s.level,
    resetsAt: s.resetsAt ?? 0,
  }));
}

const top = (rows: readonly TeamSpendRow[]): TeamSpendRow[] =>
  rows.slice(0, MAX_TEAM_ROWS).map(({ key, costMicros, estimatedMicros, calls, tokens }) => ({
    key,
    costMicros,
    estimatedMicros,
    calls,
    tokens,
  }));

function spendOf(report: TeamReport, range: RangeId, days: { fromDay: string; toDay: string }, timeZone: string) {
  return {
    range,
    ...days,
    timeZone,
    total: { ...report.total },
    by: {
      member: top(report.byMember),
      workflow: top(report.byWorkflow),
      model: top(report.byModel),
      client: top(report.byClient),
    },
  };
}

/** The section before its first reading: who, the scopes the meter last read, and "reading…". */
export function pendingTeamSection(team: WorkspaceTeam): TeamSection {
  return checked(team, { ...base(team), state: 'reading', message: null, spend: null });
}

/**
 * Reads the team's scopes and the range's team spend. Never throws: an unreachable ledger gives the `offline` state
 * with the meter's allowance line; a refusal or anything the ledger sent that the page cannot show, the `error` state
 * with why (the panel shows it as a line in the section).
 */
export async function readTeamSection(team: WorkspaceTeam, range: RangeId, now: number): Promise<TeamSection> {
  try {
    return checked(team, await read(team, range, now));
  } catch (err) {
    return failedSection(team, err);
  }
}

/** The section as parseTeamSection passes it (names from other machines made safe), or why it cannot be shown. */
function checked(team: WorkspaceTeam, section: TeamSection): TeamSection {
  const parsed = parseTeamSection(section);
  return 'team' in parsed ? parsed.team : failedSection(team, parsed.error);
}

/** Only who and why: a section that failed to read or to pass parseTeamSection shows nothing else it had. */
function failedSection(team: WorkspaceTeam, err: unknown): TeamSection {
  const parsed = parseTeamSection({
    member: team.member,
    tier: null,
    state: 'error',
    message: err instanceof Error ? err.message : String(err),
    scopes: [],
    scopesAt: null,
    spend: null,
  });
  // Two strings cleaned and fixed values: nothing here it could refuse.
  if (!('team' in parsed)) throw new Error(parsed.error);
  return parsed.team;
}

async function read(team: WorkspaceTeam, range: RangeId, now: number): Promise<TeamSection> {
  const offline = (): TeamSection => ({
    ...base(team),
    state: 'offline',
    message: team.offlineLine ?? 'team ledger offline',
    spend: null,
  });
  const failed = (err: unknown): TeamSection => ({
    ...base(team),
    state: 'error',
    message: err instanceof Error ? err.message : String(err),
    spend: null,
  });
  try {
    const status = await team.status();
    if (!status.scopes) return offline();
    const days = rangeDays(range, now, team.timeZone);
    const report = await team.report(daysToMs(days, team.timeZone));
    return { ...base(team), state: 'online', message: null, spend: spendOf(report, range, days, team.timeZone) };
  } catch (err) {
    // The ledger went away between the two readings: the same as found offline.
    if (err instanceof TeamLedgerUnreachableError) return team.offlineLine ? offline() : failed(err);
    return failed(err);
  }
}

/**
 * One reading at a time for the panel: asked again while one runs, it reads once more after it (for the newest
 * range), so a burst of spend costs two readings, not one each. `deliver` gets each result with the team and range it is of.
 */
export class TeamSectionReader {
  private running = false;
  private again = false;
  private last: { team: WorkspaceTeam; range: RangeId; section: TeamSection } | undefined;
  /** Settles when the reading under way (and any asked for meanwhile) is done (tests wait on it). */
  idle: Promise<void> = Promise.resolve();

  constructor(
    private readonly source: () => { team: WorkspaceTeam | undefined; range: RangeId },
    private readonly deliver: (team: WorkspaceTeam, range: RangeId, section: TeamSection) => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** What a snapshot carries now: the last reading of this team and range, else the pending section. */
  current(team: WorkspaceTeam | undefined, range: RangeId): TeamSection | null {
    if (!team) return null;
    const last = this.last;
    return last && last.team === team && last.range === range ? last.section : pendingTeamSection(team);
  }

  /** Reads the ledger again (after the one under way, if any) and delivers the result. */
  read(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.idle = (async () => {
      try {
        do {
          this.again = false;
          const { team, range } = this.source();
          if (!team) break;
          const section = await readTeamSection(team, range, this.now());
          this.last = { team, range, section };
          this.deliver(team, range, section);
        } while (this.again);
      } finally {
        this.running = false;
      }
    })();
  }
}
