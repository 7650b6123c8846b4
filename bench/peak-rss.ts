import { readFileSync } from 'node:fs';

/**
 * This process's peak resident set in MB: VmHWM, the high-water mark of its own address space.
 * Not `process.resourceUsage().maxRSS`: Linux carries a spawned child's pre-exec high-water mark
 * (the parent's resident set at the fork) into it across exec, so a worker started by a bench
 * holding 800 MB reported 800 MB. Falls back to maxRSS where /proc is not there.
 */
export function peakRssMB(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m) return Number(m[1]) / 1024;
  } catch {
    // no /proc: not Linux
  }
  return process.resourceUsage().maxRSS / 1024;
}
