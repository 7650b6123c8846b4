import { get, projectPath, query, type Evaluation, type Trace } from '../api.js';
import { jsonTree } from '../components/json-tree.js';
import { fmtInt, fmtTime, h } from '../dom.js';
import type { ViewContext } from '../router.js';

function dl(rows: Array<[string, Node | string | null]>): HTMLElement {
  return h(
    'dl',
    { class: 'meta' },
    rows.flatMap(([k, v]) => [h('dt', null, k), h('dd', null, v ?? h('span', { class: 'muted' }, '—'))]),
  );
}

export async function traceView(ctx: ViewContext, id: string): Promise<void> {
  ctx.setTitle('Trace');
  const status = h('p', { role: 'status', class: 'count' }, 'Loading the trace…');
  ctx.main.append(h('p', null, h('a', { href: '#/traces' }, '← Traces')), status);
  const base = `${projectPath()}`;
  const [trace, evals] = await Promise.all([
    get<Trace>(`${base}/traces/${encodeURIComponent(id)}`),
    get<{ trace_evaluations: Evaluation[]; total: number }>(`${base}/trace-evaluations${query({ trace_id: id, page_size: 100 })}`),
  ]);
  if (!ctx.current()) return;
  ctx.setTitle(trace.filename);
  status.remove();
  const data = trace.data as Record<string, unknown> | null;
  const experiment = data && typeof data === 'object' && typeof data.experiment_uuid === 'string' ? data.experiment_uuid : null;
  const docText = JSON.stringify(trace.data);
  ctx.main.append(
    h('h1', { tabIndex: -1 }, trace.filename),
    dl([
      ['Trace id', h('code', null, trace.id)],
      ['Created', h('time', { dateTime: trace.created_at }, fmtTime(trace.created_at))],
      ['Source', trace.source],
      ['Integration', trace.integration_id],
      ['Upload', h('code', null, trace.upload_id)],
      ['Evaluations', String(trace.evaluations_count)],
      ...(experiment
        ? ([['Experiment', h('a', { href: `#/experiments/${encodeURIComponent(experiment)}` }, experiment)]] as Array<[string, Node]>)
        : []),
    ]),
    h(
      'section',
      { 'aria-labelledby': 'input-h' },
      h('h2', { id: 'input-h' }, 'Input'),
      trace.input === null ? h('p', { class: 'muted' }, 'This trace has no input.') : h('pre', { class: 'input-text' }, trace.input),
    ),
    h(
      'section',
      { 'aria-labelledby': 'evals-h' },
      h('h2', { id: 'evals-h' }, `Evaluations (${evals.total})`),
      evals.trace_evaluations.length === 0
        ? h('p', { class: 'muted' }, 'No evaluations yet.')
        : h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              null,
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  ['Judge', 'Version', 'Result', 'Score', 'Reasoning', 'Created'].map((c) => h('th', { scope: 'col' }, c)),
                ),
              ),
              h(
                'tbody',
                null,
                evals.trace_evaluations.map((e) =>
                  h(
                    'tr',
                    null,
                    h('td', null, e.judge_name, e.judge_name !== e.judge_id ? h('span', { class: 'muted' }, ` (${e.judge_id})`) : null),
                    h('td', null, String(e.judge_version)),
                    h(
                      'td',
                      null,
                      h(
                        'span',
                        { class: `badge badge-${e.passed === true ? 'pass' : e.passed === false ? 'fail' : 'pending'}` },
                        e.passed === true ? 'pass' : e.passed === false ? 'fail' : 'pending',
                      ),
                    ),
                    h('td', null, e.score === null ? '—' : String(e.score)),
                    h('td', { class: 'reasoning' }, e.reasoning ?? '—'),
                    h('td', { class: 'nowrap' }, fmtTime(e.created_at)),
                  ),
                ),
              ),
            ),
          ),
    ),
    h(
      'section',
      { 'aria-labelledby': 'doc-h' },
      h('h2', { id: 'doc-h' }, 'Document'),
      h(
        'p',
        { class: 'muted' },
        `${fmtInt(new Blob([docText]).size)} bytes of JSON. Levels below the second start folded; open them with their buttons.`,
      ),
      jsonTree(trace.data, { label: 'Trace document', openDepth: 2 }),
    ),
  );
}
