import { call, type SpanNode } from '../api.js';
import { jsonTree } from '../components/json-tree.js';
import { latencyMs, SpanTree, spanTiming, tokensOf } from '../components/span-tree.js';
import { append, clear, fmtCost, fmtInt, fmtMs, fmtTime, h } from '../dom.js';
import { FILTER_OPERATORS } from '../../../functions/domain/parea/operators.js';
import { go, hashFor, type ViewContext } from '../router.js';

const FILTER_KEYS = ['filter_field', 'filter_key', 'filter_operator', 'filter_value'] as const;
const TREES_PER_PAGE = 100;
const FIELD_HINTS = [
  'trace_name',
  'status',
  'latency',
  'cost',
  'total_tokens',
  'input_tokens',
  'output_tokens',
  'error',
  'tags',
  'metadata',
  'inputs',
  'configuration',
  'score:accuracy',
  'start_timestamp',
];

export async function experimentsIndex(ctx: ViewContext): Promise<void> {
  ctx.setTitle('Experiments');
  const input = h('input', { id: 'exp-uuid', name: 'uuid', required: true, maxLength: 255, spellcheck: false });
  ctx.main.append(
    h('h1', { tabIndex: -1 }, 'Experiments'),
    h(
      'p',
      null,
      'An experiment’s spans come from the Parea SDKs (POST /api/parea/v1/trace_log) or from uploaded records with a trace_id. Open one by its UUID:',
    ),
    h(
      'form',
      {
        class: 'filters',
        onsubmit: (e: Event) => {
          e.preventDefault();
          go(`#/experiments/${encodeURIComponent(input.value.trim())}`);
        },
      },
      h('div', { class: 'field grow' }, h('label', { for: 'exp-uuid' }, 'Experiment UUID'), input),
      h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Open')),
    ),
  );
}

export async function experimentView(ctx: ViewContext, uuid: string): Promise<void> {
  ctx.setTitle(`Experiment ${uuid}`);
  const p = ctx.params;
  const filter = Object.fromEntries(FILTER_KEYS.map((k) => [k, p.get(k) ?? ''])) as Record<(typeof FILTER_KEYS)[number], string>;
  const filtering = filter.filter_field !== '' || filter.filter_operator !== '';
  const body = filtering ? Object.fromEntries(FILTER_KEYS.map((k) => [k, filter[k] === '' ? null : filter[k]])) : {};

  const field = (k: (typeof FILTER_KEYS)[number], label: string, el: HTMLElement) =>
    h('div', { class: 'field' }, h('label', { for: `x-${k}` }, label), el);
  const form = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Filter the experiment’s trees',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const data = new FormData(e.target as HTMLFormElement);
        go(
          hashFor(
            `/experiments/${encodeURIComponent(uuid)}`,
            Object.fromEntries(FILTER_KEYS.map((k) => [k, String(data.get(k) ?? '').trim()])),
          ),
        );
      },
    },
    field(
      'filter_field',
      'Field',
      h('input', {
        id: 'x-filter_field',
        name: 'filter_field',
        value: filter.filter_field,
        list: 'x-fields',
        placeholder: 'e.g. status, latency, score:accuracy',
      }),
    ),
    h(
      'datalist',
      { id: 'x-fields' },
      FIELD_HINTS.map((f) => h('option', { value: f })),
    ),
    field(
      'filter_key',
      'Key',
      h('input', { id: 'x-filter_key', name: 'filter_key', value: filter.filter_key, placeholder: 'for metadata, inputs…' }),
    ),
    field(
      'filter_operator',
      'Operator',
      h(
        'select',
        { id: 'x-filter_operator', name: 'filter_operator' },
        h('option', { value: '' }, 'none'),
        FILTER_OPERATORS.map((o) => h('option', { value: o, selected: o === filter.filter_operator }, o.replace(/_/g, ' '))),
      ),
    ),
    field('filter_value', 'Value', h('input', { id: 'x-filter_value', name: 'filter_value', value: filter.filter_value })),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Apply filter')),
    filtering
      ? h('div', { class: 'field' }, h('a', { class: 'button secondary', href: `#/experiments/${encodeURIComponent(uuid)}` }, 'Clear'))
      : null,
  );
  const status = h('p', { class: 'count', role: 'status' }, 'Loading the experiment…');
  const detail = h(
    'section',
    { class: 'span-detail', 'aria-labelledby': 'span-h', tabIndex: -1 },
    h('h2', { id: 'span-h' }, 'Span'),
    h('p', { class: 'muted' }, 'Select a span (click it, or Enter on it) to see its inputs, output, configuration, scores and metadata.'),
  );
  const tree = new SpanTree(`Span trees of experiment ${uuid}`, (node) => showSpan(detail, node));
  const more = h('button', { type: 'button', class: 'secondary', hidden: true }, 'Load more trees');
  ctx.main.append(
    h('h1', { tabIndex: -1 }, 'Experiment ', h('code', null, uuid)),
    form,
    status,
    h('div', { class: 'experiment' }, h('div', { class: 'tree-pane' }, tree.element, more), detail),
  );

  let trees = 0;
  let cursor: string | null = null;
  const load = async () => {
    more.disabled = true;
    const answer = await call<SpanNode[]>(
      'POST',
      `/api/parea/v1/experiment/${encodeURIComponent(uuid)}/trace_logs?limit=${TREES_PER_PAGE}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      body,
    );
    if (!ctx.current()) return;
    cursor = answer.headers.get('x-next-cursor');
    trees += answer.body.length;
    tree.addRoots(answer.body);
    status.textContent =
      trees === 0
        ? filtering
          ? 'No tree of this experiment matches the filter.'
          : 'This experiment has no spans (or does not exist in this project).'
        : `${fmtInt(trees)} root ${trees === 1 ? 'tree' : 'trees'}, ${fmtInt(tree.size)} spans${cursor ? ' so far' : ''}${filtering ? ' (trees with a matching span)' : ''}`;
    more.hidden = cursor === null;
    more.disabled = false;
  };
  more.addEventListener('click', () => void load().catch((err: unknown) => (status.textContent = String((err as Error).message))));
  await load();
}

function section(title: string, value: unknown): HTMLElement | null {
  if (value === undefined || value === null || (typeof value === 'object' && Object.keys(value as object).length === 0)) return null;
  return h(
    'section',
    null,
    h('h3', null, title),
    typeof value === 'string' ? h('pre', { class: 'input-text' }, value) : jsonTree(value, { label: title, openDepth: 2 }),
  );
}

function showSpan(panel: HTMLElement, n: SpanNode): void {
  clear(panel);
  const t = spanTiming(n);
  const tokens = tokensOf(n);
  const rows: Array<[string, string | Node]> = [
    ['Span id', h('code', null, n.trace_id)],
    ['Parent', n.parent_trace_id === n.trace_id ? 'none (root)' : h('code', null, n.parent_trace_id)],
    ['Status', n.status ?? '—'],
    ['Start', t.start === null ? n.start_timestamp : fmtTime(new Date(t.start).toISOString(), true)],
    ['End', t.end === null ? '—' : fmtTime(new Date(t.end).toISOString(), true)],
    ['Latency', fmtMs(latencyMs(n, t))],
    ['Tokens', tokens === null ? '—' : `${fmtInt(tokens)} (in ${n.input_tokens ?? '—'}, out ${n.output_tokens ?? '—'})`],
    ['Cost', fmtCost(n.cost)],
  ];
  if (n.error) rows.push(['Error', h('span', { class: 'error' }, String(n.error))]);
  append(panel, [
    h('h2', { id: 'span-h' }, typeof n.trace_name === 'string' && n.trace_name ? n.trace_name : n.trace_id),
    h(
      'dl',
      { class: 'meta' },
      rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v)]),
    ),
    n.scores.length
      ? h(
          'section',
          null,
          h('h3', null, 'Scores'),
          h(
            'table',
            null,
            h(
              'thead',
              null,
              h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Score'), h('th', { scope: 'col' }, 'Reason')),
            ),
            h(
              'tbody',
              null,
              n.scores.map((s) => h('tr', null, h('td', null, s.name), h('td', null, String(s.score)), h('td', null, s.reason ?? '—'))),
            ),
          ),
        )
      : null,
    section('Inputs', n.inputs),
    section('Output', n.output),
    section('Configuration', n.configuration),
    section('Metadata', n.metadata),
  ]);
}
