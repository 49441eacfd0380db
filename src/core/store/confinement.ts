import path from 'node:path';
import { StoreOpenError } from './errors';
import type { StoreFs } from './storeFs';

/** Names the store reads or writes in its folder (budget.json and workflows/ are the policy's, not the store's). */
const STORE_ENTRY =
  /^(journal-\d+\.log|snapshot-.+\.sqlite(\.tmp)?|.+\.lock(\.want|\.stale-.+)?|damaged|archive|owners|probe\.tmp)$/;

/**
 * The store writes only inside its folder and follows no link there. A state folder can come from a cloned
 * repository, where `damaged -> ~/somewhere` or `journal-999999.log -> ~/.zshrc` would turn the store's own writes
 * against the user's files. Refuses, before reading anything, a folder that is itself a symbolic link or that holds
 * a link under a name the store uses. (Every open also uses O_NOFOLLOW: see storeFs.ts.)
 */
export function assertConfined(fs: StoreFs, dir: string): void {
  const kind = fs.kind(dir);
  if (kind === 'symlink') {
    throw new StoreOpenError(
      dir,
      `Agent Budget refuses to open its store in ${dir}: the folder is a symbolic link. The store keeps its state ` +
        'only in a real folder and never follows a link (a cloned repository could point one at your files); ' +
        'nothing was read or written. Replace the link with a folder, or choose another state folder.',
    );
  }
  if (kind === undefined) return;
  if (kind !== 'directory') {
    throw new StoreOpenError(dir, `Agent Budget cannot open its store in ${dir}: that path is not a folder.`);
  }
  const links = fs.readdir(dir).filter((name) => STORE_ENTRY.test(name) && fs.kind(path.join(dir, name)) === 'symlink');
  if (links.length === 0) return;
  const one = links.length === 1;
  throw new StoreOpenError(
    dir,
    `Agent Budget refuses to open its store in ${dir}: ${links.join(', ')} ${one ? 'is a symbolic link' : 'are symbolic links'}. ` +
      'The store never follows a link in its folder (a cloned repository could point one at your files), and ' +
      `nothing was read or written through ${one ? 'it' : 'them'}. Remove ${one ? 'it' : 'them'} and reload.`,
  );
}
