/**
 * Export and delete by filter on the local stack: jobs through the job queue and its worker (small
 * export parts and short steps, so a job takes many steps and messages), each with a crash in the
 * middle (a fault thrown inside a step, and one after a commit, before the next message is sent)
 * and the resume; the direct JSON Lines export page by page while new traces arrive; an
 * experiment's spans; the CLI's export and delete.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportTracesPage } from '../../functions/domain/exports.js';
import type { FaultPoint, Job } from '../../functions/domain/jobs.js';
import { traceStore } from '../../functions/shared/services.js';
import { searchAwareTraces } from '../../functions/shared/search-aware-traces.js';
import { main, type CliIo } from '../../cli/trace-ingest.js';
import { TraceIngestClient } from '../../sdk/index.js';
import { incompressibleText } from '../support/prng.js';
import { ingestAt, projectCounter, projectTraces, startTestStack, type TestStack } from '../support/stack.js';
import { callApi } from '../support/api.js';

let stack: TestStack;
let base: string;
let client: TraceIngestClient;
/** The crash each test plans: thrown once, at that point, at or after that step. */
let crash: { point: FaultPoint; atStep: number; action: Job['action']; fired: boolean } | null = null;

const lines = (records: object[]) => `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
const HOUR = 3_600_000;

const api = (method: string, path: string, body?: unknown) => callApi(stack, method, `${base}${path}`, body);

const idsOf = (jsonl: string) =>
  jsonl
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { id: string }).id);

beforeAll(async () => {
  stack = await startTestStack({
    notifications: false,
    // The search index is built only when a test drains the indexer: what arrives after stays in its unindexed tail.
    searchIndexerIntervalMs: 0,
    jobs: {
      partBytes: 4096,
      stepBudgetMs: 1,
      stallMs: 0,
      fault: (point, job) => {
        if (crash && !crash.fired && crash.point === point && crash.action === job.action && job.step >= crash.atStep) {
          crash.fired = true;
          throw new Error(`injected crash at ${point}, step ${job.step}`);
        }
      },
    },
  });
  base = `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;
  client = new TraceIngestClient({ baseUrl: stack.info.apiUrl, apiKey: stack.info.apiKey, pollIntervalMs: 50 });
  const now = Date.now();
  // 120 traces of source "alpha" over two hours, 60 of "beta" (some mention "needle"), and one large offloaded document.
  for (let f = 0; f < 3; f++) {
    await ingestAt(
      stack,
      `${stack.info.dropPrefix}jobs/alpha-${f}.jsonl`,
      lines(Array.from({ length: 40 }, (_, i) => ({ source: 'alpha', input: `alpha ${f}-${i}`, n: f * 40 + i, pad: 'x'.repeat(200) }))),
      now - (3 - f) * HOUR,
    );
  }
  await ingestAt(
    stack,
    `${stack.info.dropPrefix}jobs/beta.jsonl`,
    lines([
      ...Array.from({ length: 60 }, (_, i) => ({ source: 'beta', input: i % 3 === 0 ? `needle ${i}` : `haystack_${i}`, n: i })),
      { source: 'beta', input: 'needle big', blob: incompressibleText(600_000) },
    ]),
    now - HOUR,
  );
}, 120_000);

afterAll(async () => {
  await stack?.cleanup();
});

describe('export jobs', () => {
  it('exports every match exactly once across parts, through a crash inside a step and one after a commit, while new traces arrive', async () => {
    const expected = (await projectTraces(stack))
      .filter((t) => t.source === 'alpha')
      .map((t) => t.id)
      .sort();
    expect(expected).toHaveLength(120);
    crash = { point: 'export-part', atStep: 3, action: 'export', fired: false };
    const started = await client.exports.start({ source: 'alpha' });
    expect(started.status).toBe('queued');
    // Arrivals while it runs: created after the job's anchor, so not in its range.
    await ingestAt(stack, `${stack.info.dropPrefix}jobs/alpha-late.jsonl`, lines([{ source: 'alpha', input: 'late' }]), Date.now() + 1000);
    const seen: number[] = [];
    const done = await client.exports.wait(started.id, { onProgress: (p) => seen.push(p.done) });
    expect(crash.fired).toBe(true);
    expect(done.status).toBe('completed');
    expect(done.total).toBe(120);
    expect(done.total_exact).toBe(true);
    expect(done.exported).toBe(120);
    const file = (await client.exports.download(done))!.toString('utf8');
    expect(Buffer.byteLength(file)).toBe(done.bytes);
    const ids = idsOf(file);
    expect(ids).toHaveLength(120);
    expect([...ids].sort()).toEqual(expected);
    // Oldest first, each line a whole trace with its data, as GET .../traces/{id} answers it.
    const first = JSON.parse(file.split('\n')[0]!) as { created_at: string; data: { n: number }; source: string };
    expect(first.data.n).toBe(0);
    const one = await api('GET', `/traces/${ids[7]}`);
    expect(file.split('\n')[7]).toBe(one.text);
    expect(done.bytes!).toBeGreaterThan(4096 * 3); // several parts

    // A crash after a commit, before the next step's message: the redelivered message finds the job stalled and sends it again.
    crash = { point: 'committed', atStep: 2, action: 'export', fired: false };
    const again = await client.exports.wait((await client.exports.start({ source: 'beta', search: 'needle' })).id);
    expect(crash.fired).toBe(true);
    const needles = idsOf((await client.exports.download(again))!.toString('utf8'));
    expect(needles).toHaveLength(21);
    expect(new Set(needles).size).toBe(21);
    expect(again.total_exact).toBe(true);
    // Two jobs of one step per message (stepBudgetMs 1), each step a sharded read, a part and a commit: ~25 s on a loaded machine.
  }, 90_000);

  it('answers 404 for an unknown job and refuses bad bodies', async () => {
    expect((await api('GET', '/exports/00000000-0000-0000-0000-000000000000')).status).toBe(404);
    expect((await api('POST', '/exports', { status: 'nope' })).status).toBe(400);
    expect((await api('POST', '/exports', { experiment_uuid: 'x', source: 'a' })).status).toBe(400);
    expect((await api('POST', '/deletions', {})).status).toBe(400);
    const exp = await client.exports.start({ source: 'nothing-here' });
    // An export is not a deletion.
    expect((await api('GET', `/deletions/${exp.id}`)).status).toBe(404);
    expect((await client.exports.wait(exp.id)).exported).toBe(0);
  });
});

describe('direct export', () => {
  it('pages by cursor through an anchored range: every trace once, none that arrived after the first page', async () => {
    const expected = (await projectTraces(stack))
      .filter((t) => t.source === 'beta')
      .map((t) => t.id)
      .sort();
    const tenant = { organizationId: stack.info.organizationId, projectId: stack.info.projectId };
    const got: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await exportTracesPage(traceStore(), tenant, {
        filters: { source: 'beta' },
        timeRange: undefined,
        cursor,
        now: Date.now(),
        budgetMs: 0,
      });
      got.push(...idsOf(page.body));
      cursor = page.nextCursor ?? undefined;
      if (pages++ === 0)
        await ingestAt(
          stack,
          `${stack.info.dropPrefix}jobs/beta-late-${Date.now()}.jsonl`,
          lines([{ source: 'beta', input: 'late' }]),
          Date.now() + 1000,
        );
    } while (cursor);
    expect(pages).toBeGreaterThan(1);
    expect(got.sort()).toEqual(expected);

    // A word long enough that the large document's random words never hold it (search matches inside words).
    const http = await api('GET', '/traces/export?source=beta&search=haystack');
    expect(http.status).toBe(200);
    expect(http.headers.get('content-type')).toMatch(/application\/x-ndjson/);
    expect(idsOf(http.text)).toHaveLength(40);
    expect(http.headers.get('x-export-lines')).toBe('40');
    expect((await api('GET', '/traces/export?cursor=abc')).status).toBe(400);
    expect((await api('GET', '/traces/export?page=2')).status).toBe(400);
  });
});

describe('a search in exports and deletions', () => {
  it("takes exactly the list's matches, from the search index and from its unindexed tail", async () => {
    // What is stored so far goes into the index; gamma, ingested after, stays in the unindexed tail.
    await stack.searchIndexed();
    await ingestAt(
      stack,
      `${stack.info.dropPrefix}jobs/gamma.jsonl`,
      lines(Array.from({ length: 12 }, (_, i) => ({ source: 'gamma', input: i % 2 === 0 ? `Needlework ${i}` : `thread ${i}`, n: i }))),
      Date.now() - HOUR / 2,
    );
    const sorted = (ids: string[]) => [...ids].sort();
    /** Every page of the list's answer, by cursor. */
    const listed = async (query: string) => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await api('GET', `/traces?${query}&page_size=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.status, res.text).toBe(200);
        const body = res.body as { traces: { id: string }[]; next_cursor: string | null; total_count: number; total_count_exact: boolean };
        expect(body.total_count_exact).toBe(true);
        ids.push(...body.traces.map((t) => t.id));
        cursor = body.next_cursor;
      } while (cursor);
      return ids;
    };
    const exported = async (filters: { search: string; source?: string }) =>
      idsOf((await client.exports.download(await client.exports.wait((await client.exports.start(filters)).id)))!.toString('utf8'));
    /** The direct export's pages, by X-Next-Cursor. */
    const direct = async (query: string) => {
      const ids: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await api('GET', `/traces/export?${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        expect(res.status, res.text).toBe(200);
        ids.push(...idsOf(res.text));
        cursor = res.headers.get('x-next-cursor');
      } while (cursor);
      return ids;
    };

    const list = await listed('search=needle');
    const gamma = (await projectTraces(stack)).filter((t) => t.source === 'gamma' && /needle/i.test(t.input ?? '')).map((t) => t.id);
    // Both parts: beta's 21 from the index, gamma's 6 from the tail.
    expect(list).toHaveLength(27);
    expect(gamma.every((id) => list.includes(id))).toBe(true);
    expect(sorted(await exported({ search: 'needle' }))).toEqual(sorted(list));
    expect(sorted(await direct('search=needle'))).toEqual(sorted(list));
    // Pages cut as short as the reading allows (no budget): each goes on from the last entry read, the index's into the tail's.
    const tenant = { organizationId: stack.info.organizationId, projectId: stack.info.projectId };
    const paged: string[] = [];
    let pages = 0;
    for (let cursor: string | undefined; pages === 0 || cursor; pages++) {
      const page = await exportTracesPage(searchAwareTraces(), tenant, {
        filters: { search: 'needle' },
        timeRange: undefined,
        cursor,
        now: Date.now(),
        budgetMs: 0,
      });
      paged.push(...idsOf(page.body));
      cursor = page.nextCursor ?? undefined;
    }
    expect(pages).toBeGreaterThan(1);
    expect(paged).toHaveLength(list.length);
    expect(sorted(paged)).toEqual(sorted(list));
    const gammaList = await listed('search=needle&source=gamma');
    expect(sorted(gammaList)).toEqual(sorted(gamma));
    expect(sorted(await exported({ search: 'needle', source: 'gamma' }))).toEqual(sorted(gammaList));

    // A deletion takes the same matches, and counts them as the list does.
    expect(await client.deletions.count({ search: 'needle', source: 'gamma' })).toEqual({ matching: 6, exact: true });
    expect((await client.deletions.wait((await client.deletions.start({ search: 'needle', source: 'gamma' })).id)).deleted).toBe(6);
    expect(await listed('search=needle&source=gamma')).toEqual([]);
    expect(sorted(await listed('search=needle'))).toEqual(sorted(list.filter((id) => !gamma.includes(id))));
    expect((await projectTraces(stack)).filter((t) => t.source === 'gamma')).toHaveLength(6);
  }, 90_000);
});

describe('delete jobs', () => {
  it('deletes every match through the single delete path, through a crash half-way through a step, counting each once', async () => {
    const all = await projectTraces(stack);
    const targets = all.filter((t) => t.source === 'beta' && (/needle/.test(t.input ?? '') || t.payload_key !== undefined));
    expect(targets).toHaveLength(21);
    const evaluated = targets[0]!.id;
    const ev = await api('POST', '/trace-evaluations', { trace_id: evaluated, judge_id: 'j1', passed: false });
    expect(ev.status).toBe(201);
    const big = targets.find((t) => t.payload_key)!;
    expect(big).toBeDefined();
    const before = (await projectCounter(stack))!;

    expect(await client.deletions.count({ source: 'beta', search: 'needle' })).toEqual({ matching: 21, exact: true });
    crash = { point: 'delete-half', atStep: 1, action: 'delete', fired: false };
    const done = await client.deletions.wait((await client.deletions.start({ source: 'beta', search: 'needle' })).id);
    expect(crash.fired).toBe(true);
    expect(done.deleted).toBe(21);
    const after = await projectTraces(stack);
    expect(after.filter((t) => targets.some((x) => x.id === t.id))).toEqual([]);
    expect(after).toHaveLength(all.length - 21);
    const counter = (await projectCounter(stack))!;
    expect(counter.traces).toBe(before.traces - 21);
    expect(counter.by_source.beta).toBe(before.by_source.beta! - 21);
    expect((await api('GET', `/trace-evaluations?trace_id=${evaluated}`)).text).toMatch(/"total":0/);
    expect((await api('GET', '/traces?status=fail')).text).toMatch(/"total_count":0/);
    expect((await api('GET', `/traces/${big.id}`)).status).toBe(404);
  }, 90_000);
});

describe("an experiment's spans", () => {
  it('exports them and deletes them (with their stats), through a crash', async () => {
    const experiment = `exp-jobs-${Date.now()}`;
    const start = new Date(Date.now() - 60_000).toISOString();
    const spans = Array.from({ length: 30 }, (_, i) => ({
      trace_id: `s-${i}`,
      root_trace_id: `s-${i - (i % 3)}`,
      parent_trace_id: `s-${i - (i % 3)}`,
      trace_name: `span ${i}`,
      experiment_uuid: experiment,
      start_timestamp: start,
      end_timestamp: start,
      status: 'success',
    }));
    for (const span of spans) {
      const res = await fetch(`${stack.info.apiUrl}/api/parea/v1/trace_log`, {
        method: 'POST',
        headers: { 'x-api-key': stack.info.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify(span),
      });
      expect(res.status).toBe(200);
    }
    const exported = await client.exports.wait((await client.exports.start({ experimentUuid: experiment })).id);
    const spanLines = (await client.exports.download(exported))!
      .toString('utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { trace_id: string });
    expect(spanLines.map((s) => s.trace_id).sort()).toEqual(spans.map((s) => s.trace_id).sort());
    const direct: string[] = [];
    for await (const line of client.experiments.exportLines(experiment)) direct.push((JSON.parse(line) as { trace_id: string }).trace_id);
    expect(direct).toEqual(spanLines.map((s) => s.trace_id));

    const spansInStats = async () => {
      const res = await api('GET', '/stats?time_range=2h&interval=hour');
      return (JSON.parse(res.text) as { totals: { spans: number } }).totals.spans;
    };
    const statsBefore = await spansInStats();
    // The project's roots in the root index (get_trace_logs: its counters' total, exact).
    const roots = async () => {
      const r = await fetch(`${stack.info.apiUrl}/api/parea/v1/get_trace_logs`, {
        method: 'POST',
        headers: { 'x-api-key': stack.info.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ page_size: 1 }),
      });
      const body = (await r.json()) as { total: number; total_exact: boolean };
      expect(body.total_exact).toBe(true);
      return body.total;
    };
    const rootsBefore = await roots();
    expect(await client.deletions.count({ experimentUuid: experiment })).toEqual({ matching: 30, exact: true });
    crash = { point: 'delete-pending', atStep: 1, action: 'delete', fired: false };
    const deleted = await client.deletions.wait((await client.deletions.start({ experimentUuid: experiment })).id);
    expect(crash.fired).toBe(true);
    expect(deleted.deleted).toBe(30);
    expect(await spansInStats()).toBe(statsBefore - 30);
    // Its 10 trees' roots left the root index with their spans, the counters with them.
    expect(await roots()).toBe(rootsBefore - 10);
    const res = await fetch(`${stack.info.apiUrl}/api/parea/v1/trace_log/s-0`, { headers: { 'x-api-key': stack.info.apiKey } });
    expect(res.status).toBe(404);
  });
});

describe('the command line', () => {
  function io(answers: boolean[] = []): CliIo & { out: string; err: string } {
    const o = {
      out: '',
      err: '',
      stdout: (t: string) => void (o.out += t),
      stderr: (t: string) => void (o.err += t),
      env: { TRACE_INGEST_URL: stack.info.apiUrl, TRACE_INGEST_API_KEY: stack.info.apiKey },
      isTTY: false,
      confirm: async () => answers.shift() ?? false,
    };
    return o;
  }

  it('exports to a file, and deletes by filter after showing the count and asking', async () => {
    const file = join(stack.dataDir, 'alpha.jsonl');
    const e = io();
    expect(await main(['export', '--source', 'alpha', '--time-range', '1d', '-o', file], e)).toBe(0);
    expect(e.err).toMatch(/121 traces exported/);
    expect(idsOf(readFileSync(file, 'utf8'))).toHaveLength(121);
    const direct = io();
    expect(await main(['export', '--source', 'beta', '--search', 'haystack', '--direct'], direct)).toBe(0);
    expect(idsOf(direct.out)).toHaveLength(40);

    const no = io([false]);
    expect(await main(['delete', '--source', 'beta', '--search', 'haystack'], no)).toBe(1);
    expect(no.out).toMatch(/^40 traces match\nnothing deleted/);
    const yes = io();
    expect(await main(['delete', '--source', 'beta', '--search', 'haystack', '--yes'], yes)).toBe(0);
    expect(yes.out).toMatch(/40 traces match\ndeleted 40 traces/);
    expect((await api('GET', '/traces?source=beta')).text).toMatch(/"total_count":1,/);
    expect(await main(['delete', 'some-id', '--source', 'x'], io())).toBe(2);
  });
});
