/**
 * The functions that load the search engine (LanceDB, a native module) and how they are bundled:
 * esbuild bundles our code as for every function, with LanceDB and Arrow left external; after
 * bundling, lib/search-engine-modules.mjs puts them (the lock file's versions) and LanceDB's native
 * module for Lambda's arm64 into the bundle's node_modules. No Docker: the native module is the
 * prebuilt npm package `@lancedb/lancedb-linux-arm64-gnu` (about 150 MB unpacked; Lambda allows 250).
 */
import type { BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { fileURLToPath } from 'node:url';
import { workerHandlers } from '../functions/routes.js';
import { BUNDLING } from './constructs/trace-function.js';

/** Left out of the bundle, shipped in its node_modules (one Arrow instance for LanceDB and us). */
export const SEARCH_ENGINE_MODULES = ['@lancedb/lancedb', 'apache-arrow'] as const;

/**
 * The functions that search (the traces list; an export, a deletion and its count, which take the list's
 * matches of a `search`) or index: the only ones that carry the engine.
 */
export const SEARCH_ENGINE_HANDLERS: readonly string[] = [
  'listTraces',
  'exportTraces',
  'createJob',
  workerHandlers.jobWorker,
  workerHandlers.searchIndexer,
];

/** LanceDB's build for the functions' architecture (lib/constructs/trace-function.ts: ARM_64). */
export const SEARCH_ENGINE_PLATFORM = 'linux-arm64-gnu';

const MODULES_SCRIPT = fileURLToPath(new URL('./search-engine-modules.mjs', import.meta.url));

export function searchEngineBundling(): BundlingOptions {
  return {
    ...BUNDLING,
    externalModules: [...SEARCH_ENGINE_MODULES],
    commandHooks: {
      beforeBundling: () => [],
      beforeInstall: () => [],
      afterBundling: (_inputDir: string, outputDir: string) => [`node "${MODULES_SCRIPT}" "${outputDir}" ${SEARCH_ENGINE_PLATFORM}`],
    },
  };
}
