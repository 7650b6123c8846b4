/**
 * A command line (cli/*.ts) built once with the project's esbuild, for tests that run it as a child
 * process many times: run through tsx (the bin shim, `npm run keys`), each process transpiles the
 * command's module graph again. The build is the same code, bundled with its dependencies, started
 * as `node <script>` as tsx starts `cli/<name>.ts`: the module runs its command when it is the
 * started script (cli/entry.ts). What it loads only for some commands (keys, drop) stays in chunks
 * of its own, loaded by those commands alone; so a chunk never takes itself for the started script.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export interface BuiltCli {
  /** The script to start with node (argv[1]), then the command's arguments. */
  script: string;
  remove(): void;
}

/** Builds `cli/<name>.ts` (e.g. 'trace-ingest', 'keys') into a temp dir. */
export async function buildCli(name: string): Promise<BuiltCli> {
  const dir = mkdtempSync(join(tmpdir(), `trace-ingest-${name}-build-`));
  const entry = fileURLToPath(new URL(`../../cli/${name}.ts`, import.meta.url));
  await build({
    entryPoints: [entry],
    outdir: dir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Some CommonJS dependencies require Node's built-ins.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  return { script: join(dir, `${basename(entry, '.ts')}.js`), remove: () => rmSync(dir, { recursive: true, force: true }) };
}
