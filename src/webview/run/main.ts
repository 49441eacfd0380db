// The run view's browser bundle. It talks to the extension only through ../runProtocol.ts: it posts `ready` once
// listening, renders each `model` it is sent, and asks for actions with request/reply. Rendering is lit (as the
// budget panel's); answers are Markdown rendered and sanitised in ./markdown.ts. No inline styles (CSP).
import { html, nothing, render, type TemplateResult } from 'lit';
import { repeat } from 'lit/directives/repeat.js';
import { unsafeHTML } from 'lit/directives/unsafe-html.js';
import { formatTokens, formatUsd } from '../format';
import type { RunStepView, RunViewHostMessage, RunViewMessage, RunViewModel, RunViewRequest } from '../runProtocol';
import { decorateCodeBlocks, renderMarkdown } from './markdown';
import './run.css';

interface VsCodeApi {
  postMessage(message: RunViewMessage): void;
  setState(state: { runId: string }): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const runId = document.body.dataset.runId ?? '';
// What the serializer hands back after a reload: which run this tab shows.
vscode.setState({ runId });

let model: RunViewModel | undefined;
let busy: string | undefined;
let problem: string | undefined;
let nextId = 1;
const pending = new Map<number, (reply: { ok: boolean; error?: string }) => void>();

function request(r: RunViewRequest): Promise<void> {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, (reply) => (reply.ok ? resolve() : reject(new Error(reply.error ?? 'failed'))));
    vscode.postMessage({ type: 'request', id, request: r });
  });
}

/** Runs an action with its button busy, and shows why it failed in the view. */
async function act(name: string, r: RunViewRequest): Promise<boolean> {
  busy = name;
  problem = undefined;
  draw();
  try {
    await request(r);
    return true;
  } catch (err) {
    problem = (err as Error).message;
    return false;
  } finally {
    busy = undefined;
    draw();
  }
}

const app = document.getElementById('app')!;
// The host's "Loading…" placeholder goes: lit renders into an empty container.
app.replaceChildren();

/** Follow the stream: stay at the bottom unless the user scrolled up to read. */
function nearBottom(): boolean {
  const el = document.scrollingElement ?? document.documentElement;
  return el.scrollHeight - el.scrollTop - el.clientHeight < 48;
}

function draw(): void {
  const follow = nearBottom();
  render(model ? view(model) : html`<p class="muted">Loading the run…</p>`, app);
  decorateCodeBlocks(app);
  if (follow && model?.running) {
    const el = document.scrollingElement ?? document.documentElement;
    el.scrollTop = el.scrollHeight;
  }
}

function view(m: RunViewModel): TemplateResult {
  const answer = answerStep(m);
  const earlier = m.steps.filter((s) => s !== answer);
  const earlierCost = earlier.reduce((n, s) => n + s.costMicros, 0);
  return html`
    <header class="run-header">
      <div class="heading">
        <h1 title=${m.title}>${m.workflow}<span class="muted"> — ${m.title}</span></h1>
        <div class="meta">
          <span class="status status-${m.status}"
            >${m.running ? html`<span class="codicon codicon-sync codicon-modifier-spin"></span> ` : nothing}${m.status}</span
          >
          <span>${costText(m.costMicros, m.estimatedMicros)}</span>
          <span class="muted">${formatTokens(m.tokens)} tokens</span>
        </div>
      </div>
      <div class="actions">
        ${
          m.canCancel
            ? html`<button
                class="secondary"
                data-test="cancel"
                ?disabled=${busy !== undefined}
                @click=${() => void act('cancel', { kind: 'cancel' })}
              >
                <span class="codicon codicon-debug-stop"></span> Cancel
              </button>`
            : nothing
        }
        ${
          m.canResume
            ? html`<button
                data-test="resume"
                ?disabled=${busy !== undefined}
                @click=${() => void act('resume', { kind: 'resume' })}
              >
                <span class="codicon codicon-debug-continue"></span> Resume
              </button>`
            : nothing
        }
        <button class="icon" title="Show in the budget panel" @click=${() => void act('panel', { kind: 'openPanel' })}>
          <span class="codicon codicon-graph"></span>
        </button>
      </div>
    </header>
    ${m.error ? html`<div class="banner error" role="alert"><span class="codicon codicon-error"></span> ${m.error}</div>` : nothing}
    ${m.resumeAfter !== null ? html`<p class="muted">${resetLine(m.resumeAfter)}</p>` : nothing}
    ${problem ? html`<div class="banner error" role="alert">${problem}</div>` : nothing}
    ${m.warnings.map((w) => html`<div class="banner warning"><span class="codicon codicon-warning"></span> ${w}</div>`)}
    ${m.approval ? approvalView(m) : nothing}
    <section class="answer" aria-live="polite">
      ${answer ? stepBody(answer, true) : html`<p class="muted">${waiting(m)}</p>`}
    </section>
    ${
      earlier.length
        ? html`<details class="steps" ?open=${earlier.some((s) => s.status === 'running')}>
            <summary>
              ${earlier.length} earlier step${earlier.length === 1 ? '' : 's'} · ${formatUsd(earlierCost)}
            </summary>
            ${repeat(
              earlier,
              (s) => s.key,
              (s) =>
                html`<details class="step" data-key=${s.key} ?open=${s.status === 'running'}>
                  <summary>${s.title} <span class="muted">· ${s.status} · ${formatUsd(s.costMicros)}</span></summary>
                  ${stepBody(s, false)}
                </details>`,
            )}
          </details>`
        : nothing
    }
    ${repeat(
      m.followUps,
      (s) => s.key,
      (s) =>
        html`<section class="turn">
          <div class="question"><span class="codicon codicon-account"></span> <span>${s.question}</span></div>
          ${stepBody(s, true)}
        </section>`,
    )}
    ${followUpBox(m)}
  `;
}

/** The run's answer: the workflow's final step (intermediate steps are folded under "earlier steps"). */
function answerStep(m: RunViewModel): RunStepView | undefined {
  return m.steps.find((s) => s.final);
}

function waiting(m: RunViewModel): string {
  const current = m.steps[m.steps.length - 1];
  if (m.running) return current ? `Working on ${current.title}…` : 'Starting…';
  return current ? `No answer: the run stopped at ${current.title} (${m.status}).` : `No answer (${m.status}).`;
}

function stepBody(s: RunStepView, answer: boolean): TemplateResult {
  return html`
    ${
      s.tools.length
        ? html`<ul class="tools">
            ${s.tools.map((t) => html`<li><span class="codicon codicon-tools"></span> ${t}</li>`)}
          </ul>`
        : nothing
    }
    <div class="markdown ${answer ? 'answer-text' : ''}">${unsafeHTML(renderMarkdown(s.output))}</div>
    <p class="call-line">${callLine(s)}</p>
  `;
}

function callLine(s: RunStepView): string {
  const calls = `${s.calls} call${s.calls === 1 ? '' : 's'}`;
  if (s.status === 'running' && s.calls === 0) return `${s.model} · streaming…`;
  return `${s.model} · ${calls} · ${formatTokens(s.tokens)} tokens · ${formatUsd(s.costMicros)}`;
}

/** "Resets at 00:00 (in 3 h), or raise the cap and resume now." in the reader's own clock. */
function resetLine(at: number): string {
  const ms = at - Date.now();
  const time = new Date(at).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  const when = ms < 86_400_000 ? time : `${new Date(at).toLocaleDateString(undefined, { weekday: 'short' })} ${time}`;
  const inWords = ms < 3_600_000 ? `${Math.max(1, Math.round(ms / 60_000))} min` : `${Math.round(ms / 3_600_000)} h`;
  return `Resumable at ${when} (in ${inWords}), or now once the limit is raised.`;
}

function costText(cost: number, estimated: number): string {
  return estimated > 0 ? `${formatUsd(cost)} (${formatUsd(estimated)} estimated)` : formatUsd(cost);
}

function approvalView(m: RunViewModel): TemplateResult {
  const a = m.approval!;
  return html`<div class="approval" role="group" aria-label="Approval">
    <p><span class="codicon codicon-shield"></span> <strong>The agent asks to use ${a.tool}</strong></p>
    <pre class="summary">${a.summary}</pre>
    <div class="actions">
      <button
        data-test="apply"
        ?disabled=${busy !== undefined}
        @click=${() => void act('apply', { kind: 'approve', id: a.id, answer: 'apply' })}
      >
        Apply
      </button>
      <button
        class="secondary"
        data-test="reject"
        ?disabled=${busy !== undefined}
        @click=${() => void act('reject', { kind: 'approve', id: a.id, answer: 'reject' })}
      >
        Reject
      </button>
      ${
        a.hasDiff
          ? html`<button
              class="secondary"
              data-test="diff"
              @click=${() => void act('diff', { kind: 'showDiff', id: a.id })}
            >
              <span class="codicon codicon-diff"></span> Show Diff
            </button>`
          : nothing
      }
    </div>
  </div>`;
}

function followUpBox(m: RunViewModel): TemplateResult {
  const why = m.running
    ? 'Ask when the run is done.'
    : m.canFollowUp
      ? `Continues this run: same session budget, every turn checkpointed.`
      : m.canResume
        ? 'Resume the run to finish it before asking a follow-up.'
        : 'This run cannot be continued.';
  return html`<form class="follow-up" @submit=${send}>
    <textarea
      id="follow-up-text"
      rows="2"
      placeholder="Ask a follow-up…"
      aria-label="Ask a follow-up"
      ?disabled=${!m.canFollowUp || busy !== undefined}
      @keydown=${(e: KeyboardEvent) => {
        if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
          e.preventDefault();
          void send(e);
        }
      }}
    ></textarea>
    <div class="follow-up-bar">
      <span class="muted">${why}</span>
      <button type="submit" data-test="send" ?disabled=${!m.canFollowUp || busy !== undefined}>
        <span class="codicon codicon-send"></span> Ask
      </button>
    </div>
  </form>`;
}

async function send(e: Event): Promise<void> {
  e.preventDefault();
  const box = document.getElementById('follow-up-text') as HTMLTextAreaElement | null;
  const text = box?.value.trim() ?? '';
  if (!box || !text) return;
  if (await act('followUp', { kind: 'followUp', text })) box.value = '';
}

// Code blocks' Copy / Insert at Cursor (buttons added by decorateCodeBlocks).
app.addEventListener('click', (e) => {
  const button = (e.target as HTMLElement).closest<HTMLButtonElement>('button.code-action');
  const code = button?.closest('.code-block')?.querySelector('pre')?.textContent;
  if (!button || code === undefined || code === null) return;
  if (button.dataset.action === 'copy') void act('copy', { kind: 'copy', text: code });
  if (button.dataset.action === 'insert') void act('insert', { kind: 'insert', text: code });
});

window.addEventListener('message', (event: MessageEvent<RunViewHostMessage>) => {
  const message = event.data;
  if (message.type === 'model') {
    model = message.model;
    draw();
  } else if (message.type === 'reply') {
    pending.get(message.id)?.(message);
    pending.delete(message.id);
  }
});

draw();
vscode.postMessage({ type: 'ready' });
