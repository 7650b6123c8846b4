#!/usr/bin/env node
// @ts-check
/**
 * The search engine's node_modules for a Lambda bundle, without Docker: run by the CDK bundling
 * of the functions that load LanceDB (lib/search-engine.ts, an after-bundling hook), as
 * `node lib/search-engine-modules.mjs <outputDir> [platform]`.
 *
 * - `@lancedb/lancedb` and `apache-arrow` with their runtime dependencies, at the versions of
 *   package-lock.json, copied from this checkout's node_modules (type-only `@types/*` left out);
 * - LanceDB's native module for the platform (default `linux-arm64-gnu`, Lambda's arm64): copied
 *   when this machine has it, else fetched with `npm pack` at the lock file's version and checked
 *   against the lock file's integrity before it is unpacked.
 * Plain JavaScript (checked by `// @ts-check`): a bundling hook is a shell command.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOTS = ['@lancedb/lancedb', 'apache-arrow'];
const NATIVE_PREFIX = '@lancedb/lancedb-';

/**
 * @param {string} outputDir
 * @param {string} platform
 * @param {string} repo
 */
export function installSearchEngineModules(outputDir, platform = 'linux-arm64-gnu', repo = fileURLToPath(new URL('..', import.meta.url))) {
  /** @type {{ packages: Record<string, { version?: string; integrity?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; peerDependencies?: Record<string, string> }> }} */
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
  const native = `${NATIVE_PREFIX}${platform}`;
  /** Where a dependency of the package at `from` resolves in the lock file (node's lookup, upwards). */
  const resolve = (/** @type {string} */ from, /** @type {string} */ name) => {
    for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
      const path = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (lock.packages[path]) return path;
      if (!dir) return null;
    }
  };
  /** @type {Set<string>} */
  const wanted = new Set();
  const walk = (/** @type {string} */ path) => {
    if (wanted.has(path)) return;
    wanted.add(path);
    const p = lock.packages[path];
    const deps = { ...p?.dependencies, ...p?.peerDependencies };
    for (const name of Object.keys(deps)) {
      if (name.startsWith('@types/')) continue;
      const found = resolve(path, name);
      if (!found) throw new Error(`${name} (a dependency of ${path}) is not in package-lock.json`);
      walk(found);
    }
  };
  for (const root of ROOTS) {
    const path = `node_modules/${root}`;
    if (!lock.packages[path]) throw new Error(`${root} is not in package-lock.json`);
    walk(path);
  }
  const nativePath = resolve('node_modules/@lancedb/lancedb', native);
  if (!nativePath) throw new Error(`${native} is not in package-lock.json (LanceDB has no build for that platform at this version)`);

  for (const path of wanted) cpSync(join(repo, path), join(outputDir, path), { recursive: true, dereference: true });
  const target = join(outputDir, nativePath);
  if (existsSync(join(repo, nativePath, 'package.json'))) {
    cpSync(join(repo, nativePath), target, { recursive: true, dereference: true });
  } else {
    const { version, integrity } = lock.packages[nativePath] ?? {};
    if (!version || !integrity) throw new Error(`package-lock.json gives no version and integrity for ${native}`);
    const work = mkdtempSync(join(tmpdir(), 'search-engine-'));
    try {
      execFileSync('npm', ['pack', `${native}@${version}`, '--pack-destination', work, '--silent'], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
      if (!tarball) throw new Error(`npm pack ${native}@${version} wrote no tarball`);
      const [algorithm, expected] = integrity.split('-');
      const actual = createHash(/** @type {string} */ (algorithm))
        .update(readFileSync(join(work, tarball)))
        .digest('base64');
      if (actual !== expected)
        throw new Error(`${native}@${version}: the tarball's ${algorithm} is ${actual}, package-lock.json says ${expected}`);
      mkdirSync(target, { recursive: true });
      execFileSync('tar', ['-xzf', join(work, tarball), '-C', target, '--strip-components=1']);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  return { packages: [...wanted, nativePath].sort() };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [outputDir, platform] = process.argv.slice(2);
  if (!outputDir) throw new Error('usage: node lib/search-engine-modules.mjs <outputDir> [platform]');
  const { packages } = installSearchEngineModules(outputDir, platform);
  process.stdout.write(
    `search engine modules: ${packages.length} packages into ${join(outputDir, 'node_modules')} (${dirname(packages.at(-1) ?? '')})\n`,
  );
}
