/**
 * Small SVG charts for values over time: bars, or lines for several series. Each is a figure
 * with a caption, an image role whose label says what it shows (range and peak), and the same
 * numbers as a table under a disclosure, for screen readers and for copying.
 */
import { h, s } from '../dom.js';

export interface Series {
  name: string;
  values: Array<number | null>;
  /** CSS class giving the colour (chart-a, chart-b, …). */
  tone: string;
}

export interface ChartSpec {
  title: string;
  starts: string[];
  interval: 'hour' | 'day';
  series: Series[];
  kind: 'bars' | 'lines';
  format: (v: number) => string;
}

const W = 480;
const H = 190;
const PAD = { left: 62, right: 10, top: 12, bottom: 28 };

function tickLabel(iso: string, interval: 'hour' | 'day'): string {
  const d = new Date(iso);
  return interval === 'day'
    ? d.toLocaleDateString('en-GB', { day: '2-digit', month: 'short' })
    : d.toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', hour12: false });
}

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

export function chart(spec: ChartSpec): HTMLElement {
  const n = spec.starts.length;
  const all = spec.series.flatMap((x) => x.values.filter((v): v is number => v !== null));
  const peak = all.length ? Math.max(...all) : 0;
  const max = niceMax(peak);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const x = (i: number) => PAD.left + (i / Math.max(1, n)) * plotW;
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const svg = s('svg', { viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-label': summary(spec, peak) });
  for (const t of [0, 0.5, 1]) {
    svg.appendChild(s('line', { x1: PAD.left, x2: W - PAD.right, y1: y(max * t), y2: y(max * t), class: 'grid' }));
    svg.appendChild(s('text', { x: PAD.left - 6, y: y(max * t) + 4, class: 'axis', 'text-anchor': 'end' }, spec.format(max * t)));
  }
  const every = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i += every) {
    svg.appendChild(
      s('text', { x: x(i) + plotW / n / 2, y: H - 8, class: 'axis', 'text-anchor': 'middle' }, tickLabel(spec.starts[i]!, spec.interval)),
    );
  }
  if (spec.kind === 'bars') {
    const band = plotW / Math.max(1, n);
    const gap = band > 6 ? 1 : 0;
    const per = (band - gap) / spec.series.length;
    spec.series.forEach((ser, k) => {
      ser.values.forEach((v, i) => {
        if (v === null || v <= 0) return;
        const rect = s('rect', {
          x: x(i) + k * per,
          y: y(v),
          width: Math.max(per, 0.5),
          height: Math.max(0.5, y(0) - y(v)),
          class: ser.tone,
        });
        rect.appendChild(s('title', {}, `${tickLabel(spec.starts[i]!, spec.interval)} ${ser.name}: ${spec.format(v)}`));
        svg.appendChild(rect);
      });
    });
  } else {
    for (const ser of spec.series) {
      let d = '';
      ser.values.forEach((v, i) => {
        if (v === null) return;
        const px = x(i) + plotW / n / 2;
        d += `${d === '' || ser.values[i - 1] === null ? 'M' : 'L'}${px.toFixed(1)},${y(v).toFixed(1)}`;
        const dot = s('circle', { cx: px, cy: y(v), r: 2.5, class: ser.tone });
        dot.appendChild(s('title', {}, `${tickLabel(spec.starts[i]!, spec.interval)} ${ser.name}: ${spec.format(v)}`));
        svg.appendChild(dot);
      });
      if (d) svg.insertBefore(s('path', { d, class: `line ${ser.tone}` }), svg.firstChild);
    }
  }
  const legend =
    spec.series.length > 1
      ? h(
          'ul',
          { class: 'legend' },
          spec.series.map((ser) => h('li', null, h('span', { class: `swatch ${ser.tone}`, 'aria-hidden': 'true' }), ser.name)),
        )
      : null;
  const table = h(
    'table',
    { class: 'data' },
    h('caption', { class: 'visually-hidden' }, spec.title),
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        h('th', { scope: 'col' }, spec.interval),
        spec.series.map((ser) => h('th', { scope: 'col' }, ser.name)),
      ),
    ),
    h(
      'tbody',
      null,
      spec.starts.map((st, i) =>
        h(
          'tr',
          null,
          h('th', { scope: 'row' }, tickLabel(st, spec.interval)),
          spec.series.map((ser) => h('td', null, ser.values[i] === null ? '—' : spec.format(ser.values[i]!))),
        ),
      ),
    ),
  );
  return h(
    'figure',
    { class: 'chart-figure' },
    h('figcaption', null, spec.title),
    legend,
    svg,
    h('details', null, h('summary', null, 'Data table'), table),
  );
}

function summary(spec: ChartSpec, peak: number): string {
  const n = spec.starts.length;
  const range = n ? `${tickLabel(spec.starts[0]!, spec.interval)} to ${tickLabel(spec.starts[n - 1]!, spec.interval)}` : 'no data';
  return `${spec.title}, per ${spec.interval}, ${range}; peak ${spec.format(peak)}`;
}
