import { evaluationStatus, get, projectPath, query, type Trace, type TraceList } from '../api.js';
import { fmtInt, fmtTime, h, truncate } from '../dom.js';
import { go, hashFor, type ViewContext } from '../router.js';

const FILTERS = ['search', 'source', 'time_range', 'status', 'judge_id'] as const;
const PAGE_SIZE = 50;

/** Cursors of the pages before this one, per query (for "Previous page"); in memory only. */
const earlier = new Map<string, string[]>();

function select(name: string, label: string, options: Array<[string, string]>, value: string, id = `f-${name}`): HTMLElement[] {
  const el = h(
    'select',
    { id, name },
    options.map(([v, text]) => h('option', { value: v, selected: v === value }, text)),
  );
  return [h('label', { for: id }, label), el];
}

export async function tracesView(ctx: ViewContext): Promise<void> {
  ctx.setTitle('Traces');
  const p = ctx.params;
  const filters = Object.fromEntries(FILTERS.map((f) => [f, p.get(f) ?? ''])) as Record<(typeof FILTERS)[number], string>;
  const cursor = p.get('cursor') ?? '';
  const page = Math.max(1, Number(p.get('p') ?? '1') || 1);
  const queryKey = JSON.stringify(filters);

  const apply = (form: HTMLFormElement) => {
    const data = new FormData(form);
    const next: Record<string, string> = {};
    for (const f of FILTERS) next[f] = String(data.get(f) ?? '').trim();
    go(hashFor('/traces', next));
  };
  const sourceSelect = select('source', 'Source', [['', 'any source']], filters.source);
  const form = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': 'Filter traces',
      onsubmit: (e: Event) => {
        e.preventDefault();
        apply(e.target as HTMLFormElement);
      },
      onchange: (e: Event) => {
        if ((e.target as HTMLElement).tagName === 'SELECT') apply((e.target as HTMLSelectElement).form!);
      },
    },
    h(
      'div',
      { class: 'field grow' },
      h('label', { for: 'f-search' }, 'Search'),
      h('input', {
        id: 'f-search',
        name: 'search',
        type: 'search',
        value: filters.search,
        placeholder: 'filename, input or document text',
        maxLength: 256,
      }),
    ),
    h('div', { class: 'field' }, sourceSelect),
    h(
      'div',
      { class: 'field' },
      select(
        'time_range',
        'Created',
        [
          ['', 'any time'],
          ['1h', 'last hour'],
          ['24h', 'last 24 hours'],
          ['7d', 'last 7 days'],
          ['30d', 'last 30 days'],
        ],
        filters.time_range,
      ),
    ),
    h(
      'div',
      { class: 'field' },
      select(
        'status',
        'Status',
        [
          ['', 'any status'],
          ['pass', 'pass'],
          ['fail', 'fail'],
          ['pending', 'pending'],
          ['unevaluated', 'unevaluated'],
        ],
        filters.status,
      ),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 'f-judge' }, 'Judge'),
      h('input', { id: 'f-judge', name: 'judge_id', value: filters.judge_id, placeholder: 'judge id', maxLength: 256 }),
    ),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Search')),
  );
  const count = h('p', { class: 'count', role: 'status' }, 'Loading traces…');
  ctx.main.append(h('h1', { tabIndex: -1 }, 'Traces'), form, count);

  const [list, sources] = await Promise.all([
    get<TraceList>(`${projectPath()}/traces${query({ ...filters, page_size: PAGE_SIZE, cursor })}`),
    get<{ sources: string[] }>(`${projectPath()}/traces/sources`).catch(() => ({ sources: [] as string[] })),
  ]);
  if (!ctx.current()) return;
  const sel = sourceSelect[1] as HTMLSelectElement;
  for (const src of sources.sources) sel.appendChild(h('option', { value: src, selected: src === filters.source }, src));
  if (filters.source && !sources.sources.includes(filters.source))
    sel.appendChild(h('option', { value: filters.source, selected: true }, filters.source));

  const first = (page - 1) * PAGE_SIZE + 1;
  count.textContent =
    list.total_count === 0
      ? 'No traces match.'
      : `${list.total_count_exact ? '' : 'at least '}${fmtInt(list.total_count)} ${list.total_count === 1 ? 'trace' : 'traces'}${list.count ? `, showing ${fmtInt(first)}–${fmtInt(first + list.count - 1)}` : ''}`;

  if (list.traces.length) ctx.main.appendChild(table(list.traces));

  const stack = earlier.get(queryKey) ?? [];
  const nav = h('nav', { class: 'pager', 'aria-label': 'Pages' });
  if (page > 1) {
    nav.appendChild(h('a', { href: hashFor('/traces', filters), class: 'button secondary' }, 'First page'));
    const prev = stack[page - 2];
    if (prev !== undefined)
      nav.appendChild(
        h(
          'a',
          { href: hashFor('/traces', { ...filters, cursor: prev || null, p: page - 1 > 1 ? page - 1 : null }), class: 'button secondary' },
          '← Previous page',
        ),
      );
  }
  nav.appendChild(h('span', { class: 'page' }, `Page ${page}`));
  if (list.next_cursor) {
    const next = list.next_cursor;
    nav.appendChild(
      h(
        'a',
        {
          href: hashFor('/traces', { ...filters, cursor: next, p: page + 1 }),
          class: 'button',
          rel: 'next',
          onclick: () => {
            stack[page - 1] = cursor;
            earlier.set(queryKey, stack);
          },
        },
        'Next page →',
      ),
    );
  }
  ctx.main.appendChild(nav);
}

function evaluationsCell(t: Trace): Node {
  if (t.evaluations_count === 0) return document.createTextNode('—');
  const judges = t.last_evaluations.map((e) => `${e.judge_name}${e.passed === true ? ' ✓' : e.passed === false ? ' ✗' : ' …'}`).join(', ');
  return h('span', null, `${t.evaluations_count}`, h('span', { class: 'muted' }, ` (${truncate(judges, 60)})`));
}

function table(traces: Trace[]): HTMLElement {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'traces' },
      h('caption', { class: 'visually-hidden' }, 'Traces, newest first'),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          ['Filename', 'Created', 'Source', 'Input', 'Evaluations', 'Status'].map((c) => h('th', { scope: 'col' }, c)),
        ),
      ),
      h(
        'tbody',
        null,
        traces.map((t) => {
          const status = evaluationStatus(t);
          return h(
            'tr',
            null,
            h('td', null, h('a', { href: `#/traces/${encodeURIComponent(t.id)}` }, t.filename)),
            h('td', { class: 'nowrap' }, h('time', { dateTime: t.created_at }, fmtTime(t.created_at))),
            h('td', null, t.source),
            h('td', { class: 'input' }, t.input === null ? h('span', { class: 'muted' }, 'no input') : truncate(t.input, 140)),
            h('td', null, evaluationsCell(t)),
            h('td', null, h('span', { class: `badge badge-${status}` }, status)),
          );
        }),
      ),
    ),
  );
}
