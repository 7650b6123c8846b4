/**
 * Experiment trace logs: spans → nested TraceLogTree forests, and their JSON text.
 *
 * Everything here is iterative (no recursion), so a 10,000-deep chain of spans neither
 * overflows the stack while building nor while serializing (`JSON.stringify` recurses: use
 * {@link forestToJson} / {@link treeToJson}). Building is one pass over the spans plus one sort
 * (O(n log n), in practice dominated by the linear passes).
 *
 * Pure: the input spans are never modified; every node is a new object (nested values that
 * needed no change, like `metadata`, are shared with the spans: treat both as immutable).
 */
import { normalizeNode, parseTimestamp, toFiniteNumber, type WireSpan } from './span.js';

/**
 * Why a node is a root although its span does not say it is one. Present on a node only when
 * at least one flag is set; the field is an extra key the SDK parsers ignore, so the node keeps
 * the spec's shape. Any `tree_flags` a stored span carried is dropped and recomputed.
 * - `orphan`: the span's `parent_trace_id` names a span that is not in the input.
 * - `cycle_broken`: the span was on a cycle of `parent_trace_id` links (a → b → a, or longer);
 *   of the cycle's members, the one that sorts first (same order as siblings) became the root.
 * In both cases `parent_trace_id` is kept as sent.
 */
export interface TreeFlags {
  orphan?: true;
  cycle_broken?: true;
}

/** A TraceLogTree node: a wire-normalized span with its children nested. */
export interface TreeNode extends WireSpan {
  children_logs: TreeNode[];
  tree_flags?: TreeFlags;
}

/**
 * Builds the forest of span trees (roots first in order, children nested).
 *
 * - A span is a root when `parent_trace_id` equals its own `trace_id` (or is absent).
 * - Children come from `parent_trace_id` links only; stored `children` lists are ignored and
 *   recomputed from the tree actually built, as are `depth` (0 at roots) and `children_logs`.
 * - Siblings and roots are ordered by `execution_order` (numbers; a span without one sorts after
 *   those with one), then by `start_timestamp` as an instant in microseconds whatever its offset
 *   notation (unparseable ones last), then by `trace_id` (code-unit order) for determinism.
 *   The result therefore does not depend on the input order (for distinct trace_ids).
 * - Duplicate `trace_id`s: the LATER span in input order wins; earlier copies are discarded.
 * - A missing parent makes the span a root flagged `tree_flags.orphan`; a cycle is broken at its
 *   first member in sibling order, flagged `tree_flags.cycle_broken` (see {@link TreeFlags}).
 * - Every node gets `normalizeSpanForWire`'s null rules; other fields are kept as sent.
 */
export function buildForest(spans: readonly Readonly<Record<string, unknown>>[]): TreeNode[] {
  // 1. Normalize and de-duplicate (later wins).
  const nodes: TreeNode[] = [];
  const eoKey: number[] = [];
  const position = new Map<string, number>();
  for (const span of spans) {
    const node = normalizeNode(span, true) as TreeNode;
    if (Object.hasOwn(node, 'tree_flags')) delete node.tree_flags;
    const eo = toFiniteNumber(span.execution_order) ?? Number.POSITIVE_INFINITY;
    const at = position.get(node.trace_id);
    if (at === undefined) {
      position.set(node.trace_id, nodes.length);
      nodes.push(node);
      eoKey.push(eo);
    } else {
      nodes[at] = node;
      eoKey[at] = eo;
    }
  }
  const n = nodes.length;
  // Start instants as (epoch seconds, microseconds): exact for any 4-digit year. Unparseable: last.
  const tsSec = new Float64Array(n);
  const tsMic = new Float64Array(n);
  const ids: string[] = new Array<string>(n);
  for (let i = 0; i < n; i++) {
    const node = nodes[i]!;
    ids[i] = node.trace_id;
    const ts = parseTimestamp(node.start_timestamp);
    if (ts === null) tsSec[i] = Number.POSITIVE_INFINITY;
    else {
      tsSec[i] = ts[0];
      tsMic[i] = ts[1];
    }
  }
  const compare = (a: number, b: number): number => {
    const ea = eoKey[a]!;
    const eb = eoKey[b]!;
    if (ea < eb) return -1;
    if (ea > eb) return 1;
    const sa = tsSec[a]!;
    const sb = tsSec[b]!;
    if (sa < sb) return -1;
    if (sa > sb) return 1;
    const ma = tsMic[a]!;
    const mb = tsMic[b]!;
    if (ma < mb) return -1;
    if (ma > mb) return 1;
    const ia = ids[a]!;
    const ib = ids[b]!;
    return ia < ib ? -1 : ia > ib ? 1 : 0;
  };

  // 2. Parent links (-1: root).
  const parent = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const node = nodes[i]!;
    const p = node.parent_trace_id;
    if (p === node.trace_id) {
      parent[i] = -1;
      continue;
    }
    const at = position.get(p);
    if (at === undefined) {
      parent[i] = -1;
      node.tree_flags = { orphan: true };
    } else {
      parent[i] = at;
    }
  }

  // 3. Break cycles. Each span has at most one parent, so walking up from every unvisited span
  //    either ends at a root, at an already settled span, or re-enters the current walk (a cycle).
  const state = new Uint8Array(n); // 0 unvisited, 1 on the current walk, 2 settled
  const walkPos = new Int32Array(n);
  const walk: number[] = [];
  for (let i = 0; i < n; i++) {
    if (state[i] !== 0) continue;
    walk.length = 0;
    let j = i;
    while (j !== -1 && state[j] === 0) {
      state[j] = 1;
      walkPos[j] = walk.length;
      walk.push(j);
      j = parent[j]!;
    }
    if (j !== -1 && state[j] === 1) {
      let best = j;
      for (let k = walkPos[j]! + 1; k < walk.length; k++) {
        const m = walk[k]!;
        if (compare(m, best) < 0) best = m;
      }
      parent[best] = -1;
      nodes[best]!.tree_flags = { cycle_broken: true };
    }
    for (const k of walk) state[k] = 2;
  }

  // 4. One sort; distributing in sorted order leaves every sibling list (and the roots) sorted.
  const order = new Array<number>(n);
  for (let i = 0; i < n; i++) order[i] = i;
  order.sort(compare);
  const roots: TreeNode[] = [];
  for (const i of order) {
    const node = nodes[i]!;
    const p = parent[i]!;
    if (p === -1) {
      roots.push(node);
    } else {
      const up = nodes[p]!;
      up.children.push(node.trace_id);
      up.children_logs.push(node);
    }
  }

  // 5. Depths, breadth first.
  const queue: TreeNode[] = [];
  for (const r of roots) {
    r.depth = 0;
    queue.push(r);
  }
  for (let q = 0; q < queue.length; q++) {
    const node = queue[q]!;
    for (const c of node.children_logs) {
      c.depth = node.depth + 1;
      queue.push(c);
    }
  }
  if (queue.length !== n) throw new Error(`buildForest: reached ${queue.length} of ${n} spans`);
  return roots;
}

/**
 * The node of span `traceId` with its descendants (for `GET /trace_log/{trace_id}`), or
 * undefined. Depths stay relative to the tree's real root. Iterative, depth first.
 */
export function subtree(forest: readonly TreeNode[], traceId: string): TreeNode | undefined {
  const stack: TreeNode[] = [];
  for (let i = forest.length - 1; i >= 0; i--) stack.push(forest[i]!);
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.trace_id === traceId) return node;
    const kids = node.children_logs;
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
  return undefined;
}

/** Every node of the forest, parents before children (pre-order, in order). Iterative. */
export function* walkForest(forest: readonly TreeNode[]): Generator<TreeNode> {
  const stack: TreeNode[] = [];
  for (let i = forest.length - 1; i >= 0; i--) stack.push(forest[i]!);
  while (stack.length > 0) {
    const node = stack.pop()!;
    yield node;
    const kids = node.children_logs;
    for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i]!);
  }
}

/** JSON text of a forest (an array of nodes), identical to `JSON.stringify(forest)` but without recursion over `children_logs`. */
export function forestToJson(nodes: readonly TreeNode[]): string {
  return toJson(nodes);
}

/** JSON text of one tree, identical to `JSON.stringify(node)` but without recursion over `children_logs`. */
export function treeToJson(node: TreeNode): string {
  return toJson(node);
}

/** A value still to serialize (on the stack next to raw text, which is a plain string). */
interface Pending {
  value: unknown;
  inArray: boolean;
}

function isNodeLike(v: unknown): v is Record<string, unknown> & { children_logs: unknown[] } {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    Object.hasOwn(v, 'children_logs') &&
    Array.isArray((v as { children_logs: unknown }).children_logs)
  );
}

/**
 * The top-level array and every `children_logs` array are walked with an explicit stack. Each
 * node itself goes to `JSON.stringify` as a shallow copy whose `children_logs` is a sentinel
 * string (with a random part, made per call); its JSON text is cut at the sentinel, and the
 * children's text goes in between.
 */
function toJson(root: unknown): string {
  const sentinel = `\u0000children_logs:${Math.random().toString(36).slice(2)}:${Date.now().toString(36)}\u0000`;
  const marker = JSON.stringify(sentinel);
  const out: string[] = [];
  const stack: (string | Pending)[] = [{ value: root, inArray: false }];
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    const v = item.value;
    if (Array.isArray(v) && !item.inArray) {
      // The top-level array or a children_logs array.
      out.push('[');
      stack.push(']');
      for (let i = v.length - 1; i >= 0; i--) {
        stack.push({ value: v[i], inArray: true });
        if (i > 0) stack.push(',');
      }
      continue;
    }
    if (isNodeLike(v) && typeof v.toJSON !== 'function') {
      const copy: Record<string, unknown> = { ...v };
      copy.children_logs = sentinel;
      const text = JSON.stringify(copy);
      const at = text.indexOf(marker);
      out.push(text.slice(0, at));
      stack.push(text.slice(at + marker.length));
      stack.push({ value: v.children_logs, inArray: false });
      continue;
    }
    const json = JSON.stringify(v);
    out.push(json === undefined ? (item.inArray ? 'null' : '') : json);
  }
  return out.join('');
}
