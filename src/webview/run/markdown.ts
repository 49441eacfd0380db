// A run's answers rendered as Markdown, safely: markdown-it with raw HTML off (`html: false`: a model's `<script>`
// or `<img onerror>` stays text), then DOMPurify over what it produced (defence in depth: links with `javascript:`
// and anything else a renderer bug could let through are dropped). The page's CSP forbids inline scripts and
// styles besides. Code blocks get Copy and Insert at Cursor buttons, added as DOM (never as HTML strings).
import DOMPurify from 'dompurify';
import MarkdownIt from 'markdown-it';

const md = new MarkdownIt({ html: false, linkify: true, breaks: false });

/** Rendered HTML per Markdown source: a streaming view renders again only what changed. */
const cache = new Map<string, string>();

/** Sanitised HTML of `source`. */
export function renderMarkdown(source: string): string {
  const hit = cache.get(source);
  if (hit !== undefined) return hit;
  const html = DOMPurify.sanitize(md.render(source), { USE_PROFILES: { html: true } });
  if (cache.size > 200) cache.clear();
  cache.set(source, html);
  return html;
}

/** Adds the Copy / Insert at Cursor buttons to every code block under `root` that has none yet. */
export function decorateCodeBlocks(root: HTMLElement): void {
  for (const pre of root.querySelectorAll<HTMLPreElement>('.markdown pre')) {
    if (pre.parentElement?.classList.contains('code-block')) continue;
    const wrapper = document.createElement('div');
    wrapper.className = 'code-block';
    const bar = document.createElement('div');
    bar.className = 'code-actions';
    bar.append(button('copy', 'copy', 'Copy'), button('insert', 'insert', 'Insert at Cursor'));
    pre.replaceWith(wrapper);
    wrapper.append(bar, pre);
  }
}

function button(action: string, icon: string, label: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.className = 'code-action';
  b.dataset.action = action;
  b.title = label;
  const i = document.createElement('span');
  i.className = `codicon codicon-${icon}`;
  b.append(i, document.createTextNode(` ${label}`));
  return b;
}
