/**
 * Retention everywhere, on the local stack with RETENTION_DAYS: every item kind the pipeline writes
 * either carries its TTL (`expires_at`, when the README's Retention section says) or is one the
 * counters count (traces, their status and judge members, counters) or tenancy; what an expired
 * item means for reads (DynamoDB removes expired items only some time later); and the local
 * stack's own scheduled sweep.
 */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { documentClient } from '../../functions/adapters/clients.js';
import { keys } from '../../functions/adapters/dynamo/keys.js';
import { DynamoSpanStore, spanKeys } from '../../functions/adapters/dynamo/span-store.js';
import { DynamoTraceLogRoots } from '../../functions/adapters/dynamo/trace-log-roots.js';
import { recordTraceLog } from '../../functions/domain/parea/index.js';
import { EXPIRY_GRACE_DAYS, JOB_KEEP_DAYS, ROOT_SPAN_BACKSTOP_DAYS } from '../../functions/domain/expiry.js';
import { TraceIngestClient } from '../../sdk/index.js';
import { getItem, ingestAt, projectCounter, projectTraces, projectUploads, useTestStack } from '../support/stack.js';
import { setTimeout as sleep } from 'node:timers/promises';

process.env.RETENTION_DAYS = '30';
const DAY = 86_400;
const stack = useTestStack({ notifications: false, retentionSweepMs: 300 });
let base: string;
let client: TraceIngestClient;
const started = Math.floor(Date.now() / 1000);

async function call(method: string, path: string, body?: unknown, type = 'application/json') {
  const res = await fetch(`${stack.info.apiUrl}${path}`, {
    method,
    headers: { 'x-api-key': stack.info.apiKey, ...(body === undefined ? {} : { 'content-type': type }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, text: await res.text() };
}

async function allItems(): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  let start: Record<string, never> | undefined;
  do {
    // A Scan in a test, to see every item there is (no request path scans).
    const page = await stack.dynamo.send(new ScanCommand({ TableName: stack.table, ExclusiveStartKey: start }));
    for (const i of page.Items ?? []) out.push(unmarshall(i));
    start = page.LastEvaluatedKey as typeof start;
  } while (start);
  return out;
}

const span = (id: string, root: string) => ({
  trace_id: id,
  root_trace_id: root,
  parent_trace_id: root,
  trace_name: id,
  experiment_uuid: 'exp-ttl',
  start_timestamp: new Date(Date.now() - 60_000).toISOString(),
  end_timestamp: new Date(Date.now() - 59_000).toISOString(),
  status: 'success',
});

beforeAll(async () => {
  base = `/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}`;
  client = new TraceIngestClient({ baseUrl: stack.info.apiUrl, apiKey: stack.info.apiKey, pollIntervalMs: 50 });
  // 41 sources: the upload's counters move in two transactions, the first guarded by a completion marker.
  const records = Array.from({ length: 41 }, (_, i) =>
    JSON.stringify({ source: `src-${i}`, input: `q ${i}`, ...(i === 0 ? { trace_id: 'file-span', root_trace_id: 'file-span' } : {}) }),
  );
  await ingestAt(stack, `${stack.info.dropPrefix}ttl/many.jsonl`, `${records.join('\n')}\n`, Date.now());
  expect((await call('POST', '/api/parea/v1/trace_log', span('posted-root', 'posted-root'))).status).toBe(200);
  expect(
    (await call('PUT', '/api/parea/v1/trace_log', { trace_id: 'posted-root', field_name_to_value_map: { output: 'later' } })).status,
  ).toBe(200);
  expect((await call('POST', '/api/parea/v1/trace_log', span('posted-child', 'posted-root'))).status).toBe(200);
  const now = BigInt(Date.now()) * 1_000_000n;
  const otlp = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'experiment_uuid', value: { stringValue: 'exp-ttl' } }] },
        scopeSpans: [
          {
            scope: { name: 'ttl' },
            spans: [
              {
                traceId: 'ab'.repeat(16),
                spanId: 'cd'.repeat(8),
                name: 'otel-root',
                kind: 1,
                startTimeUnixNano: String(now - 1_000_000n),
                endTimeUnixNano: String(now),
              },
            ],
          },
        ],
      },
    ],
  };
  expect((await call('POST', '/otel/v1/traces', otlp)).status).toBe(200);
  const trace = (await projectTraces(stack))[0]!;
  expect((await call('POST', `${base}/trace-evaluations`, { trace_id: trace.id, judge_id: 'j', passed: true })).status).toBe(201);
  await client.exports.wait((await client.exports.start({ source: 'src-1' })).id);
  await client.deletions.wait((await client.deletions.start({ source: 'src-2' })).id);
}, 120_000);

afterAll(async () => {
  delete process.env.RETENTION_DAYS;
});

describe('retention everywhere', () => {
  it('gives every item kind that no counter counts its TTL, and none to what the counters count', async () => {
    const upload = (await projectUploads(stack))[0]!;
    const uploadExpiry = Math.floor(Date.parse(String(upload.created_at)) / 1000) + (30 + EXPIRY_GRACE_DAYS) * DAY;
    const near = (at: number) => ({
      asymmetricMatch: (v: unknown) => typeof v === 'number' && Math.abs(v - at) <= 120,
      toString: () => `≈${at}`,
    });
    const seen = new Map<string, number>();
    for (const item of await allItems()) {
      const pk = String(item.pk);
      const kind = pk.startsWith('P#') && String(item.sk).startsWith('OBJ#') ? 'object-lease' : String(item.type ?? pk.split('#')[0]);
      seen.set(kind, (seen.get(kind) ?? 0) + 1);
      const ttl = item.expires_at;
      switch (kind) {
        case 'span':
          // A root (the root index counts it): retired by the sweep at its horizon (retire_at), its TTL only a backstop.
          if (item.ri === true) {
            expect(item.retire_at, `${kind} ${pk}`).toEqual(near(started + 30 * DAY));
            expect(ttl, `${kind} ${pk}`).toEqual(near(started + (30 + ROOT_SPAN_BACKSTOP_DAYS) * DAY));
            seen.set('root-span', (seen.get('root-span') ?? 0) + 1);
          } else {
            expect(ttl, `${kind} ${pk}`).toEqual(near(started + 30 * DAY));
            seen.set('child-span', (seen.get('child-span') ?? 0) + 1);
          }
          break;
        case 'evaluation':
          // Counted: the sweep deletes it with its trace; its TTL only a backstop, after the grace.
          expect(ttl, `${kind} ${pk}`).toEqual(near(started + (30 + EXPIRY_GRACE_DAYS) * DAY));
          break;
        // A root span's member in the root index (get_trace_logs): counted, so no TTL; listed by its span's horizon for the sweep.
        case 'log-root':
          expect(ttl, `${kind} ${pk}`).toBeUndefined();
          expect(Number(String(item.gsi3sk).split('#')[0]), `${kind} ${pk}`).toEqual(near(started + 30 * DAY));
          break;
        case 'upload':
        case 'upload-ids':
        case 'upload-counted':
          expect(ttl, `${kind} ${pk}`).toEqual(near(uploadExpiry));
          break;
        case 'upload-filename':
        case 'object-lease':
          // A file's upload, or an OTel trace's own filename-order item: created now, so the same expiry.
          expect(ttl, `${kind} ${pk}`).toEqual(near(started + (30 + EXPIRY_GRACE_DAYS) * DAY));
          break;
        case 'span-stats':
          expect(ttl, `${kind} ${pk}`).toEqual(
            near(Math.floor(Date.parse(`${String(item.sk).slice(2)}:00:00.000Z`) / 1000) + (30 + EXPIRY_GRACE_DAYS) * DAY),
          );
          break;
        case 'job':
          expect(ttl, `${kind} ${pk}`).toEqual(near(started + JOB_KEEP_DAYS * DAY));
          break;
        case 'job-part':
          // Written while its job ran: the running job's expiry (30 days after it started).
          expect(ttl, `${kind} ${pk}`).toEqual(near(started + 30 * DAY));
          break;
        // Counted (the sweep deletes them and moves their counters), or counters, or tenancy, or the search indexer's pending
        // work and its lease (the indexer removes the work when done; expiring it would leave the index stale): no TTL.
        // An experiment's record, its runs and pinned stats: its summary, kept after its spans expire.
        case 'experiment':
        case 'experiment-run':
        case 'experiment-stats':
        case 'search-work':
        case 'search-lease':
        case 'trace':
        case 'trace-status':
        case 'trace-judge':
        case 'counter':
        case 'organization':
        case 'organization-entry':
        case 'project':
        case 'api-key':
        case 'api-key-listing':
        case 'api-key-id':
        case 'meta':
        // Tenancy items without a type (name indexes).
        case 'ORG':
        case 'ORGNAME':
        case 'KEY':
        case 'KEYID':
        case 'ORGS':
          expect(ttl, `${kind} ${pk}`).toBeUndefined();
          break;
        default:
          throw new Error(
            `an item kind the retention rules do not name: ${kind} (${pk} / ${String(item.sk)}); add it to functions/domain/expiry.ts and here`,
          );
      }
    }
    for (const kind of [
      'span',
      'root-span',
      'child-span',
      'log-root',
      'evaluation',
      'upload',
      'upload-ids',
      'upload-counted',
      'upload-filename',
      'object-lease',
      'span-stats',
      'job',
      'job-part',
      'trace',
      'trace-status',
      'counter',
    ]) {
      expect(seen.get(kind) ?? 0, kind).toBeGreaterThan(0);
    }
  });

  it('reads an item past its TTL as gone (before DynamoDB removes it), and a span posted again starts anew', async () => {
    const doc = documentClient();
    const past = Math.floor(Date.now() / 1000) - 10;
    const expire = (key: { pk: string; sk: string }) =>
      doc.send(
        new UpdateCommand({
          TableName: stack.table,
          Key: key,
          UpdateExpression: 'SET expires_at = :t',
          ExpressionAttributeValues: { ':t': past },
        }),
      );
    const tenant = stack.info;
    await expire(spanKeys.span(tenant.organizationId, tenant.projectId, 'posted-root'));
    expect((await call('GET', '/api/parea/v1/trace_log/posted-root')).status).toBe(404);
    expect((await getItem(stack, spanKeys.span(tenant.organizationId, tenant.projectId, 'posted-root')))?.expires_at).toBe(past);
    // Posted again: a new span (version 1, its own TTL), not a conflict with the expired one.
    expect((await call('POST', '/api/parea/v1/trace_log', span('posted-root', 'posted-root'))).status).toBe(200);
    const again = await getItem(stack, spanKeys.span(tenant.organizationId, tenant.projectId, 'posted-root'));
    expect(again).toMatchObject({ version: 1, expires_at: expect.any(Number) });
    expect(again!.expires_at as number).toBeGreaterThan(Date.now() / 1000 + 29 * DAY);
    expect((await call('GET', '/api/parea/v1/trace_log/posted-root')).status).toBe(200);

    const upload = (await projectUploads(stack))[0]!;
    expect((await call('GET', `${base}/uploads/${String(upload.upload_id)}`)).status).toBe(200);
    await expire(keys.upload(tenant.organizationId, tenant.projectId, String(upload.upload_id)));
    expect((await call('GET', `${base}/uploads/${String(upload.upload_id)}`)).status).toBe(404);
  });

  it('runs the retention sweep locally on its schedule: old traces go through the delete path', async () => {
    const before = (await projectCounter(stack))!.traces;
    await ingestAt(
      stack,
      `${stack.info.dropPrefix}ttl/old.jsonl`,
      `${JSON.stringify({ source: 'old', input: 'old' })}\n`,
      Date.now() - 40 * DAY * 1000,
    );
    // (The sweep runs every 300 ms here: the trace may be gone already.)
    for (let i = 0; i < 100 && (await projectTraces(stack)).some((t) => t.source === 'old'); i++) await sleep(100);
    expect((await projectTraces(stack)).some((t) => t.source === 'old')).toBe(false);
    const counter = (await projectCounter(stack))!;
    expect(counter.traces).toBe(before);
    expect(counter.by_source.old ?? 0).toBe(0);
  });

  it('retires trace-log roots past their horizon on the same schedule: get_trace_logs totals equal the trees left', async () => {
    const tenant = { organizationId: stack.info.organizationId, projectId: stack.info.projectId };
    const logs = async () => {
      const res = await call('POST', '/api/parea/v1/get_trace_logs', { page_size: 100 });
      expect(res.status, res.text).toBe(200);
      return JSON.parse(res.text) as { total: number; results: { trace_id: string }[] };
    };
    const left = (await logs()).results.map((r) => r.trace_id).sort();
    expect(left.length).toBeGreaterThan(0);
    // Stored 31 days ago under this stack's RETENTION_DAYS (30): a day past its horizon.
    const old = {
      store: new DynamoSpanStore(documentClient(), stack.table, { retentionDays: 30, clock: () => Date.now() - 31 * DAY * 1000 }),
    };
    await recordTraceLog(old, tenant, { ...span('stale-root', 'stale-root'), experiment_uuid: 'exp-stale' });
    await recordTraceLog(old, tenant, { ...span('stale-child', 'stale-root'), experiment_uuid: 'exp-stale' });
    // (The sweep runs every 300 ms here: the root may be gone already.)
    for (
      let i = 0;
      i < 100 && (await getItem(stack, spanKeys.span(tenant.organizationId, tenant.projectId, 'stale-root'))) !== undefined;
      i++
    )
      await sleep(100);
    const after = await logs();
    expect(after.results.map((r) => r.trace_id).sort()).toEqual(left);
    expect(after.total).toBe(left.length);
    expect(await new DynamoTraceLogRoots(documentClient(), stack.table).count(tenant, {})).toBe(left.length);
  });
});
