/**
 * Lambda bundles: size and module initialisation time of every function.
 *
 * Each handler entry is bundled with esbuild's JS API and exactly the options
 * of the CDK functions (lib/constructs/trace-function.ts BUNDLING: ESM, node22,
 * minified, external source map without sources, the createRequire banner, the
 * AWS SDK bundled). Each bundle is then imported in fresh Node processes with
 * the function's own NODE_OPTIONS (source maps on, heap limit by memory) and
 * an environment without any of the functions' variables: importing a handler
 * must neither need its configuration nor touch the network (config is read on
 * the first call). Init time = the median of BENCH_INIT_RUNS (default 5)
 * processes of `await import(bundle)`; the process start itself is not counted.
 *
 * `npx tsx bench/lambda-init.ts` runs it alone; bench/run.ts calls lambdaInitBench.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { build, type BuildOptions } from 'esbuild';
import { BUNDLING } from '../lib/constructs/trace-function.js';
import { handlerEntry } from '../lib/layout.js';
import { nodeOptionsFor } from '../lib/node-options.js';
import { handlerNames, sizingFor } from '../lib/stateless-stack.js';
import { SEARCH_ENGINE_HANDLERS, searchEngineBundling } from '../lib/search-engine.js';
import { median, round } from './stats.js';

const run = promisify(execFile);

export const LAMBDA_INIT_TARGET_MS = 150;

export interface FunctionInitFigures {
  bundle_kb: number;
  init_ms: number;
  /** Every fresh-process sample, in run order. */
  init_ms_runs: number[];
}

export interface LambdaInitFigures {
  lambda_init_ms_max: number;
  lambda_bundle_kb_max: number;
  per_function: Record<string, FunctionInitFigures>;
}

/**
 * esbuild options equal to what NodejsFunction runs for BUNDLING (checked against it below); the
 * functions that carry the search engine leave it external (lib/search-engine.ts), as theirs do.
 */
export function esbuildOptionsFor(entry: string, outfile: string, external: readonly string[] = []): BuildOptions {
  if (BUNDLING.format !== 'esm' || !BUNDLING.bundleAwsSDK || BUNDLING.externalModules?.length || BUNDLING.nodeModules?.length) {
    throw new Error('lib/constructs/trace-function.ts BUNDLING changed: update bench/lambda-init.ts to bundle the same way');
  }
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: BUNDLING.target ?? 'node22',
    minify: BUNDLING.minify ?? false,
    sourcemap: BUNDLING.sourceMap ?? false,
    sourcesContent: BUNDLING.sourcesContent ?? true,
    ...(BUNDLING.mainFields ? { mainFields: [...BUNDLING.mainFields] } : {}),
    ...(BUNDLING.banner ? { banner: { js: BUNDLING.banner } } : {}),
    // bundleAwsSDK: nothing else external, the lock file's SDK goes into the bundle.
    external: [...external],
    logLevel: 'error',
  };
}

/**
 * Runs in a fresh process: watches for sockets and DNS look-ups, imports the
 * bundle, times the import, then lets pending callbacks run before reporting.
 */
const RUNNER = `
import net from 'node:net';
import dns from 'node:dns';
const io = [];
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) { io.push('socket'); return connect.apply(this, args); };
for (const name of ['lookup', 'resolve', 'resolve4', 'resolve6']) {
  const original = dns[name];
  dns[name] = (...args) => { io.push('dns.' + name); return original(...args); };
}
const started = performance.now();
const mod = await import(process.argv[2]);
const ms = performance.now() - started;
await new Promise((resolve) => setTimeout(resolve, 50));
console.log(JSON.stringify({ ms, io, handler: typeof mod.handler }));
`;

interface Sample {
  ms: number;
  io: string[];
  handler: string;
}

async function importOnce(runner: string, bundle: string, nodeOptions: string): Promise<Sample> {
  // No TABLE_NAME, BUCKET_NAME or AWS settings: an import that needs them fails here.
  const env = { PATH: process.env.PATH ?? '', NODE_OPTIONS: nodeOptions };
  const { stdout } = await run(process.execPath, [runner, pathToFileURL(bundle).href], { env, timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Sample;
}

export async function lambdaInitBench(
  log: (s: string) => void,
  runs = Number(process.env.BENCH_INIT_RUNS ?? 5),
): Promise<LambdaInitFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'trace-ingest-lambda-init-'));
  try {
    const names = handlerNames();
    const runner = join(dir, 'runner.mjs');
    writeFileSync(runner, RUNNER);

    log(`bundling ${names.length} handlers like the CDK functions (esm, ${BUNDLING.target}, minified, SDK bundled)`);
    const bundles = new Map<string, string>();
    for (const name of names) {
      const outfile = join(dir, name, 'index.mjs');
      mkdirSync(join(dir, name));
      await build(
        esbuildOptionsFor(handlerEntry(name), outfile, SEARCH_ENGINE_HANDLERS.includes(name) ? searchEngineBundling().externalModules : []),
      );
      bundles.set(name, outfile);
    }

    const perFunction: Record<string, FunctionInitFigures> = {};
    const problems: string[] = [];
    for (const name of names) {
      const bundle = bundles.get(name)!;
      const nodeOptions = nodeOptionsFor(sizingFor(name).memorySize);
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) {
        const sample = await importOnce(runner, bundle, nodeOptions);
        if (sample.handler !== 'function') problems.push(`${name}: the bundle exports no handler function`);
        if (sample.io.length > 0) problems.push(`${name}: network I/O at import (${[...new Set(sample.io)].join(', ')})`);
        samples.push(sample.ms);
      }
      perFunction[name] = {
        bundle_kb: round(statSync(bundle).size / 1024, 1),
        init_ms: round(median(samples), 1),
        init_ms_runs: samples.map((ms) => round(ms, 1)),
      };
    }
    for (const problem of new Set(problems)) log(`PROBLEM ${problem}`);

    const w = Math.max(...names.map((n) => n.length));
    log(`${'function'.padEnd(w)}  ${'bundle KB'.padStart(9)}  ${`init ms (median of ${runs})`}`);
    for (const name of names) {
      const f = perFunction[name]!;
      log(`${name.padEnd(w)}  ${f.bundle_kb.toFixed(1).padStart(9)}  ${f.init_ms.toFixed(1)}`);
    }
    const figures: LambdaInitFigures = {
      lambda_init_ms_max: Math.max(...Object.values(perFunction).map((f) => f.init_ms)),
      lambda_bundle_kb_max: Math.max(...Object.values(perFunction).map((f) => f.bundle_kb)),
      per_function: perFunction,
    };
    log(
      `lambda_init_ms_max ${figures.lambda_init_ms_max} (target <= ${LAMBDA_INIT_TARGET_MS}), lambda_bundle_kb_max ${figures.lambda_bundle_kb_max}`,
    );
    if (problems.length > 0) throw new Error(`lambda init bench: ${[...new Set(problems)].join('; ')}`);
    return figures;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const figures = await lambdaInitBench((s) => console.log(`[bench] ${s}`));
  console.log(JSON.stringify({ lambda_init_ms_max: figures.lambda_init_ms_max, lambda_bundle_kb_max: figures.lambda_bundle_kb_max }));
}
