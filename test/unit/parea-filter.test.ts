import { describe, expect, it } from 'vitest';
import {
  FILTER_OPERATORS,
  FilterError,
  TraceLogFilter,
  buildForest,
  compileFilter,
  filterForest,
  matchesTree,
  type Span,
} from '../../functions/domain/parea/index.js';
import { fixtureSpans } from '../support/fixtures.js';

/** The span the table filters: one field of each kind. */
const SPAN: Span = {
  trace_id: 't',
  parent_trace_id: 't',
  root_trace_id: 't',
  start_timestamp: '2024-08-09T18:39:56.123456+00:00',
  trace_name: 'answer_question',
  status: 'success',
  latency: 0.4,
  total_tokens: 25,
  rank: '10',
  cache_hit: true,
  session_id: null,
  tags: ['smoke', 'Prod'],
  metadata: { purpose: 'eval', run: '1' },
  configuration: { model: 'gpt-4o', messages: [], model_params: {} },
  scores: [
    { name: 'accuracy', score: 0.4 },
    { name: 'textual', score: '0.75' },
  ],
  annotations: {
    '12': {
      user_1: {
        trace_id: 't',
        defined_annotation_id: 12,
        score: 1,
        created_at: '2024-08-09T18:40:00Z',
        user_id: 'user_1',
        annotation_name: 'helpful',
      },
      user_2: {
        trace_id: 't',
        defined_annotation_id: 12,
        score: 0,
        created_at: '2024-08-09T18:41:00Z',
        user_id: 'user_2',
        annotation_name: 'helpful',
      },
    },
    '13': { user_1: { trace_id: 't', defined_annotation_id: 13, score: null, created_at: '2024-08-09T18:40:00Z', user_id: 'user_1' } },
  },
};

type Case = [field: string, op: string, value: string | null, expected: boolean, key?: string];

function run(field: string, op: string, value: string | null, key?: string, span: Span = SPAN): boolean {
  const predicate = compileFilter({ filter_field: field, filter_key: key ?? null, filter_operator: op, filter_value: value });
  expect(predicate).not.toBeNull();
  return predicate!(span);
}

const CASES: Record<string, Case[]> = {
  'string field': [
    ['trace_name', 'equals', 'answer_question', true],
    ['trace_name', 'equals', 'Answer_question', false],
    ['trace_name', 'not_equals', 'llm', true],
    ['trace_name', 'not_equals', 'answer_question', false],
    ['trace_name', 'like', 'answer%', true],
    ['trace_name', 'like', 'answer', false],
    ['trace_name', 'greater_than', 'answer', true],
    ['trace_name', 'greater_than_or_equal', 'answer_question', true],
    ['trace_name', 'less_than', 'b', true],
    ['trace_name', 'less_than_or_equal', 'a', false],
    ['trace_name', 'in', 'llm,answer_question', true],
    ['trace_name', 'in', '["llm","judge"]', false],
    ['trace_name', 'between', 'a,b', true],
    ['trace_name', 'between', '["b","c"]', false],
    ['trace_name', 'is_null', null, false],
    ['trace_name', 'exists', 'ignored', true],
    ['session_id', 'is_null', null, true],
    ['session_id', 'exists', null, false],
    ['session_id', 'not_equals', 's0', false],
    ['end_user_identifier', 'is_null', null, true],
    ['end_user_identifier', 'equals', '', false],
    ['end_user_identifier', 'not_equals', 'x', false],
  ],
  'number field': [
    ['latency', 'equals', '0.4', true],
    ['latency', 'equals', '0.40', true],
    ['latency', 'not_equals', '1', true],
    ['latency', 'greater_than', '0.3', true],
    ['latency', 'greater_than', '0.4', false],
    ['latency', 'greater_than_or_equal', '0.4', true],
    ['latency', 'less_than', '0.4', false],
    ['latency', 'less_than_or_equal', '0.4', true],
    ['total_tokens', 'greater_than', '9', true],
    ['latency', 'in', '0.1, 0.4', true],
    ['latency', 'in', '[0.4]', true],
    ['latency', 'in', '[1,2]', false],
    ['latency', 'between', '0.1,0.5', true],
    ['latency', 'between', '[0.4,0.4]', true],
    ['latency', 'between', '[0.5,1]', false],
    ['latency', 'like', '0.%', true],
    ['latency', 'is_null', null, false],
    ['cost', 'is_null', null, true],
    ['cost', 'greater_than', '0', false],
  ],
  'numeric string (compared as a number)': [
    ['rank', 'greater_than', '9', true], // as strings "10" < "9"
    ['rank', 'less_than', '9', false],
    ['rank', 'equals', '10.0', true],
    ['rank', 'between', '9,11', true],
    ['rank', 'in', '["10"]', true],
    ['rank', 'like', '1_', true],
    ['rank', 'greater_than', 'abc', false], // not numeric: compared as strings
  ],
  'boolean field': [
    ['cache_hit', 'equals', 'true', true],
    ['cache_hit', 'not_equals', 'true', false],
  ],
  'timestamp field (compared as instants)': [
    ['start_timestamp', 'greater_than', '2024-08-09T20:00:00+02:00', true], // 18:00Z; as text "...T18" < "...T20"
    ['start_timestamp', 'equals', '2024-08-09T20:39:56.123456+02:00', true],
    ['start_timestamp', 'less_than', '2024-08-09T18:39:56.123457Z', true],
    ['start_timestamp', 'between', '2024-08-09T18:39:56.123456Z,2024-08-09T18:39:56.123456Z', true],
  ],
  'array field (tags)': [
    ['tags', 'equals', 'smoke', true],
    ['tags', 'equals', 'prod', false],
    ['tags', 'not_equals', 'smoke', false],
    ['tags', 'not_equals', 'nightly', true],
    ['tags', 'like', 'PROD', true],
    ['tags', 'like', 'sm%', true],
    ['tags', 'like', 'nightly%', false],
    ['tags', 'in', 'x,Prod', true],
    ['tags', 'in', '["x","y"]', false],
    ['tags', 'greater_than', 'r', true],
    ['tags', 'is_null', null, false],
    ['tags', 'exists', null, true],
  ],
  'map field with filter_key': [
    ['metadata', 'equals', 'eval', true, 'purpose'],
    ['metadata', 'not_equals', 'eval', false, 'purpose'],
    ['metadata', 'like', 'EV%', true, 'purpose'],
    ['metadata', 'in', 'a,eval', true, 'purpose'],
    ['metadata', 'greater_than', '0', true, 'run'],
    ['metadata', 'between', '[1,1]', true, 'run'],
    ['metadata', 'is_null', null, true, 'missing'],
    ['metadata', 'exists', null, false, 'missing'],
    ['metadata', 'exists', null, true, 'run'],
    ['metadata', 'equals', 'eval', false, 'missing'],
    ['configuration', 'equals', 'gpt-4o', true, 'model'],
    ['metadata', 'exists', null, true],
    ['metadata', 'is_null', null, false],
  ],
  'score:{name}': [
    ['score:accuracy', 'equals', '0.4', true],
    ['score:accuracy', 'not_equals', '1', true],
    ['score:accuracy', 'greater_than', '0.5', false],
    ['score:accuracy', 'greater_than_or_equal', '0.4', true],
    ['score:accuracy', 'less_than', '0.5', true],
    ['score:accuracy', 'less_than_or_equal', '0.3', false],
    ['score:accuracy', 'in', '[0.4, 1]', true],
    ['score:accuracy', 'between', '0,0.5', true],
    ['score:accuracy', 'like', '0.4', true],
    ['score:accuracy', 'exists', null, true],
    ['score:textual', 'equals', '0.75', true], // numeric string score
    ['score:missing', 'is_null', null, true],
    ['score:missing', 'exists', null, false],
    ['score:missing', 'not_equals', '1', false],
  ],
  'annotation:{type}:{id} (any user; type ignored)': [
    ['annotation:helpful:12', 'equals', '1', true],
    ['annotation:helpful:12', 'equals', '0', true],
    ['annotation:helpful:12', 'equals', '0.5', false],
    ['annotation:helpful:12', 'not_equals', '1', false],
    ['annotation:helpful:12', 'not_equals', '0.5', true],
    ['annotation:helpful:12', 'greater_than', '0.5', true],
    ['annotation:helpful:12', 'less_than', '0', false],
    ['annotation:helpful:12', 'less_than_or_equal', '0', true],
    ['annotation:helpful:12', 'in', '2,3', false],
    ['annotation:helpful:12', 'between', '[0.5,1]', true],
    ['annotation:helpful:12', 'exists', null, true],
    ['annotation:other_type:12', 'equals', '1', true],
    ['annotation:12', 'equals', '1', true],
    ['annotation:helpful:13', 'is_null', null, true], // only a null score
    ['annotation:helpful:99', 'is_null', null, true],
    ['annotation:helpful:99', 'exists', null, false],
  ],
};

describe('compileFilter: operators × field kinds', () => {
  for (const [kind, cases] of Object.entries(CASES)) {
    describe(kind, () => {
      it.each(cases)('%s %s %s → %s', (field, op, value, expected, key) => {
        expect(run(field, op, value, key)).toBe(expected);
      });
    });
  }

  it('the cases above use every filter operator', () => {
    const used = new Set(Object.values(CASES).flatMap((cs) => cs.map((c) => c[1])));
    expect([...used].sort()).toEqual([...FILTER_OPERATORS].sort());
  });

  it('an empty array is present (exists) but equals nothing', () => {
    const span = { ...SPAN, tags: [] };
    expect(run('tags', 'exists', null, undefined, span)).toBe(true);
    expect(run('tags', 'equals', 'smoke', undefined, span)).toBe(false);
    expect(run('tags', 'not_equals', 'smoke', undefined, span)).toBe(true);
    expect(run('tags', 'is_null', null, undefined, { ...SPAN, tags: null })).toBe(true);
  });
});

describe('compileFilter: like', () => {
  const like = (pattern: string, value: string) => run('trace_name', 'like', pattern, undefined, { ...SPAN, trace_name: value });

  it.each([
    ['a%', 'abc', true],
    ['%c', 'abc', true],
    ['%b%', 'abc', true],
    ['%', '', true],
    ['a%', 'ba', false],
    ['a_c', 'abc', true],
    ['a_c', 'ac', false],
    ['a_c', 'abbc', false],
    ['___', 'abc', true],
    ['_', '', false],
    ['ABC', 'abc', true],
    ['abc', 'ABC', true],
    ['äb%', 'ÄBC', true],
    ['_', '😀', true],
    ['a.b', 'axb', false],
    ['a.b', 'a.b', true],
    ['a.*', 'abc', false],
    ['(x)+[y]*?^$|{1}', '(X)+[Y]*?^$|{1}', true],
    ['a\\%b', 'a%b', true],
    ['a\\%b', 'axb', false],
    ['a\\_b', 'axb', false],
    ['a\\_b', 'a_b', true],
    ['%a%a%a%a%a%a%a%a%a%b', 'a'.repeat(5000), false],
  ])('%s ~ %s → %s', (pattern, value, expected) => {
    expect(like(pattern, value)).toBe(expected);
  });
});

describe('compileFilter: no filter', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['{}', {}],
    ['all null', { filter_field: null, filter_key: null, filter_operator: null, filter_value: null }],
    ['blank strings', { filter_field: '', filter_key: '', filter_operator: ' ', filter_value: '' }],
    ['a stray value', { filter_value: 'x' }],
  ])('%s → null', (_, body) => {
    expect(compileFilter(body)).toBeNull();
  });

  it('the schema accepts both SDK defaults and drops unknown keys', () => {
    expect(TraceLogFilter.parse({})).toEqual({});
    expect(TraceLogFilter.parse({ filter_field: 'status', filter_operator: 'EQUALS', filter_value: 5, extra: 1 })).toEqual({
      filter_field: 'status',
      filter_operator: 'equals',
      filter_value: '5',
    });
  });
});

describe('compileFilter: errors', () => {
  const error = (body: unknown): FilterError => {
    try {
      compileFilter(body);
    } catch (e) {
      expect(e).toBeInstanceOf(FilterError);
      return e as FilterError;
    }
    throw new Error('expected a FilterError');
  };

  it('an unknown operator lists the eleven', () => {
    const e = error({ filter_field: 'status', filter_operator: 'contains', filter_value: 'x' });
    expect(e.name).toBe('FilterError');
    expect(e.message).toContain('filter_operator');
    for (const op of FILTER_OPERATORS) expect(e.message).toContain(op);
    expect(FILTER_OPERATORS).toHaveLength(11);
  });

  it.each([
    ['between with one value', { filter_field: 'latency', filter_operator: 'between', filter_value: '1' }, /exactly two/],
    ['between with three values', { filter_field: 'latency', filter_operator: 'between', filter_value: '[1,2,3]' }, /exactly two/],
    ['in with no value', { filter_field: 'status', filter_operator: 'in', filter_value: ' , ' }, /at least one/],
    ['in with broken JSON', { filter_field: 'status', filter_operator: 'in', filter_value: '["a",' }, /JSON array/],
    ['in with objects', { filter_field: 'status', filter_operator: 'in', filter_value: '[{"a":1}]' }, /strings or numbers/],
    ['equals without a value', { filter_field: 'status', filter_operator: 'equals', filter_value: null }, /needs a filter_value/],
    ['a number field with a word', { filter_field: 'latency', filter_operator: 'equals', filter_value: 'fast' }, /numeric/],
    ['a score with a word', { filter_field: 'score:accuracy', filter_operator: 'greater_than', filter_value: 'high' }, /numeric/],
    ['between on a number field with a word', { filter_field: 'cost', filter_operator: 'between', filter_value: '0,lots' }, /numeric/],
    ['a score without a name', { filter_field: 'score:', filter_operator: 'exists', filter_value: null }, /score name/],
    [
      'an annotation id that is not digits',
      { filter_field: 'annotation:helpful:abc', filter_operator: 'exists', filter_value: null },
      /annotation id/,
    ],
    ['a map field without filter_key', { filter_field: 'metadata', filter_operator: 'equals', filter_value: 'x' }, /filter_key/],
    ['a field without an operator', { filter_field: 'status', filter_value: 'x' }, /filter_operator is required/],
    ['an operator without a field', { filter_operator: 'equals', filter_value: 'x' }, /filter_field is required/],
    ['a body that is not an object', ['status'], /JSON object/],
    ['a field that is not a string', { filter_field: 5, filter_operator: 'exists' }, /filter_field/],
  ])('%s', (_, body, message) => {
    expect(error(body).message).toMatch(message);
  });
});

describe('matchesTree and filterForest', () => {
  const forest = buildForest(fixtureSpans());

  it('matches a tree where only a grandchild matches', () => {
    // accuracy is scored on the judge span (depth 2) only: 1.0, 0.4 and 0.0 in the three trees.
    const predicate = compileFilter({ filter_field: 'score:accuracy', filter_operator: 'greater_than', filter_value: '0.5' })!;
    expect(forest.map((root) => predicate(root))).toEqual([false, false, false]);
    expect(forest.map((root) => predicate(root.children_logs[1]!))).toEqual([false, false, false]);
    expect(forest.map((root) => matchesTree(root, predicate))).toEqual([true, false, false]);
    expect(filterForest(forest, predicate).map((r) => r.trace_id)).toEqual(['11e38dfe-dc08-5090-8725-5872ec12f098']);
  });

  it('matches on the root, on a child, and on a map key set only on children', () => {
    const byRoot = compileFilter({ filter_field: 'session_id', filter_operator: 'equals', filter_value: 's0' })!;
    expect(filterForest(forest, byRoot)).toHaveLength(2);
    const byChild = compileFilter({ filter_field: 'status', filter_operator: 'equals', filter_value: 'error' })!;
    expect(filterForest(forest, byChild).map((r) => r.trace_id)).toEqual(['7b606082-9e67-52bb-9e18-c14289d5689b']);
    const byKey = compileFilter({ filter_field: 'metadata', filter_key: 'k', filter_operator: 'equals', filter_value: '4' })!;
    expect(filterForest(forest, byKey)).toHaveLength(3);
    const byModel = compileFilter({
      filter_field: 'configuration',
      filter_key: 'model',
      filter_operator: 'like',
      filter_value: 'claude%',
    })!;
    expect(filterForest(forest, byModel).map((r) => r.trace_id)).toEqual(['0db2b2d2-5902-5d93-b420-9e8fcd591b0e']);
    const byAnnotation = compileFilter({ filter_field: 'annotation:helpful:12', filter_operator: 'between', filter_value: '[0.25,1]' })!;
    expect(filterForest(forest, byAnnotation)).toHaveLength(2);
    expect(filterForest(forest, null)).toHaveLength(3);
    expect(filterForest(forest, compileFilter({}))).toHaveLength(3);
  });

  it('walks a 10,000-deep tree without recursion', () => {
    const spans: Span[] = Array.from({ length: 10_000 }, (_, i) => ({
      trace_id: `s${i}`,
      parent_trace_id: `s${Math.max(0, i - 1)}`,
      root_trace_id: 's0',
      start_timestamp: '2024-08-09T00:00:00Z',
      execution_order: i,
      ...(i === 9_999 ? { status: 'error' } : {}),
    }));
    const [root] = buildForest(spans);
    expect(matchesTree(root!, compileFilter({ filter_field: 'status', filter_operator: 'equals', filter_value: 'error' })!)).toBe(true);
    expect(matchesTree(root!, compileFilter({ filter_field: 'status', filter_operator: 'exists' })!)).toBe(true);
    expect(matchesTree(root!, compileFilter({ filter_field: 'status', filter_operator: 'equals', filter_value: 'success' })!)).toBe(false);
  });
});
