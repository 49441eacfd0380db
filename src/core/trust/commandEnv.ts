/**
 * The environment of a command an agent runs (runCommand): only what builds and tests need, by name. An allow-list,
 * not a deny-list: whatever a user keeps in their environment — provider keys, `*_TOKEN`, cloud credentials
 * (`AWS_*`, `AZURE_*`, `GOOGLE_APPLICATION_CREDENTIALS`), a proxy URL with a password, Agent Budget's own
 * `AGENT_BUDGET_*` — stays out unless it is named here, because the command's output goes back to the model and so
 * to the provider, and a repository's test script could send it anywhere.
 *
 * The command still runs as the user (it can read their files): this keeps secrets that live only in the
 * environment out of reach, it does not sandbox.
 */

const ALLOWED = new Set(
  [
    // Finding programs, the user, the home folder, the shell, the terminal, temporary files, language and time.
    'PATH',
    'HOME',
    'USER',
    'USERNAME',
    'LOGNAME',
    'SHELL',
    'TERM',
    'COLORTERM',
    'TMPDIR',
    'TMP',
    'TEMP',
    'LANG',
    'LANGUAGE',
    'TZ',
    // Windows: cmd.exe, program lookup and the profile; npm keeps its global prefix in APPDATA, compilers live
    // under the ProgramFiles folders, and many tools fail without SystemRoot.
    'USERPROFILE',
    'HOMEDRIVE',
    'HOMEPATH',
    'SYSTEMROOT',
    'SYSTEMDRIVE',
    'WINDIR',
    'COMSPEC',
    'PATHEXT',
    'APPDATA',
    'LOCALAPPDATA',
    'PROGRAMDATA',
    'PROGRAMFILES',
    'PROGRAMFILES(X86)',
    'PROGRAMW6432',
    'COMMONPROGRAMFILES',
    'COMMONPROGRAMFILES(X86)',
    'NUMBER_OF_PROCESSORS',
    'PROCESSOR_ARCHITECTURE',
    'OS',
    // Where toolchains and their caches are (folders, never credentials): JDKs, Go, Rust, nvm/pnpm, Python
    // virtual environments, XDG folders.
    'JAVA_HOME',
    'GOPATH',
    'GOROOT',
    'GOCACHE',
    'CARGO_HOME',
    'RUSTUP_HOME',
    'NVM_DIR',
    'PNPM_HOME',
    'VIRTUAL_ENV',
    'CONDA_PREFIX',
    'PYENV_ROOT',
    'XDG_CACHE_HOME',
    'XDG_CONFIG_HOME',
    'XDG_DATA_HOME',
    // A corporate CA bundle (a file path) that package managers need to reach their registry.
    'NODE_EXTRA_CA_CERTS',
    'SSL_CERT_FILE',
    'SSL_CERT_DIR',
    // Test runners and linters: no prompts, no colours in output that goes to a model.
    'CI',
    'NO_COLOR',
    'FORCE_COLOR',
    // A switch, not a secret: Node refuses to start on an older Windows (or under Wine) unless it is set, so a
    // user who needs it needs it in every `npm test` an agent runs too.
    'NODE_SKIP_PLATFORM_CHECK',
  ].map((n) => n.toUpperCase()),
);
/** Locale categories (LC_ALL, LC_CTYPE…). */
const ALLOWED_PREFIXES = ['LC_'];

/** Whether a variable of this name reaches the command. Names compare without case (Windows' do). */
export function commandMaySee(name: string): boolean {
  const upper = name.toUpperCase();
  return ALLOWED.has(upper) || ALLOWED_PREFIXES.some((p) => upper.startsWith(p));
}

/** The environment for an agent's command, from the process's own (kept names keep their spelling: `Path`). */
export function commandEnvironment(source: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(source)) if (value !== undefined && commandMaySee(name)) env[name] = value;
  return env;
}
