import { describe, expect, it } from 'vitest';
import {
  bucketBounds,
  latencyBucket,
  MAX_LATENCY_BUCKET,
  MAX_STATS_HOURS,
  projectStats,
  quantileMs,
  spanContribution,
  spanStatsDelta,
  StatsQuerySchema,
  StatsRangeError,
  statsWindow,
  type SpanHour,
  type StatsReader,
  type TraceHour,
} from '../../functions/domain/stats.js';

const span = (over: Record<string, unknown> = {}) =>
  JSON.stringify({
    trace_id: 't1',
    parent_trace_id: 't1',
    root_trace_id: 't1',
    start_timestamp: '2026-11-01T09:15:00.000000+00:00',
    ...over,
  });
const q = (raw: Record<string, string>) => StatsQuerySchema.parse(raw);

describe('latency buckets', () => {
  it('puts every latency in the bucket whose bounds hold it, four buckets per doubling', () => {
    for (const ms of [0, 0.3, 1, 1.1, 1.5, 2, 3, 10, 99.9, 250, 1234.5, 60_000, 3_600_000]) {
      const b = latencyBucket(ms);
      const [lo, hi] = bucketBounds(b);
      expect(ms).toBeGreaterThanOrEqual(lo);
      expect(ms).toBeLessThan(hi);
    }
    expect(latencyBucket(2) - latencyBucket(1)).toBe(4);
    expect(latencyBucket(1e12)).toBe(MAX_LATENCY_BUCKET);
  });

  it('reads p50 and p95 from the buckets within the bucket width (about 9%)', () => {
    const values = Array.from({ length: 1000 }, (_, i) => 10 + i); // 10 .. 1009 ms
    const buckets = new Map<number, number>();
    for (const v of values) buckets.set(latencyBucket(v), (buckets.get(latencyBucket(v)) ?? 0) + 1);
    const p50 = quantileMs(buckets, 0.5)!;
    const p95 = quantileMs(buckets, 0.95)!;
    expect(Math.abs(p50 - 509) / 509).toBeLessThan(0.1);
    expect(Math.abs(p95 - 959) / 959).toBeLessThan(0.1);
    expect(quantileMs(new Map(), 0.5)).toBeNull();
  });
});

describe('a span and its change', () => {
  it('counts a span in the UTC hour it started, with its latency, tokens and cost', () => {
    const c = spanContribution(
      span({
        start_timestamp: '2026-11-01T10:15:00+01:00',
        latency: 0.25,
        input_tokens: 20,
        output_tokens: 5,
        cost: 0.0001,
        status: 'error',
      }),
    )!;
    expect(c.hour).toBe('2026-11-01T09');
    expect(c.add).toEqual({
      spans: 1,
      errors: 1,
      latency: { [latencyBucket(250)]: 1 },
      inputTokens: 20,
      outputTokens: 5,
      totalTokens: 25,
      costNanos: 100_000,
    });
  });

  it('takes the latency from end minus start when the span has none, and ignores negative or odd figures', () => {
    const c = spanContribution(
      span({ end_timestamp: '2026-11-01T09:15:01.500000+00:00', input_tokens: -3, cost: 'lots', total_tokens: '7' }),
    )!;
    expect(c.add.latency).toEqual({ [latencyBucket(1500)]: 1 });
    expect(c.add.inputTokens).toBe(0);
    expect(c.add.totalTokens).toBe(7);
    expect(c.add.costNanos).toBe(0);
    expect(spanContribution('{"start_timestamp": "yesterday"}')).toBeNull();
  });

  it('adds a new span, moves only what changed, and writes nothing for a change of output alone', () => {
    const first = span({ latency: 0.01 });
    const ended = span({ latency: 2, total_tokens: 30, cost: 0.002 });
    expect(spanStatsDelta(null, first)).toEqual([
      {
        hour: '2026-11-01T09',
        add: { spans: 1, errors: 0, latency: { [latencyBucket(10)]: 1 }, inputTokens: 0, outputTokens: 0, totalTokens: 0, costNanos: 0 },
      },
    ]);
    expect(spanStatsDelta(first, ended)).toEqual([
      {
        hour: '2026-11-01T09',
        add: {
          spans: 0,
          errors: 0,
          latency: { [latencyBucket(10)]: -1, [latencyBucket(2000)]: 1 },
          inputTokens: 0,
          outputTokens: 0,
          totalTokens: 30,
          costNanos: 2_000_000,
        },
      },
    ]);
    expect(spanStatsDelta(ended, span({ latency: 2, total_tokens: 30, cost: 0.002, output: 'new' }))).toEqual([]);
    // A start moved to another hour: out of the old one, into the new one.
    const moved = spanStatsDelta(first, span({ latency: 0.01, start_timestamp: '2026-11-01T11:00:00Z' }));
    expect(moved.map((d) => [d.hour, d.add.spans])).toEqual([
      ['2026-11-01T09', -1],
      ['2026-11-01T11', 1],
    ]);
  });
});

describe('the stats window', () => {
  const now = Date.parse('2026-12-01T21:41:44Z');
  it('defaults to the last 24 hours, the current hour included', () => {
    const w = statsWindow(q({}), now);
    expect(new Date(w.from).toISOString()).toBe('2026-11-30T22:00:00.000Z');
    expect(new Date(w.to).toISOString()).toBe('2026-12-01T22:00:00.000Z');
  });
  it('rounds from and to out to whole days by day', () => {
    const w = statsWindow(q({ from: '2026-11-03T05:00:00Z', to: '2026-11-05', interval: 'day' }), now);
    expect([new Date(w.from).toISOString(), new Date(w.to).toISOString()]).toEqual([
      '2026-11-03T00:00:00.000Z',
      '2026-11-05T00:00:00.000Z',
    ]);
  });
  it('refuses more than 31 days, a window that ends before it starts, and bad parameters', () => {
    expect(() => statsWindow(q({ from: '2026-01-01', to: '2026-03-01' }), now)).toThrow(StatsRangeError);
    expect(() => statsWindow(q({ from: '2026-03-01', to: '2026-01-01' }), now)).toThrow(StatsRangeError);
    expect(statsWindow(q({ time_range: '31d' }), now).to - statsWindow(q({ time_range: '31d' }), now).from).toBe(
      MAX_STATS_HOURS * 3_600_000,
    );
    for (const bad of [
      { time_range: '32d' },
      { time_range: '5m' },
      { from: 'monday' },
      { to: '2026-01-01' },
      { interval: 'week' },
      { time_range: '1d', from: '2026-01-01' },
    ]) {
      expect(StatsQuerySchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});

describe('projectStats', () => {
  it('answers every hour of the window, zeros where nothing was counted, and merges hours into days', async () => {
    const traceHours: TraceHour[] = [
      { hour: '2026-11-01T09', traces: 3, badLines: 1 },
      { hour: '2026-11-01T12', traces: 2, badLines: 0 },
    ];
    const spanHours: SpanHour[] = [
      {
        hour: '2026-11-01T09',
        counts: {
          spans: 2,
          errors: 1,
          latency: { [latencyBucket(100)]: 1, [latencyBucket(1000)]: 1 },
          inputTokens: 5,
          outputTokens: 1,
          totalTokens: 6,
          costNanos: 1500,
        },
      },
    ];
    const asked: string[][] = [];
    const reader: StatsReader = {
      traceHours: async (_t, from, to) => {
        asked.push([from, to]);
        return traceHours;
      },
      spanHours: async () => spanHours,
    };
    const tenant = { organizationId: 'o', projectId: 'p' };
    const hourly = await projectStats(reader, tenant, q({ from: '2026-11-01T08:00:00Z', to: '2026-11-01T13:00:00Z' }));
    expect(asked[0]).toEqual(['2026-11-01T08', '2026-11-01T12']);
    expect(hourly.buckets.map((b) => [b.start.slice(11, 13), b.traces, b.bad_lines, b.spans])).toEqual([
      ['08', 0, 0, 0],
      ['09', 3, 1, 2],
      ['10', 0, 0, 0],
      ['11', 0, 0, 0],
      ['12', 2, 0, 0],
    ]);
    expect(hourly.buckets[1]!.latency_p50_ms).toBeCloseTo(
      Math.sqrt(bucketBounds(latencyBucket(100))[0] * bucketBounds(latencyBucket(100))[1]),
      1,
    );
    expect(hourly.buckets[0]!.latency_p50_ms).toBeNull();
    expect(hourly.totals).toMatchObject({ traces: 5, bad_lines: 1, spans: 2, span_errors: 1, total_tokens: 6, cost: 0.0000015 });
    const daily = await projectStats(reader, tenant, q({ from: '2026-11-01', to: '2026-11-02', interval: 'day' }));
    expect(daily.buckets).toHaveLength(1);
    expect(daily.buckets[0]).toMatchObject({ start: '2026-11-01T00:00:00.000Z', traces: 5, bad_lines: 1, spans: 2 });
  });
});
