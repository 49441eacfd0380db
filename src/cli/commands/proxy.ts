import { API_KEY_ENV, PROVIDER_NAMES } from '../../core/providers/errors';
import {
  ClientNameError,
  DEFAULT_BASE_URLS,
  DEFAULT_PROXY_PORT,
  describeCall,
  ProxyServer,
  ProxyTokens,
  TOKEN_PREFIX,
  TokenFileError,
  type UpstreamEndpoint,
  type UpstreamResolver,
} from '../../core/proxy';
import { upstreamProblem } from '../../core/proxy/upstream';
import { PROVIDERS, type ProviderId } from '../../core/usage';
import type { Workspace } from '../../core/workspace';
import { CliError, ExitCode, openWorkspace, printJson, type CliCommand, type CliContext } from '../context';
import { BASE_URL_ENV } from '../runSupport';

const USAGE = [
  'agent-budget proxy [--port <port>] [--workspace <dir>]',
  '       agent-budget proxy token create --name <client> [--daily-usd <usd>] [--monthly-usd <usd>] [--json]',
  '       agent-budget proxy token list [--json]',
  '       agent-budget proxy token revoke <client> [--json]',
].join('\n');

/**
 * `agent-budget proxy`: the budget firewall (docs/proxy.md) on 127.0.0.1 until Ctrl+C, in front of the providers this
 * environment has keys for (`*_API_KEY`, endpoints from `*_BASE_URL` or the policy); and `proxy token …`, the
 * clients' tokens, kept hashed in the workspace's machine-state folder.
 */
export const proxyCommand: CliCommand = {
  name: 'proxy',
  summary: 'serve the budget firewall on 127.0.0.1 for any LLM client; `proxy token …` manages its clients',
  usage: USAGE,
  options: {
    port: { type: 'string' },
    name: { type: 'string' },
    'daily-usd': { type: 'string' },
    'monthly-usd': { type: 'string' },
  },
  positionals: true,
  async run(ctx, values, positionals) {
    const [group, action, ...rest] = positionals;
    if (group === undefined) return serve(ctx, values);
    if (group !== 'token') throw new CliError(`unknown proxy command "${group}".\nUsage: ${USAGE}`);
    const workspace = await openWorkspace(ctx, { pollMs: 0 });
    try {
      const tokens = ProxyTokens.in(workspace.store.dir);
      switch (action) {
        case 'create':
          return createToken(ctx, tokens, values, rest);
        case 'list':
          return listTokens(ctx, tokens, rest);
        case 'revoke':
          return revokeToken(ctx, tokens, rest);
        default:
          throw new CliError(`give create, list or revoke after "proxy token".\nUsage: ${USAGE}`);
      }
    } catch (err) {
      if (err instanceof TokenFileError || err instanceof ClientNameError) throw new CliError(err.message);
      throw err;
    } finally {
      await workspace.close();
    }
  },
};

function createToken(ctx: CliContext, tokens: ProxyTokens, values: Record<string, unknown>, rest: string[]): ExitCode {
  if (rest.length > 0 || typeof values.name !== 'string')
    throw new CliError(`give the client's name with --name.\nUsage: ${USAGE}`);
  const caps = {
    dailyUsd: usd(values['daily-usd'], 'daily-usd'),
    monthlyUsd: usd(values['monthly-usd'], 'monthly-usd'),
  };
  const { client, token } = tokens.create(values.name, caps);
  if (ctx.json) {
    printJson(ctx, { name: client.name, token });
    return ExitCode.ok;
  }
  const limits = [
    client.dailyUsd === null ? undefined : `$${client.dailyUsd} a day`,
    client.monthlyUsd === null ? undefined : `$${client.monthlyUsd} a month`,
  ].filter(Boolean);
  ctx.stdout.write(
    [
      `Token for client "${client.name}"${limits.length ? ` (at most ${limits.join(' and ')}, under the workspace caps)` : ' (under the workspace caps)'}:`,
      '',
      `  ${token}`,
      '',
      'It is shown once (only its hash is kept). Give it to the client as its API key, e.g.',
      `  ANTHROPIC_API_KEY=${token}   (Claude Code, the Anthropic SDK)`,
      `  OPENAI_API_KEY=${token}      (Codex, the OpenAI SDK, OpenAI-compatible tools)`,
      `  GEMINI_API_KEY=${token}      (Gemini CLI, @google/genai)`,
      '',
    ].join('\n'),
  );
  return ExitCode.ok;
}

function listTokens(ctx: CliContext, tokens: ProxyTokens, rest: string[]): ExitCode {
  if (rest.length > 0) throw new CliError(`"proxy token list" takes no arguments.\nUsage: ${USAGE}`);
  const clients = tokens.list();
  if (ctx.json) {
    printJson(ctx, clients);
    return ExitCode.ok;
  }
  if (clients.length === 0) {
    ctx.stdout.write('No proxy clients yet. Create one with: agent-budget proxy token create --name <client>\n');
    return ExitCode.ok;
  }
  const rows = [
    ['CLIENT', 'CREATED', 'DAILY', 'MONTHLY'],
    ...clients.map((c) => [
      c.name,
      c.createdAt.slice(0, 16).replace('T', ' '),
      c.dailyUsd === null ? '—' : `$${c.dailyUsd}`,
      c.monthlyUsd === null ? '—' : `$${c.monthlyUsd}`,
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows)
    ctx.stdout.write(
      `${r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd()}\n`,
    );
  return ExitCode.ok;
}

function revokeToken(ctx: CliContext, tokens: ProxyTokens, rest: string[]): ExitCode {
  const [name, ...extra] = rest;
  if (!name || extra.length > 0) throw new CliError(`give the client to revoke.\nUsage: ${USAGE}`);
  if (!tokens.revoke(name)) throw new CliError(`no client named "${name}" (agent-budget proxy token list shows them).`);
  if (ctx.json) printJson(ctx, { name, revoked: true });
  else ctx.stdout.write(`Revoked the token of "${name}": its next request is refused (401).\n`);
  return ExitCode.ok;
}

function usd(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || n <= 0)
    throw new CliError(`--${option} must be a positive amount in USD, e.g. --${option} 5, got "${String(value)}".`);
  return n;
}

function port(value: unknown): number {
  if (value === undefined) return DEFAULT_PROXY_PORT;
  const n = Number(value);
  if (typeof value !== 'string' || !Number.isInteger(n) || n < 0 || n > 65_535)
    throw new CliError(`--port must be a port number (1–65535, or 0 for any free one), got "${String(value)}".`);
  return n;
}

/** Upstreams from the environment (`*_API_KEY`, `*_BASE_URL`), else the policy's endpoints, else the providers'. */
function environmentUpstreams(ctx: CliContext, workspace: Workspace, ownPort: number) {
  const endpoints = {} as Record<ProviderId, UpstreamEndpoint | { missing: string }>;
  for (const provider of PROVIDERS) {
    const name = PROVIDER_NAMES[provider];
    const apiKey = ctx.env[API_KEY_ENV[provider]];
    const baseUrl =
      ctx.env[BASE_URL_ENV[provider]] || workspace.policy.providers[provider]?.baseUrl || DEFAULT_BASE_URLS[provider];
    if (!apiKey) {
      endpoints[provider] = {
        missing: `The Agent Budget proxy has no ${name} API key: set ${API_KEY_ENV[provider]} where \`agent-budget proxy\` runs, and restart it.`,
      };
      continue;
    }
    const endpoint = { baseUrl, apiKey };
    const problem = upstreamProblem(endpoint, ownPort, TOKEN_PREFIX, {
      key: API_KEY_ENV[provider],
      baseUrl: BASE_URL_ENV[provider],
    });
    endpoints[provider] = problem ? { missing: `The Agent Budget proxy cannot call ${name}: ${problem}` } : endpoint;
  }
  const resolver: UpstreamResolver = (provider) => Promise.resolve(endpoints[provider]);
  return { endpoints, resolver };
}

async function serve(ctx: CliContext, values: Record<string, unknown>): Promise<ExitCode> {
  const wanted = port(values.port);
  for (const option of ['name', 'daily-usd', 'monthly-usd'])
    if (values[option] !== undefined)
      throw new CliError(`--${option} belongs to "proxy token create".\nUsage: ${USAGE}`);
  // Polling: spend from other windows and the CLI counts against the same caps within half a second.
  const workspace = await openWorkspace(ctx);
  let proxy: ProxyServer | undefined;
  try {
    if (workspace.store.report.problem) ctx.stderr.write(`${workspace.store.report.problem}\n`);
    if (workspace.policyError)
      ctx.stderr.write(`${workspace.policyError.message}\nEvery request is refused (402) until it is fixed.\n`);
    const tokens = ProxyTokens.in(workspace.store.dir);
    try {
      tokens.list();
    } catch (err) {
      if (err instanceof TokenFileError) throw new CliError(err.message);
      throw err;
    }
    // The port is known before listening unless it is 0 (tests): the loop check then uses the one we got.
    let upstreams = environmentUpstreams(ctx, workspace, wanted);
    try {
      proxy = await ProxyServer.start({
        workspace,
        tokens,
        upstream: (provider) => upstreams.resolver(provider),
        port: wanted,
        log: (line) => ctx.stderr.write(`${line}\n`),
      });
    } catch (err) {
      throw new CliError((err as Error).message);
    }
    if (wanted === 0) upstreams = environmentUpstreams(ctx, workspace, proxy.port);
    proxy.onDidCall((event) => ctx.stderr.write(`${describeCall(event)}\n`));
    ctx.stdout.write(banner(proxy.url, workspace, upstreams.endpoints, tokens.list().length));
    await untilInterrupted();
    ctx.stderr.write(
      'Stopping: letting calls in flight finish (Ctrl+C again to cut them; they are charged as estimated)…\n',
    );
    void untilInterrupted().then(() => proxy?.stop(0));
    await proxy.stop(10_000);
    ctx.stderr.write('Stopped. Every call is on the ledger.\n');
    return ExitCode.ok;
  } finally {
    await proxy?.stop(0);
    await workspace.close();
  }
}

function banner(
  url: string,
  workspace: Workspace,
  endpoints: Record<ProviderId, UpstreamEndpoint | { missing: string }>,
  clients: number,
): string {
  const lines = [`Agent Budget proxy on ${url} for ${workspace.folder}`, ''];
  for (const provider of PROVIDERS) {
    const e = endpoints[provider];
    lines.push(`  ${PROVIDER_NAMES[provider].padEnd(9)} → ${'missing' in e ? `unavailable: ${e.missing}` : e.baseUrl}`);
  }
  lines.push(
    '',
    'Point clients here (their API key: a token from `agent-budget proxy token create --name <client>`):',
    `  ANTHROPIC_BASE_URL=${url}`,
    `  OPENAI_BASE_URL=${url}/v1`,
    `  GOOGLE_GEMINI_BASE_URL=${url}`,
    `  GEMINI_BASE_URL=${url}`,
    '',
    `Read API: ${url}/agent-budget/v1/status (report, runs) with a token.`,
    clients === 0
      ? 'No client token exists yet: every request is refused (401) until you create one.'
      : `${clients} client token(s).`,
    'Ctrl+C stops it.',
    '',
  );
  return lines.join('\n');
}

/** Resolves on the next SIGINT or SIGTERM. */
function untilInterrupted(): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
