import { get, projectPath, query, type Stats } from '../api.js';
import { chart } from '../components/chart.js';
import { fmtCost, fmtInt, fmtMs, h } from '../dom.js';
import { go, hashFor, type ViewContext } from '../router.js';

const RANGES: Array<[string, string]> = [
  ['24h', 'last 24 hours'],
  ['7d', 'last 7 days'],
  ['31d', 'last 31 days'],
];

export async function statsView(ctx: ViewContext): Promise<void> {
  ctx.setTitle('Charts');
  const p = ctx.params;
  const from = p.get('from') ?? '';
  const to = p.get('to') ?? '';
  const range = from ? '' : (p.get('range') ?? '24h');
  const interval = p.get('interval') ?? (range === '24h' || (from && !to) ? 'hour' : range ? 'day' : 'hour');

  const form = h(
    'form',
    {
      class: 'filters',
      'aria-label': 'Chart window',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const d = new FormData(e.target as HTMLFormElement);
        const f = String(d.get('from') ?? '');
        go(
          hashFor('/stats', {
            range: f ? null : String(d.get('range')),
            from: f || null,
            to: f ? String(d.get('to') ?? '') || null : null,
            interval: String(d.get('interval')),
          }),
        );
      },
      onchange: (e: Event) => {
        if ((e.target as HTMLElement).tagName === 'SELECT') (e.target as HTMLSelectElement).form!.requestSubmit();
      },
    },
    h(
      'div',
      { class: 'field' },
      h('label', { for: 's-range' }, 'Window'),
      h(
        'select',
        { id: 's-range', name: 'range' },
        RANGES.map(([v, t]) => h('option', { value: v, selected: v === range }, t)),
      ),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 's-from' }, 'or from'),
      h('input', { id: 's-from', name: 'from', type: 'date', value: from.slice(0, 10) }),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 's-to' }, 'to'),
      h('input', { id: 's-to', name: 'to', type: 'date', value: to.slice(0, 10) }),
    ),
    h(
      'div',
      { class: 'field' },
      h('label', { for: 's-interval' }, 'Per'),
      h(
        'select',
        { id: 's-interval', name: 'interval' },
        ['hour', 'day'].map((v) => h('option', { value: v, selected: v === interval }, v)),
      ),
    ),
    h('div', { class: 'field' }, h('button', { type: 'submit' }, 'Show')),
  );
  const status = h('p', { class: 'count', role: 'status' }, 'Loading the numbers…');
  ctx.main.append(
    h('h1', { tabIndex: -1 }, 'Numbers over time'),
    h(
      'p',
      { class: 'muted' },
      'From the counters the ingest keeps: traces and bad lines by upload time, spans by their start time (UTC). Latency percentiles are read from log-scale buckets (within about 9%).',
    ),
    form,
    status,
  );
  const stats = await get<Stats>(
    `${projectPath()}/stats${query(from ? { from, to: to || undefined, interval } : { time_range: range, interval })}`,
  );
  if (!ctx.current()) return;
  const t = stats.totals;
  status.textContent = `${new Date(stats.from).toLocaleString('en-GB', { timeZone: 'UTC' })} to ${new Date(stats.to).toLocaleString('en-GB', { timeZone: 'UTC' })} UTC`;
  const starts = stats.buckets.map((b) => b.start);
  const per = stats.interval;
  const totals: Array<[string, string]> = [
    ['Traces', fmtInt(t.traces)],
    ['Bad lines', fmtInt(t.bad_lines)],
    ['Spans', fmtInt(t.spans)],
    ['Span errors', fmtInt(t.span_errors)],
    ['Latency p50', fmtMs(t.latency_p50_ms)],
    ['Latency p95', fmtMs(t.latency_p95_ms)],
    ['Tokens', fmtInt(t.total_tokens)],
    ['Cost', fmtCost(t.cost)],
  ];
  ctx.main.append(
    h(
      'dl',
      { class: 'totals', 'aria-label': 'Totals of the window' },
      totals.map(([k, v]) => h('div', null, h('dt', null, k), h('dd', null, v))),
    ),
    h(
      'div',
      { class: 'charts' },
      chart({
        title: `Traces per ${per}`,
        starts,
        interval: per,
        kind: 'bars',
        format: fmtInt,
        series: [{ name: 'traces', tone: 'chart-a', values: stats.buckets.map((b) => b.traces) }],
      }),
      chart({
        title: `Bad lines per ${per}`,
        starts,
        interval: per,
        kind: 'bars',
        format: fmtInt,
        series: [{ name: 'bad lines', tone: 'chart-bad', values: stats.buckets.map((b) => b.bad_lines) }],
      }),
      chart({
        title: `Span latency per ${per}`,
        starts,
        interval: per,
        kind: 'lines',
        format: fmtMs,
        series: [
          { name: 'p50', tone: 'chart-a', values: stats.buckets.map((b) => b.latency_p50_ms) },
          { name: 'p95', tone: 'chart-b', values: stats.buckets.map((b) => b.latency_p95_ms) },
        ],
      }),
      chart({
        title: `Spans per ${per}`,
        starts,
        interval: per,
        kind: 'bars',
        format: fmtInt,
        series: [
          { name: 'spans', tone: 'chart-a', values: stats.buckets.map((b) => b.spans) },
          { name: 'errors', tone: 'chart-bad', values: stats.buckets.map((b) => b.span_errors) },
        ],
      }),
      chart({
        title: `Tokens per ${per}`,
        starts,
        interval: per,
        kind: 'bars',
        format: fmtInt,
        series: [
          { name: 'input', tone: 'chart-a', values: stats.buckets.map((b) => b.input_tokens) },
          { name: 'output', tone: 'chart-b', values: stats.buckets.map((b) => b.output_tokens) },
          { name: 'total', tone: 'chart-c', values: stats.buckets.map((b) => b.total_tokens) },
        ],
      }),
      chart({
        title: `Cost per ${per}`,
        starts,
        interval: per,
        kind: 'bars',
        format: fmtCost,
        series: [{ name: 'cost', tone: 'chart-c', values: stats.buckets.map((b) => b.cost) }],
      }),
    ),
  );
}
