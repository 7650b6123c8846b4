/**
 * The trace-ingest viewer: a hash router over a handful of views, talking only to the public API
 * with the key kept in this tab's sessionStorage.
 */
import './style.css';
import { loadConfig, setUnauthorizedHandler } from './api.js';
import { clear, h } from './dom.js';
import { go, type ViewContext } from './router.js';
import { clearSession, loadSession } from './session.js';
import { experimentsIndex, experimentView } from './views/experiment.js';
import { signInView } from './views/sign-in.js';
import { statsView } from './views/stats.js';
import { traceView } from './views/trace.js';
import { tracesView } from './views/traces.js';
import { uploadView } from './views/upload.js';

const NAV: Array<[string, string]> = [
  ['#/traces', 'Traces'],
  ['#/experiments', 'Experiments'],
  ['#/stats', 'Charts'],
  ['#/upload', 'Upload'],
];

let generation = 0;
let firstRoute = true;

function parseHash(): { path: string; params: URLSearchParams } {
  const raw = location.hash.replace(/^#/, '') || '/traces';
  const q = raw.indexOf('?');
  const path = q === -1 ? raw : raw.slice(0, q);
  return { path: path.startsWith('/') ? path : `/${path}`, params: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)) };
}

async function route(): Promise<void> {
  const mine = ++generation;
  const { path, params } = parseHash();
  const app = document.getElementById('app')!;
  const session = loadSession();
  if (!session && path !== '/sign-in') {
    location.replace('#/sign-in');
    return;
  }
  clear(app);
  const main = h('main', { id: 'main', tabIndex: -1 });
  const section = path.split('/')[1] ?? '';
  if (session) {
    app.appendChild(
      h(
        'header',
        { class: 'top' },
        h('a', { class: 'brand', href: '#/traces' }, 'trace-ingest'),
        h(
          'nav',
          { 'aria-label': 'Main' },
          h(
            'ul',
            null,
            NAV.map(([href, label]) =>
              h('li', null, h('a', { href, ...(href.slice(2) === section ? { 'aria-current': 'page' } : {}) }, label)),
            ),
          ),
        ),
        h('span', { class: 'who' }, `${session.organizationName} / ${session.projectName}`),
        h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            onclick: () => {
              clearSession();
              go('#/sign-in');
            },
          },
          'Sign out',
        ),
      ),
    );
  }
  app.appendChild(main);
  const ctx: ViewContext = {
    main,
    params,
    current: () => mine === generation,
    setTitle: (t) => {
      document.title = `${t} · trace-ingest`;
    },
  };
  const parts = path.split('/').slice(1).map(decodeURIComponent);
  try {
    if (parts[0] === 'sign-in') await signInView(ctx);
    else if (parts[0] === 'traces' && parts[1]) await traceView(ctx, parts[1]);
    else if (parts[0] === 'traces') await tracesView(ctx);
    else if (parts[0] === 'experiments' && parts[1]) await experimentView(ctx, parts[1]);
    else if (parts[0] === 'experiments') await experimentsIndex(ctx);
    else if (parts[0] === 'stats') await statsView(ctx);
    else if (parts[0] === 'upload') await uploadView(ctx);
    else location.replace('#/traces');
  } catch (err) {
    if (!ctx.current()) return;
    main.appendChild(h('p', { class: 'error', role: 'alert' }, err instanceof Error ? err.message : String(err)));
  }
  // After a navigation (not the first load), move focus to the page's heading for screen readers.
  if (!firstRoute && ctx.current()) (main.querySelector('h1') as HTMLElement | null)?.focus();
  firstRoute = false;
}

setUnauthorizedHandler(() => go('#/sign-in'));
window.addEventListener('hashchange', () => void route());
await loadConfig();
await route();
