/**
 * The `trace-ingest` command line, run as a child process against the local stack: through its bin shim
 * (tsx) for `--help`, else as built once for this file (test/support/cli-build.ts: the same code without
 * tsx's transpiling in each of the some sixty processes).
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { uploadId as deriveUploadId } from '../../functions/domain/ids.js';
import { ingestObject, type IngestOutcome } from '../../functions/domain/ingest/ingest-object.js';
import { createApiKey, revokeApiKey } from '../../functions/domain/tenancy.js';
import { ingestDeps, tenantStore } from '../../functions/shared/services.js';
import { main, type CliIo } from '../../cli/trace-ingest.js';
import { putObject, startTestStack, type TestStack } from '../support/stack.js';
import { fixture } from '../support/fixtures.js';
import { buildCli, type BuiltCli } from '../support/cli-build.js';
import { TraceIngestClient } from '../../sdk/index.js';
import { setTimeout as sleep } from 'node:timers/promises';

const BIN = fileURLToPath(new URL('../../cli/trace-ingest.mjs', import.meta.url));
const REPO = fileURLToPath(new URL('../..', import.meta.url));

let stack: TestStack;
let tmp: string;
let built: BuiltCli | undefined;
beforeAll(async () => {
  [stack, built] = await Promise.all([startTestStack(), buildCli('trace-ingest')]);
  tmp = mkdtempSync(join(tmpdir(), 'cli-it-'));
  for (const name of ['chat-traces.jsonl', 'agent-runs.json', 'single-trace.json', 'experiment-logs.jsonl'])
    writeFileSync(join(tmp, name), fixture(name));
  writeFileSync(join(tmp, 'some-bad.jsonl'), '{"input":"fine"}\n{oops\n{"input":"also fine"}\n');
}, 60_000);
afterAll(async () => {
  await stack?.cleanup();
  built?.remove();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}, cwd = REPO, script = built!.script): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [script, ...args],
      {
        cwd,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? tmp,
          TRACE_INGEST_URL: stack.info.apiUrl,
          TRACE_INGEST_API_KEY: stack.info.apiKey,
          ...env,
        },
        maxBuffer: 16 * 1024 * 1024,
      },
      (error, stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('trace-ingest against the local stack', () => {
  let uploadId = '';
  let traceIds: string[] = [];

  it('--help exits 0 for the program and every command; no command or an unknown one exits 2', async () => {
    const help = await cli(['--help'], {}, REPO, BIN);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Usage: trace-ingest <command>');
    for (const command of ['upload', 'list', 'get', 'delete', 'sources', 'status', 'tree', 'experiments', 'keys']) {
      const r = await cli([command, '--help']);
      expect(r.code, command).toBe(0);
      expect(r.stdout, command).toContain(`trace-ingest ${command}`);
    }
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
    expect((await cli([])).code).toBe(2);
    const badFlag = await cli(['list', '--bogus']);
    expect(badFlag.code).toBe(2);
    expect(badFlag.stderr).toContain("Unknown option '--bogus'");
    expect((await cli(['get'])).code).toBe(2);
    expect((await cli(['list', '--status', 'maybe'])).stderr).toContain('--status must be one of pass, fail, pending, unevaluated');
  }, 60_000);

  it('upload: one line per file with its traces; no colour and no progress when not a terminal', async () => {
    const files = ['chat-traces.jsonl', 'agent-runs.json', 'single-trace.json', 'experiment-logs.jsonl'].map((f) => join(tmp, f));
    const r = await cli(['upload', ...files]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(/chat-traces\.jsonl: 20 traces created \(upload [0-9a-f-]{36}\)$/);
    expect(lines[1]).toMatch(/agent-runs\.json: 3 traces created/);
    expect(lines[2]).toMatch(/single-trace\.json: 1 trace created/);
    expect(lines[3]).toMatch(/experiment-logs\.jsonl: 12 traces created/);
    expect(r.stdout).not.toContain('\x1b[');
    uploadId = /\(upload ([0-9a-f-]{36})\)/.exec(lines[0]!)![1]!;
  });

  it('upload: a file with a bad line prints "line N: message" and exits 1; a missing file is named', async () => {
    const r = await cli(['upload', join(tmp, 'some-bad.jsonl')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/some-bad\.jsonl: 2 traces created, 1 bad line/);
    expect(r.stdout).toMatch(/^ {2}line 2: .+/m);
    const missing = await cli(['upload', join(tmp, 'nope.jsonl')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no such file');
    const json = await cli(['upload', '--json', join(tmp, 'single-trace.json')]);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'completed', traceIds: [expect.any(String)] });
  });

  it('list --json is the raw answer; list is a table with a footer', async () => {
    const r = await cli(['list', '--json', '--page-size', '50']);
    expect(r.code).toBe(0);
    const page = JSON.parse(r.stdout) as { traces: Array<{ id: string; filename: string }>; total_count: number; count: number };
    expect(page.total_count).toBe(38);
    traceIds = page.traces.filter((t) => t.filename === 'chat-traces.jsonl').map((t) => t.id);
    expect(traceIds).toHaveLength(20);
    const table = await cli(['list', '--search', 'capital', '--page-size', '5']);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID\s+CREATED\s+SOURCE\s+FILENAME\s+EVALS\s+INPUT$/);
    expect(lines).toHaveLength(7);
    expect(lines.at(-1)).toMatch(/^5 of 9 traces; next page: --cursor \S+$/);
    const all = await cli(['list', '--all', '--json', '--page-size', '7', '--source', 'upload']);
    expect(all.stdout.trim().split('\n')).toHaveLength(38);
  });

  it('get prints pretty JSON; an unknown id exits 1 in plain words', async () => {
    const r = await cli(['get', traceIds[0]!]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('\n  "id": ');
    expect(JSON.parse(r.stdout)).toMatchObject({ id: traceIds[0], filename: 'chat-traces.jsonl' });
    const missing = await cli(['get', '00000000-0000-0000-0000-000000000000']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error: .*\(404 not_found\)/);
  });

  it("sources prints one source a line; status shows an upload's status, traces and file, --json its raw answer", async () => {
    const sources = await cli(['sources']);
    expect(sources.code).toBe(0);
    expect(sources.stdout.split('\n')).toContain('upload');
    const status = await cli(['status', uploadId]);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^status +completed$/m);
    expect(status.stdout).toMatch(/^traces +20$/m);
    expect(status.stdout).toMatch(/^file +chat-traces\.jsonl/m);
    const json = await cli(['status', uploadId, '--json']);
    expect(JSON.parse(json.stdout)).toMatchObject({ upload_id: uploadId, status: 'completed' });
  });

  it('tree: each root and its spans indented, with status, latency and scores; --filter and --key', async () => {
    const r = await cli(['tree', 'exp-338f5063']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(12);
    expect(lines.filter((l) => l.startsWith('answer_question'))).toHaveLength(3);
    expect(r.stdout).toMatch(/^answer_question {2}success {2}400ms {2}levenshtein=0\.9 {2}11e38dfe-/m);
    expect(r.stdout).toMatch(/^├─ retrieve {2}success {2}90ms$/m);
    expect(r.stdout).toMatch(/^└─ llm {2}success {2}90ms$/m);
    expect(r.stdout).toMatch(/^ {3}└─ judge {2}success {2}90ms {2}accuracy=1$/m);
    expect(r.stdout).toMatch(/^└─ llm {2}error {2}90ms$/m);
    const filtered = await cli(['tree', 'exp-338f5063', '--filter', 'score:accuracy >= 0.5']);
    expect(filtered.code).toBe(0);
    expect(filtered.stdout.trim().split('\n')).toHaveLength(4);
    expect(filtered.stdout).toContain('levenshtein=0.9');
    const byKey = await cli(['tree', 'exp-338f5063', '--filter', 'metadata = 2', '--key', 'run']);
    expect(byKey.stdout).toContain('levenshtein=0.1');
    expect(byKey.stdout.trim().split('\n')).toHaveLength(4);
    const none = await cli(['tree', 'exp-unknown']);
    expect(none.stdout).toContain('no trees in experiment exp-unknown');
    const bad = await cli(['tree', 'exp-338f5063', '--filter', 'latency sideways 1']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/error: .*sideways|filter_operator/);
  });

  it('experiments: each with its run, status, samples and pinned means; --name, --json', async () => {
    expect((await cli(['experiments'])).stdout).toBe('no experiments\n');
    const client = new TraceIngestClient({ baseUrl: stack.info.apiUrl, apiKey: stack.info.apiKey });
    const e = await client.experiments.create({ name: 'cli-exp', runName: 'first' });
    for (const [id, score] of [
      ['cli-a', 1],
      ['cli-b', 0.5],
    ] as const) {
      await client.traceLogs.record({
        trace_id: id,
        root_trace_id: id,
        experiment_uuid: e.uuid,
        start_timestamp: '2026-11-01T10:00:00Z',
        latency: score * 2,
        cost: 0.001,
        scores: [{ name: 'accuracy', score }],
      });
    }
    await client.experiments.finish(e.uuid, { datasetLevelStats: [{ name: 'balanced_acc', score: 0.75 }] });
    await client.experiments.create({ name: 'cli-exp', runName: 'second' });
    const r = await cli(['experiments']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^cli-exp run second {2}running {2}\S+ {2}not finished {2}/);
    expect(r.stdout).toMatch(new RegExp(`^cli-exp run first {2}completed {2}\\S+ {2}2 samples {2}${e.uuid}$`, 'm'));
    expect(r.stdout).toMatch(/^ {2}mean accuracy: 0\.75$/m);
    expect(r.stdout).toMatch(/^ {2}mean latency: 1\.50$/m);
    expect(r.stdout).toMatch(/^ {2}mean cost: 0\.00100$/m);
    expect(r.stdout).toMatch(/^ {2}balanced_acc: 0\.75$/m);
    const json = JSON.parse((await cli(['experiments', '--run', 'first', '--json'])).stdout);
    expect(json.map((x: { uuid: string }) => x.uuid)).toEqual([e.uuid]);
    expect((await cli(['experiments', 'extra'])).code).toBe(2);
  });

  it('delete: each id; an unknown one makes it exit 1', async () => {
    const r = await cli(['delete', traceIds[0]!, traceIds[1]!]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([`deleted ${traceIds[0]}`, `deleted ${traceIds[1]}`]);
    const again = await cli(['delete', traceIds[0]!, traceIds[2]!]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(traceIds[0]!);
    expect(again.stdout.trim()).toBe(`deleted ${traceIds[2]}`);
    expect(JSON.parse((await cli(['list', '--json'])).stdout).total_count).toBe(35);
  });

  it('errors in plain words: no configuration, an unreachable API, a refused key', async () => {
    const none = await cli(['list'], { TRACE_INGEST_URL: '', TRACE_INGEST_API_KEY: '', DATA_DIR: join(tmp, 'none') });
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('set TRACE_INGEST_URL and TRACE_INGEST_API_KEY');
    const refused = await cli(['list'], { TRACE_INGEST_API_KEY: 'tik_wrong' });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error: the API key was refused/);
    const fromFile = await cli(['sources'], { TRACE_INGEST_URL: '', TRACE_INGEST_API_KEY: '', DATA_DIR: stack.dataDir });
    expect(fromFile.code).toBe(0);
  });

  it("keys list and create delegate to the keys command (the stack's DynamoDB Local)", async () => {
    const endpoint = await stack.dynamo.config.endpoint!();
    const env = {
      DYNAMODB_PORT: String(endpoint.port),
      DATA_DIR: stack.dataDir,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
    expect((await cli(['keys', 'list', '--help'])).stdout).toContain('list [--organization <name>]');
    const created = await cli(['keys', 'create', '--organization', 'cli-org', '--project', 'cli-project'], env);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    const key = JSON.parse(created.stdout) as { apiKey: string };
    const listed = await cli(['keys', 'list', '--organization', 'cli-org'], env);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split('\n')).toHaveLength(1);
    expect(listed.stdout).toContain(key.apiKey.slice(0, 8));
    const usable = await cli(['list', '--json'], { TRACE_INGEST_API_KEY: key.apiKey });
    expect(JSON.parse(usable.stdout).total_count).toBe(0);
    expect((await cli(['keys', 'bogus'], env)).code).toBe(2);
  });

  it('drop puts files into the S3 drop folder, waits for their ingestion and reports it', async () => {
    const run = await cli(['drop', join(tmp, 'chat-traces.jsonl'), join(tmp, 'some-bad.jsonl')], { DATA_DIR: stack.dataDir });
    expect(run.code, run.stderr).toBe(1); // some-bad.jsonl has a bad line
    expect(run.stderr).toBe(''); // no AWS SDK notice about the Node version, nor anything else
    expect(run.stdout).toMatch(/chat-traces\.jsonl: 20 traces created/);
    expect(run.stdout).toMatch(/some-bad\.jsonl: 2 traces created, 1 bad line/);
    expect(run.stdout).toMatch(/line 2: invalid JSON/);
    expect(run.stdout).toContain(`drop/${stack.info.organizationId}/${stack.info.projectId}/chat-traces.jsonl`);
    const json = await cli(['drop', '--json', join(tmp, 'single-trace.json')], { DATA_DIR: stack.dataDir });
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout.trim())).toMatchObject({ status: 'completed', traces: 1, errorCount: 0 });
    const foreign = await cli(['drop', '--prefix', 'drop/other/project/', join(tmp, 'single-trace.json')], { DATA_DIR: stack.dataDir });
    expect(foreign.code).not.toBe(0);
    expect(foreign.stderr).toMatch(/--prefix must be under/);
  });
});

/** The S3 version id of a stored object, as the worker names its upload by it. */
async function uploadIdOf(key: string): Promise<string> {
  const head = await stack.s3.send(new HeadObjectCommand({ Bucket: stack.info.bucket, Key: key }));
  return deriveUploadId({
    organizationId: stack.info.organizationId,
    projectId: stack.info.projectId,
    objectKey: key,
    version: head.VersionId ?? head.ETag!.replace(/"/g, ''),
  });
}

/**
 * Ingests a stored object in this process, on the real stores, holding its writes after the first two
 * batches until `release` (its progress is recorded at every parse group meanwhile).
 */
function heldIngest(key: string): { release(): void; done: Promise<IngestOutcome> } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const real = ingestDeps();
  let writes = 0;
  const done = ingestObject(
    {
      ...real,
      progressEveryMs: 0,
      traces: {
        owners: (...a) => real.traces.owners(...a),
        writeBatch: async (b) => (++writes > 2 ? gate.then(() => real.traces.writeBatch(b)) : real.traces.writeBatch(b)),
      },
    },
    { bucket: stack.info.bucket, key },
  );
  return { release, done };
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** The command line in this process (no process start-up): for what needs no process of its own. */
async function inProcess(args: string[], env: Record<string, string> = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env: { TRACE_INGEST_URL: stack.info.apiUrl, TRACE_INGEST_API_KEY: stack.info.apiKey, ...env },
    isTTY: false,
  };
  const code = await main(args, io);
  return { code, stdout, stderr };
}

const lines = (n: number, tag: string) => Array.from({ length: n }, (_, i) => JSON.stringify({ input: `${tag} ${i}` })).join('\n');

describe('trace-ingest as a newcomer finds it', () => {
  it('upload of identical content again says how many traces are new; status of a file with no valid record is failed (exit 1)', async () => {
    writeFileSync(join(tmp, 'twice.jsonl'), lines(2, 'twice'));
    const twice = await inProcess(['upload', join(tmp, 'twice.jsonl'), join(tmp, 'twice.jsonl')]);
    expect(twice.code).toBe(0);
    expect(twice.stdout.split('\n')[0]).toMatch(/twice\.jsonl: 2 traces created/);
    expect(twice.stdout.split('\n')[1]).toMatch(
      /twice\.jsonl: 0 new traces \(of 2 traces: the others were stored before, from identical content\)/,
    );

    writeFileSync(join(tmp, 'all-bad.jsonl'), '{oops\nnot json\n');
    const bad = await inProcess(['upload', join(tmp, 'all-bad.jsonl')]);
    expect(bad.code).toBe(1);
    const id = /\(upload ([0-9a-f-]{36})\)/.exec(bad.stdout)![1]!;
    const status = await inProcess(['status', id]);
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(/^status +failed \(no valid record\)$/m);
    expect(status.stdout).toMatch(/^bad lines 2$/m);
  });

  it('status (and GET .../uploads/{id}) of an upload being ingested shows the records so far', async () => {
    const key = `uploads/${stack.info.organizationId}/${stack.info.projectId}/long.jsonl`;
    stack.setNotifications(false);
    try {
      await putObject(stack, key, `${lines(600, 'long')}\n{oops\n`);
      const id = await uploadIdOf(key);
      const held = heldIngest(key);
      const api = () =>
        fetch(`${stack.info.apiUrl}/api/v1/organizations/${stack.info.organizationId}/projects/${stack.info.projectId}/uploads/${id}`, {
          headers: { 'x-api-key': stack.info.apiKey },
        });
      await until('progress on the upload record', async () => (((await (await api()).json()) as { records?: number }).records ?? 0) > 0);
      const answer = (await (await api()).json()) as { status: string; records: number };
      expect(answer.status).toBe('processing');
      expect(answer.records).toBeGreaterThan(0);
      expect(answer.records).toBeLessThan(601);
      const status = await cli(['status', id]);
      expect(status.stdout).toMatch(/^status +processing$/m);
      expect(status.stdout).toMatch(/^records +\d+ so far$/m);
      held.release();
      expect((await held.done).status).toBe('completed');
      expect(await (await api()).json()).toMatchObject({ status: 'completed', records: 601, traces: 600, error_count: 1 });
    } finally {
      stack.setNotifications(true);
    }
  });

  it('usage errors exit 2, naming the flag: list --page-size 0, --time-range 7days', async () => {
    const zero = await inProcess(['list', '--page-size', '0']);
    expect(zero.code).toBe(2);
    expect(zero.stderr).toMatch(/^error: --page-size must be at least 1/);
    const days = await inProcess(['list', '--time-range', '7days']);
    expect(days.code).toBe(2);
    expect(days.stderr).toMatch(/^error: --time-range must be <n><m\|h\|d>/);
  });

  it('tree: a filter field no span has is said so, with score:NAME suggested; a field nobody matched is "no trees match"', async () => {
    const unknown = await inProcess(['tree', 'exp-338f5063', '--filter', 'accuracy > 0.5']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no span of experiment exp-338f5063 has the field "accuracy"');
    expect(unknown.stderr).toContain(`--filter "score:accuracy > 0.5"`);
    const none = await inProcess(['tree', 'exp-338f5063', '--filter', 'latency > 1000']);
    expect(none.code).toBe(0);
    expect(none.stdout).toContain('no trees match in experiment exp-338f5063');
  });

  it('a revoked key is said to be revoked; an unknown Bearer key is refused without talk of x-api-key', async () => {
    const key = await createApiKey(tenantStore(), { organization: 'revoked-org', project: 'p' });
    await revokeApiKey(tenantStore(), key.apiKey);
    const revoked = await inProcess(['list'], { TRACE_INGEST_API_KEY: key.apiKey });
    expect(revoked.code).toBe(1);
    expect(revoked.stderr).toMatch(/^error: this API key was revoked at \S+; create a new one/);
    const bearer = await fetch(`${stack.info.apiUrl}/api/v1/organizations`, { headers: { authorization: 'Bearer tik_unknown' } });
    expect(bearer.status).toBe(403);
    expect(await bearer.text()).toBe('{"message":"Forbidden"}');
  });

  it('keys --help lists its commands; keys follows DATA_DIR alone (no DYNAMODB_PORT); from a sub-folder the CLI finds .data/local-stack.json above', async () => {
    const help = await inProcess(['keys', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage: trace-ingest keys <command>/);
    for (const c of ['create --organization', 'list [--organization', 'revoke <keyId|apiKey>']) expect(help.stdout).toContain(`  ${c}`);
    expect((await inProcess(['keys'])).code).toBe(2);

    const listed = await inProcess(['keys', 'list', '--organization', 'default'], { DATA_DIR: stack.dataDir });
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(stack.info.apiKey.slice(0, 8));

    const checkout = mkdtempSync(join(tmpdir(), 'cli-checkout-'));
    try {
      mkdirSync(join(checkout, '.data'));
      copyFileSync(join(stack.dataDir, 'local-stack.json'), join(checkout, '.data', 'local-stack.json'));
      mkdirSync(join(checkout, 'src', 'deep'), { recursive: true });
      const fromBelow = await cli(['sources'], { TRACE_INGEST_URL: '', TRACE_INGEST_API_KEY: '' }, join(checkout, 'src', 'deep'));
      expect(fromBelow.stderr).toBe('');
      expect(fromBelow.stdout.split('\n')).toContain('upload');
    } finally {
      rmSync(checkout, { recursive: true, force: true });
    }
  });

  it('drop refuses a missing file, a .txt and a 60 MB file before sending anything, in plain words', async () => {
    writeFileSync(join(tmp, 'notes.txt'), '{"input":"x"}\n');
    writeFileSync(join(tmp, 'huge.jsonl'), '');
    truncateSync(join(tmp, 'huge.jsonl'), 60 * 1024 * 1024); // sparse: instant
    const r = await cli(['drop', join(tmp, 'nope.jsonl'), join(tmp, 'notes.txt'), join(tmp, 'huge.jsonl')], { DATA_DIR: stack.dataDir });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`nope.jsonl: refused: no such file: ${join(tmp, 'nope.jsonl')}`);
    expect(r.stderr).toContain('notes.txt: refused: unsupported file type');
    expect(r.stderr).toContain('huge.jsonl: refused: file is 62914560 bytes; the limit is 52428800 bytes');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    for (const name of ['notes.txt', 'huge.jsonl']) {
      const head = stack.s3.send(new HeadObjectCommand({ Bucket: stack.info.bucket, Key: `${stack.info.dropPrefix}${name}` }));
      await expect(head).rejects.toMatchObject({ name: 'NotFound' });
    }
  });

  it('drop shows progress on a terminal while the file is ingested; with --timeout it says the ingest goes on and how to follow it', async () => {
    writeFileSync(join(tmp, 'watched.jsonl'), lines(600, 'watched'));
    const key = `${stack.info.dropPrefix}watched.jsonl`;
    const out: string[] = [];
    const io: CliIo = {
      stdout: (t) => out.push(t),
      stderr: (t) => out.push(t),
      env: { DATA_DIR: stack.dataDir, TRACE_INGEST_URL: stack.info.apiUrl, TRACE_INGEST_API_KEY: stack.info.apiKey },
      isTTY: true,
    };
    stack.setNotifications(false);
    try {
      const running = main(['drop', join(tmp, 'watched.jsonl')], io);
      await until('the dropped object', () =>
        stack.s3.send(new HeadObjectCommand({ Bucket: stack.info.bucket, Key: key })).then(
          () => true,
          () => false,
        ),
      );
      await until('a progress line for the waiting file', () =>
        out.join('').includes('watched.jsonl  in the drop folder, waiting for the worker…'),
      );
      const held = heldIngest(key);
      await until('a progress line with records', () =>
        /watched\.jsonl {2}ingesting: [1-9][\d,]* records, 0 bad lines…/.test(out.join('')),
      );
      held.release();
      await held.done;
      expect(await running).toBe(0);
      expect(out.join('')).toMatch(/watched\.jsonl\x1b\[22m: \x1b\[32m600 traces created/);

      writeFileSync(join(tmp, 'unwatched.jsonl'), lines(3, 'unwatched'));
      const timedOut = await inProcess(['drop', '--timeout', '1', join(tmp, 'unwatched.jsonl')], { DATA_DIR: stack.dataDir });
      expect(timedOut.code).toBe(1);
      const id = await uploadIdOf(`${stack.info.dropPrefix}unwatched.jsonl`);
      expect(timedOut.stdout).toContain(
        `unwatched.jsonl: timed out: the worker has not picked it up after 1 s; the ingest goes on: follow it with "trace-ingest status ${id}"`,
      );
    } finally {
      stack.setNotifications(true);
    }
  });
});
