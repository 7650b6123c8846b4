import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, QueryCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { allShards, TRACE_SHARDS, traceIndex } from '../../functions/adapters/dynamo/keys.js';
import { freePort } from '../../local/ports.js';
import type { LocalStackInfo } from '../../local/stack.js';

const repo = new URL('../../', import.meta.url).pathname;
const dataDir = mkdtempSync(join(tmpdir(), 'trace-ingest-start-'));
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const pid of dynamoPids()) process.kill(pid, 'SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Pids of DynamoDB Local processes whose database lives in this test's data dir. */
function dynamoPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes('DynamoDBLocal') && cmd.includes(dataDir)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

interface Started {
  child: ChildProcess;
  output: () => string;
  info: LocalStackInfo;
}

async function npmStart(ports: { api: number; s3: number; dynamo: number }): Promise<Started> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts'], {
    cwd: repo,
    env: { ...process.env, DATA_DIR: dataDir, PORT: String(ports.api), S3_PORT: String(ports.s3), DYNAMODB_PORT: String(ports.dynamo) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 60_000;
  while (!out.includes('local stack is up')) {
    if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${out}`);
    if (Date.now() > deadline) throw new Error(`npm start did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const info = JSON.parse(readFileSync(join(dataDir, 'local-stack.json'), 'utf8')) as LocalStackInfo;
  return { child, output: () => out, info };
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

async function traceCount(info: LocalStackInfo, dynamoPort: number): Promise<number> {
  const ddb = new DynamoDBClient({ endpoint: `http://127.0.0.1:${dynamoPort}`, region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'x' } });
  let count = 0;
  for (const shard of allShards(TRACE_SHARDS)) {
    const out = await ddb.send(
      new QueryCommand({
        TableName: 'trace-ingest-local',
        IndexName: 'gsi4',
        KeyConditionExpression: 'gsi4pk = :p',
        ExpressionAttributeValues: { ':p': { S: traceIndex.all(info.organizationId, info.projectId, shard) } },
        Select: 'COUNT',
      }),
    );
    count += out.Count ?? 0;
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
    const s3 = new S3Client({
      endpoint: first.info.s3Endpoint,
      region: first.info.region,
      forcePathStyle: true,
      credentials: { accessKeyId: first.info.s3AccessKeyId, secretAccessKey: first.info.s3SecretAccessKey },
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    const body = readFileSync(new URL('../../../shared/fixtures/chat-traces.jsonl', import.meta.url));
    await s3.send(new PutObjectCommand({ Bucket: first.info.bucket, Key: `${first.info.dropPrefix}chat-traces.jsonl`, Body: body }));
    const deadline = Date.now() + 15_000;
    while ((await traceCount(first.info, ports.dynamo)) < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await traceCount(first.info, ports.dynamo)).toBe(20);
  }, 30_000);

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

  it('recovers after being killed outright: the orphaned DynamoDB Local is ended on the next start', async () => {
    const third = await npmStart(ports);
    third.child.kill('SIGKILL');
    await exited(third.child);
    expect(dynamoPids()).toHaveLength(1); // the orphan
    const fourth = await npmStart(ports);
    expect(await traceCount(fourth.info, ports.dynamo)).toBe(20);
    fourth.child.kill('SIGTERM');
    expect(await exited(fourth.child)).toBe(0);
    expect(dynamoPids()).toEqual([]);
  }, 120_000);
});
