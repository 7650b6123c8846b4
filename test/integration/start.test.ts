import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, QueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { allShards, TRACE_SHARDS, traceIndex } from '../../functions/adapters/dynamo/keys.js';
import { freePort } from '../../local/ports.js';
import type { LocalStackInfo } from '../../local/stack.js';
import { fixture } from '../support/fixtures.js';
import { setTimeout as sleep } from 'node:timers/promises';

const repo = new URL('../../', import.meta.url).pathname;
// DynamoDB Local keeps the stack's data in files (SQLite): on tmpfs where there is one, so its syncs cost nothing.
const dataDir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'trace-ingest-start-'));
const children: ChildProcess[] = [];
/** The file the Ctrl-C test stops part way: long enough that its ingest is still running when the count first moves. */
const LONG = 5000;

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const pid of dynamoPids()) process.kill(pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Pids of the Java processes of DynamoDB Local whose database lives in this test's data dir. */
function dynamoPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (/(^|\/)java$/.test(argv[0]!) && argv.some((a) => a.includes('DynamoDBLocal')) && argv.includes(join(dataDir, 'dynamodb')))
        pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

/** Java may take a moment to end after its stack: wait for it, up to 10 s. */
async function noJavaWithin(ms = 10_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  while (dynamoPids().length > 0 && Date.now() < deadline) await sleep(100);
  return dynamoPids();
}

interface Started {
  child: ChildProcess;
  output: () => string;
  info: LocalStackInfo;
}

type Ports = { api: number; s3: number; dynamo: number };

/** `npm start` as a terminal runs it: its own process group, so a Ctrl-C can be sent to the whole group. */
function spawnStart(ports: Ports, dir = dataDir): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
    cwd: repo,
    env: { ...process.env, DATA_DIR: dir, PORT: String(ports.api), S3_PORT: String(ports.s3), DYNAMODB_PORT: String(ports.dynamo) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  return { child, output: () => out };
}

async function npmStart(ports: Ports): Promise<Started> {
  const { child, output } = spawnStart(ports);
  const out = () => output();
  const deadline = Date.now() + 60_000;
  while (!out().includes('local stack is up')) {
    if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${out()}`);
    if (Date.now() > deadline) throw new Error(`npm start did not come up:\n${out()}`);
    await sleep(100);
  }
  const info = JSON.parse(readFileSync(join(dataDir, 'local-stack.json'), 'utf8')) as LocalStackInfo;
  return { child, output: out, info };
}

/** A plain S3 client on the stack's s3rver, as local-stack.json describes it. */
function s3Of(info: LocalStackInfo): S3Client {
  return new S3Client({
    endpoint: info.s3Endpoint,
    region: info.region,
    forcePathStyle: true,
    credentials: { accessKeyId: info.s3AccessKeyId, secretAccessKey: info.s3SecretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
}

/** Ctrl-C in a terminal: SIGINT to every process of the foreground group. */
function ctrlC(child: ChildProcess): void {
  process.kill(-child.pid!, 'SIGINT');
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

async function traceCount(info: LocalStackInfo, dynamoPort: number): Promise<number> {
  const ddb = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${dynamoPort}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
  });
  let count = 0;
  for (const shard of allShards(TRACE_SHARDS)) {
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await ddb.send(
        new QueryCommand({
          TableName: 'trace-ingest-local',
          IndexName: 'gsi4',
          KeyConditionExpression: 'gsi4pk = :p',
          ExpressionAttributeValues: { ':p': { S: traceIndex.all(info.organizationId, info.projectId, shard) } },
          Select: 'COUNT',
          ExclusiveStartKey: start,
        }),
      );
      count += out.Count ?? 0;
      start = out.LastEvaluatedKey;
    } while (start);
  }
  ddb.destroy();
  return count;
}

describe('npm start', () => {
  let ports: { api: number; s3: number; dynamo: number };
  let first: Started;

  it('serves the stack, writes local-stack.json and prints it in a banner', async () => {
    ports = { api: await freePort(), s3: await freePort(), dynamo: await freePort() };
    first = await npmStart(ports);
    expect(first.info.apiUrl).toBe(`http://127.0.0.1:${ports.api}`);
    expect(first.info.s3Endpoint).toBe(`http://127.0.0.1:${ports.s3}`);
    expect(first.output()).toContain(first.info.apiKey);
    expect(first.output()).toContain(first.info.dropPrefix);
    expect(first.output()).toContain(`OTEL_EXPORTER_OTLP_ENDPOINT=${first.info.apiUrl}/otel`);
    const res = await fetch(`${first.info.apiUrl}/api/v1/organizations`, { headers: { 'x-api-key': first.info.apiKey } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { data: { id: string } }).data.id).toBe(first.info.organizationId);
  }, 90_000);

  it('ingests a file dropped with a plain S3 client within seconds', async () => {
    const s3 = s3Of(first.info);
    const body = fixture('chat-traces.jsonl');
    await s3.send(new PutObjectCommand({ Bucket: first.info.bucket, Key: `${first.info.dropPrefix}chat-traces.jsonl`, Body: body }));
    const deadline = Date.now() + 15_000;
    while ((await traceCount(first.info, ports.dynamo)) < 20 && Date.now() < deadline) await sleep(200);
    expect(await traceCount(first.info, ports.dynamo)).toBe(20);
  }, 30_000);

  it('a second start on the same DATA_DIR refuses at once, naming the running stack; a taken port names its variable; the running stack is untouched', async () => {
    const otherPorts = { api: await freePort(), s3: await freePort(), dynamo: await freePort() };
    const second = spawnStart(otherPorts);
    expect(await exited(second.child)).not.toBe(0);
    expect(second.output()).toContain(
      `already running on ${dataDir} (pid ${first.child.pid}; API port ${ports.api}, S3 port ${ports.s3}, DynamoDB port ${ports.dynamo}`,
    );

    const elsewhere = mkdtempSync(join(tmpdir(), 'trace-ingest-start-other-'));
    try {
      const taken = spawnStart({ ...otherPorts, api: ports.api }, elsewhere);
      expect(await exited(taken.child)).not.toBe(0);
      expect(taken.output()).toContain(`port ${ports.api}, for the API, is taken by another process`);
      expect(taken.output()).toContain('Set PORT to another port');
      expect(taken.output()).not.toContain('    at '); // no stack trace
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }

    // Neither touched the running stack: its database answers, with its data.
    const res = await fetch(`${first.info.apiUrl}/api/v1/organizations`, { headers: { 'x-api-key': first.info.apiKey } });
    expect(res.status).toBe(200);
    expect(await traceCount(first.info, ports.dynamo)).toBe(20);
    expect(dynamoPids()).toHaveLength(1);
  }, 60_000);

  it('stops cleanly on SIGTERM, leaving no Java process behind', async () => {
    expect(dynamoPids()).toHaveLength(1);
    first.child.kill('SIGTERM');
    expect(await exited(first.child)).toBe(0);
    expect(dynamoPids()).toEqual([]);
  }, 30_000);

  it('keeps its state across a restart: same key, same tenant, same traces', async () => {
    const again = await npmStart(ports);
    expect(again.info).toEqual(first.info);
    expect(await traceCount(again.info, ports.dynamo)).toBe(20);
    const res = await fetch(`${again.info.apiUrl}/api/v1/organizations`, { headers: { 'x-api-key': again.info.apiKey } });
    expect(res.status).toBe(200);
    again.child.kill('SIGINT');
    expect(await exited(again.child)).toBe(0);
    expect(dynamoPids()).toEqual([]);
  }, 90_000);

  it('Ctrl-C during an ingest stops cleanly (the lease released): after a restart the file finishes promptly, with no error lines', async () => {
    const stopped = await npmStart(ports);
    const s3 = s3Of(stopped.info);
    const lines = Array.from({ length: LONG }, (_, i) => JSON.stringify({ input: `question ${i}`, output: `answer ${i}` })).join('\n');
    await s3.send(new PutObjectCommand({ Bucket: stopped.info.bucket, Key: `${stopped.info.dropPrefix}long.jsonl`, Body: lines }));
    s3.destroy();
    // Stop it part way (on tmpfs DynamoDB Local writes thousands of traces a second: the file is long enough to be caught).
    for (let deadline = Date.now() + 30_000; (await traceCount(stopped.info, ports.dynamo)) < 120 && Date.now() < deadline; )
      await sleep(10);
    expect(await traceCount(stopped.info, ports.dynamo)).toBeLessThan(20 + LONG);
    ctrlC(stopped.child);
    expect(await exited(stopped.child)).toBe(0);
    expect(stopped.output()).not.toContain('"level":"error"');
    expect(await noJavaWithin()).toEqual([]);

    const restarted = await npmStart(ports);
    onTestFinished(async () => {
      if (restarted.child.exitCode === null) restarted.child.kill('SIGTERM');
      await exited(restarted.child);
    });
    // The journaled message is delivered at once; had the stop left its lease (60 s), that delivery would find it held.
    for (let deadline = Date.now() + 90_000; (await traceCount(restarted.info, ports.dynamo)) < 20 + LONG && Date.now() < deadline; )
      await sleep(200);
    expect(await traceCount(restarted.info, ports.dynamo), restarted.output()).toBe(20 + LONG);
    expect(restarted.output()).not.toContain('another worker holds the lease');
    expect(restarted.output()).not.toContain('"level":"error"');
    restarted.child.kill('SIGTERM');
    expect(await exited(restarted.child)).toBe(0);
  }, 180_000);

  it('killed outright, it leaves no Java behind, and the next start takes the data directory over', async () => {
    const third = await npmStart(ports);
    third.child.kill('SIGKILL');
    await exited(third.child);
    expect(await noJavaWithin()).toEqual([]);
    const fourth = await npmStart(ports);
    expect(await traceCount(fourth.info, ports.dynamo)).toBe(20 + LONG);
    fourth.child.kill('SIGTERM');
    expect(await exited(fourth.child)).toBe(0);
    expect(dynamoPids()).toEqual([]);
  }, 120_000);
});
