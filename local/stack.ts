import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { createApiKey, hashApiKey } from '../functions/domain/tenancy.js';
import { INGEST_BATCH_SIZE, MAX_RECEIVE_COUNT } from '../lib/ingest-delivery.js';
import { makeSqsIngestHandler } from '../functions/handlers/ingest.js';
import { ingestDeps, retentionDeps, tenantStore, useJobQueue } from '../functions/shared/services.js';
import { searchJobDeps } from '../functions/shared/search-aware-traces.js';
import { makeJobWorker } from '../functions/handlers/jobWorker.js';
import type { JobDeps } from '../functions/domain/jobs.js';
import { config } from '../functions/shared/config.js';
import { sweepExpired } from '../functions/domain/retention.js';
import { startApiServer } from './api-server.js';
import { claimDataDir } from './data-dir-lock.js';
import { ensureTable, startDynamoDbLocal, type DynamoDbLocal } from './dynamodb.js';
import { assertPortsFree, isAddressInUse, PortTakenError, type LocalService } from './ports.js';
import { LocalQueue } from './queue.js';
import { toS3Notification } from './s3-bridge.js';
import { reconcile } from './reconcile.js';
import { startLocalS3, type RawS3Event } from './s3.js';
import { startLocalIndexer } from './search-indexer.js';

/** What `<DATA_DIR>/local-stack.json` holds: how tests, the CLI and SDKs reach the local stack. */
export interface LocalStackInfo {
  apiUrl: string;
  s3Endpoint: string;
  /** DynamoDB Local (the keys command works on its table). */
  dynamodbEndpoint: string;
  table: string;
  bucket: string;
  region: string;
  s3AccessKeyId: string;
  s3SecretAccessKey: string;
  apiKey: string;
  organizationId: string;
  projectId: string;
  dropPrefix: string;
}

export interface LocalStackOptions {
  dataDir: string;
  apiPort: number;
  s3Port: number;
  dynamoPort: number;
  bucket?: string;
  table?: string;
  region?: string;
  /** Keep DynamoDB's data on disk under dataDir (default) or in memory. */
  persistDynamo?: boolean;
  /**
   * A DynamoDB Local already running (the tests share one per worker, each file with a table of its own):
   * used as it is, neither started nor stopped by this stack; dynamoPort and persistDynamo go unused.
   */
  dynamoEndpoint?: string;
  maxReceiveCount?: number;
  retryDelayMs?: (receiveCount: number) => number;
  leaseMs?: number;
  /** Overrides of the job worker's dependencies (tests: a small part size, a fault that stands for a crash). */
  jobs?: Partial<JobDeps>;
  /** With RETENTION_DAYS set: how often the retention sweep runs (default hourly, as on AWS; the first run at start). */
  retentionSweepMs?: number;
  /** Turn s3rver's events into queue messages (default). Tests switch it off to deliver events themselves. */
  notifications?: boolean;
  /** How often the in-process search indexer looks for work (ms; default 1,000); 0: never on its own (tests drain it). */
  searchIndexerIntervalMs?: number;
  log?: (line: string) => void;
}

export interface LocalStack {
  info: LocalStackInfo;
  table: string;
  queue: LocalQueue;
  /** The export and delete-by-filter jobs' queue. */
  jobQueue: LocalQueue;
  s3: S3Client;
  dynamo: DynamoDBClient;
  /** Resolves when every S3 event seen so far has been ingested (or dead-lettered). */
  settled(): Promise<void>;
  /** Resolves when the search indexer has done all the work recorded so far. */
  searchIndexed(): Promise<void>;
  /** Turns the bucket's notifications on or off from now on (tests deliver events themselves, then let the bucket do it). */
  setNotifications(on: boolean): void;
  /** Stops DynamoDB Local and starts it again on the same port (with persistDynamo, on the same data). */
  restartDynamo(): Promise<void>;
  stop(): Promise<void>;
}

/** s3rver accepts this key pair only. */
const S3_KEY = 'S3RVER';

/**
 * Starts the whole pipeline on this machine: DynamoDB Local, s3rver, the
 * bucket's notifications into a local queue, the ingest handler consuming
 * it, and the API server, all running the same handler code as AWS.
 */
export async function startLocalStack(o: LocalStackOptions): Promise<LocalStack> {
  const dataDir = resolve(o.dataDir);
  const bucket = o.bucket ?? 'trace-ingest-local';
  const table = o.table ?? 'trace-ingest-local';
  const region = o.region ?? 'us-east-1';
  const log = o.log ?? (() => {});
  mkdirSync(dataDir, { recursive: true });
  const dynamoPort = o.dynamoEndpoint ? Number(new URL(o.dynamoEndpoint).port) : o.dynamoPort;
  // A DynamoDB Local of someone else's listens on its port already (0: not checked).
  const ports: Record<LocalService, number> = { api: o.apiPort, s3: o.s3Port, dynamodb: o.dynamoEndpoint ? 0 : o.dynamoPort };
  // First of all, and touching nothing when refused: one stack per data directory, then every port free.
  const lock = claimDataDir(dataDir, { apiPort: o.apiPort, s3Port: o.s3Port, dynamoPort });

  const stops: Array<() => Promise<void>> = [async () => lock.release()];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((e: unknown) => log(`stop failed: ${String(e)}`));
  };
  /** A server that could not listen because its port was taken meanwhile says which. */
  const named = (service: LocalService) => (err: unknown) => {
    throw isAddressInUse(err) && !(err instanceof PortTakenError) ? new PortTakenError(service, ports[service]) : err;
  };
  try {
    await assertPortsFree(ports);
    const startDynamo = (): Promise<Pick<DynamoDbLocal, 'endpoint' | 'stop'>> =>
      o.dynamoEndpoint
        ? Promise.resolve({ endpoint: o.dynamoEndpoint, stop: async () => {} })
        : startDynamoDbLocal({ port: o.dynamoPort, dir: o.persistDynamo === false ? null : join(dataDir, 'dynamodb') });
    // Both at once; when one fails the other is stopped too (a started Java must never be left running).
    const [dynamoStart, s3Start] = await Promise.allSettled([
      startDynamo(),
      startLocalS3({ port: o.s3Port, dir: join(dataDir, 's3'), bucket }).catch(named('s3')),
    ]);
    if (dynamoStart.status === 'rejected') {
      if (s3Start.status === 'fulfilled') await s3Start.value.stop();
      throw dynamoStart.reason;
    }
    let ddb = dynamoStart.value;
    stops.push(() => ddb.stop());
    if (s3Start.status === 'rejected') throw s3Start.reason;
    const s3Local = s3Start.value;
    stops.push(s3Local.stop);

    // The handlers read their environment exactly as on Lambda.
    Object.assign(process.env, {
      TABLE_NAME: table,
      BUCKET_NAME: bucket,
      AWS_REGION: region,
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_ENDPOINT_URL_S3: s3Local.endpoint,
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: S3_KEY,
      AWS_SECRET_ACCESS_KEY: S3_KEY,
      MAX_RECEIVE_COUNT: String(o.maxReceiveCount ?? MAX_RECEIVE_COUNT),
      // One process serves every request here: refuse a revoked key at once.
      AUTHORIZER_CACHE_TTL_MS: '0',
      // The full-text index, embedded: a LanceDB directory beside the other local state.
      SEARCH_INDEX_URI: join(dataDir, 'search'),
    });
    const credentials = { accessKeyId: S3_KEY, secretAccessKey: S3_KEY };
    const dynamo = new DynamoDBClient({ region, endpoint: ddb.endpoint, credentials });
    const s3 = new S3Client({
      region,
      endpoint: s3Local.endpoint,
      forcePathStyle: true,
      credentials,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
    await ensureTable(dynamo, table, log);

    const tenant = await ensureDefaultTenant(join(dataDir, 'local-stack.json'));

    const reasons = new Map<string, string>();
    // Stopping aborts ingests in flight: each releases its lease and its message stays journaled for the next start.
    const stopping = new AbortController();
    const consumer = makeSqsIngestHandler({
      deps: () => ({ ...ingestDeps(), signal: stopping.signal, ...(o.leaseMs ? { leaseMs: o.leaseMs } : {}) }),
      maxReceiveCount: () => o.maxReceiveCount ?? MAX_RECEIVE_COUNT,
      onMessageFailure: (id, reason) => reasons.set(id, reason),
    });
    const queue = new LocalQueue({
      dir: join(dataDir, 'queue'),
      consumer,
      // As the deployed event source: up to its batch size per invocation, so the multi-record path runs here too.
      batchSize: INGEST_BATCH_SIZE,
      maxReceiveCount: o.maxReceiveCount ?? MAX_RECEIVE_COUNT,
      ...(o.retryDelayMs ? { retryDelayMs: o.retryDelayMs } : {}),
      reasonFor: (id) => reasons.get(id),
    });
    stops.push(async () => {
      stopping.abort();
      await queue.stop();
    });

    let bridging = Promise.resolve();
    const bridge = (raw: RawS3Event) => {
      // Chained so notifications reach the queue in the order S3 made them.
      bridging = bridging.then(async () => {
        try {
          const body = await toS3Notification(raw, s3, region);
          if (body) queue.send(body);
        } catch (err) {
          log(`[s3] could not turn an event into a notification: ${String(err)}`);
        }
      });
      return bridging;
    };
    let notifying = o.notifications !== false;
    s3Local.onEvent((raw) => {
      if (notifying) void bridge(raw);
    });
    if (notifying) {
      const queued = await reconcile({
        s3,
        bucket,
        retentionDays: config().RETENTION_DAYS,
        uploads: ingestDeps().uploads,
        notify: (key, eventTime) =>
          bridge({ Records: [{ eventName: 'ObjectCreated:Put', eventTime, s3: { bucket: { name: bucket }, object: { key } } }] }),
      });
      if (queued.length) log(`[s3] ${queued.length} stored object(s) had no upload record; queued for ingestion`);
    }

    // Export and delete-by-filter jobs: the same worker handler on a queue of their own, as on AWS.
    const jobWorker = makeJobWorker({
      deps: () => ({ ...searchJobDeps(), ...(o.jobs ?? {}) }),
      maxReceiveCount: () => o.maxReceiveCount ?? MAX_RECEIVE_COUNT,
    });
    const jobQueue = new LocalQueue({
      dir: join(dataDir, 'job-queue'),
      consumer: jobWorker,
      maxReceiveCount: o.maxReceiveCount ?? MAX_RECEIVE_COUNT,
      ...(o.retryDelayMs ? { retryDelayMs: o.retryDelayMs } : {}),
    });
    useJobQueue({ send: async (m) => void jobQueue.send(JSON.stringify(m)) });
    stops.push(() => jobQueue.stop());

    // The search indexer: on AWS its own function started by the table's stream; here a job in this process.
    const indexer = startLocalIndexer({
      intervalMs: o.searchIndexerIntervalMs === 0 ? 2 ** 31 - 1 : (o.searchIndexerIntervalMs ?? 1_000),
      log,
    });
    stops.push(indexer.stop);

    const api = await startApiServer({ port: o.apiPort }).catch(named('api'));
    stops.push(api.stop);
    lock.update({ apiPort: Number(new URL(api.url).port), s3Port: Number(new URL(s3Local.endpoint).port), dynamoPort });

    // Retention locally as on AWS: with RETENTION_DAYS, items carry their TTL and the sweep runs on a schedule.
    const retentionDays = config().RETENTION_DAYS;
    if (retentionDays !== undefined) {
      let sweeping: Promise<void> = Promise.resolve();
      const sweep = () => {
        sweeping = sweeping.then(async () => {
          const r = await sweepExpired(retentionDeps(), { retentionDays, now: new Date() }).catch((err: unknown) => {
            log(`[retention] sweep failed: ${String(err)}`);
            return null;
          });
          if (r && r.deleted > 0) log(`[retention] deleted ${r.deleted} trace(s) older than ${retentionDays} days`);
        });
      };
      sweep();
      const timer = setInterval(sweep, o.retentionSweepMs ?? 3_600_000);
      timer.unref();
      stops.push(async () => {
        clearInterval(timer);
        await sweeping;
      });
    }

    const info: LocalStackInfo = {
      apiUrl: api.url,
      s3Endpoint: s3Local.endpoint,
      dynamodbEndpoint: ddb.endpoint,
      table,
      bucket,
      region,
      s3AccessKeyId: S3_KEY,
      s3SecretAccessKey: S3_KEY,
      apiKey: tenant.apiKey,
      organizationId: tenant.organizationId,
      projectId: tenant.projectId,
      dropPrefix: `drop/${tenant.organizationId}/${tenant.projectId}/`,
    };
    writeFileSync(join(dataDir, 'local-stack.json'), `${JSON.stringify(info, null, 2)}\n`);

    return {
      info,
      table,
      queue,
      jobQueue,
      s3,
      dynamo,
      settled: async () => {
        await bridging;
        await queue.idle();
        await jobQueue.idle();
      },
      searchIndexed: () => indexer.drain(),
      setNotifications: (on) => {
        notifying = on;
      },
      restartDynamo: async () => {
        if (o.dynamoEndpoint) throw new Error('restartDynamo: this stack uses a DynamoDB Local it did not start');
        await ddb.stop();
        ddb = await startDynamo();
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The default organization, project and API key: created on first start, reused after. */
async function ensureDefaultTenant(infoFile: string): Promise<{ apiKey: string; organizationId: string; projectId: string }> {
  const store = tenantStore();
  if (existsSync(infoFile)) {
    try {
      const previous = JSON.parse(readFileSync(infoFile, 'utf8')) as Partial<LocalStackInfo>;
      if (previous.apiKey) {
        const tenant = await store.resolveApiKey(hashApiKey(previous.apiKey));
        if (tenant) return { apiKey: previous.apiKey, ...tenant };
      }
    } catch {
      // unreadable: make a new key below
    }
  }
  return createApiKey(store, { organization: 'default', project: 'default' });
}
