/**
 * The naive ingest (bench/naive.ts) as its own process, bundled and run like
 * the ingest worker, so its peak RSS is its own. Arguments: bucket, key,
 * organization. Prints one JSON line.
 */
import { naiveClients, naiveIngest } from './naive.js';
import { peakRssMB } from './peak-rss.js';

const [bucket, key, organizationId] = process.argv.slice(2) as [string, string, string];
const clients = naiveClients();
const started = performance.now();
const cpu0 = process.cpuUsage();
const out = await naiveIngest(clients, { bucket, key, table: process.env.TABLE_NAME!, organizationId, projectId: 'p' });
const ms = performance.now() - started;
const cpu = process.cpuUsage(cpu0);
process.stdout.write(`${JSON.stringify({ ms, ...out, maxRssMB: peakRssMB(), cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
