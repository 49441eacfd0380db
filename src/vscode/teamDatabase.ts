import * as vscode from 'vscode';
import { teamDatabaseUrlProblem, type TeamConnection } from '../core/team/env';
import { teamMember } from '../core/team/member';
import { Disposable } from './dispose';
import { Commands, SecretKeys } from './ids';

/**
 * The team database (README "Team budgets"): its connection string is the user's secret, kept only in
 * SecretStorage — set with *Agent Budget: Set Team Database…*, never read from settings or any file of the
 * repository. The member is `AGENT_BUDGET_TEAM_MEMBER` of VS Code's environment, else `git config user.email` in the
 * folder (as the CLI decides). Nothing here logs or shows the connection string.
 */
export class TeamDatabase extends Disposable {
  private readonly changed = this.register(new vscode.EventEmitter<void>());
  /** The connection string was set or cleared (in this window or another). */
  readonly onDidChange = this.changed.event;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {
    super();
    this.register(
      secrets.onDidChange((e) => {
        if (e.key === SecretKeys.teamDatabase) this.changed.fire();
      }),
    );
    this.register(vscode.commands.registerCommand(Commands.setTeamDatabase, () => this.prompt()));
  }

  /** The connection of `folder`, or undefined without a stored connection string. Throws when no member is known. */
  async connection(folder: string): Promise<TeamConnection | undefined> {
    const url = (await this.secrets.get(SecretKeys.teamDatabase))?.trim();
    if (!url) return undefined;
    return { url, member: teamMember(this.env, folder) };
  }

  async set(url: string | undefined): Promise<void> {
    if (url) await this.secrets.store(SecretKeys.teamDatabase, url);
    else await this.secrets.delete(SecretKeys.teamDatabase);
  }

  private async prompt(): Promise<void> {
    const had = (await this.secrets.get(SecretKeys.teamDatabase)) !== undefined;
    const url = await vscode.window.showInputBox({
      title: vscode.l10n.t('Agent Budget: team database'),
      prompt: had
        ? vscode.l10n.t(
            "The team ledger's PostgreSQL connection string (postgres://user:password@host:5432/database). Kept in VS Code's secret storage, never in settings or files. Leave it empty to stop using the team ledger.",
          )
        : vscode.l10n.t(
            "The team ledger's PostgreSQL connection string (postgres://user:password@host:5432/database). Kept in VS Code's secret storage, never in settings or files.",
          ),
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) => {
        const v = value.trim();
        if (!v) return had ? undefined : vscode.l10n.t('Enter a connection string.');
        const problem = teamDatabaseUrlProblem(v);
        return problem && vscode.l10n.t('The connection string {0}.', problem);
      },
    });
    if (url === undefined) return;
    await this.set(url.trim() || undefined);
    void vscode.window.showInformationMessage(
      url.trim()
        ? vscode.l10n.t('Agent Budget: team database saved; every call now also debits the team ledger.')
        : vscode.l10n.t('Agent Budget: team database cleared; team caps no longer apply in this window.'),
    );
  }
}
