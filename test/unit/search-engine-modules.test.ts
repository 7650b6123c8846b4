/**
 * The search engine's node_modules for a Lambda bundle (lib/search-engine-modules.mjs, the
 * after-bundling hook of the functions that load LanceDB): installed for this machine's platform
 * into an empty directory, the engine loads and works from there alone; Lambda's arm64 build is
 * pinned by the lock file (the hook fetches and checks it at deploy time; not fetched here).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain JavaScript module (checked with // @ts-check), without declarations
import { installSearchEngineModules } from '../../lib/search-engine-modules.mjs';
import { SEARCH_ENGINE_PLATFORM } from '../../lib/search-engine.js';

const dir = mkdtempSync(join(tmpdir(), 'trace-ingest-engine-modules-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the search engine bundled for a function', () => {
  it('is LanceDB, Arrow and their runtime dependencies, enough to run from the bundle directory alone', () => {
    const platform = `${process.platform}-${process.arch}-gnu`;
    const { packages } = installSearchEngineModules(dir, platform) as { packages: string[] };
    expect(packages).toEqual(
      expect.arrayContaining(['node_modules/@lancedb/lancedb', 'node_modules/apache-arrow', `node_modules/@lancedb/lancedb-${platform}`]),
    );
    expect(packages.filter((p) => p.includes('@types/'))).toEqual([]);
    // No other platform's native module.
    expect(packages.filter((p) => p.startsWith('node_modules/@lancedb/lancedb-'))).toEqual([`node_modules/@lancedb/lancedb-${platform}`]);
    writeFileSync(
      join(dir, 'probe.mjs'),
      `import { createRequire } from 'node:module';
const lance = await import('@lancedb/lancedb');
const arrow = createRequire(import.meta.url)('apache-arrow');
const db = await lance.connect(${JSON.stringify(join(dir, 'db'))});
const t = await db.createTable('t', new arrow.Table({ a: arrow.vectorFromArray(['x', 'y'], new arrow.Utf8()) }));
console.log(await t.countRows("a = 'y'"));`,
    );
    // Run from the bundle directory, with nothing of this checkout on the module path.
    const out = execFileSync(process.execPath, [join(dir, 'probe.mjs')], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', RUST_LOG: 'error' },
    }).toString();
    expect(out.trim()).toBe('1');
  }, 60_000);

  it("pins Lambda's arm64 build in the lock file, at LanceDB's own version, with an integrity to check it against", () => {
    const lock = JSON.parse(readFileSync(new URL('../../package-lock.json', import.meta.url), 'utf8')) as {
      packages: Record<string, { version?: string; integrity?: string; optional?: boolean }>;
    };
    const native = lock.packages[`node_modules/@lancedb/lancedb-${SEARCH_ENGINE_PLATFORM}`];
    expect(native?.version).toBe(lock.packages['node_modules/@lancedb/lancedb']?.version);
    expect(native?.integrity).toMatch(/^sha512-/);
  });
});
