/**
 * Which workspace paths an agent's tools may not touch, decided on the path's names alone (tools.ts also resolves
 * links and keeps every path inside the workspace). Names are compared the way the file systems users have compare
 * them: without case (Windows, macOS), without trailing dots and spaces (Windows drops them: `.git.` is `.git`),
 * in one Unicode normalisation (HFS+ stores NFD) and without the invisible code points HFS+ ignores (`.g\u200cit`
 * is `.git` there). On Windows, device names (`CON`, `aux.ts`), alternate data streams (`file:stream`) and 8.3
 * short names (`GIT~1`, which can name `.git`) are refused outright: each can reach something else than it says.
 *
 * Writes are refused into: `.git` (history, hooks, config), `.git-credentials`, `.agent-budget` (budgets,
 * workflows), `.vscode` (tasks and settings that run code), `.github/workflows` (CI with secrets), `.husky` (git
 * hooks) and `.envrc` (direnv runs it). Reads are refused of `.git` (a remote URL can hold a token; whatever a tool
 * reads goes to the provider) and `.git-credentials`.
 */

export type ToolPurpose = 'read' | 'write';

const WRITE_PROTECTED = new Set(['.git', '.git-credentials', '.agent-budget', '.vscode', '.husky', '.envrc']);
const READ_PROTECTED = new Set(['.git', '.git-credentials']);

/** Code points that HFS+ ignores in names, and other invisible ones that make a name look like another. */
const INVISIBLE = new Set<number>(
  [
    [0x00ad, 0x00ad],
    [0x034f, 0x034f],
    [0x115f, 0x1160],
    [0x17b4, 0x17b5],
    [0x180b, 0x180f],
    [0x200b, 0x200f],
    [0x202a, 0x202e],
    [0x2060, 0x206f],
    [0x3164, 0x3164],
    [0xfe00, 0xfe0f],
    [0xfeff, 0xfeff],
    [0xffa0, 0xffa0],
  ].flatMap(([from, to]) => Array.from({ length: to! - from! + 1 }, (_, k) => from! + k)),
);

const DEVICE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$|clock\$)$/;
/** `PROGRA~1`, `GIT~1`, `ABCDEF~12.TXT`: a tilde and digits after at most six characters. */
const SHORT_NAME = /^[^~.]{1,6}~\d{1,6}(\.[^.]{0,3})?$/;

/** A name as the file system compares it (see the top of the file). */
export function foldName(name: string): string {
  const visible = [...name.normalize('NFC')].filter((c) => !INVISIBLE.has(c.codePointAt(0)!)).join('');
  return visible.replace(/[. ]+$/, '').toLowerCase();
}

/** The names of a workspace-relative path (`/` everywhere; `\` too on Windows), without `.` and empty ones. */
function namesOf(relative: string, platform: NodeJS.Platform): string[] {
  return relative.split(platform === 'win32' ? /[\\/]+/ : /\/+/).filter((n) => n !== '' && n !== '.');
}

/**
 * Why an agent may not `purpose` this workspace-relative path, or undefined. The text completes a sentence that
 * starts with the path in quotes.
 */
export function protectedPathReason(
  relative: string,
  purpose: ToolPurpose,
  platform: NodeJS.Platform,
): string | undefined {
  const names = namesOf(relative, platform);
  if (platform === 'win32') {
    for (const [i, name] of names.entries()) {
      if (name === '..' || (i === 0 && /^[a-z]:$/i.test(name))) continue; // the drive of an absolute path
      if (name.includes(':')) return `names an alternate data stream or a drive ("${name}"); refused.`;
      const folded = foldName(name);
      if (DEVICE.test(folded.split('.')[0]!.trim()))
        return `is a Windows device name ("${name}"), not a file; refused.`;
      if (SHORT_NAME.test(folded))
        return `looks like a Windows short (8.3) name ("${name}"), which can stand for another name; use the full name.`;
    }
  }
  const folded = names.filter((n) => n !== '..').map(foldName);
  const protectedNames = purpose === 'write' ? WRITE_PROTECTED : READ_PROTECTED;
  for (let i = 0; i < folded.length; i++) {
    const name = folded[i]!;
    if (protectedNames.has(name)) {
      const where = i === folded.length - 1 ? `is ${names.filter((n) => n !== '..')[i]}` : `is inside ${name}/`;
      return purpose === 'write'
        ? `${where}, which agents may not change.`
        : `may hold credentials (git keeps remote URLs with tokens in ${name}); agents may not read it.`;
    }
    if (purpose === 'write' && name === '.github' && folded[i + 1] === 'workflows')
      return 'is inside .github/workflows/, which agents may not change (CI runs it with its secrets).';
  }
  return undefined;
}

/** Whether `name` is one the listing and search walkers never enter (`.git`, `node_modules`, `.agent-budget`). */
export function isSkippedFolder(name: string): boolean {
  const folded = foldName(name);
  return folded === '.git' || folded === 'node_modules' || folded === '.agent-budget';
}
