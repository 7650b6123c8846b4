/** The answer of GET .../stats (./stats.ts), on its own so the web viewer reads the same type without the server's modules. */
export interface StatsBucket {
  start: string;
  traces: number;
  bad_lines: number;
  spans: number;
  span_errors: number;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cost: number;
}

export interface StatsAnswer {
  interval: 'hour' | 'day';
  from: string;
  to: string;
  buckets: StatsBucket[];
  totals: Omit<StatsBucket, 'start'>;
}
