/**
 * Node.js flags every function runs with (plain constants: the benchmark
 * runs the ingest worker with exactly these). The old-space limit follows
 * the function's memory, so V8 collects before the heap grows past what the
 * function has, instead of growing lazily towards a host-sized default.
 */
export const INGEST_MEMORY_MB = 2048;
export const API_MEMORY_MB = 512;

/** 75% of the function's memory for V8's old space; the rest is young space, buffers and the runtime. */
export function nodeOptionsFor(memoryMb: number): string {
  return `--enable-source-maps --max-old-space-size=${Math.floor(memoryMb * 0.75)}`;
}
