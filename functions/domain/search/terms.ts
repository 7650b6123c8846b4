/**
 * What search matches, defined once: the engine's adapter, the unindexed tail's scan and the
 * tests' oracles all use these functions.
 *
 * A trace's text (filename, input and the document's string values: trace.ts `searchText`) is
 * cut into words, after NFKC normalisation and lower-casing:
 * - a run of letters, marks and digits (any script with spaces: Latin, Cyrillic, Greek, Arabic,
 *   Hebrew, Devanagari, ...);
 * - a run of CJK characters (Han, Hiragana, Katakana, Hangul), which have no spaces between words;
 * - one emoji (with its modifiers and joiners).
 * Everything else (spaces, punctuation, symbols) only separates words. A word longer than
 * MAX_WORD_CHARS characters is cut to its first MAX_WORD_CHARS.
 *
 * A query is cut into words the same way, and a trace matches when **every query word is contained
 * in one of the trace's words** (case-insensitive, in any order): `connref` finds `ECONNREFUSED`,
 * `管道` finds `数据管道`, `🚀` finds `🚀`, `ello wor` finds `hello world`; a query word never
 * spans two words of the trace (`lloworld` does not find `hello world`).
 */

/** A run: CJK characters, or one emoji (with its modifiers and joiners), or letters/marks/digits. */
const RUN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3005\u30fc]+|\p{Extended_Pictographic}(?:[\u{1F3FB}-\u{1F3FF}\uFE0F\u20E3]|\u200D\p{Extended_Pictographic})*|[\p{L}\p{M}\p{N}]+/gu;

/** Longer words are cut (a base64 blob is not a word anyone types). */
export const MAX_WORD_CHARS = 64;

const ASCII = /^[\x00-\x7f]*$/;

export function normalize(text: string): string {
  // NFKC leaves ASCII as it is: skip it where it cannot change anything (most traces).
  return (ASCII.test(text) ? text : text.normalize('NFKC')).toLowerCase();
}

/** The distinct words of `text`, in order of first appearance. */
export function words(text: string): string[] {
  const seen = new Set<string>();
  for (const m of normalize(text).matchAll(RUN)) {
    let w = m[0];
    if (w.length > MAX_WORD_CHARS) w = cut(w);
    seen.add(w);
  }
  return [...seen];
}

/** The query's distinct words (what every match must contain); empty when the query has none. */
export function queryWords(query: string): string[] {
  return words(query);
}

/** Whether a trace with these words matches the query words (every one inside some word). */
export function matchesWords(traceWords: readonly string[], query: readonly string[]): boolean {
  if (query.length === 0) return false;
  return query.every((q) => traceWords.some((w) => w.includes(q)));
}

/** Whether `text` matches `query` (a query as typed), without an index: the semantics above. */
export function matchesText(text: string, query: string | readonly string[]): boolean {
  const q = typeof query === 'string' ? queryWords(query) : query;
  if (q.length === 0) return false;
  // One space-separated string: a query word (which holds no space) inside it is inside one word.
  const joined = ` ${words(text).join(' ')} `;
  return q.every((w) => joined.includes(w));
}

/** The first MAX_WORD_CHARS characters (code points) of a long word. */
function cut(w: string): string {
  return [...w].slice(0, MAX_WORD_CHARS).join('');
}
