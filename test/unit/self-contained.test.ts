/** The repository stands alone: a fresh clone has every file its README commands, tests and benches use. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const inside = (path: string) => !relative(ROOT, path).startsWith('..');

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && /\.(ts|mjs)$/.test(e.name))
    .map((e) => join(e.parentPath, e.name));
}

/** The words of the README's shell examples that name a file: a path with a `/`, or a file name with an extension. */
function readmeFileArguments(): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const words: string[] = [];
  for (const block of readme.matchAll(/```sh\n([\s\S]*?)```/g)) {
    for (const rawLine of block[1]!.split('\n')) {
      const line = rawLine.replace(/(^|\s)#.*$/, ''); // comments
      const all = line.split(/\s+/);
      for (let [i, word] of all.entries()) {
        // What a command writes (`-o file`, `> file`) is made by it, not read.
        if (['-o', '--output', '>', '>>'].includes(all[i - 1] ?? '')) continue;
        word = word.replace(/^["']|["']$/g, '');
        if (!word || word.startsWith('-') || /[$<>{}()@=]|:\/\//.test(word)) continue;
        if (word.startsWith('.data/')) continue; // made by npm start
        if (word.includes('/') || /\.(jsonl?|ts|mjs|md|txt)$/.test(word)) words.push(word);
      }
    }
  }
  return words;
}

describe('self-contained repository', () => {
  it('every file a README command names exists inside the checkout', () => {
    const words = readmeFileArguments();
    expect(words).toContain('examples/chat-traces.jsonl');
    for (const word of words) {
      const path = resolve(ROOT, word);
      expect(inside(path), `${word} is outside the repository`).toBe(true);
      expect(existsSync(path), `${word} does not exist`).toBe(true);
    }
  });

  it('no test or bench reads a file outside the checkout', () => {
    for (const file of [...sourceFiles('test'), ...sourceFiles('bench')]) {
      const text = readFileSync(file, 'utf8');
      expect(text, file).not.toMatch(/shared\/(fixtures|spec)/);
      for (const m of text.matchAll(/new URL\(\s*['`]([^'`$]+)['`]\s*,\s*import\.meta\.url\s*\)/g)) {
        expect(inside(resolve(join(file, '..'), m[1]!)), `${file}: ${m[1]}`).toBe(true);
      }
    }
  });
});
