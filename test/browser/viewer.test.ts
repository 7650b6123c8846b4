/**
 * The web viewer in a real Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
 * against a real local stack: sign-in, the traces list (search, filters, cursor paging), a trace
 * (also a 3 MB and a 40-level document), an experiment's span tree and a span (mouse and
 * keyboard), a 10,000-span tree, the charts, and a drag-and-drop upload with bad lines. Every
 * page is written to test/screenshots/ (git-ignored) for a person to look at.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bulkLoadSpans } from '../support/spans.js';
import { startTestStack, type TestStack } from '../support/stack.js';
import { callApi } from '../support/api.js';

// The page's own globals, for the functions run in it with page.evaluate (this file is compiled without the DOM library).
declare const document: any, sessionStorage: any, localStorage: any, location: any, DataTransfer: any, File: any;

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SHOTS = new URL('../screenshots/', import.meta.url).pathname;

let stack: TestStack;
let context: BrowserContext;
let page: Page;
let userDataDir: string;
const ids: Record<string, string> = {};
const HOUR = 3_600_000;

async function api(method: string, path: string, body?: unknown): Promise<any> {
  const res = await callApi(stack, method, path, body);
  if (res.status >= 400) throw new Error(`${method} ${path}: ${res.status} ${res.text.slice(0, 300)}`);
  return res.body;
}
const P = () => `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;

/** presign, PUT, create: the trace ids of a file. */
async function upload(filename: string, text: string): Promise<string[]> {
  const type = filename.endsWith('.jsonl') ? 'application/jsonl' : 'application/json';
  const presign = await api('POST', `${P()}/traces/upload`, { filename, type, size: Buffer.byteLength(text) });
  const put = await fetch(presign.url, { method: 'PUT', headers: { 'Content-Type': type }, body: text });
  expect(put.status).toBe(200);
  return (await api('POST', `${P()}/traces`, { filename })).trace_ids;
}

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Waits until a locator's text matches. */
async function textOf(locator: Locator, pattern: RegExp, timeout = 15_000): Promise<string> {
  await expect
    .poll(async () => ((await locator.count()) > 0 ? ((await locator.first().textContent()) ?? '') : '(no such element)'), { timeout })
    .toMatch(pattern);
  return (await locator.first().textContent()) ?? '';
}

/** The aria-label of the tree's active row. */
async function activeRow(): Promise<string> {
  return page.evaluate(() => {
    const tree = document.querySelector('[role=tree]')!;
    return document.getElementById(tree.getAttribute('aria-activedescendant') ?? '')?.getAttribute('aria-label') ?? '';
  });
}

function span(id: string, root: string, parent: string, name: string, startMs: number, over: Record<string, unknown> = {}) {
  const iso = (ms: number) => new Date(ms).toISOString().replace('Z', '000+00:00');
  const latency = (over.latency as number | undefined) ?? 0.2;
  return {
    trace_id: id,
    root_trace_id: root,
    parent_trace_id: parent,
    experiment_uuid: 'exp-viewer',
    trace_name: name,
    start_timestamp: iso(startMs),
    end_timestamp: iso(startMs + latency * 1000),
    status: 'success',
    latency,
    input_tokens: 20,
    output_tokens: 5,
    total_tokens: 25,
    cost: 0.0002,
    inputs: { question: `question for ${name}` },
    output: `answer from ${name}`,
    configuration: { model: 'gpt-4o-mini', temperature: 0 },
    metadata: { run: '1' },
    scores: [],
    ...over,
  };
}

/** One root, 99 children, 100 grandchildren each: 10,000 spans in one tree. */
function bigTree(): Record<string, unknown>[] {
  const t0 = Date.now() - 2 * HOUR;
  const out: Record<string, unknown>[] = [];
  const base = { root_trace_id: 'big-root', experiment_uuid: 'exp-10k', status: 'success' };
  const iso = (ms: number) => new Date(ms).toISOString();
  out.push({
    ...base,
    trace_id: 'big-root',
    parent_trace_id: 'big-root',
    trace_name: 'big run',
    start_timestamp: iso(t0),
    end_timestamp: iso(t0 + 99 * 1000),
    execution_order: 0,
  });
  for (let c = 1; c <= 99; c++) {
    const cs = t0 + (c - 1) * 1000;
    out.push({
      ...base,
      trace_id: `big-${c}`,
      parent_trace_id: 'big-root',
      trace_name: `step-${c}`,
      start_timestamp: iso(cs),
      end_timestamp: iso(cs + 1000),
      execution_order: c,
    });
    for (let g = 1; g <= 100; g++) {
      const gs = cs + (g - 1) * 10;
      out.push({
        ...base,
        trace_id: `big-${c}-${g}`,
        parent_trace_id: `big-${c}`,
        trace_name: `step-${c}-${g}`,
        start_timestamp: iso(gs),
        end_timestamp: iso(gs + 10),
        execution_order: g,
        latency: 0.01,
        total_tokens: g,
      });
    }
  }
  return out;
}

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  stack = await startTestStack();
  const topics = ['the capital of France', 'photosynthesis', 'a haiku about rain', 'the speed of light', 'sorting algorithms'];
  const chat = Array.from({ length: 60 }, (_, i) =>
    JSON.stringify({
      input: `Question ${i}: tell me about ${topics[i % topics.length]}`,
      source: i % 2 ? 'sdk' : 'batch',
      output: `answer ${i}`,
      model: 'gpt-4o-mini',
    }),
  ).join('\n');
  const chatIds = await upload('chat-traces.jsonl', chat);
  ids.evaluated = chatIds[59]!;
  await api('POST', `${P()}/trace-evaluations`, {
    trace_id: ids.evaluated,
    judge_id: 'accuracy',
    judge_name: 'Accuracy judge',
    passed: true,
    score: 0.92,
    reasoning: 'matches the reference',
  });
  await api('POST', `${P()}/trace-evaluations`, {
    trace_id: chatIds[58]!,
    judge_id: 'accuracy',
    judge_name: 'Accuracy judge',
    passed: false,
    score: 0.1,
  });

  const items = Array.from({ length: 3_000 }, (_, i) => ({ i, text: `item ${i} `.padEnd(1_000, 'lorem ipsum ') }));
  ids.big = (await upload('big-document.jsonl', JSON.stringify({ input: 'a 3 MB document', items })))[0]!;
  let deep: Record<string, unknown> = { bottom: 'level 40 reached' };
  for (let l = 39; l >= 1; l--) deep = { [`level${l}`]: deep, depth: l };
  ids.deep = (await upload('deep-document.json', JSON.stringify({ input: 'a 40-level document', ...deep })))[0]!;

  const now = Date.now() - HOUR;
  const spans = [
    span('r1', 'r1', 'r1', 'answer_question', now, { latency: 1.2, scores: [{ name: 'accuracy', score: 0.9, reason: 'close' }] }),
    span('r1-retrieve', 'r1', 'r1', 'retrieve', now + 100, { latency: 0.3, total_tokens: 0, input_tokens: 0, output_tokens: 0 }),
    span('r1-llm', 'r1', 'r1', 'llm', now + 450, { latency: 0.7 }),
    span('r1-tool', 'r1', 'r1-llm', 'tool_call', now + 500, { latency: 0.2, status: 'error', error: 'tool timed out' }),
    span('r2', 'r2', 'r2', 'answer_question', now + 5_000, { latency: 0.8 }),
    span('r2-llm', 'r2', 'r2', 'llm', now + 5_100, { latency: 0.6 }),
    span('r3', 'r3', 'r3', 'answer_question', now + 9_000, { latency: 0.4 }),
  ];
  for (const s of spans) await api('POST', '/api/parea/v1/trace_log', s);
  await bulkLoadSpans(stack.info, bigTree());

  userDataDir = mkdtempSync(join(tmpdir(), 'trace-ingest-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1440, height: 900 },
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (err) => {
    throw err;
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await stack?.cleanup();
});

describe('the web viewer in Chromium', () => {
  it('signs in with an API key kept in session storage only', async () => {
    await page.goto(`${stack.info.apiUrl}/`);
    await page.getByLabel('API key').waitFor();
    await shot('01-sign-in');
    await page.getByLabel('API key').fill('tik_not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await textOf(page.getByRole('alert'), /not accepted/);
    await page.getByLabel('API key').fill(stack.info.apiKey);
    await page.keyboard.press('Enter');
    await page.getByRole('table').waitFor();
    const storage = await page.evaluate(() => ({
      session: JSON.stringify(sessionStorage),
      local: localStorage.length,
      url: location.href,
      cookies: document.cookie,
    }));
    expect(storage.session).toContain(stack.info.apiKey);
    expect(storage.local).toBe(0);
    expect(storage.cookies).toBe('');
    expect(storage.url).not.toContain(stack.info.apiKey);
  });

  it('lists traces newest first, searches with a shareable URL, filters and pages by cursor', async () => {
    const table = page.getByRole('table');
    expect(await table.locator('thead tr').count()).toBe(1);
    expect(await table.getByRole('columnheader').allTextContents()).toEqual([
      'Filename',
      'Created',
      'Source',
      'Input',
      'Evaluations',
      'Status',
    ]);
    await textOf(page.getByRole('status'), /^62 traces, showing 1–50$/);
    expect(await table.locator('tbody tr').count()).toBe(50);
    await shot('02-traces');

    await page.getByRole('searchbox').fill('capital');
    await page.getByRole('searchbox').press('Enter');
    await textOf(page.getByRole('status'), /^12 traces/);
    expect(page.url()).toContain('#/traces?search=capital');
    for (const input of await page.getByRole('table').locator('td.input').allTextContents()) expect(input).toContain('capital');
    await page.getByLabel('Source').selectOption('sdk');
    await textOf(page.getByRole('status'), /^6 traces/);
    expect(page.url()).toContain('source=sdk');
    await shot('03-traces-search');

    // The shared URL opens the same list; paging goes by cursor.
    await page.goto(`${stack.info.apiUrl}/#/traces`);
    await textOf(page.getByRole('status'), /^62 traces/);
    await page.getByRole('link', { name: 'Next page →' }).click();
    await textOf(page.getByRole('status'), /showing 51–62$/);
    expect(page.url()).toMatch(/cursor=.+&p=2/);
    expect(await page.getByRole('table').locator('tbody tr').count()).toBe(12);
    await page.getByRole('link', { name: '← Previous page' }).click();
    await textOf(page.getByRole('status'), /showing 1–50$/);
  });

  it('opens a trace: metadata, input, evaluations and its document as a foldable tree', async () => {
    await page.goto(`${stack.info.apiUrl}/#/traces/${ids.evaluated}`);
    await page.getByRole('heading', { name: 'chat-traces.jsonl' }).waitFor();
    await textOf(page.locator('pre.input-text'), /Question 59/);
    await textOf(page.getByRole('heading', { name: /Evaluations/ }), /Evaluations \(1\)/);
    expect(await page.getByRole('table').textContent()).toContain('matches the reference');
    await textOf(page.getByRole('list', { name: 'Trace document' }), /"model": "gpt-4o-mini"/);
    await shot('04-trace');
  });

  it('keeps a 3 MB document responsive: children built on demand, 100 at a time', async () => {
    await page.goto(`${stack.info.apiUrl}/#/traces/${ids.big}`);
    const doc = page.getByRole('list', { name: 'Trace document' });
    await doc.waitFor();
    await textOf(page.locator('main'), /3,\d{3},\d{3} bytes of JSON/);
    // Root and first level open; the 3,000 items are listed 100 at a time, each folded.
    expect(await doc.locator('li').count()).toBeLessThan(250);
    await textOf(doc.getByRole('button', { name: /show 100 more of 2,900/ }), /2,900/);
    const item = doc.getByRole('button', { name: /^0: \{…\} 2 keys$/ });
    expect(await item.getAttribute('aria-expanded')).toBe('false');
    await item.focus();
    await page.keyboard.press('Enter');
    expect(await item.getAttribute('aria-expanded')).toBe('true');
    await textOf(doc.getByRole('button', { name: /show all 1,000 characters/ }), /1,000/);
    await shot('05-trace-3mb');
  });

  it('opens a 40-level document folded below the second level, and unfolds it by keyboard to the bottom', async () => {
    await page.goto(`${stack.info.apiUrl}/#/traces/${ids.deep}`);
    const doc = page.getByRole('list', { name: 'Trace document' });
    await doc.waitFor();
    for (let l = 2; l <= 39; l++) {
      const toggle = doc.getByRole('button', { name: new RegExp(`^"level${l}": \\{…\\}`) });
      if ((await toggle.getAttribute('aria-expanded')) === 'false') {
        await toggle.focus();
        await page.keyboard.press('Space');
      }
    }
    await textOf(doc, /"bottom": "level 40 reached"/);
    await shot('06-trace-40-levels');
  });

  it("shows an experiment's span trees as an ARIA tree with a waterfall, and a span by mouse and by keyboard", async () => {
    await page.goto(`${stack.info.apiUrl}/#/experiments/exp-viewer`);
    await textOf(page.getByRole('status'), /^3 root trees, 7 spans$/);
    const tree = page.getByRole('tree');
    const items = tree.getByRole('treeitem');
    expect(await items.count()).toBe(7);
    const root = items.first();
    expect(await root.getAttribute('aria-level')).toBe('1');
    expect(await root.getAttribute('aria-expanded')).toBe('true');
    expect(await root.getAttribute('aria-label')).toMatch(
      /^answer_question, success, latency 1\.20 s, 25 tokens, cost \$0\.00020, scores accuracy 0\.90, start .+, end .+$/,
    );
    expect(await tree.locator('.bar').count()).toBe(7);

    await items.filter({ hasText: 'llm' }).first().click();
    const detail = page.getByRole('region', { name: 'llm' });
    await textOf(detail, /question for llm/);
    expect(await detail.textContent()).toContain('gpt-4o-mini');
    await shot('07-experiment-tree');

    // Keyboard: Home, down to retrieve, right does nothing on a leaf, down to llm, left goes up to the root, Enter selects.
    await tree.focus();
    await page.keyboard.press('Home');
    expect(await activeRow()).toMatch(/^answer_question/);
    await page.keyboard.press('ArrowDown');
    expect(await activeRow()).toMatch(/^retrieve/);
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    expect(await activeRow()).toMatch(/^tool_call, error/);
    await page.keyboard.press('ArrowLeft');
    expect(await activeRow()).toMatch(/^llm/);
    await page.keyboard.press('ArrowLeft');
    expect(await items.count()).toBe(6);
    await page.keyboard.press('ArrowRight');
    expect(await items.count()).toBe(7);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Enter');
    await textOf(page.getByRole('region', { name: 'tool_call' }), /tool timed out/);
    await shot('08-experiment-span-keyboard');
    // The README's picture of the tree view (docs/viewer-tree.png is a copy of it).
    await page.locator('.experiment').screenshot({ path: join(SHOTS, 'tree-view.png') });

    // The experiment's filter: trees with an errored span.
    await page.getByLabel('Field').fill('status');
    await page.getByLabel('Operator').selectOption('equals');
    await page.getByLabel('Value').fill('error');
    await page.getByRole('button', { name: 'Apply filter' }).click();
    await textOf(page.getByRole('status'), /^1 root tree, 4 spans \(trees with a matching span\)$/);
    expect(page.url()).toContain('filter_field=status');
    await shot('09-experiment-filter');
  });

  it('keeps a 10,000-span tree usable: virtualised rows, keyboard to the last span', async () => {
    const started = Date.now();
    await page.goto(`${stack.info.apiUrl}/#/experiments/exp-10k`);
    // The API builds the tree and gzips about 4 MB of JSON; on a busy machine that can take a while.
    await textOf(page.getByRole('status'), /^1 root tree, 10,000 spans$/, 45_000);
    console.log(`10,000-span tree loaded and drawn in ${Date.now() - started} ms`);
    const tree = page.getByRole('tree');
    expect(await tree.getByRole('treeitem').count()).toBeLessThan(80);
    await tree.focus();
    const keyed = Date.now();
    await page.keyboard.press('End');
    expect(await activeRow()).toMatch(/^step-99-100, success/);
    const last = await page.evaluate(() => {
      const tree = document.querySelector('[role=tree]')!;
      const row = document.getElementById(tree.getAttribute('aria-activedescendant')!)!;
      return { level: row.getAttribute('aria-level'), pos: row.getAttribute('aria-posinset'), size: row.getAttribute('aria-setsize') };
    });
    expect(last).toEqual({ level: '3', pos: '100', size: '100' });
    await page.keyboard.press('ArrowLeft');
    expect(await activeRow()).toMatch(/^step-99,/);
    await page.keyboard.press('PageUp');
    await page.keyboard.press('Enter');
    console.log(`End, ArrowLeft, PageUp and Enter on the 10,000-span tree: ${Date.now() - keyed} ms`);
    expect(await tree.getByRole('treeitem').count()).toBeLessThan(80);
    await shot('10-experiment-10k');
  }, 60_000);

  it('uploads a dropped file with progress and lists its bad lines', async () => {
    await page.goto(`${stack.info.apiUrl}/#/upload`);
    await page.getByLabel('or choose a trace file').waitFor();
    await shot('11-upload');
    const text = [
      '{"input":"dropped one"}',
      '{"input": broken',
      '{"input":"dropped two"}',
      '[1, 2]',
      '',
      '{"input":"dropped three"}',
      'not json at all',
    ].join('\n');
    const transfer = await page.evaluateHandle((t) => {
      const dt = new DataTransfer();
      dt.items.add(new File([t], 'dropped.jsonl'));
      return dt;
    }, text);
    await page.dispatchEvent('.dropzone', 'dragover', { dataTransfer: transfer });
    await page.dispatchEvent('.dropzone', 'drop', { dataTransfer: transfer });
    await textOf(page.getByRole('status'), /^Done: 3 traces from dropped\.jsonl, 3 bad lines\.$/);
    const rows = await page.getByRole('table').locator('tbody tr').allTextContents();
    expect(rows.map((r) => Number.parseInt(r, 10))).toEqual([2, 4, 7]);
    expect(await page.locator('.steps li').evaluateAll((lis) => lis.map((li: any) => li.dataset.state))).toEqual(['done', 'done', 'done']);
    await shot('12-upload-done');
    await page.getByRole('link', { name: 'See the traces of dropped.jsonl' }).click();
    await textOf(page.getByRole('status'), /^3 traces/);
  });

  it('draws the charts from the counters: traces, bad lines, latency, spans, tokens, cost', async () => {
    await page.goto(`${stack.info.apiUrl}/#/stats?range=24h`);
    const totals = page.getByLabel('Totals of the window');
    await textOf(totals, /Traces65/);
    const text = (await totals.textContent()) ?? '';
    expect(text).toContain('Bad lines3');
    expect(text).toContain('Spans7');
    expect(text).toContain('Span errors1');
    expect(text).toMatch(/Tokens150/);
    expect(await page.getByRole('img').count()).toBe(6);
    // The peak is 65 unless the traces' ingest straddled an hour boundary.
    expect(await page.getByRole('img', { name: /^Traces per hour, per hour, .+; peak \d+$/ }).count()).toBe(1);
    await shot('13-charts');
    await page.getByLabel('Per', { exact: true }).selectOption('day');
    await page.getByRole('img', { name: /^Traces per day/ }).waitFor();
    await shot('14-charts-daily');
  });
});
