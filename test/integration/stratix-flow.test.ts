/**
 * The LayerLens Stratix Python client's flow (resources/traces/traces.py,
 * v1.7.0), replayed call for call with only base_url and the key changed:
 * construct, upload (presign, PUT, create), get, get_many with each filter,
 * get_sources, delete. See the Stratix client's traces API (LayerLens/stratix-python).
 */
import { describe, expect, it } from 'vitest';
import * as wire from '../../functions/domain/wire.js';
import { useTestStack } from '../support/stack.js';
import { fixture } from '../support/fixtures.js';

const stack = useTestStack();

/** What the client sends on every call, and what it does with the answer. */
class StratixLikeClient {
  organizationId = '';
  projectId = '';
  constructor(
    private readonly baseUrl: string,
    private readonly apiKey: string,
  ) {}

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> | null }> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { 'x-api-key': this.apiKey, Accept: 'application/json', 'Content-Type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (res.status === 204) return { status: res.status, json: null };
    const json = JSON.parse(text) as unknown;
    // The client does dict(**response.json()): an array, null or empty body would crash it.
    expect(json !== null && typeof json === 'object' && !Array.isArray(json), `${method} ${path} answered ${text.slice(0, 200)}`).toBe(
      true,
    );
    const obj = json as Record<string, unknown>;
    // It unwraps {"status", "data"} only when both are present.
    return { status: res.status, json: 'status' in obj && 'data' in obj ? (obj.data as Record<string, unknown>) : obj };
  }

  async construct() {
    const { status, json } = await this.request('GET', '/organizations');
    expect(status).toBe(200);
    wire.OrganizationsAnswer.parse(json);
    const data =
      (json as { data?: { id: string; projects: Array<{ id: string }> } }).data ??
      (json as unknown as { id: string; projects: Array<{ id: string }> });
    this.organizationId = data.id;
    this.projectId = data.projects[0]!.id;
  }

  get p() {
    return `/organizations/${this.organizationId}/projects/${this.projectId}/traces`;
  }

  async upload(filename: string, bytes: Buffer): Promise<string[]> {
    const type = filename.endsWith('.jsonl') ? 'application/jsonl' : 'application/json';
    const presign = await this.request('POST', `${this.p}/upload`, { filename, type, size: bytes.length });
    expect(presign.status).toBe(200);
    wire.PresignAnswer.parse(presign.json);
    const url = presign.json!.url as string;
    expect(url).toMatch(/^https?:\/\//);
    const put = await fetch(url, { method: 'PUT', headers: { 'Content-Type': type }, body: bytes });
    expect(put.ok).toBe(true);
    const created = await this.request('POST', this.p, { filename });
    expect(created.status).toBe(200);
    wire.CreateTracesAnswer.parse(created.json);
    const upload = await this.request(
      'GET',
      `/organizations/${this.organizationId}/projects/${this.projectId}/uploads/${created.json!.upload_id as string}`,
    );
    wire.UploadStatus.parse(upload.json);
    return created.json!.trace_ids as string[];
  }
}

describe('the Stratix client flow, unmodified, against the local stack', () => {
  let client: StratixLikeClient;
  const ids: Record<string, string[]> = {};

  it('constructs (GET /organizations)', async () => {
    client = new StratixLikeClient(`${stack.info.apiUrl}/api/v1`, stack.info.apiKey);
    await client.construct();
    expect(client.organizationId).toBe(stack.info.organizationId);
    expect(client.projectId).toBe(stack.info.projectId);
  });

  it.each([
    ['chat-traces.jsonl', 20],
    ['agent-runs.json', 3],
    ['single-trace.json', 1],
    ['experiment-logs.jsonl', 12],
  ])('uploads %s: presign, PUT with only Content-Type, create with only the filename → %i trace ids', async (name, count) => {
    ids[name] = await client.upload(name, fixture(name));
    expect(ids[name]).toHaveLength(count);
    expect(new Set(ids[name]).size).toBe(count);
  });

  it('gets a trace with every field the model requires, ids and timestamps as strings', async () => {
    const { status, json } = await client.request('GET', `${client.p}/${ids['chat-traces.jsonl']![1]}`);
    expect(status).toBe(200);
    wire.Trace.parse(json);
    const t = json!;
    for (const field of ['id', 'organization_id', 'project_id', 'created_at', 'filename']) expect(typeof t[field], field).toBe('string');
    expect(t.data).toBeTypeOf('object');
    expect(Array.isArray(t.data)).toBe(false);
    expect(t.input).toBe('system: You are terse.\nuser: Summarise this ticket in one line.');
    expect(t.integration_id).toBeNull();
    expect(Number.isNaN(Date.parse(t.created_at as string))).toBe(false);
  });

  it('get_many with each filter the client sends', async () => {
    const all = await client.request('GET', `${client.p}?page=1&page_size=100`);
    wire.TraceList.parse(all.json);
    expect(all.json!.total_count).toBe(36);
    expect(all.json!.count).toBe(36);
    for (const t of all.json!.traces as Array<Record<string, unknown>>) {
      expect(typeof t.evaluations_count).toBe('number');
      expect(Array.isArray(t.last_evaluations)).toBe(true);
    }
    const queries: Array<[string, number]> = [
      ['source=upload', 36],
      ['status=pass', 0],
      ['status=unevaluated', 36],
      ['time_range=7d', 36],
      ['sort_by=created_at&sort_order=desc', 36],
      ['sort_by=filename&sort_order=asc', 36],
      ['search=capital', 9],
      ['judge_id=nobody', 0],
      ['pageSize=5&sortOrder=asc', 36],
    ];
    for (const [q, total] of queries) {
      const res = await client.request('GET', `${client.p}?page=1&page_size=100&${q}`);
      expect(res.status, q).toBe(200);
      expect(res.json!.total_count, q).toBe(total);
    }
  });

  it('get_many with an evaluation recorded: judge_id and status filters see it, last_evaluations has the model fields', async () => {
    const id = ids['single-trace.json']![0]!;
    const created = await client.request('POST', `/organizations/${client.organizationId}/projects/${client.projectId}/trace-evaluations`, {
      trace_id: id,
      judge_id: 'judge-accuracy',
      judge_name: 'Accuracy',
      judge_version: 2,
      passed: true,
      score: 0.9,
    });
    expect(created.status).toBe(201);
    wire.Evaluation.parse(created.json);
    const res = await client.request('GET', `${client.p}?judge_id=judge-accuracy&status=pass`);
    const [t] = res.json!.traces as Array<Record<string, unknown>>;
    expect(t!.id).toBe(id);
    expect(t!.last_evaluations).toEqual([
      expect.objectContaining({
        judge_id: 'judge-accuracy',
        judge_name: 'Accuracy',
        judge_version: 2,
        passed: true,
        created_at: expect.any(String),
      }),
    ]);
  });

  it("get_sources: the project's sources, as the client parses them", async () => {
    const { status, json } = await client.request('GET', `${client.p}/sources`);
    expect(status).toBe(200);
    wire.Sources.parse(json);
    expect(json!.sources).toEqual(['upload']);
  });

  it('delete, then the trace is gone and the totals follow', async () => {
    const id = ids['chat-traces.jsonl']![0]!;
    const del = await client.request('DELETE', `${client.p}/${id}`);
    expect(del.status).toBeGreaterThanOrEqual(200);
    expect(del.status).toBeLessThan(300);
    expect((await client.request('GET', `${client.p}/${id}`)).status).toBe(404);
    expect((await client.request('GET', `${client.p}?page_size=1`)).json!.total_count).toBe(35);
  });

  it('re-uploading identical content gives the same ids', async () => {
    expect(await client.upload('agent-runs.json', fixture('agent-runs.json'))).toEqual(ids['agent-runs.json']);
  });

  it('a sample run twice with its traces deleted in between (basic_trace.py): the same ids come back, every one readable', async () => {
    for (const id of ids['agent-runs.json']!) expect((await client.request('DELETE', `${client.p}/${id}`)).status).toBe(204);
    expect((await client.request('GET', `${client.p}?page_size=1`)).json!.total_count).toBe(32);
    // The second PUT of the same bytes is a new object version, so a new upload: its traces are written again.
    expect(await client.upload('agent-runs.json', fixture('agent-runs.json'))).toEqual(ids['agent-runs.json']);
    for (const id of ids['agent-runs.json']!) expect((await client.request('GET', `${client.p}/${id}`)).status).toBe(200);
    expect((await client.request('GET', `${client.p}?page_size=1`)).json!.total_count).toBe(35);
  });
});
