import path from 'node:path';
import type { BudgetAlert } from '../budget/engine';
import type { Clock } from '../clock';
import { systemClock } from '../clock';
import type { Subscription } from '../events';
import { formatMoney } from './format';

/**
 * Budget alerts (a USD scope crossing 50/75/90/100 % of its cap, once per scope and period across every window
 * and CLI process — the engine decides that) delivered as a JSON POST to `alerts.webhookUrl` in budget.json, e.g.
 * a chat channel's incoming webhook.
 *
 * The payload says which scope, period, percentage and amounts, in which workspace folder, when — never an API
 * key, a prompt, an output, a file path or a run's input. `text` is one readable line, so Slack/Mattermost-style
 * hooks show it as is.
 *
 * Delivery: up to `attempts` tries with a per-try timeout; network errors, timeouts, 5xx and 429 are retried
 * after a jittered exponential backoff (full jitter, honouring Retry-After up to the cap); other 4xx are not
 * (the URL or the receiver's configuration is wrong, a retry will not fix it). Failures are logged, never thrown:
 * an alert must never break the run whose settlement fired it.
 */

export interface AlertPayload {
  /** Always `agent-budget.alert`. */
  type: 'agent-budget.alert';
  /** One line for people (chat hooks display this). */
  text: string;
  /** Workspace folder name (not its path). */
  workspace: string;
  /** `workspace.daily`, `workflow.code-review.monthly`, … */
  scope: string;
  /** The period: `2026-11-22`, `2026-W47`, `2026-11`. */
  period: string;
  /** The threshold crossed (percent of the cap). */
  pct: number;
  usedMicros: number;
  limitMicros: number;
  /** The amounts as text ("$4.52"). */
  used: string;
  limit: string;
  /** When it fired (ISO). */
  time: string;
}

export function alertPayload(alert: BudgetAlert, workspaceFolder: string, now: number): AlertPayload {
  const workspace = path.basename(workspaceFolder);
  const used = formatMoney(alert.usedMicros);
  const limit = formatMoney(alert.limitMicros);
  const actualPct = alert.limitMicros > 0 ? Math.floor((alert.usedMicros / alert.limitMicros) * 100) : alert.pct;
  return {
    type: 'agent-budget.alert',
    text: `Agent Budget: ${alert.scope} (${alert.periodKey}) passed ${alert.pct}% of its cap in ${workspace}: ${used} of ${limit} (${actualPct}%).`,
    workspace,
    scope: alert.scope,
    period: alert.periodKey,
    pct: alert.pct,
    usedMicros: alert.usedMicros,
    limitMicros: alert.limitMicros,
    used,
    limit,
    time: new Date(now).toISOString(),
  };
}

export interface WebhookOptions {
  /** Tries in all (default 4: the first and three retries). */
  attempts?: number;
  /** Timeout of one try (default 10 s). */
  timeoutMs?: number;
  /** First backoff (default 500 ms); doubles each retry, capped by maxDelayMs (default 8 s), full jitter. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Injected for tests: randomness of the jitter (default Math.random) and the fetch function. */
  random?: () => number;
  fetch?: typeof fetch;
  sleep?: (ms: number) => Promise<void>;
  log?: (line: string) => void;
  /** Stops delivering: the try in flight and the waits between tries end at once (the CLI exiting). */
  signal?: AbortSignal;
}

export interface DeliveryResult {
  ok: boolean;
  attempts: number;
  /** The last HTTP status, when there was a response. */
  status?: number;
  error?: string;
}

const RETRY_STATUS = (status: number) => status === 429 || status >= 500;

/** POSTs `payload` as JSON to `url` with bounded, jittered retries. Never throws. */
export async function postWebhook(
  url: string,
  payload: unknown,
  options: WebhookOptions = {},
): Promise<DeliveryResult> {
  const attempts = Math.max(1, options.attempts ?? 4);
  const timeoutMs = options.timeoutMs ?? 10_000;
  const base = options.baseDelayMs ?? 500;
  const cap = options.maxDelayMs ?? 8_000;
  const random = options.random ?? Math.random;
  const doFetch = options.fetch ?? fetch;
  const stop = options.signal;
  const sleep = options.sleep ?? ((ms: number) => waitUnlessStopped(ms, stop));
  const log = options.log ?? (() => undefined);
  const where = safeUrl(url);
  if (!where) return { ok: false, attempts: 0, error: 'alerts.webhookUrl is not an http(s) URL' };
  const body = JSON.stringify(payload);
  let last: DeliveryResult = { ok: false, attempts: 0 };
  for (let attempt = 1; attempt <= attempts && !stop?.aborted; attempt++) {
    let retryAfterMs: number | undefined;
    try {
      const res = await doFetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'agent-budget' },
        body,
        signal: stop ? AbortSignal.any([AbortSignal.timeout(timeoutMs), stop]) : AbortSignal.timeout(timeoutMs),
        redirect: 'error',
      });
      await res.arrayBuffer().catch(() => undefined); // drain, so the connection can be reused
      if (res.ok) return { ok: true, attempts: attempt, status: res.status };
      last = { ok: false, attempts: attempt, status: res.status, error: `HTTP ${res.status}` };
      if (!RETRY_STATUS(res.status)) break;
      retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
    } catch (err) {
      const e = err as Error;
      last = {
        ok: false,
        attempts: attempt,
        error: e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : e.message,
      };
    }
    if (attempt < attempts && !stop?.aborted) {
      const backoff = Math.floor(random() * Math.min(cap, base * 2 ** (attempt - 1)));
      const delay = retryAfterMs !== undefined ? Math.min(cap, Math.max(backoff, retryAfterMs)) : backoff;
      log(
        `Agent Budget: alert webhook ${where} failed (${last.error}); retry ${attempt} of ${attempts - 1} in ${delay} ms.`,
      );
      await sleep(delay);
    }
  }
  if (stop?.aborted) last = { ...last, error: 'delivery stopped before it succeeded' };
  log(
    `Agent Budget: alert webhook ${where} failed after ${last.attempts} attempt(s): ${last.error}. The alert was not delivered.`,
  );
  return last;
}

/** Resolves after `ms`, or at once when `signal` aborts (a stopped delivery does not wait out its backoff). */
function waitUnlessStopped(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref?.();
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** The URL without credentials, query or fragment (webhook URLs often carry a secret token in the path or query). */
function safeUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    if (u.protocol !== 'https:' && u.protocol !== 'http:') return undefined;
    return `${u.protocol}//${u.host}`;
  } catch {
    return undefined;
  }
}

function parseRetryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** What AlertNotifier needs of a Workspace. */
export interface AlertSource {
  folder: string;
  /** The policy in force now (its webhook URL may change when budget.json is edited). */
  readonly policy: { alerts: { webhookUrl?: string } };
  engine: { onAlert(listener: (alert: BudgetAlert) => void): Subscription };
}

export interface AlertNotifierOptions extends WebhookOptions {
  clock?: Clock;
  /** Also called for every alert, with the payload (the VS Code side shows a notification from it). */
  onAlert?: (alert: BudgetAlert, payload: AlertPayload) => void;
}

/**
 * Wires a workspace's `engine.onAlert` to the webhook (when `alerts.webhookUrl` is set) and to an optional
 * listener. Both front ends use it: the CLI's run command constructs one and awaits `flush()` before exiting; the
 * extension keeps one per workspace and disposes it with the workspace.
 */
export class AlertNotifier {
  private readonly subscription: Subscription;
  private readonly pending = new Set<Promise<DeliveryResult>>();
  private disposed = false;

  constructor(
    private readonly source: AlertSource,
    private readonly options: AlertNotifierOptions = {},
  ) {
    this.subscription = source.engine.onAlert((alert) => this.handle(alert));
  }

  private handle(alert: BudgetAlert): void {
    if (this.disposed) return;
    const now = (this.options.clock ?? systemClock).now();
    const payload = alertPayload(alert, this.source.folder, now);
    try {
      this.options.onAlert?.(alert, payload);
    } catch (err) {
      this.options.log?.(`Agent Budget: alert listener failed: ${(err as Error).message}`);
    }
    const url = this.source.policy.alerts.webhookUrl;
    if (!url) return;
    const delivery = postWebhook(url, payload, this.options);
    this.pending.add(delivery);
    void delivery.finally(() => this.pending.delete(delivery));
  }

  /** Waits for deliveries in flight (retries included); the CLI calls this before it exits. */
  async flush(): Promise<DeliveryResult[]> {
    return Promise.all([...this.pending]);
  }

  dispose(): void {
    this.disposed = true;
    this.subscription.dispose();
  }
}
