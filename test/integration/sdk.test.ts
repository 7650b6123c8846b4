/** The SDK end to end against the local stack. */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { once } from 'node:events';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFilterExpression, TraceIngestClient, TraceIngestError, type UploadProgress } from '../../sdk/index.js';
import { useTestStack } from '../support/stack.js';
import { fixture } from '../support/fixtures.js';

const stack = useTestStack();
let client: TraceIngestClient;
let tmp: string;
beforeAll(async () => {
  client = new TraceIngestClient({ baseUrl: stack.info.apiUrl, apiKey: stack.info.apiKey, env: {} });
  tmp = mkdtempSync(join(tmpdir(), 'sdk-it-'));
}, 60_000);
afterAll(async () => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the SDK against the local stack', () => {
  const ids: Record<string, string[]> = {};

  it('learns its organization and project', async () => {
    expect(await client.tenant()).toMatchObject({ organizationId: stack.info.organizationId, projectId: stack.info.projectId });
  });

  it('reads TRACE_INGEST_URL and TRACE_INGEST_API_KEY, and the local-stack.json of DATA_DIR', async () => {
    const fromEnv = new TraceIngestClient({
      env: { TRACE_INGEST_URL: `${stack.info.apiUrl}/api/v1`, TRACE_INGEST_API_KEY: stack.info.apiKey },
    });
    expect((await fromEnv.tenant()).projectId).toBe(stack.info.projectId);
    const fromFile = new TraceIngestClient({ env: { DATA_DIR: stack.dataDir } });
    expect((await fromFile.tenant()).projectId).toBe(stack.info.projectId);
  });

  it.each([
    ['chat-traces.jsonl', 20, 'path'],
    ['agent-runs.json', 3, 'buffer'],
    ['single-trace.json', 1, 'stream'],
    ['experiment-logs.jsonl', 12, 'path'],
  ] as const)('uploads %s (%i traces) from a %s', async (name, count, kind) => {
    const bytes = fixture(name);
    const path = join(tmp, name);
    if (kind === 'path') {
      const w = createWriteStream(path);
      w.end(bytes);
      await once(w, 'finish');
    }
    const progress: UploadProgress[] = [];
    const onProgress = (p: UploadProgress) => progress.push(p);
    const result =
      kind === 'path'
        ? await client.traces.upload(path, { onProgress })
        : kind === 'buffer'
          ? await client.traces.upload(bytes, { filename: name, onProgress })
          : await client.traces.upload(Readable.from([bytes]), { filename: name, onProgress });
    expect(result.status).toBe('completed');
    expect(result.traceIds).toHaveLength(count);
    expect(result.errors).toEqual([]);
    expect(result.uploadId).toMatch(/^[0-9a-f-]{36}$/);
    expect(progress.at(-1)).toEqual({ phase: 'done', bytesSent: bytes.length, totalBytes: bytes.length });
    expect(progress.some((p) => p.phase === 'upload' && p.bytesSent === bytes.length)).toBe(true);
    ids[name] = result.traceIds;
  });

  it('reports bad lines with their numbers and keeps the good ones', async () => {
    const body = Buffer.from('{"input":"a"}\nnot json\n{"input":"b"}\n[1]\n');
    const result = await client.traces.upload(body, { filename: 'bad-lines.jsonl' });
    expect(result.status).toBe('completed');
    expect(result.traceIds).toHaveLength(2);
    expect(result.errors.map((e) => e.line)).toEqual([2, 4]);
    expect(result.errorCount).toBe(2);
    const none = await client.traces.upload(Buffer.from('nope\n'), { filename: 'all-bad.jsonl' });
    expect(none.status).toBe('failed');
    expect(none.traceIds).toEqual([]);
    expect(none.errors[0]!.line).toBe(1);
    expect(none.message).toMatch(/no valid record/);
  });

  it('refuses a bad file name before sending anything', async () => {
    await expect(client.traces.upload(Buffer.from('{}'), { filename: 'a.txt' })).rejects.toMatchObject({
      code: 'invalid_request',
      status: 0,
    });
  });

  it('gets a trace; an unknown one is a 404 TraceIngestError', async () => {
    const t = await client.traces.get(ids['chat-traces.jsonl']![1]!);
    expect(t.input).toBe('system: You are terse.\nuser: Summarise this ticket in one line.');
    expect(t.filename).toBe('chat-traces.jsonl');
    const err = await client.traces.get('00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TraceIngestError);
    expect(err).toMatchObject({ status: 404, code: 'not_found' });
  });

  it('lists with filters and iterates every match by cursor', async () => {
    const all = await client.traces.list({ pageSize: 100 });
    expect(all.total_count).toBe(38);
    const search = await client.traces.list({ search: 'capital' });
    expect(search.total_count).toBe(9);
    const asc = await client.traces.list({ sortBy: 'filename', sortOrder: 'asc', pageSize: 5 });
    expect(asc.traces[0]!.filename).toBe('agent-runs.json');
    const seen: string[] = [];
    for await (const t of client.traces.iterate({ pageSize: 7, timeRange: '7d' })) seen.push(t.id);
    expect(seen).toHaveLength(38);
    expect(new Set(seen).size).toBe(38);
    await expect(client.traces.list({ status: 'bogus' as 'pass' })).rejects.toMatchObject({ code: 'invalid_request' });
  });

  it("traces.sources() answers the project's sources", async () => {
    expect(await client.traces.sources()).toContain('upload');
  });

  it('evaluations: create, get, list; the trace list filters on them', async () => {
    const traceId = ids['agent-runs.json']![0]!;
    const e = await client.evaluations.create({ traceId, judgeId: 'judge-1', passed: true, score: 0.9, reasoning: 'fine' });
    expect(e).toMatchObject({ trace_id: traceId, judge_id: 'judge-1', judge_name: 'judge-1', status: 'success', passed: true, score: 0.9 });
    expect((await client.evaluations.get(e.id)).id).toBe(e.id);
    const pending = await client.evaluations.create({ traceId, judgeId: 'judge-2' });
    expect(pending.status).toBe('pending');
    const list = await client.evaluations.list({ traceId });
    expect(list.total).toBe(2);
    expect(list.trace_evaluations[0]!.id).toBe(pending.id);
    expect((await client.traces.list({ judgeId: 'judge-1' })).total_count).toBe(1);
    expect((await client.traces.list({ status: 'pending' })).traces.map((t) => t.id)).toEqual([traceId]);
  });

  it('experiment trace logs from the uploaded spans, with a filter; trace logs record, update, get', async () => {
    const trees = await client.experiments.traceLogs('exp-338f5063');
    expect(trees.length).toBeGreaterThan(0);
    expect(trees.every((t) => t.children_logs !== undefined)).toBe(true);
    const page = await client.experiments.traceLogsPage('exp-338f5063', null, { limit: 1 });
    expect(page.trees).toHaveLength(1);
    expect(page.nextCursor === null ? trees.length : 2).toBeGreaterThan(1);
    const run0 = await client.experiments.traceLogs('exp-338f5063', {
      filter_field: 'metadata',
      filter_key: 'run',
      filter_operator: 'equals',
      filter_value: '0',
    });
    expect(run0.length).toBeGreaterThan(0);
    expect(run0.length).toBeLessThanOrEqual(trees.length);
    await expect(client.experiments.traceLogs('exp-338f5063', { filter_operator: 'sideways' })).rejects.toMatchObject({
      code: 'invalid_request',
    });

    await client.traceLogs.record({
      trace_id: 'sdk-root',
      root_trace_id: 'sdk-root',
      parent_trace_id: 'sdk-root',
      experiment_uuid: 'exp-sdk',
      trace_name: 'root',
      start_timestamp: '2026-11-01T09:00:00Z',
      status: 'success',
    });
    await client.traceLogs.record({
      trace_id: 'sdk-child',
      root_trace_id: 'sdk-root',
      parent_trace_id: 'sdk-root',
      experiment_uuid: 'exp-sdk',
      trace_name: 'child',
      start_timestamp: '2026-11-01T09:00:01Z',
      status: 'success',
    });
    await client.traceLogs.update({
      trace_id: 'sdk-child',
      root_trace_id: 'sdk-root',
      field_name_to_value_map: { scores: [{ name: 'accuracy', score: 0.75 }] },
    });
    const tree = await client.traceLogs.get('sdk-root');
    expect(tree.children_logs.map((c) => c.trace_id)).toEqual(['sdk-child']);
    expect(tree.children_logs[0]!.scores).toEqual([expect.objectContaining({ name: 'accuracy', score: 0.75 })]);
    const byScore = await client.experiments.traceLogs('exp-sdk', {
      filter_field: 'score:accuracy',
      filter_operator: 'greater_than_or_equal',
      filter_value: '0.5',
    });
    expect(byScore.map((t) => t.trace_id)).toEqual(['sdk-root']);
    await expect(client.traceLogs.get('nope')).rejects.toMatchObject({ status: 404 });
  });

  it('deletes a trace', async () => {
    const id = ids['single-trace.json']![0]!;
    await client.traces.delete(id);
    await expect(client.traces.get(id)).rejects.toMatchObject({ status: 404 });
    await expect(client.traces.delete(id)).rejects.toMatchObject({ status: 404 });
  });

  it('streams a 20 MiB file from its path with flat memory', async () => {
    const path = join(tmp, 'big.jsonl');
    const w = createWriteStream(path);
    const pad = 'x'.repeat(1000);
    let written = 0;
    for (let i = 0; written < 20 * 1024 * 1024; i++) {
      const line = `{"input":"big ${i}","pad":"${pad}"}\n`;
      written += line.length;
      if (!w.write(line)) await once(w, 'drain');
    }
    w.end();
    await once(w, 'finish');
    const size = statSync(path).size;
    expect(size).toBeGreaterThanOrEqual(20 * 1024 * 1024);

    // The uploader runs in its own process: this process also hosts the stack (s3rver receiving
    // the bytes, the worker ingesting them), whose memory is not the SDK's.
    const script = `
      const { TraceIngestClient } = await import(${JSON.stringify(new URL('../../sdk/index.ts', import.meta.url).href)});
      const client = new TraceIngestClient({ baseUrl: ${JSON.stringify(stack.info.apiUrl)}, apiKey: ${JSON.stringify(stack.info.apiKey)}, env: {} });
      // Warm up: every code path of an upload loaded once, so only the big file's cost is measured.
      await client.traces.upload(Buffer.from('{"input":"warm"}\\n'), { filename: 'warm-up.jsonl' });
      const before = process.memoryUsage().rss;
      let peak = before, sent = 0, uploading = true;
      const sample = () => { if (uploading) peak = Math.max(peak, process.memoryUsage().rss); };
      const timer = setInterval(sample, 5);
      const result = await client.traces.upload(${JSON.stringify(path)}, {
        onProgress: (p) => { sample(); if (p.phase === 'upload') sent = p.bytesSent; if (p.phase === 'ingest') uploading = false; },
      });
      clearInterval(timer);
      const after = process.memoryUsage().rss;
      console.log(JSON.stringify({ before, peak, after, sent, status: result.status, traces: result.traceIds.length }));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`uploader exited ${code}: ${stderr}`))));
    });
    const m = JSON.parse(out.trim().split('\n').at(-1)!) as {
      before: number;
      peak: number;
      after: number;
      sent: number;
      status: string;
      traces: number;
    };
    expect(m.status).toBe('completed');
    expect(m.traces).toBeGreaterThan(19_000);
    expect(m.sent).toBe(size);
    const growth = (m.peak - m.before) / 2 ** 20;
    console.log(
      `uploader rss before ${(m.before / 2 ** 20).toFixed(1)} MiB, peak +${growth.toFixed(1)} MiB while sending ${(size / 2 ** 20).toFixed(1)} MiB`,
    );
    expect(growth).toBeLessThan(40);
  }, 120_000);
});

describe('the SDK: evaluation results, trace-log listing, feedback, LangChain runs', () => {
  it('waits for a pending evaluation until its result is posted, and lists by outcome with cursors', async () => {
    const [traceId] = (await client.traces.upload(Buffer.from('{"input":"a"}\n{"input":"b"}\n'), { filename: 'results.jsonl' })).traceIds;
    const pending = await client.evaluations.create({ traceId: traceId!, judgeId: 'sdk-judge' });
    expect(await client.evaluations.result(pending.id)).toBeNull();
    const waiting = client.evaluations.waitForResult(pending.id, { intervalMs: 20, timeoutMs: 10_000 });
    await client.evaluations.postResult(pending.id, { passed: true, score: 0.9, model: 'judge-model', latencyMs: 12 });
    expect(await waiting).toMatchObject({
      trace_evaluation_id: pending.id,
      passed: true,
      score: 0.9,
      model: 'judge-model',
      latency_ms: 12,
    });
    await client.evaluations.create({ traceId: traceId!, judgeId: 'sdk-judge', passed: false });
    const first = await client.evaluations.list({ judgeId: 'sdk-judge', pageSize: 1 });
    expect(first.total).toBe(2);
    const second = await client.evaluations.list({ judgeId: 'sdk-judge', pageSize: 1, cursor: first.nextCursor! });
    expect([...first.trace_evaluations, ...second.trace_evaluations].map((e) => e.passed).sort()).toEqual([false, true]);
    expect(second.nextCursor).toBeNull();
    expect((await client.evaluations.list({ outcome: 'pass', judgeId: 'sdk-judge' })).trace_evaluations.map((e) => e.id)).toEqual([
      pending.id,
    ]);
  });

  it('lists root trees, takes feedback on a span and stores a LangChain run', async () => {
    await client.traceLogs.record({
      trace_id: 'sdk-root',
      root_trace_id: 'sdk-root',
      trace_name: 'sdk root',
      start_timestamp: new Date().toISOString(),
    });
    await client.traceLogs.feedback({ traceId: 'sdk-root', score: 0.4, comment: 'meh' });
    await client.traceLogs.recordLangchainRun({
      id: 'sdk-lc',
      name: 'chain',
      run_type: 'chain',
      start_time: Date.now(),
      end_time: Date.now() + 3,
      inputs: { q: 'x' },
      outputs: { output: 'y' },
      child_runs: [],
    });
    const page = await client.traceLogs.list({ timeRange: '1h', pageSize: 10 });
    expect(page.results.map((t) => t.trace_id)).toEqual(expect.arrayContaining(['sdk-root', 'sdk-lc']));
    expect(page.total).toBe(page.results.length);
    const byFeedback = await client.traceLogs.list({ filter: parseFilterExpression('feedback_score < 0.5') });
    expect(byFeedback.results.map((t) => [t.trace_id, t.feedback_score])).toEqual([['sdk-root', 0.4]]);
  });
});
