/** mulberry32: a small seeded PRNG, uniform in [0, 1). The same seed gives the same sequence everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Text that does not deflate (seeded random base-36 words): for documents that must stay big when packed. */
export function incompressibleText(chars: number, seed = 1): string {
  const random = mulberry32(seed);
  const parts: string[] = [];
  let n = 0;
  while (n < chars) {
    const word = Math.floor(random() * 2 ** 52).toString(36);
    parts.push(word);
    n += word.length + 1;
  }
  return parts.join(' ').slice(0, chars);
}
