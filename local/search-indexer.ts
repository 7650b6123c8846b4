/**
 * The search indexer in the local stack's process: what the indexer function does on AWS (there
 * started by the table's stream), here every `intervalMs` over the projects with work.
 */
import { indexAll } from '../functions/domain/search/indexer.js';
import { indexerDeps } from '../functions/shared/search-services.js';

export interface LocalIndexer {
  /** Runs passes now until no project has work left (after any pass in flight). */
  drain(): Promise<void>;
  stop(): Promise<void>;
}

export function startLocalIndexer(o: { intervalMs?: number; log?: (line: string) => void } = {}): LocalIndexer {
  const interval = o.intervalMs ?? 1_000;
  let stopping = false;
  let running: Promise<void> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  /** One pass at a time: answers whether it did any work. */
  const pass = (): Promise<boolean> => {
    const next = running.then(async () => {
      if (stopping) return false;
      try {
        const runs = await indexAll(indexerDeps(), { shouldStop: () => stopping });
        return runs.some((r) => r.rounds > 0 || !r.acquired);
      } catch (err) {
        o.log?.(`[search] indexer pass failed (the work stays for the next): ${String(err)}`);
        return false;
      }
    });
    running = next.then(() => undefined);
    return next;
  };
  const tick = () => {
    timer = setTimeout(() => {
      void pass().finally(() => {
        if (!stopping) tick();
      });
    }, interval);
    timer.unref();
  };
  tick();
  return {
    drain: async () => {
      for (let i = 0; i < 100 && (await pass()); i++);
    },
    stop: async () => {
      stopping = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
