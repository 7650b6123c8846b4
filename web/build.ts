/**
 * Builds the web viewer with the project's esbuild: one minified ES module and one stylesheet,
 * content-hashed under assets/, and an index.html that loads them. The same build serves
 * `npm start` (in memory, local/api-server.ts) and the CDK app (written to the viewer's asset
 * directory, lib/constructs/viewer.ts).
 *
 *   npx tsx web/build.ts [outdir]   writes the files (default web/dist) and prints their sizes
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const HERE = dirname(fileURLToPath(import.meta.url));

export interface ViewerFile {
  /** The URL path, e.g. `/index.html`, `/assets/main-3F2A….js`. */
  path: string;
  contents: Uint8Array;
  contentType: string;
  /** Content-hashed: may be cached for ever. */
  immutable: boolean;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.svg': 'image/svg+xml',
};

function typeOf(path: string): string {
  const ext = path.slice(path.lastIndexOf('.'));
  return TYPES[ext] ?? 'application/octet-stream';
}

/** The viewer's files, built in memory. */
export async function buildViewer(): Promise<ViewerFile[]> {
  const out = await build({
    entryPoints: [join(HERE, 'src/main.ts')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['chrome115', 'firefox115', 'safari16'],
    outdir: join(HERE, 'dist'),
    entryNames: 'assets/[name]-[hash]',
    write: false,
    metafile: true,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files: ViewerFile[] = out.outputFiles.map((f) => {
    const path = `/${relative(join(HERE, 'dist'), f.path).split('\\').join('/')}`;
    return { path, contents: f.contents, contentType: typeOf(path), immutable: true };
  });
  const script = files.find((f) => f.path.endsWith('.js'))!;
  const style = files.find((f) => f.path.endsWith('.css'))!;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>trace-ingest viewer</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${style.path.slice(1)}">
<script type="module" src="${script.path.slice(1)}"></script>
</head>
<body>
<noscript>The trace-ingest viewer needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;
  files.unshift({ path: '/index.html', contents: new TextEncoder().encode(html), contentType: TYPES['.html']!, immutable: false });
  return files;
}

/** Builds and writes the viewer's files under `outdir`. */
export async function writeViewer(outdir: string): Promise<ViewerFile[]> {
  const files = await buildViewer();
  for (const f of files) {
    const target = join(outdir, f.path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, f.contents);
  }
  return files;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const outdir = process.argv[2] ?? join(HERE, 'dist');
  const files = await writeViewer(outdir);
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const z = gzipSync(f.contents).length;
    raw += f.contents.length;
    gz += z;
    console.log(`${f.path.padEnd(40)} ${String(f.contents.length).padStart(8)} B  ${String(z).padStart(7)} B gzip`);
  }
  console.log(`${'total'.padEnd(40)} ${String(raw).padStart(8)} B  ${String(gz).padStart(7)} B gzip   (${outdir})`);
}
