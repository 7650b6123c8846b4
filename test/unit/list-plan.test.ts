import { describe, expect, it } from 'vitest';
import { planListRead, planTotal, totalCarriedByCursor } from '../../functions/domain/list-plan.js';

describe('the trace list plans', () => {
  it('reads by the judge, else the status, else the source, else every trace; the rest is tested on the traces read', () => {
    expect(planListRead({ judgeId: 'j', status: 'pass', source: 's', search: 'x' })).toEqual({
      index: { by: 'judge', judgeId: 'j', source: 's' },
      unevaluatedOnly: false,
      residual: { status: 'pass', search: 'x' },
    });
    expect(planListRead({ status: 'fail', source: 's' })).toEqual({
      index: { by: 'status', status: 'fail', source: 's' },
      unevaluatedOnly: false,
      residual: { search: undefined },
    });
    expect(planListRead({ status: 'unevaluated', source: 's' })).toEqual({
      index: { by: 'source', source: 's' },
      unevaluatedOnly: true,
      residual: { search: undefined },
    });
    expect(planListRead({ status: 'unevaluated' })).toMatchObject({ index: { by: 'all' }, unevaluatedOnly: true });
    expect(planListRead({ search: '' })).toEqual({ index: { by: 'all' }, unevaluatedOnly: false, residual: { search: undefined } });
  });

  it('counts from counters wherever one holds the total, by reading only a search or a judge with a status', () => {
    expect(planTotal({ search: 'x' })).toEqual({ by: 'reading' });
    expect(planTotal({ judgeId: 'j', status: 'pass' })).toEqual({ by: 'reading' });
    expect(planTotal({ source: 's', since: '2026-01-01T00:00:00.000Z' })).toEqual({ by: 'traces' });
    expect(planTotal({ judgeId: 'j' })).toEqual({ by: 'judge', judgeId: 'j', from: 'evaluation-counters' });
    expect(planTotal({ status: 'pending', since: '2026-01-01T00:00:00.000Z' })).toEqual({
      by: 'status',
      status: 'pending',
      from: 'index-range',
    });
    expect(planTotal({ status: 'unevaluated' })).toEqual({ by: 'unevaluated', from: 'evaluation-counters' });
    expect(totalCarriedByCursor({ status: 'pass', since: '2026-01-01T00:00:00.000Z' })).toBe(true);
    expect(totalCarriedByCursor({ status: 'pass' })).toBe(false);
    expect(totalCarriedByCursor({ source: 's', since: '2026-01-01T00:00:00.000Z' })).toBe(false);
  });
});
