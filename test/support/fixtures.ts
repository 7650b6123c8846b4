import { readFileSync } from 'node:fs';
import type { Span } from '../../functions/domain/parea/index.js';

/** The bytes of a file in ../shared/fixtures. */
export const fixture = (name: string): Buffer => readFileSync(new URL(`../../../shared/fixtures/${name}`, import.meta.url));

/** The spans of ../shared/fixtures/experiment-logs.jsonl, one per line. */
export const fixtureSpans = (): Span[] =>
  fixture('experiment-logs.jsonl')
    .toString('utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Span);
