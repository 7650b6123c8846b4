/**
 * The ingest under the AWS capacity model (test/support/capacity-model.ts): DynamoDB Local has
 * none of DynamoDB's per-partition limits, so these figures are modeled from what the model
 * records (units per partition key value, calls), not read off the clock: the time AWS would need
 * is the larger of the hottest partition's units over its per-second limit and the callers' round
 * trips at their concurrency. Wall-clock times on this machine are printed beside them, labelled.
 */
import { join } from 'node:path';
import { newDynamoClient } from '../functions/adapters/clients.js';
import { traceItem } from '../functions/adapters/dynamo/trace-writer.js';
import { INDEXES, TABLE_PARTITION_KEY, TABLE_SORT_KEY } from '../functions/adapters/dynamo/schema.js';
import { DynamoSpanStore } from '../functions/adapters/dynamo/span-store.js';
import { newDocumentClient } from '../functions/adapters/clients.js';
import { createApiKey } from '../functions/domain/tenancy.js';
import { buildTrace, storedTrace } from '../functions/domain/trace.js';
import { recordTraceLog } from '../functions/domain/parea/index.js';
import { config } from '../functions/shared/config.js';
import { tenantStore } from '../functions/shared/services.js';
import type { LocalStack } from '../local/stack.js';
import { modeledSeconds, startCapacityModel, type CapacityModel, type CapacityReport } from '../test/support/capacity-model.js';
import { indexEntry, indexEntrySize, itemSize, type TableShape, type WireItem } from '../test/support/item-size.js';
import { record, writeJsonl } from './generate.js';
import { bundleWorker, putFile, runWorker } from './ingest.js';
import { randomForest } from './parea.js';
import { DOLLARS_PER_GB_MONTH, DOLLARS_PER_MILLION_WRITE_UNITS, PRICES_AS_OF } from './prices.js';
import { round } from './stats.js';

const MiB = 1024 * 1024;

export interface AwsFigures {
  [k: string]: number | string;
}

function summary(model: CapacityModel, r: CapacityReport, units: number, concurrency: number) {
  const m = modeledSeconds(model, r, concurrency);
  return {
    seconds: m.seconds,
    partitionSeconds: m.partitionSeconds,
    roundTripSeconds: m.roundTripSeconds,
    perSecond: units / m.seconds,
    wcuPer: r.wcu / units,
    hottest: r.hottestWrite
      ? `${r.hottestWrite.where} ${r.hottestWrite.key.replace(/#[0-9a-f-]{36}/g, '#…')} (${round(r.hottestWrite.wcu, 0)} WCU)`
      : '-',
    throttled: r.throttledRequests + r.throttledItems,
  };
}

/** Bytes one trace keeps in DynamoDB (its item and its index entries) for the bench's ~1 KB records. */
function storedBytesPerTrace(): { item: number; indexes: number } {
  const shape: TableShape = {
    partitionKey: TABLE_PARTITION_KEY,
    sortKey: TABLE_SORT_KEY,
    indexes: INDEXES.map((i) => ({ name: i.name, partitionKey: i.partitionKey, sortKey: i.sortKey, projection: i.projection })),
  };
  let item = 0;
  let indexes = 0;
  const n = 200;
  for (let i = 0; i < n; i++) {
    const raw = record(i);
    const t = buildTrace(
      {
        organizationId: '00000000-0000-4000-8000-000000000001',
        projectId: '00000000-0000-4000-8000-000000000002',
        objectKey: 'drop/o/p/bench.jsonl',
        filename: 'bench.jsonl',
        defaultSource: 's3',
        createdAt: new Date().toISOString(),
        uploadId: '00000000-0000-8000-8000-000000000003',
      },
      { kind: 'record', position: i + 1, raw, value: JSON.parse(raw) as Record<string, unknown> },
    );
    const wire = JSON.parse(
      JSON.stringify(traceItem(storedTrace(t).stored), (_k, v: unknown) =>
        v instanceof Uint8Array ? Buffer.from(v).toString('base64') : v,
      ),
    ) as WireItem;
    item += itemSize(wire);
    for (const index of shape.indexes) {
      const e = indexEntry(shape, index, wire);
      if (e) indexes += indexEntrySize(e);
    }
  }
  return { item: item / n, indexes: indexes / n };
}

export async function awsBench(stack: LocalStack, workDir: string, log: (s: string) => void): Promise<AwsFigures> {
  const fileMb = Number(process.env.BENCH_FILE_MB ?? 50);
  const file = join(workDir, 'bench-aws.jsonl');
  const info = await writeJsonl(file, fileMb * MiB - 64 * 1024);
  const endpoint = await stack.dynamo.config.endpoint!();
  const target = `http://${endpoint.hostname}:${endpoint.port}`;
  const worker = await bundleWorker(workDir, 'ingest-worker');
  const naiveWorker = await bundleWorker(workDir, 'naive-worker');
  const concurrency = config().INGEST_WRITE_CONCURRENCY;
  const figures: AwsFigures = {};

  // One file into one project, round trips waited out.
  const model = await startCapacityModel({ target, tableName: stack.table });
  try {
    const one = await runWorker(worker, [await putFile(stack, `${stack.info.dropPrefix}bench-aws/one/big.jsonl`, file)], {
      AWS_ENDPOINT_URL_DYNAMODB: model.endpoint,
    });
    const r = model.report();
    const s = summary(model, r, info.records, concurrency);
    log(
      `one ${round(info.bytes / MiB)} MiB file (${info.records} traces) under the model: ${round(one.ms / 1000, 1)} s wall clock, ${round(s.seconds, 2)} s modeled (partitions ${round(s.partitionSeconds, 2)} s, round trips ${round(s.roundTripSeconds, 2)} s), ${r.totalCalls} calls, hottest ${s.hottest}, ${s.throttled} throttled`,
    );
    Object.assign(figures, {
      aws_ingest_traces_per_s: round(s.perSecond, 0),
      aws_ingest_modeled_s: round(s.seconds, 2),
      aws_ingest_partition_s: round(s.partitionSeconds, 2),
      aws_ingest_round_trip_s: round(s.roundTripSeconds, 2),
      aws_ingest_wall_s: round(one.ms / 1000, 1),
      aws_ingest_calls: r.totalCalls,
      aws_ingest_hottest: s.hottest,
      aws_ingest_throttled: s.throttled,
      aws_ingest_worker_cpu_s: round(one.cpuMs / 1000, 2),
      aws_ingest_cpu_bound_traces_per_s: round(info.records / (one.cpuMs / 1000), 0),
      wcu_per_trace: round(s.wcuPer, 3),
      dollars_per_million_traces: round(s.wcuPer * DOLLARS_PER_MILLION_WRITE_UNITS, 3),
      prices_as_of: PRICES_AS_OF,
    });

    // Five such files at once into the same project.
    model.reset();
    const keys = await Promise.all(
      Array.from({ length: 5 }, (_, i) => putFile(stack, `${stack.info.dropPrefix}bench-aws/five-${i}/big.jsonl`, file)),
    );
    const started = performance.now();
    await Promise.all(keys.map((k) => runWorker(worker, [k], { AWS_ENDPOINT_URL_DYNAMODB: model.endpoint })));
    const wall5 = performance.now() - started;
    const r5 = model.report();
    const s5 = summary(model, r5, info.records * 5, concurrency * 5);
    log(
      `five files at once into one project: ${round(wall5 / 1000, 1)} s wall clock, ${round(s5.seconds, 2)} s modeled (partitions ${round(s5.partitionSeconds, 2)} s, round trips ${round(s5.roundTripSeconds, 2)} s), hottest ${s5.hottest}, ${s5.throttled} throttled`,
    );
    Object.assign(figures, {
      aws_ingest_5_files_traces_per_s: round(s5.perSecond, 0),
      aws_ingest_5_files_modeled_s: round(s5.seconds, 2),
      aws_ingest_5_files_wall_s: round(wall5 / 1000, 1),
      aws_ingest_5_files_throttled: s5.throttled,
    });
  } finally {
    await model.close();
  }

  // The naive loop on the same file, under the same model: its round trips are counted, not waited
  // out (about 53,000 of them in sequence would take minutes more here).
  const naiveModel = await startCapacityModel({ target, tableName: stack.table, injectRoundTrip: false });
  try {
    const nv = await runWorker(naiveWorker, [stack.info.bucket, `${stack.info.dropPrefix}bench-aws/one/big.jsonl`, 'bench-naive-aws'], {
      AWS_ENDPOINT_URL_DYNAMODB: naiveModel.endpoint,
    });
    const r = naiveModel.report();
    const s = summary(naiveModel, r, info.records, 1);
    log(
      `naive loop under the model: ${round(nv.ms / 1000, 1)} s wall clock (round trips not waited), ${round(s.seconds, 1)} s modeled (${r.totalCalls} calls in sequence)`,
    );
    Object.assign(figures, {
      naive_aws_modeled_s: round(s.seconds, 1),
      naive_aws_calls: r.totalCalls,
      naive_aws_wcu_per_trace: round(s.wcuPer, 3),
      naive_speedup_aws: round(s.seconds / Number(figures.aws_ingest_modeled_s), 1),
    });
  } finally {
    await naiveModel.close();
  }

  // An experiment of 100,000 spans posted (POST /trace_log's use case, 64 at a time, as SDKs post them).
  const spans = Number(process.env.BENCH_SPANS ?? 100_000);
  const spanModel = await startCapacityModel({ target, tableName: stack.table });
  try {
    const tenant = await createApiKey(tenantStore(), { organization: 'bench-aws-spans', project: 'p' });
    const client = newDynamoClient(spanModel.endpoint);
    const deps = { store: new DynamoSpanStore(newDocumentClient(client), stack.table) };
    const forest = randomForest(spans, 7, 'exp-bench-aws');
    const started = performance.now();
    let next = 0;
    const posters = 64;
    await Promise.all(
      Array.from({ length: posters }, async () => {
        while (next < forest.length) await recordTraceLog(deps, tenant, forest[next++]!);
      }),
    );
    const wall = performance.now() - started;
    client.destroy();
    const r = spanModel.report();
    const s = summary(spanModel, r, spans, posters);
    log(
      `${spans} spans of one experiment posted under the model: ${round(wall / 1000, 1)} s wall clock, ${round(s.seconds, 2)} s modeled (partitions ${round(s.partitionSeconds, 2)} s, round trips ${round(s.roundTripSeconds, 2)} s), hottest ${s.hottest}, ${round(s.wcuPer, 2)} WCU per span`,
    );
    Object.assign(figures, {
      aws_spans_posted: spans,
      aws_spans_per_s: round(s.perSecond, 0),
      aws_spans_modeled_s: round(s.seconds, 2),
      aws_spans_wall_s: round(wall / 1000, 1),
      wcu_per_span: round(s.wcuPer, 2),
    });
  } finally {
    await spanModel.close();
  }

  const stored = storedBytesPerTrace();
  Object.assign(figures, {
    stored_bytes_per_trace: round(stored.item + stored.indexes, 0),
    stored_item_bytes_per_trace: round(stored.item, 0),
    dollars_per_million_traces_stored_month: round(((stored.item + stored.indexes) * 1e6 * DOLLARS_PER_GB_MONTH) / 1024 ** 3, 3),
  });
  return figures;
}
