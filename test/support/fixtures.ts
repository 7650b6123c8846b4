import { readFileSync } from 'node:fs';
import type { Span } from '../../functions/domain/parea/index.js';

/** The bytes of one of the repository's example files (examples/, the files the README's commands use). */
export const fixture = (name: string): Buffer => readFileSync(new URL(`../../examples/${name}`, import.meta.url));

/** The spans of examples/experiment-logs.jsonl, one per line. */
export const fixtureSpans = (): Span[] =>
  fixture('experiment-logs.jsonl')
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Span);
