import { describe, expect, it } from 'vitest';
import {
  SpanInput,
  buildForest,
  forestToJson,
  mergeSpan,
  normalizeSpanForWire,
  parseTimestampMicros,
  spanFromInput,
  subtree,
  treeToJson,
  walkForest,
  type Span,
  type TreeNode,
} from '../../functions/domain/parea/index.js';
import { mulberry32 } from '../support/prng.js';
import { fixtureSpans } from '../support/fixtures.js';

const randInt = (rnd: () => number, lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));

function shuffled<T>(items: readonly T[], rnd: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** An instant (epoch microseconds) written in the notation of `offsetMinutes` (null: `Z`), fraction of 6, 3 or 0 digits when exact. */
function formatInstant(micros: number, offsetMinutes: number | null, rnd: () => number): string {
  const off = offsetMinutes ?? 0;
  const localMicros = micros + off * 60_000_000;
  const ms = Math.floor(localMicros / 1000);
  const frac = localMicros - ms * 1000 + (ms % 1000) * 1000; // microseconds within the second
  const d = new Date(ms);
  const head = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1, 2)}-${pad(d.getUTCDate(), 2)}T${pad(d.getUTCHours(), 2)}:${pad(d.getUTCMinutes(), 2)}:${pad(d.getUTCSeconds(), 2)}`;
  let fraction: string;
  const style = rnd();
  if (frac === 0 && style < 0.5) fraction = '';
  else if (frac % 1000 === 0 && style < 0.75) fraction = `.${pad(frac / 1000, 3)}`;
  else fraction = `.${pad(frac, 6)}`;
  let zone: string;
  if (offsetMinutes === null) zone = 'Z';
  else {
    const sign = off < 0 ? '-' : '+';
    const abs = Math.abs(off);
    zone = `${sign}${pad(Math.floor(abs / 60), 2)}:${pad(abs % 60, 2)}`;
  }
  return head + fraction + zone;
}

const OFFSETS: (number | null)[] = [null, 0, 120, -300, 330, -90, 840, -720];

interface Generated {
  spans: Span[];
  /** trace_id → true instant and execution_order (undefined: missing) as generated. */
  truth: Map<string, { micros: number; eo: number | undefined; parent: string | null }>;
  orphans: Set<string>;
}

/** A random forest: some roots (one in ten without parent_trace_id), some orphans, colliding execution_orders, distinct instants. */
function randomForest(rnd: () => number, size: number): Generated {
  const base = 1_786_000_000_000_000 + randInt(rnd, 0, 1_000_000) * 1_000_000;
  const spacing = [1, 13, 1000, 1_000_003][randInt(rnd, 0, 3)]!;
  const slots = shuffled(
    Array.from({ length: size }, (_, i) => i),
    rnd,
  );
  const ids = Array.from(
    { length: size },
    (_, i) =>
      `${Math.floor(rnd() * 0xffffff)
        .toString(16)
        .padStart(6, '0')}-${i}`,
  );
  const spans: Span[] = [];
  const truth: Generated['truth'] = new Map();
  const orphans = new Set<string>();
  for (let i = 0; i < size; i++) {
    const id = ids[i]!;
    // Distinct instants: a slot each, plus a jitter smaller than the spacing. Spacings of 1 and 13 µs
    // put many spans in the same millisecond (Date.parse would tie them).
    const micros = base + slots[i]! * spacing + (rnd() < 0.2 ? 0 : randInt(rnd, 0, spacing - 1));
    const r = rnd();
    let parent: string | null;
    let orphanParent: string | undefined;
    if (i === 0 || r < 0.15) parent = null;
    else if (r < 0.2) {
      parent = null;
      orphanParent = `missing-${i}`;
    } else parent = ids[randInt(rnd, 0, i - 1)]!;
    const eo = rnd() < 0.1 ? undefined : randInt(rnd, 0, 4);
    const span: Span = {
      trace_id: id,
      parent_trace_id: orphanParent ?? parent ?? id,
      root_trace_id: id,
      start_timestamp: formatInstant(micros, OFFSETS[randInt(rnd, 0, OFFSETS.length - 1)]!, rnd),
      trace_name: `span-${i}`,
      children: ['stale-hint'],
      depth: 42,
    };
    if (eo !== undefined) span.execution_order = eo;
    if (parent === null && orphanParent === undefined && rnd() < 0.1) delete (span as Record<string, unknown>).parent_trace_id;
    if (orphanParent !== undefined) orphans.add(id);
    spans.push(span);
    truth.set(id, { micros, eo, parent: orphanParent !== undefined ? null : parent });
  }
  return { spans, truth, orphans };
}

function allNodes(forest: readonly TreeNode[]): TreeNode[] {
  return [...walkForest(forest)];
}

function idsOf(nodes: readonly TreeNode[]): string[] {
  return nodes.map((n) => n.trace_id);
}

describe('parseTimestampMicros', () => {
  it('keeps microseconds and honours every offset notation', () => {
    const z = parseTimestampMicros('2024-08-09T18:39:56.123456Z')!;
    expect(z % 1_000_000).toBe(123_456);
    expect(parseTimestampMicros('2024-08-09T18:39:56.123456+00:00')).toBe(z);
    expect(parseTimestampMicros('2024-08-09T20:39:56.123456+02:00')).toBe(z);
    expect(parseTimestampMicros('2024-08-09T20:39:56.123456+0200')).toBe(z);
    expect(parseTimestampMicros('2024-08-09T13:09:56.123456-05:30')).toBe(z);
    expect(parseTimestampMicros('2024-08-09T18:39:56.123Z')).toBe(z - 456);
    expect(parseTimestampMicros('2024-08-09T18:39:56Z')).toBe(z - 123_456);
    expect(parseTimestampMicros('2024-08-09T18:39:56.1234569Z')).toBe(z); // the seventh digit is truncated
    expect(parseTimestampMicros('2024-08-09T18:39:56.123456')).toBeNull(); // no offset
    expect(parseTimestampMicros('2024-02-30T00:00:00Z')).toBeNull();
    expect(parseTimestampMicros('2024-02-29T00:00:00Z')).not.toBeNull();
    expect(parseTimestampMicros('yesterday')).toBeNull();
  });
});

describe('SpanInput', () => {
  it('defaults parent_trace_id and root_trace_id to trace_id and keeps extra fields', () => {
    const v = SpanInput.parse({
      trace_id: 'a',
      start_timestamp: '2024-08-09T18:39:56.123456+00:00',
      custom: { x: 1 },
      parent_trace_id: null,
    });
    expect(v).toEqual({
      trace_id: 'a',
      parent_trace_id: 'a',
      root_trace_id: 'a',
      start_timestamp: '2024-08-09T18:39:56.123456+00:00',
      custom: { x: 1 },
    });
    const child = SpanInput.parse({ trace_id: 'b', parent_trace_id: 'a', root_trace_id: 'a', start_timestamp: '2024-08-09T18:39:56Z' });
    expect(child.parent_trace_id).toBe('a');
    expect(child.root_trace_id).toBe('a');
  });

  it('falls back to end_timestamp, else leaves start_timestamp to the caller', () => {
    const fromEnd = SpanInput.parse({ trace_id: 'a', end_timestamp: '2024-08-09T18:39:57Z' });
    expect(fromEnd.start_timestamp).toBe('2024-08-09T18:39:57Z');
    const none = SpanInput.parse({ trace_id: 'a', start_timestamp: null });
    expect('start_timestamp' in none).toBe(false);
    expect(spanFromInput(none, '2025-01-01T00:00:00.000Z').start_timestamp).toBe('2025-01-01T00:00:00.000Z');
    expect(spanFromInput(fromEnd, '2025-01-01T00:00:00.000Z').start_timestamp).toBe('2024-08-09T18:39:57Z');
  });

  it('rejects a missing, empty or over-long trace_id and timestamps without an offset', () => {
    expect(SpanInput.safeParse({ start_timestamp: '2024-08-09T18:39:56Z' }).success).toBe(false);
    expect(SpanInput.safeParse({ trace_id: '' }).success).toBe(false);
    expect(SpanInput.safeParse({ trace_id: 'x'.repeat(257) }).success).toBe(false);
    expect(SpanInput.safeParse({ trace_id: 'x'.repeat(256) }).success).toBe(true);
    const bad = SpanInput.safeParse({ trace_id: 'a', start_timestamp: '2024-08-09 18:39:56' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['start_timestamp']);
    expect(bad.error?.issues[0]?.message).toMatch(/offset or Z/);
  });
});

describe('normalizeSpanForWire', () => {
  const nulls = {
    trace_id: 't',
    parent_trace_id: null,
    root_trace_id: null,
    start_timestamp: '2024-08-09T18:39:56Z',
    depth: null,
    execution_order: null,
    children: null,
    children_logs: null,
    scores: null,
    images: null,
    comments: null,
    annotations: null,
    configuration: { model: 'gpt-4o', messages: null, model_params: null },
    inputs: { q: 'text', n: 1, o: { a: [1] }, z: null },
    output: { answer: 42 },
    target: 7,
    metadata: null,
    error: null,
  };

  it('applies the null rules and keeps the rest as sent', () => {
    const w = normalizeSpanForWire(nulls);
    expect(w).toEqual({
      trace_id: 't',
      parent_trace_id: 't',
      root_trace_id: 't',
      start_timestamp: '2024-08-09T18:39:56Z',
      depth: 0,
      execution_order: 0,
      children: [],
      children_logs: [],
      scores: [],
      images: [],
      comments: [],
      annotations: {},
      configuration: { model: 'gpt-4o', messages: [], model_params: {} },
      inputs: { q: 'text', n: '1', o: '{"a":[1]}', z: 'null' },
      output: '{"answer":42}',
      target: '7',
      metadata: null,
      error: null,
    });
  });

  it('does not modify its argument', () => {
    const span = structuredClone(nulls);
    normalizeSpanForWire(span);
    expect(span).toEqual(nulls);
  });

  it('keeps numeric scores, coerces numeric strings, drops the rest', () => {
    const w = normalizeSpanForWire({
      trace_id: 't',
      start_timestamp: '2024-08-09T18:39:56Z',
      scores: [
        { name: 'a', score: null },
        { name: 'b', score: '0.5', reason: 'r' },
        { name: 'c', score: 'abc' },
        { name: 'd', score: Number.NaN },
        { name: 'e', score: 1 },
        { name: 'f' },
        { score: 1 },
        'junk',
        null,
      ],
    });
    expect(w.scores).toEqual([
      { name: 'b', score: 0.5, reason: 'r' },
      { name: 'e', score: 1 },
    ]);
  });

  it('keeps only digit-keyed annotation criteria whose users map to objects', () => {
    const a = { trace_id: 't', defined_annotation_id: 12, score: 1, created_at: 'x', user_id: 'u' };
    const w = normalizeSpanForWire({
      trace_id: 't',
      start_timestamp: 'x',
      annotations: { '12': { u: a, v: null }, abc: { u: a }, '13': null },
    });
    expect(w.annotations).toEqual({ '12': { u: a } });
  });

  it('keeps an own __proto__ key as data, not as the prototype', () => {
    const span = JSON.parse('{"trace_id":"t","start_timestamp":"2024-08-09T18:39:56Z","__proto__":{"polluted":true}}') as Record<
      string,
      unknown
    >;
    const w = normalizeSpanForWire(span);
    expect(Object.getPrototypeOf(w)).toBe(Object.prototype);
    expect((w as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.parse(JSON.stringify(w))).toMatchObject({ trace_id: 't' });
    expect(Object.hasOwn(w, '__proto__')).toBe(true);
  });

  it('never leaves the required strings undefined', () => {
    const w = normalizeSpanForWire({ trace_id: 't', end_timestamp: '2024-08-09T18:39:56Z' });
    expect(w.start_timestamp).toBe('2024-08-09T18:39:56Z');
    expect(normalizeSpanForWire({ trace_id: 't' }).start_timestamp).toBe('');
  });
});

describe('mergeSpan', () => {
  it('keeps a "__proto__" field of a PUT as a field, never as the prototype', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "output": "x"}') as Record<string, unknown>;
    const merged = mergeSpan({ trace_id: 't' } as Record<string, unknown>, patch);
    expect(Object.getPrototypeOf(merged)).toBe(Object.prototype);
    expect((merged as { polluted?: unknown }).polluted).toBeUndefined();
    expect(Object.hasOwn(merged, '__proto__')).toBe(true);
    expect(JSON.parse(JSON.stringify(merged))).toEqual(JSON.parse('{"trace_id":"t","__proto__":{"polluted":true},"output":"x"}'));
  });

  const base = {
    trace_id: 't',
    parent_trace_id: 't',
    root_trace_id: 't',
    start_timestamp: '2024-08-09T18:39:56Z',
    output: 'old',
    scores: [
      { name: 'a', score: 0.1 },
      { name: 'b', score: 0.2 },
    ],
    metadata: { run: '0', k: '4' },
  };

  it('lets the patch win, merges scores by name and metadata by key', () => {
    const merged = mergeSpan(base, {
      output: 'new',
      end_timestamp: '2024-08-09T18:39:57Z',
      scores: [
        { name: 'b', score: 0.9, reason: 'better' },
        { name: 'c', score: 1 },
      ],
      metadata: { k: '8', extra: 'x' },
    });
    expect(merged).toEqual({
      ...base,
      output: 'new',
      end_timestamp: '2024-08-09T18:39:57Z',
      scores: [
        { name: 'a', score: 0.1 },
        { name: 'b', score: 0.9, reason: 'better' },
        { name: 'c', score: 1 },
      ],
      metadata: { run: '0', k: '8', extra: 'x' },
    });
  });

  it('does not modify its arguments, keeps trace_id, ignores null scores and metadata', () => {
    const b = structuredClone(base);
    const patch = { trace_id: 'other', scores: null, metadata: null, status: 'error' };
    const p = structuredClone(patch);
    const merged = mergeSpan(b, p);
    expect(b).toEqual(base);
    expect(p).toEqual(patch);
    expect(merged.trace_id).toBe('t');
    expect(merged.scores).toEqual(base.scores);
    expect(merged.metadata).toEqual(base.metadata);
    expect(merged.status).toBe('error');
  });

  it('starts scores and metadata when the base has none', () => {
    const merged = mergeSpan({ trace_id: 't' } as Record<string, unknown>, { scores: [{ name: 'a', score: 1 }], metadata: { x: '1' } });
    expect(merged).toEqual({ trace_id: 't', scores: [{ name: 'a', score: 1 }], metadata: { x: '1' } });
  });
});

describe('buildForest: the fixture', () => {
  const spans = fixtureSpans();

  it('has the expected roots, nesting, depth, order and children', () => {
    expect(spans).toHaveLength(12);
    const forest = buildForest(spans);
    expect(idsOf(forest)).toEqual([
      '11e38dfe-dc08-5090-8725-5872ec12f098',
      '0db2b2d2-5902-5d93-b420-9e8fcd591b0e',
      '7b606082-9e67-52bb-9e18-c14289d5689b',
    ]);
    const shape = (n: TreeNode): unknown => [n.trace_name, n.depth, n.children_logs.map(shape)];
    for (const root of forest) {
      expect(shape(root)).toEqual([
        'answer_question',
        0,
        [
          ['retrieve', 1, []],
          ['llm', 1, [['judge', 2, []]]],
        ],
      ]);
    }
    const byId = new Map(spans.map((s) => [s.trace_id, s]));
    for (const node of allNodes(forest)) {
      // The recomputed children are the fixture's children, in order.
      expect(node.children).toEqual(byId.get(node.trace_id)!.children);
      expect(node.children).toEqual(idsOf(node.children_logs));
      // Fields as sent, nulls fixed.
      expect(node.start_timestamp).toBe(byId.get(node.trace_id)!.start_timestamp);
      expect(node.comments).toEqual([]);
      expect(node.tree_flags).toBeUndefined();
    }
    expect(forest[0]!.annotations['12']).toMatchObject({ user_1: { score: 1, annotation_name: 'helpful' } });
    expect(allNodes(forest)).toHaveLength(12);
    expect(forestToJson(forest)).toBe(JSON.stringify(forest));
  });

  it('ignores stored children, depth and input order', () => {
    const messy = spans.map((s, i) => ({ ...s, children: i % 2 === 0 ? ['nonsense'] : null, depth: 7 })).reverse();
    expect(forestToJson(buildForest(messy))).toBe(forestToJson(buildForest(spans)));
  });

  it('does not modify the spans', () => {
    const frozen = spans.map((s) => deepFreeze(structuredClone(s)));
    expect(() => buildForest(frozen)).not.toThrow();
    expect(frozen).toEqual(spans);
  });

  it('subtree returns a span with its descendants, and undefined for an unknown id', () => {
    const forest = buildForest(spans);
    const llm = subtree(forest, '4453d43a-77db-51fc-b58d-634bb10f1f3f')!;
    expect(llm.trace_name).toBe('llm');
    expect(llm.depth).toBe(1);
    expect(idsOf(llm.children_logs)).toEqual(['beadc4d3-f1c1-5194-9e54-07ba76d212c7']);
    expect(treeToJson(llm)).toBe(JSON.stringify(llm));
    expect(subtree(forest, 'nope')).toBeUndefined();
  });
});

function deepFreeze<T>(value: T): T {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'object' && v !== null && !Object.isFrozen(v)) {
      Object.freeze(v);
      for (const child of Object.values(v)) stack.push(child);
    }
  }
  return value;
}

describe('buildForest: properties', () => {
  it('random forests: input order does not matter, every span once, parents, depths and sibling order hold', () => {
    const rnd = mulberry32(20240809);
    for (let iter = 0; iter < 200; iter++) {
      const size = randInt(rnd, 1, 300);
      const { spans, truth, orphans } = randomForest(rnd, size);
      const forest = buildForest(spans);
      const json = forestToJson(forest);
      expect(json).toBe(JSON.stringify(forest));
      for (let k = 0; k < 2; k++) expect(forestToJson(buildForest(shuffled(spans, rnd)))).toBe(json);

      const nodes = allNodes(forest);
      expect(nodes).toHaveLength(size);
      expect(new Set(idsOf(nodes)).size).toBe(size);

      // Independent order key: the generator's own instants.
      const key = (n: TreeNode) => truth.get(n.trace_id)!;
      const inOrder = (list: readonly TreeNode[]) => {
        for (let i = 1; i < list.length; i++) {
          const a = key(list[i - 1]!);
          const b = key(list[i]!);
          const ea = a.eo ?? Number.POSITIVE_INFINITY;
          const eb = b.eo ?? Number.POSITIVE_INFINITY;
          const ok =
            ea < eb || (ea === eb && (a.micros < b.micros || (a.micros === b.micros && list[i - 1]!.trace_id < list[i]!.trace_id)));
          if (!ok) return false;
        }
        return true;
      };
      expect(inOrder(forest)).toBe(true);
      for (const root of forest) {
        expect(root.depth).toBe(0);
        expect(truth.get(root.trace_id)!.parent).toBeNull();
        expect(root.tree_flags).toEqual(orphans.has(root.trace_id) ? { orphan: true } : undefined);
      }
      for (const node of nodes) {
        expect(node.children).toEqual(idsOf(node.children_logs));
        expect(inOrder(node.children_logs)).toBe(true);
        for (const c of node.children_logs) {
          expect(truth.get(c.trace_id)!.parent).toBe(node.trace_id);
          expect(c.depth).toBe(node.depth + 1);
          expect(c.tree_flags).toBeUndefined();
        }
        expect(node.execution_order).toBe(truth.get(node.trace_id)!.eo ?? 0);
      }
      // Roots: exactly the spans generated without a (present) parent.
      expect(new Set(idsOf(forest))).toEqual(new Set([...truth].filter(([, t]) => t.parent === null).map(([id]) => id)));
    }
  });

  it('children arriving before their parents', () => {
    const t = (s: number) => `2024-08-09T10:00:0${s}Z`;
    const spans: Span[] = [
      { trace_id: 'c2', parent_trace_id: 'c1', root_trace_id: 'r', start_timestamp: t(3), execution_order: 2 },
      { trace_id: 'c1', parent_trace_id: 'r', root_trace_id: 'r', start_timestamp: t(2), execution_order: 1 },
      { trace_id: 'r', parent_trace_id: 'r', root_trace_id: 'r', start_timestamp: t(1), execution_order: 0 },
    ];
    const [root, ...rest] = buildForest(spans);
    expect(rest).toHaveLength(0);
    expect(root!.trace_id).toBe('r');
    expect(root!.children_logs[0]!.children_logs[0]!.trace_id).toBe('c2');
    expect(root!.children_logs[0]!.children_logs[0]!.depth).toBe(2);
  });

  it('a missing parent makes a flagged root', () => {
    const forest = buildForest([
      { trace_id: 'r', parent_trace_id: 'r', root_trace_id: 'r', start_timestamp: '2024-08-09T10:00:00Z' },
      { trace_id: 'x', parent_trace_id: 'gone', root_trace_id: 'r', start_timestamp: '2024-08-09T10:00:01Z' },
      { trace_id: 'y', parent_trace_id: 'x', root_trace_id: 'r', start_timestamp: '2024-08-09T10:00:02Z' },
    ]);
    expect(idsOf(forest)).toEqual(['r', 'x']);
    expect(forest[0]!.tree_flags).toBeUndefined();
    expect(forest[1]!.tree_flags).toEqual({ orphan: true });
    expect(forest[1]!.parent_trace_id).toBe('gone'); // kept as sent
    expect(forest[1]!.depth).toBe(0);
    expect(forest[1]!.children_logs[0]!.depth).toBe(1);
  });

  it('cycles of length 1 to 4 are broken deterministically, every span kept once', () => {
    const rnd = mulberry32(7);
    for (let len = 1; len <= 4; len++) {
      for (let iter = 0; iter < 25; iter++) {
        const ids = Array.from({ length: len }, (_, i) => `c${randInt(rnd, 0, 9999)}-${i}`);
        const spans: Span[] = ids.map((id, i) => ({
          trace_id: id,
          // c0 ← c1 ← ... ← c(len-1) ← c0: each points at the previous one, the first at the last.
          parent_trace_id: ids[(i + len - 1) % len]!,
          root_trace_id: ids[0]!,
          start_timestamp: formatInstant(1_786_000_000_000_000 + randInt(rnd, 0, 5) * 1_000_000, OFFSETS[randInt(rnd, 0, 7)]!, rnd),
          execution_order: randInt(rnd, 0, 2),
        }));
        // A tail hanging off the cycle, a separate healthy tree, and a span hanging off the tail.
        spans.push({ trace_id: 'tail', parent_trace_id: ids[len - 1]!, root_trace_id: ids[0]!, start_timestamp: '2026-01-01T00:00:00Z' });
        spans.push({ trace_id: 'tail2', parent_trace_id: 'tail', root_trace_id: ids[0]!, start_timestamp: '2026-01-01T00:00:00Z' });
        spans.push({ trace_id: 'ok', parent_trace_id: 'ok', root_trace_id: 'ok', start_timestamp: '2026-01-01T00:00:00Z' });
        const forest = buildForest(spans);
        const nodes = allNodes(forest);
        expect(nodes).toHaveLength(len + 3);
        expect(new Set(idsOf(nodes)).size).toBe(len + 3);
        for (let k = 0; k < 3; k++) expect(forestToJson(buildForest(shuffled(spans, rnd)))).toBe(forestToJson(forest));

        expect(forest).toHaveLength(2);
        const cycleRoot = forest.find((n) => n.trace_id !== 'ok')!;
        expect(ids).toContain(cycleRoot.trace_id);
        if (len === 1) {
          // parent_trace_id == trace_id is the spec's definition of a root, not a cycle.
          expect(cycleRoot.tree_flags).toBeUndefined();
        } else {
          expect(cycleRoot.tree_flags).toEqual({ cycle_broken: true });
          // The chosen root is the member that sorts first (execution_order, instant, trace_id).
          const first = [...spans.slice(0, len)].sort(
            (a, b) =>
              a.execution_order! - b.execution_order! ||
              parseTimestampMicros(a.start_timestamp)! - parseTimestampMicros(b.start_timestamp)! ||
              (a.trace_id < b.trace_id ? -1 : 1),
          )[0]!;
          expect(cycleRoot.trace_id).toBe(first.trace_id);
        }
        expect(nodes.filter((n) => n.tree_flags !== undefined)).toHaveLength(len === 1 ? 0 : 1);
        for (const n of nodes) expect(n.children).toEqual(idsOf(n.children_logs));
      }
    }
  });

  it('duplicate trace_ids: the later span wins', () => {
    const forest = buildForest([
      { trace_id: 'r', parent_trace_id: 'r', root_trace_id: 'r', start_timestamp: '2024-08-09T10:00:00Z', output: 'first' },
      { trace_id: 'c', parent_trace_id: 'r', root_trace_id: 'r', start_timestamp: '2024-08-09T10:00:01Z' },
      { trace_id: 'r', parent_trace_id: 'r', root_trace_id: 'r', start_timestamp: '2024-08-09T10:00:00Z', output: 'second' },
    ]);
    expect(forest).toHaveLength(1);
    expect(forest[0]!.output).toBe('second');
    expect(idsOf(forest[0]!.children_logs)).toEqual(['c']);
  });

  it('drops a stored tree_flags and recomputes it', () => {
    const forest = buildForest([
      { trace_id: 'r', parent_trace_id: 'r', root_trace_id: 'r', start_timestamp: '2024-08-09T10:00:00Z', tree_flags: { orphan: true } },
    ]);
    expect(forest[0]!.tree_flags).toBeUndefined();
  });
});

describe('buildForest: ordering', () => {
  const span = (id: string, ts: string, eo?: number, parent = 'p'): Span => ({
    trace_id: id,
    parent_trace_id: parent,
    root_trace_id: 'p',
    start_timestamp: ts,
    ...(eo === undefined ? {} : { execution_order: eo }),
  });
  const parentSpan = span('p', '2024-08-09T00:00:00Z', 0, 'p');

  it('orders by microseconds, whatever the notation', () => {
    // 'a' would sort first by trace_id; it is one microsecond later.
    const kids = idsOf(
      buildForest([parentSpan, span('a', '2024-08-09T18:39:56.123457Z', 1), span('b', '2024-08-09T18:39:56.123456+00:00', 1)])[0]!
        .children_logs,
    );
    expect(kids).toEqual(['b', 'a']);
  });

  it('orders by instant across offsets', () => {
    // 10:00+02:00 is 08:00Z, before 09:30Z, though its text sorts after.
    const kids = idsOf(
      buildForest([parentSpan, span('a', '2024-08-09T09:30:00Z', 1), span('b', '2024-08-09T10:00:00+02:00', 1)])[0]!.children_logs,
    );
    expect(kids).toEqual(['b', 'a']);
    const roots = idsOf(buildForest([span('a', '2024-08-09T09:30:00Z', 0, 'a'), span('b', '2024-08-09T10:00:00+02:00', 0, 'b')]));
    expect(roots).toEqual(['b', 'a']);
  });

  it('keeps microsecond order in far years (beyond exact epoch microseconds)', () => {
    const kids = idsOf(
      buildForest([parentSpan, span('a', '9999-12-31T23:59:59.000002Z', 1), span('b', '9999-12-31T23:59:59.000001Z', 1)])[0]!.children_logs,
    );
    expect(kids).toEqual(['b', 'a']);
  });

  it('orders by execution_order first, missing ones last, then trace_id on ties', () => {
    const kids = idsOf(
      buildForest([
        parentSpan,
        span('late', '2024-08-09T00:00:09Z', 1),
        span('none', '2024-08-09T00:00:01Z'),
        span('early', '2024-08-09T00:00:05Z', 2),
        span('y', '2024-08-09T00:00:03Z', 3),
        span('x', '2024-08-09T00:00:03Z', 3),
        span('bad-ts', 'not a time', 3),
      ])[0]!.children_logs,
    );
    expect(kids).toEqual(['late', 'early', 'x', 'y', 'bad-ts', 'none']);
  });
});

describe('buildForest: null rules on every node', () => {
  it('fixes nulls on roots and nested nodes alike', () => {
    const nullSpan = (id: string, parent: string): Record<string, unknown> => ({
      trace_id: id,
      parent_trace_id: parent,
      root_trace_id: 'r',
      start_timestamp: '2024-08-09T00:00:00Z',
      depth: null,
      execution_order: null,
      children: null,
      children_logs: null,
      scores: [
        { name: 'n', score: null },
        { name: 'ok', score: 0.5 },
        { name: 's', score: '1' },
      ],
      images: null,
      comments: null,
      annotations: null,
      configuration: { messages: null, model_params: null },
      inputs: { a: 1 },
      output: ['x'],
      target: null,
    });
    const forest = buildForest([nullSpan('r', 'r'), nullSpan('c', 'r'), nullSpan('g', 'c')]);
    const nodes = allNodes(forest);
    expect(nodes).toHaveLength(3);
    for (const n of nodes) {
      expect(typeof n.depth).toBe('number');
      expect(n.execution_order).toBe(0);
      expect(Array.isArray(n.children)).toBe(true);
      expect(Array.isArray(n.children_logs)).toBe(true);
      expect(n.scores).toEqual([
        { name: 'ok', score: 0.5 },
        { name: 's', score: 1 },
      ]);
      expect(n.images).toEqual([]);
      expect(n.comments).toEqual([]);
      expect(n.annotations).toEqual({});
      expect(n.configuration).toEqual({ messages: [], model_params: {} });
      expect(n.inputs).toEqual({ a: '1' });
      expect(n.output).toBe('["x"]');
      expect(n.target).toBeNull();
    }
    expect(nodes.map((n) => n.depth)).toEqual([0, 1, 2]);
    // No null anywhere the Python SDK's parser would break on.
    const neverNull = ['depth', 'execution_order', 'children', 'children_logs', 'scores', 'images', 'comments', 'annotations'];
    JSON.parse(forestToJson(forest), function (this: Record<string, unknown>, k, v: unknown) {
      if (neverNull.includes(k)) expect(v).not.toBeNull();
      return v;
    });
  });
});

describe('buildForest: scale', () => {
  it('builds and serializes a 10,000-deep chain without recursion', () => {
    const n = 10_000;
    const spans: Span[] = [];
    for (let i = n - 1; i >= 0; i--) {
      spans.push({
        trace_id: `s${i}`,
        parent_trace_id: i === 0 ? 's0' : `s${i - 1}`,
        root_trace_id: 's0',
        start_timestamp: formatInstant(1_786_000_000_000_000 + i, null, () => 0.9),
        execution_order: i,
      });
    }
    const forest = buildForest(spans);
    expect(forest).toHaveLength(1);
    let node = forest[0]!;
    let count = 1;
    while (node.children_logs.length > 0) {
      expect(node.children_logs).toHaveLength(1);
      node = node.children_logs[0]!;
      count++;
    }
    expect(count).toBe(n);
    expect(node.trace_id).toBe('s9999');
    expect(node.depth).toBe(9999);
    expect(subtree(forest, 's9999')).toBe(node);

    const json = forestToJson(forest);
    expect(json.startsWith('[{"trace_id":"s0"')).toBe(true);
    expect(json.endsWith(`"children_logs":[]}${']}'.repeat(n - 1)}]`)).toBe(true);
    expect(json.split('"children_logs":[').length - 1).toBe(n);
    expect(json).toContain('"trace_id":"s9999","parent_trace_id":"s9998","root_trace_id":"s0","start_timestamp":');
    expect(json).toContain('"depth":9999');
    expect(treeToJson(forest[0]!)).toBe(json.slice(1, -1));
  });

  it('builds 100,000 spans', () => {
    const rnd = mulberry32(100_000);
    const n = 100_000;
    const spans: Span[] = [];
    for (let i = 0; i < n; i++) {
      const parent = i < 100 ? `s${i}` : `s${randInt(rnd, 0, i - 1)}`;
      spans.push({
        trace_id: `s${i}`,
        parent_trace_id: parent,
        root_trace_id: 's0',
        start_timestamp: formatInstant(1_786_000_000_000_000 + i * 7, OFFSETS[i % OFFSETS.length]!, rnd),
        execution_order: i % 13,
      });
    }
    const forest = buildForest(shuffled(spans, rnd));
    expect(forest).toHaveLength(100);
    let count = 0;
    for (const _ of walkForest(forest)) count++;
    expect(count).toBe(n);
    expect(forestToJson(forest).length).toBeGreaterThan(n * 50);
  });
});
