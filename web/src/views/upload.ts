import { call, get, projectPath, type ApiError, type LineError } from '../api.js';
import { append, clear, fmtInt, h } from '../dom.js';
import { hashFor, type ViewContext } from '../router.js';

interface Presign {
  url: string;
  headers?: Record<string, string>;
}
interface Created {
  status: string;
  upload_id: string;
  trace_ids: string[];
  errors: LineError[];
  error_count?: number;
  records?: number;
  trace_count?: number;
}
interface Upload {
  status: string;
  records: number;
  traces: number;
  error_count: number;
  errors: LineError[];
  reason: string | null;
}

const STEPS = ['Presign', 'Upload', 'Ingest'] as const;

function typeFor(name: string): string {
  return /\.jsonl$/i.test(name) ? 'application/jsonl' : 'application/json';
}

/** PUT with upload progress (fetch reports none): only Content-Type, as the URL was signed over it. */
function put(url: string, file: File, headers: Record<string, string>, onProgress: (fraction: number) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('PUT', url);
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () =>
      xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new Error(`the storage refused the file (HTTP ${xhr.status})`));
    xhr.onerror = () => reject(new Error('the file could not be sent to the storage (network or CORS)'));
    xhr.send(file);
  });
}

export async function uploadView(ctx: ViewContext): Promise<void> {
  ctx.setTitle('Upload');
  const input = h('input', { id: 'file', type: 'file', accept: '.json,.jsonl,application/json', 'aria-describedby': 'file-help' });
  const zone = h(
    'div',
    { class: 'dropzone' },
    h('p', { class: 'drop-title' }, 'Drop a .json or .jsonl file here'),
    h('label', { for: 'file' }, 'or choose a trace file'),
    input,
    h('p', { id: 'file-help', class: 'help' }, 'Up to 50 MiB. JSONL: one JSON object per line; JSON: an object or an array of objects.'),
  );
  const steps = h(
    'ol',
    { class: 'steps' },
    STEPS.map((s) => h('li', { dataset: { state: 'todo' } }, s)),
  );
  const bar = h('progress', { id: 'progress', max: 100, value: 0 });
  const status = h('p', { role: 'status', class: 'count' });
  const result = h('div', { class: 'result' });
  const progress = h(
    'section',
    { class: 'progress', hidden: true, 'aria-label': 'Upload progress' },
    steps,
    h('label', { for: 'progress', class: 'visually-hidden' }, 'Progress'),
    bar,
    status,
  );
  ctx.main.append(h('h1', { tabIndex: -1 }, 'Upload traces'), zone, progress, result);

  const step = (i: number, state: 'active' | 'done' | 'failed') => {
    const li = steps.children[i] as HTMLElement;
    li.dataset.state = state;
    li.setAttribute('aria-current', state === 'active' ? 'step' : 'false');
  };
  let busy = false;
  const run = async (file: File) => {
    if (busy) return;
    busy = true;
    progress.hidden = false;
    clear(result);
    for (const li of Array.from(steps.children)) (li as HTMLElement).dataset.state = 'todo';
    bar.value = 0;
    let current = 0;
    try {
      step(0, 'active');
      status.textContent = `Asking for an upload URL for ${file.name}…`;
      const presign = (
        await call<Presign>('POST', `${projectPath()}/traces/upload`, { filename: file.name, type: typeFor(file.name), size: file.size })
      ).body;
      step(0, 'done');
      current = 1;
      step(1, 'active');
      status.textContent = `Sending ${fmtInt(file.size)} bytes…`;
      await put(presign.url, file, presign.headers ?? { 'Content-Type': typeFor(file.name) }, (f) => {
        bar.value = Math.round(f * 90);
      });
      bar.value = 90;
      step(1, 'done');
      current = 2;
      step(2, 'active');
      status.textContent = 'Ingesting…';
      const outcome = await ingest(file.name);
      bar.value = 100;
      step(2, 'done');
      status.textContent = `Done: ${fmtInt(outcome.traces)} ${outcome.traces === 1 ? 'trace' : 'traces'} from ${file.name}, ${fmtInt(outcome.errorCount)} bad ${outcome.errorCount === 1 ? 'line' : 'lines'}.`;
      showResult(result, file.name, outcome);
    } catch (err) {
      step(current, 'failed');
      const e = err as ApiError;
      const body = e.body as { errors?: LineError[]; error_count?: number } | undefined;
      status.textContent = `Failed: ${e.message}`;
      if (body?.errors?.length)
        showResult(result, file.name, { traces: 0, errorCount: body.error_count ?? body.errors.length, errors: body.errors });
    } finally {
      busy = false;
      input.value = '';
    }
  };

  input.addEventListener('change', () => input.files?.[0] && void run(input.files[0]));
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const file = e.dataTransfer?.files[0];
    if (file) void run(file);
  });
}

interface Outcome {
  traces: number;
  errorCount: number;
  errors: LineError[];
}

/** POST .../traces; a 202 is followed on its upload until the worker completes it. */
async function ingest(filename: string): Promise<Outcome> {
  const created = await call<Created>('POST', `${projectPath()}/traces`, { filename });
  if (created.status === 200) {
    const b = created.body;
    return { traces: b.trace_count ?? b.trace_ids.length, errorCount: b.error_count ?? b.errors.length, errors: b.errors };
  }
  for (;;) {
    await new Promise((r) => setTimeout(r, 1000));
    const u = await get<Upload>(`${projectPath()}/uploads/${encodeURIComponent(created.body.upload_id)}`);
    if (u.status === 'completed') return { traces: u.traces, errorCount: u.error_count, errors: u.errors };
    if (u.status === 'failed') throw new Error(u.reason ?? 'the upload failed');
  }
}

function showResult(el: HTMLElement, filename: string, o: Outcome): void {
  append(el, [
    o.traces > 0 ? h('p', null, h('a', { href: hashFor('/traces', { search: filename }) }, `See the traces of ${filename}`)) : null,
    o.errors.length
      ? h(
          'section',
          { 'aria-labelledby': 'bad-h' },
          h('h2', { id: 'bad-h' }, `Bad lines (${fmtInt(o.errorCount)})`),
          o.errorCount > o.errors.length ? h('p', { class: 'muted' }, `The first ${o.errors.length} are listed.`) : null,
          h(
            'div',
            { class: 'table-wrap' },
            h(
              'table',
              { class: 'bad-lines' },
              h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Line'), h('th', { scope: 'col' }, 'Problem'))),
              h(
                'tbody',
                null,
                o.errors.map((e) => h('tr', null, h('td', { class: 'num' }, String(e.line)), h('td', null, e.message))),
              ),
            ),
          ),
        )
      : null,
  ]);
}
