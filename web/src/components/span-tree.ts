/**
 * An experiment's span trees as one WAI-ARIA tree (role=tree, treeitem, aria-level, -setsize,
 * -posinset, -expanded, -selected), with a waterfall of each span's start and end in its root
 * tree's time window. Rows are virtualised: only the rows in view (and a few around them) are in
 * the document, so 10,000 spans scroll and answer keys as fast as ten. Focus stays on the tree;
 * the active row is aria-activedescendant.
 *
 * Keys: ↑ ↓ move, → opens or goes to the first child, ← closes or goes to the parent, Home/End,
 * PageUp/PageDown, Enter or Space selects (shows the span), * opens every sibling.
 */
import type { SpanNode } from '../api.js';
import { clear, fmtCost, fmtInt, fmtMs, fmtTime, h, uid } from '../dom.js';

export const ROW_HEIGHT = 30;
const OVERSCAN = 8;

interface Meta {
  id: string;
  level: number;
  pos: number;
  size: number;
  parent: SpanNode | null;
  root: SpanNode;
  start: number | null;
  end: number | null;
}

export interface SpanTiming {
  start: number | null;
  end: number | null;
}

/** Start and end of a span in epoch ms: end from end_timestamp, else start + latency. */
export function spanTiming(n: SpanNode): SpanTiming {
  const start = Date.parse(n.start_timestamp);
  const s = Number.isNaN(start) ? null : start;
  let end: number | null = null;
  if (typeof n.end_timestamp === 'string') {
    const e = Date.parse(n.end_timestamp);
    if (!Number.isNaN(e)) end = e;
  }
  if (end === null && s !== null && typeof n.latency === 'number' && Number.isFinite(n.latency)) end = s + n.latency * 1000;
  return { start: s, end };
}

/** Latency in ms: the span's own, else end minus start. */
export function latencyMs(n: SpanNode, t: SpanTiming = spanTiming(n)): number | null {
  if (typeof n.latency === 'number' && Number.isFinite(n.latency)) return n.latency * 1000;
  return t.start !== null && t.end !== null ? t.end - t.start : null;
}

export function tokensOf(n: SpanNode): number | null {
  if (typeof n.total_tokens === 'number') return n.total_tokens;
  if (typeof n.input_tokens === 'number' || typeof n.output_tokens === 'number') return (n.input_tokens ?? 0) + (n.output_tokens ?? 0);
  return null;
}

function spanName(n: SpanNode): string {
  return typeof n.trace_name === 'string' && n.trace_name !== '' ? n.trace_name : n.trace_id;
}

function scoresText(n: SpanNode): string {
  return n.scores.map((s) => `${s.name} ${Number.isInteger(s.score) ? s.score : s.score.toFixed(2)}`).join(', ');
}

export class SpanTree {
  readonly element: HTMLElement;
  private readonly viewport: HTMLElement;
  private readonly spacer: HTMLElement;
  private readonly windowLabel: HTMLElement;
  private readonly meta = new Map<SpanNode, Meta>();
  private readonly rootWindow = new Map<SpanNode, { t0: number; t1: number }>();
  private readonly expanded = new Set<SpanNode>();
  private roots: SpanNode[] = [];
  private rows: SpanNode[] = [];
  private active = 0;
  private selected: SpanNode | null = null;
  private frame = 0;

  /** How many spans the tree holds. */
  get size(): number {
    return this.meta.size;
  }

  constructor(
    label: string,
    private readonly onSelect: (node: SpanNode) => void,
  ) {
    const treeId = uid('tree');
    this.spacer = h('div', { class: 'tree-spacer', role: 'presentation' });
    this.viewport = h(
      'div',
      {
        class: 'tree-viewport',
        role: 'tree',
        id: treeId,
        tabIndex: 0,
        'aria-label': label,
        onkeydown: (e: KeyboardEvent) => this.onKey(e),
        onscroll: () => this.schedule(),
      },
      this.spacer,
    );
    this.windowLabel = h('span', { class: 'tree-window' });
    const header = h(
      'div',
      { class: 'tree-row tree-header', 'aria-hidden': 'true' },
      h('span', null, 'span'),
      h('span', null, 'status'),
      h('span', { class: 'num' }, 'latency'),
      h('span', { class: 'num' }, 'tokens'),
      h('span', { class: 'num' }, 'cost'),
      h('span', null, 'scores'),
      h('span', null, 'timeline ', this.windowLabel),
    );
    this.element = h('div', { class: 'span-tree' }, header, this.viewport);
  }

  /** Adds root trees (a later page of the experiment), keeping what is open. */
  addRoots(roots: SpanNode[], openLevels = 2): void {
    const stack: SpanNode[] = [];
    roots.forEach((r, i) => {
      this.meta.set(r, this.metaFor(r, 1, this.roots.length + i + 1, 0, null, r));
    });
    this.roots.push(...roots);
    // Root sizes change as pages arrive.
    for (const r of this.roots) this.meta.get(r)!.size = this.roots.length;
    for (let i = roots.length - 1; i >= 0; i--) stack.push(roots[i]!);
    while (stack.length) {
      const n = stack.pop()!;
      const m = this.meta.get(n)!;
      const kids = n.children_logs ?? [];
      if (kids.length && m.level <= openLevels) this.expanded.add(n);
      for (let i = kids.length - 1; i >= 0; i--) {
        const c = kids[i]!;
        this.meta.set(c, this.metaFor(c, m.level + 1, i + 1, kids.length, n, m.root));
        stack.push(c);
      }
    }
    for (const r of roots) {
      let t0 = Number.POSITIVE_INFINITY;
      let t1 = Number.NEGATIVE_INFINITY;
      const walk = [r];
      while (walk.length) {
        const n = walk.pop()!;
        const m = this.meta.get(n)!;
        if (m.start !== null) t0 = Math.min(t0, m.start);
        if (m.end !== null) t1 = Math.max(t1, m.end);
        if (m.start !== null) t1 = Math.max(t1, m.start);
        walk.push(...(n.children_logs ?? []));
      }
      if (Number.isFinite(t0)) this.rootWindow.set(r, { t0, t1: Math.max(t1, t0 + 1) });
    }
    this.flatten();
  }

  private metaFor(n: SpanNode, level: number, pos: number, size: number, parent: SpanNode | null, root: SpanNode): Meta {
    const t = spanTiming(n);
    return { id: uid('span'), level, pos, size, parent, root, start: t.start, end: t.end };
  }

  /** The visible rows: every node whose ancestors are all open, in tree order. */
  private flatten(): void {
    const rows: SpanNode[] = [];
    const stack: SpanNode[] = [];
    for (let i = this.roots.length - 1; i >= 0; i--) stack.push(this.roots[i]!);
    while (stack.length) {
      const n = stack.pop()!;
      rows.push(n);
      if (this.expanded.has(n)) {
        const kids = n.children_logs;
        for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
      }
    }
    const activeNode = this.rows[this.active];
    this.rows = rows;
    if (activeNode) {
      const i = rows.indexOf(activeNode);
      this.active = i >= 0 ? i : Math.min(this.active, rows.length - 1);
    }
    this.spacer.style.height = `${rows.length * ROW_HEIGHT}px`;
    this.viewport.style.height = `${Math.max(1, rows.length) * ROW_HEIGHT + 2}px`;
    this.render();
  }

  private schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  private render(): void {
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(this.viewport.scrollTop / ROW_HEIGHT) - OVERSCAN);
    const last = Math.min(this.rows.length, Math.ceil((this.viewport.scrollTop + height) / ROW_HEIGHT) + OVERSCAN);
    clear(this.spacer);
    for (let i = first; i < last; i++) this.spacer.appendChild(this.row(i));
    const activeNode = this.rows[this.active];
    if (activeNode) {
      this.viewport.setAttribute('aria-activedescendant', this.meta.get(activeNode)!.id);
      const w = this.rootWindow.get(this.meta.get(activeNode)!.root);
      this.windowLabel.textContent = w
        ? `${new Date(w.t0).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', fractionalSecondDigits: 3, hour12: false })} +${fmtMs(w.t1 - w.t0)}`
        : '';
      this.windowLabel.title = w
        ? `this root tree: ${fmtTime(new Date(w.t0).toISOString())} to ${fmtTime(new Date(w.t1).toISOString())}`
        : '';
    }
  }

  private row(i: number): HTMLElement {
    const n = this.rows[i]!;
    const m = this.meta.get(n)!;
    const hasKids = n.children_logs.length > 0;
    const open = this.expanded.has(n);
    const lat = latencyMs(n, m);
    const tokens = tokensOf(n);
    const status = n.status ?? (n.error ? 'error' : '');
    const scores = scoresText(n);
    const w = this.rootWindow.get(m.root);
    const bar = h('span', { class: `bar${status === 'error' ? ' bar-error' : ''}` });
    if (w && m.start !== null) {
      const span = w.t1 - w.t0;
      const left = ((m.start - w.t0) / span) * 100;
      const width = m.end !== null ? Math.max(((m.end - m.start) / span) * 100, 0.4) : 0.4;
      bar.style.left = `${Math.min(left, 99.6)}%`;
      bar.style.width = `${Math.min(width, 100 - Math.min(left, 99.6))}%`;
    }
    const startText = m.start === null ? n.start_timestamp : fmtTime(new Date(m.start).toISOString(), true);
    const endText = m.end === null ? '—' : fmtTime(new Date(m.end).toISOString(), true);
    const offset = w && m.start !== null ? `+${fmtMs(m.start - w.t0)}` : '';
    const label = [
      spanName(n),
      status || 'no status',
      `latency ${fmtMs(lat)}`,
      tokens === null ? null : `${fmtInt(tokens)} tokens`,
      typeof n.cost === 'number' ? `cost ${fmtCost(n.cost)}` : null,
      scores ? `scores ${scores}` : null,
      `start ${startText}`,
      `end ${endText}`,
    ]
      .filter(Boolean)
      .join(', ');
    const el = h(
      'div',
      {
        class: `tree-row${i === this.active ? ' active' : ''}${this.selected === n ? ' selected' : ''}`,
        role: 'treeitem',
        id: m.id,
        'aria-level': m.level,
        'aria-setsize': m.size || this.roots.length,
        'aria-posinset': m.pos,
        'aria-selected': String(this.selected === n),
        'aria-label': label,
        ...(hasKids ? { 'aria-expanded': String(open) } : {}),
        style: { transform: `translateY(${i * ROW_HEIGHT}px)` },
        onclick: (e: MouseEvent) => {
          this.active = i;
          if ((e.target as HTMLElement).closest('.chevron')) this.toggle(n);
          else this.select(n);
          this.viewport.focus({ preventScroll: true });
          this.render();
        },
      },
      h(
        'span',
        { class: 'cell-name', style: { paddingLeft: `${(m.level - 1) * 1.1 + 0.3}rem` } },
        h('span', { class: 'chevron', 'aria-hidden': 'true' }, hasKids ? (open ? '▾' : '▸') : ''),
        h('span', { class: 'name', title: n.trace_id }, spanName(n)),
      ),
      h('span', { class: `status status-${status || 'none'}` }, status || '—'),
      h('span', { class: 'num' }, fmtMs(lat)),
      h('span', { class: 'num' }, tokens === null ? '—' : fmtInt(tokens)),
      h('span', { class: 'num' }, fmtCost(n.cost)),
      h('span', { class: 'scores' }, scores || '—'),
      h('span', { class: 'timeline', title: `${startText} → ${endText} (${offset})` }, bar),
    );
    return el;
  }

  private toggle(n: SpanNode, open = !this.expanded.has(n)): void {
    if (!n.children_logs.length) return;
    if (open) this.expanded.add(n);
    else this.expanded.delete(n);
    this.flatten();
  }

  private select(n: SpanNode): void {
    this.selected = n;
    this.onSelect(n);
  }

  private moveTo(i: number): void {
    this.active = Math.max(0, Math.min(this.rows.length - 1, i));
    const top = this.active * ROW_HEIGHT;
    const height = this.viewport.clientHeight || 600;
    if (top < this.viewport.scrollTop) this.viewport.scrollTop = top;
    else if (top + ROW_HEIGHT > this.viewport.scrollTop + height) this.viewport.scrollTop = top + ROW_HEIGHT - height;
    this.render();
  }

  private onKey(e: KeyboardEvent): void {
    const n = this.rows[this.active];
    if (!n) return;
    const page = Math.max(1, Math.floor((this.viewport.clientHeight || 600) / ROW_HEIGHT) - 1);
    const m = this.meta.get(n)!;
    switch (e.key) {
      case 'ArrowDown':
        this.moveTo(this.active + 1);
        break;
      case 'ArrowUp':
        this.moveTo(this.active - 1);
        break;
      case 'Home':
        this.moveTo(0);
        break;
      case 'End':
        this.moveTo(this.rows.length - 1);
        break;
      case 'PageDown':
        this.moveTo(this.active + page);
        break;
      case 'PageUp':
        this.moveTo(this.active - page);
        break;
      case 'ArrowRight':
        if (n.children_logs.length && !this.expanded.has(n)) this.toggle(n, true);
        else if (n.children_logs.length) this.moveTo(this.active + 1);
        break;
      case 'ArrowLeft':
        if (this.expanded.has(n)) this.toggle(n, false);
        else if (m.parent) this.moveTo(this.rows.indexOf(m.parent));
        break;
      case 'Enter':
      case ' ':
        this.select(n);
        this.render();
        break;
      case '*': {
        const siblings = m.parent ? m.parent.children_logs : this.roots;
        for (const s of siblings) if (s.children_logs.length) this.expanded.add(s);
        this.flatten();
        break;
      }
      default:
        return;
    }
    e.preventDefault();
  }
}
