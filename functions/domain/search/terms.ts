/**
 * What search matches, as index terms. The engine (LanceDB's full-text index, see
 * docs/decisions/search.md) tokenizes on whitespace only; this module turns text into
 * the whitespace-separated terms it indexes, and a query into the phrases to look up.
 * Glue, not an engine: LanceDB's own tokenizers split CJK into nothing useful and its
 * n-gram tokenizer hangs on this machine, so the n-grams are made here, in one pass.
 *
 * Semantics (the README's "How search works"):
 * - case-insensitive (text and query are lower-cased, NFKC-normalised);
 * - scripts with spaces (Latin, Cyrillic, Greek, Arabic, Hebrew, Devanagari, ...): a query
 *   word of three or more characters matches any word containing it (a substring of a
 *   word, the whole word included); a query word of one or two characters matches words
 *   of one or two characters equal to it, and words that start or end with it;
 * - CJK (Han, Hiragana, Katakana, Hangul): any substring of two or more characters of a
 *   run of CJK text; a single CJK character matches runs that start or end with it, or are it;
 * - emoji: each emoji is a term of its own;
 * - several query words: every one must match (AND), in any order.
 *
 * Terms: a word w of three or more characters gives its trigrams plus a start term
 * `^` + w[0..2] and an end term w[-2..] + `$` (so a two-character query word finds words
 * that start or end with it, and no phrase can run across two words); a word of one or two
 * characters gives `^w$`; a CJK run gives its overlapping bigrams plus start and end terms;
 * an emoji gives itself. A query word becomes the phrase of its own terms (without the
 * boundary terms unless it is shorter than three characters), so a trigram phrase matches
 * exactly the words that contain the query word.
 */

/** One query word: the terms a matching document has in a row (a phrase), in order. */
export type QueryPhrase = readonly string[];

const CJK = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3005\u30fc]/u;
const EMOJI = /\p{Extended_Pictographic}/u;
/** A run: CJK characters, or emoji (with their modifiers and joiners), or letters/marks/digits. */
const RUN =
  /([\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}\u3005\u30fc]+)|(\p{Extended_Pictographic}(?:[\u{1F3FB}-\u{1F3FF}\uFE0F\u20E3]|\u200D\p{Extended_Pictographic})*)|([\p{L}\p{M}\p{N}]+)/gu;

/** Index terms can hold no whitespace (the engine splits on it) and stay short. */
const MAX_WORD_CHARS = 64;

export function normalize(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

/** The whitespace-separated terms the engine indexes for `text` (already lower-cased or not). */
export function indexTerms(text: string): string {
  const out: string[] = [];
  for (const m of normalize(text).matchAll(RUN)) {
    if (m[1] !== undefined) cjkTerms([...m[1]], out);
    else if (m[2] !== undefined) out.push(m[2]);
    else wordTerms([...m[3]!].slice(0, MAX_WORD_CHARS), out);
  }
  return out.join(' ');
}

function wordTerms(chars: string[], out: string[]): void {
  const n = chars.length;
  if (n <= 2) {
    out.push(`^${chars.join('')}$`);
    return;
  }
  out.push(`^${chars[0]}${chars[1]}`);
  for (let i = 0; i + 3 <= n; i++) out.push(chars[i]! + chars[i + 1]! + chars[i + 2]!);
  out.push(`${chars[n - 2]}${chars[n - 1]}$`);
}

function cjkTerms(chars: string[], out: string[]): void {
  const n = chars.length;
  if (n === 1) {
    out.push(`^${chars[0]}$`);
    return;
  }
  out.push(`^${chars[0]}`);
  for (let i = 0; i + 2 <= n; i++) out.push(chars[i]! + chars[i + 1]!);
  out.push(`${chars[n - 1]}$`);
}

/**
 * The query as phrases, one per query word (all must match). Two or more characters:
 * the word's own n-grams. One or two characters of a script with spaces (or one CJK
 * character): alternatives (`^w$`, `^w`, `w$`), answered as an OR by the caller.
 * Characters that are not letters, digits, CJK or emoji (punctuation, spaces) only separate words.
 */
export interface QueryWord {
  /** Every term in a row. */
  phrase: QueryPhrase;
  /** Or, for a short word, any of these single terms. */
  anyOf?: readonly string[];
  /** The word itself (for matching unindexed text directly). */
  text: string;
}

export function queryWords(query: string): QueryWord[] {
  const words: QueryWord[] = [];
  const seen = new Set<string>();
  for (const m of normalize(query).matchAll(RUN)) {
    const text = m[0];
    if (seen.has(text)) continue;
    seen.add(text);
    if (m[2] !== undefined) {
      words.push({ phrase: [text], text });
      continue;
    }
    const chars = [...text].slice(0, MAX_WORD_CHARS);
    if (m[1] !== undefined) {
      if (chars.length === 1) words.push({ phrase: [], anyOf: [`^${text}$`, `^${text}`, `${text}$`], text });
      else words.push({ phrase: chars.slice(0, -1).map((c, i) => c + chars[i + 1]!), text });
    } else if (chars.length <= 2) {
      const w = chars.join('');
      words.push({ phrase: [], anyOf: chars.length === 2 ? [`^${w}$`, `^${w}`, `${w}$`] : [`^${w}$`], text: w });
    } else {
      const grams: string[] = [];
      for (let i = 0; i + 3 <= chars.length; i++) grams.push(chars[i]! + chars[i + 1]! + chars[i + 2]!);
      words.push({ phrase: grams, text: chars.join('') });
    }
  }
  return words;
}

/** Whether `text` matches `words` by the same semantics, without an index (tests; the bench). */
export function matchesText(text: string, words: readonly QueryWord[]): boolean {
  return termsMatch(indexTerms(text), words);
}

/** Whether indexed terms (indexTerms' output) hold every query word: its phrase in a row, or one of its alternatives. */
export function termsMatch(terms: string, words: readonly QueryWord[]): boolean {
  if (words.length === 0) return false;
  const padded = ` ${terms} `;
  return words.every((w) => (w.anyOf ? w.anyOf.some((t) => padded.includes(` ${t} `)) : padded.includes(` ${w.phrase.join(' ')} `)));
}

export function isCjk(ch: string): boolean {
  return CJK.test(ch);
}

export function isEmoji(ch: string): boolean {
  return EMOJI.test(ch);
}
