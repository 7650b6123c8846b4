/**
 * The `trace-ingest` command line built once with the project's esbuild, for tests that run it as a
 * child process many times: the bin shim (cli/trace-ingest.mjs) registers tsx, which transpiles the
 * CLI's module graph again in every process. The build is the same code (cli/trace-ingest.ts and what
 * it imports, bundled with its dependencies) started by a shim doing what the bin shim does after
 * registering tsx: import the entry and call its `run()`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface BuiltCli {
  /** The script to start with node (argv[1]), then the CLI's arguments. */
  script: string;
  remove(): void;
}

export async function buildCli(): Promise<BuiltCli> {
  const dir = mkdtempSync(join(tmpdir(), 'trace-ingest-cli-build-'));
  await build({
    entryPoints: [fileURLToPath(new URL('../../cli/trace-ingest.ts', import.meta.url))],
    outdir: dir,
    bundle: true,
    // keys and drop (and the AWS SDK they load) stay in chunks of their own, loaded only by their commands.
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Some CommonJS dependencies require Node's built-ins.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  // Not the entry itself: the modules that run when they are the started script (keys, migrate) must
  // not take the build for themselves, as they do not take the bin shim.
  const script = join(dir, 'shim.mjs');
  writeFileSync(script, "const { run } = await import('./trace-ingest.js');\nawait run();\n");
  return { script, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
