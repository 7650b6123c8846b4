/**
 * The list over the sharded indexes, held to an oracle: every combination of source, status,
 * judge, time range, search, sort and order, paged by cursor, must give exactly the traces (in
 * order) and the total that a plain filter over all of them gives. Then the time budget: a search
 * that runs out of time answers what it has with a cursor, and following the cursors gives the
 * whole answer.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { newDocumentClient } from '../../functions/adapters/clients.js';
import { s3Client } from '../../functions/adapters/s3/s3-sdk.js';
import { DynamoTraceStore } from '../../functions/adapters/dynamo/trace-store.js';
import { S3PayloadReader } from '../../functions/adapters/s3/payload-reader.js';
import { renderInput } from '../../functions/domain/render-input.js';
import { searchText } from '../../functions/domain/trace.js';
import { matchesText } from '../../functions/domain/search/terms.js';
import type { ListQuery } from '../../functions/domain/traces.js';
import { ingestAt, useTestStack } from '../support/stack.js';

// The search indexer runs only when drained: searches are answered by the unindexed tail first, then by the index.
const stack = useTestStack({ notifications: false, searchIndexerIntervalMs: 0 });
let base: string;
const HOUR = 3_600_000;

interface Known {
  id: string;
  createdAt: string;
  filename: string;
  source: string;
  text: string;
  status: 'pass' | 'fail' | 'pending' | null;
  judges: Set<string>;
}
const known: Known[] = [];

interface Answer {
  traces: Array<{ id: string }>;
  total_count: number;
  total_count_exact: boolean;
  next_cursor: string | null;
}

async function api(path: string, init: RequestInit = {}) {
  return fetch(`${stack.info.apiUrl}${path}`, {
    ...init,
    headers: { 'x-api-key': stack.info.apiKey, 'content-type': 'application/json', ...(init.headers as Record<string, string>) },
  });
}

async function page(query: string): Promise<Answer> {
  const res = await api(`${base}/traces?${query}`);
  expect(res.status, await res.clone().text()).toBe(200);
  return (await res.json()) as Answer;
}

/** Every page by cursor; the first page's total and whether it is exact. */
async function all(query: string, pageSize: number): Promise<{ ids: string[]; total: number; exact: boolean }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let first: Answer | null = null;
  do {
    const p = await page(`${query}&page_size=${pageSize}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    first ??= p;
    ids.push(...p.traces.map((t) => t.id));
    cursor = p.next_cursor;
  } while (cursor);
  return { ids, total: first!.total_count, exact: first!.total_count_exact };
}

const FILES: Array<{ name: string; hoursAgo: number; records: Array<Record<string, unknown>> }> = [
  {
    name: 'b-older.jsonl',
    hoursAgo: 50,
    records: [{ input: 'alpha one' }, { input: 'beta two', source: 'sdk' }, { input: 'gamma three' }, { input: 'Needle four' }],
  },
  {
    name: 'a-mid.jsonl',
    hoursAgo: 5,
    records: [
      { input: 'delta five', source: 'sdk' },
      { input: 'epsilon six' },
      { input: [{ role: 'user', content: 'needle seven' }], source: 'sdk' },
    ],
  },
  {
    name: 'c-new.jsonl',
    hoursAgo: 0.5,
    records: [
      { input: 'zeta eight' },
      { input: 'eta nine', source: 'agent#1' },
      { input: 'theta ten', source: 'sdk' },
      { input: 'iota NEEDLE eleven' },
      { input: 'kappa twelve' },
    ],
  },
  { name: 'a-mid.jsonl', hoursAgo: 2, records: [{ input: 'lambda thirteen' }, { input: 'mu fourteen', source: 'agent#1' }] },
];

/** Evaluations: trace index → [judge, passed (null: pending)]. */
const EVALS: Array<[number, string, boolean | null]> = [
  [0, 'judge-a', true],
  [1, 'judge-a', false],
  [1, 'judge-b', true],
  [3, 'judge-b', null],
  [4, 'judge-a', true],
  [6, 'judge-c', true],
  [8, 'judge-a', false],
  [10, 'judge-b', true],
  [11, 'judge-a', true],
  [13, 'judge-c', null],
];

beforeAll(async () => {
  base = `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;
  const now = Date.now();
  for (const [i, f] of FILES.entries()) {
    const body = f.records.map((r) => JSON.stringify(r)).join('\n');
    await ingestAt(stack, `${stack.info.dropPrefix}filters/${i}/${f.name}`, body, now - f.hoursAgo * HOUR);
  }
  // What was stored, read back once (ids and creation times), matched to what was sent.
  const every = await all('sort_order=asc', 100);
  for (const id of every.ids) {
    const res = await api(`${base}/traces/${id}`);
    const t = (await res.json()) as { created_at: string; filename: string; source: string; data: Record<string, unknown> };
    known.push({
      id,
      createdAt: t.created_at,
      filename: t.filename,
      source: t.source,
      text: searchText(t.filename, renderInput(t.data), t.data),
      status: null,
      judges: new Set(),
    });
  }
  expect(known).toHaveLength(14);
  for (const [i, judge, passed] of EVALS) {
    const t = known[i]!;
    const res = await api(`${base}/trace-evaluations`, {
      method: 'POST',
      body: JSON.stringify({ trace_id: t.id, judge_id: judge, ...(passed === null ? {} : { passed }) }),
    });
    expect(res.status).toBe(201);
    t.judges.add(judge);
  }
  // The status the list derives: pending if any of the latest is pending, else fail if any failed, else pass.
  for (const [i] of EVALS) {
    const mine = EVALS.filter(([j]) => j === i).map(([, , p]) => p);
    known[i]!.status = mine.includes(null) ? 'pending' : mine.includes(false) ? 'fail' : 'pass';
  }
}, 120_000);

function oracle(f: { source?: string; status?: string; judge?: string; hours?: number; search?: string }, order: 'asc' | 'desc'): string[] {
  const since = f.hours ? new Date(Date.now() - f.hours * HOUR).toISOString() : null;
  const rows = known.filter(
    (t) =>
      (f.source === undefined || t.source === f.source) &&
      (f.status === undefined || (f.status === 'unevaluated' ? t.status === null : t.status === f.status)) &&
      (f.judge === undefined || t.judges.has(f.judge)) &&
      (since === null || t.createdAt >= since) &&
      (f.search === undefined || matchesText(t.text, f.search)),
  );
  // `known` is in ascending list order already.
  return (order === 'asc' ? rows : [...rows].reverse()).map((t) => t.id);
}

describe('every filter combination, paged by cursor, against an oracle', () => {
  const sources = [undefined, 'sdk', 's3', 'agent#1'];
  const statuses = [undefined, 'pass', 'fail', 'pending', 'unevaluated'];
  const judges = [undefined, 'judge-a', 'judge-c'];
  const ranges: Array<number | undefined> = [undefined, 3];

  it('matches the oracle for source x status x judge x time range, newest and oldest first, with exact totals', async () => {
    let checked = 0;
    for (const source of sources)
      for (const status of statuses)
        for (const judge of judges)
          for (const hours of ranges) {
            const order = (checked++ % 2 === 0 ? 'desc' : 'asc') as 'asc' | 'desc';
            const q = [
              source ? `source=${encodeURIComponent(source)}` : '',
              status ? `status=${status}` : '',
              judge ? `judge_id=${judge}` : '',
              hours ? `time_range=${hours}h` : '',
              `sort_order=${order}`,
            ]
              .filter(Boolean)
              .join('&');
            const want = oracle({ source, status, judge, hours }, order);
            const got = await all(q, 3);
            expect(got.ids, q).toEqual(want);
            expect(got.total, q).toBe(want.length);
            expect(got.exact, q).toBe(true);
          }
    expect(checked).toBe(sources.length * statuses.length * judges.length * ranges.length);
  }, 240_000);

  it('matches the oracle for search alone and with every other filter, sort and order, from the unindexed tail and then from the index', async () => {
    const cases = [
      ['search=needle', { search: 'needle' }, 'desc'],
      ['search=NEEDLE&source=sdk', { search: 'needle', source: 'sdk' }, 'desc'],
      ['search=needle&status=pending', { search: 'needle', status: 'pending' }, 'desc'],
      ['search=needle&status=unevaluated&sort_order=asc', { search: 'needle', status: 'unevaluated' }, 'asc'],
      ['search=e&judge_id=judge-a', { search: 'e', judge: 'judge-a' }, 'desc'],
      ['search=e&judge_id=judge-a&status=fail&source=sdk', { search: 'e', judge: 'judge-a', status: 'fail', source: 'sdk' }, 'desc'],
      ['search=needle&time_range=3h', { search: 'needle', hours: 3 }, 'desc'],
      ['search=e&time_range=3h&sort_order=asc', { search: 'e', hours: 3 }, 'asc'],
      ['search=a-mid', { search: 'a-mid' }, 'desc'],
      ['search=user: needle', { search: 'user: needle' }, 'desc'],
      ['search=absent-word', { search: 'absent-word' }, 'desc'],
    ] as const;
    for (const state of ['tail', 'index']) {
      if (state === 'index') await stack.searchIndexed();
      for (const [q, f, order] of cases) {
        for (const size of [3]) {
          const got = await all(q, size);
          const want = oracle(f, order);
          expect(got.ids, `${state}: ${q}`).toEqual(want);
          expect(got.total, `${state}: ${q}`).toBe(want.length);
          expect(got.exact, `${state}: ${q}`).toBe(true);
        }
      }
      // By filename (then creation, then file order), both ways.
      const byName = [...known].sort((a, b) =>
        a.filename !== b.filename
          ? a.filename < b.filename
            ? -1
            : 1
          : a.createdAt < b.createdAt
            ? -1
            : a.createdAt > b.createdAt
              ? 1
              : known.indexOf(a) - known.indexOf(b),
      );
      const matching = byName.filter((t) => matchesText(t.text, 'e')).map((t) => t.id);
      expect((await all('search=e&sort_by=filename&sort_order=asc', 4)).ids, state).toEqual(matching);
      expect((await all('search=e&sort_by=filename&sort_order=desc', 3)).ids, state).toEqual([...matching].reverse());
      const p2 = await page('search=e&page=2&page_size=3');
      expect(
        p2.traces.map((t) => t.id),
        state,
      ).toEqual(oracle({ search: 'e' }, 'desc').slice(3, 6));
    }
  }, 120_000);

  it('sorts by filename (then creation, then file order), with filters, both ways', async () => {
    const byName = [...known].sort((a, b) =>
      a.filename !== b.filename
        ? a.filename < b.filename
          ? -1
          : 1
        : a.createdAt < b.createdAt
          ? -1
          : a.createdAt > b.createdAt
            ? 1
            : known.indexOf(a) - known.indexOf(b),
    );
    for (const [q, keep] of [
      ['sort_by=filename&sort_order=asc', () => true],
      ['sort_by=filename&sort_order=desc', () => true],
      ['sort_by=filename&sort_order=asc&source=sdk', (t: Known) => t.source === 'sdk'],
      ['sort_by=filename&sort_order=desc&judge_id=judge-a', (t: Known) => t.judges.has('judge-a')],
      ['sort_by=filename&sort_order=asc&time_range=3h', (t: Known) => t.createdAt >= new Date(Date.now() - 3 * HOUR).toISOString()],
    ] as const) {
      const rows = byName.filter(keep).map((t) => t.id);
      const want = q.includes('desc') ? rows.reverse() : rows;
      expect((await all(q, 3)).ids, q).toEqual(want);
    }
  });

  it('answers page numbers from the same order', async () => {
    const whole = oracle({ status: 'unevaluated' }, 'desc');
    const p2 = await page('status=unevaluated&page=2&page_size=3');
    expect(p2.traces.map((t) => t.id)).toEqual(whole.slice(3, 6));
    expect(p2.total_count).toBe(whole.length);
  });
});

describe('a read that runs out of time', () => {
  it('answers what it found with a cursor; following the cursors finds every match, and the total turns exact at the end', async () => {
    // A budget so small every request stops after its first read.
    const store = new DynamoTraceStore(newDocumentClient(stack.dynamo), stack.table, new S3PayloadReader(s3Client(), stack.info.bucket), {
      budgetMs: 0,
    });
    const tenant = { organizationId: stack.info.organizationId, projectId: stack.info.projectId };
    const q: ListQuery = { page: 1, pageSize: 100, sortBy: 'created_at', sortOrder: 'desc', search: 'e' };
    const want = oracle({ search: 'e' }, 'desc');
    const got: string[] = [];
    let cursor: string | undefined;
    let requests = 0;
    let last = null as Awaited<ReturnType<typeof store.list>> | null;
    do {
      last = await store.list(tenant, { ...q, cursor });
      requests++;
      got.push(...last.traces.map((t) => t.id));
      if (last.nextCursor) expect(last.totalExact).toBe(false);
      cursor = last.nextCursor ?? undefined;
    } while (cursor && requests < 1_000);
    expect(requests).toBeGreaterThan(1);
    expect(got).toEqual(want);
    expect(last.totalCount).toBe(want.length);
    expect(last.totalExact).toBe(true);
  });
});
