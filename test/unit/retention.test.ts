import { describe, expect, it } from 'vitest';
import { retentionCutoff, sweepExpired, type RetentionDeps } from '../../functions/domain/retention.js';
import type { Tenant } from '../../functions/domain/tenancy.js';
import type { TraceToDelete } from '../../functions/domain/trace-maintenance.js';

const DAY = 86_400_000;
const NOW = new Date('2025-06-30T12:00:00.000Z');
const ago = (days: number) => new Date(NOW.getTime() - days * DAY).toISOString();

interface FakeTrace extends TraceToDelete {
  id: string;
  tenant: Tenant;
  createdAt: string;
}

interface FakeRoot {
  tenant: Tenant;
  rootTraceId: string;
  /** Epoch seconds. */
  horizon: number;
}

/** In-memory projects, traces, evaluations, payloads and trace-log roots behind the ports the sweep and the delete use cases need. */
function fakes(projects: Record<string, string[]>, traces: FakeTrace[], roots: FakeRoot[] = []) {
  const liveRoots = new Map(roots.map((r) => [r.rootTraceId, r]));
  const live = new Map(traces.map((t) => [t.id, t]));
  const payloads = new Set(traces.flatMap((t) => (t.payloadKey ? [t.payloadKey] : [])));
  const evaluations = new Map(traces.map((t) => [t.id, 1]));
  const queries: Array<{ tenant: Tenant; cutoff: string }> = [];
  const same = (a: Tenant, b: Tenant) => a.organizationId === b.organizationId && a.projectId === b.projectId;
  const deps: RetentionDeps = {
    projects: {
      listOrganizations: async () => Object.keys(projects).map((id) => ({ id, name: id, createdAt: ago(100) })),
      listProjects: async (org) => (projects[org] ?? []).map((id) => ({ id, organizationId: org, name: id, createdAt: ago(100) })),
    },
    expired: {
      async *tracesCreatedBefore(tenant, cutoff) {
        queries.push({ tenant, cutoff });
        const ids = [...live.values()]
          .filter((t) => same(t.tenant, tenant) && t.createdAt < cutoff)
          .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
          .map((t) => t.id);
        // Pages of two, as DynamoDB would page.
        for (let i = 0; i < ids.length; i += 2) yield ids.slice(i, i + 2);
      },
    },
    store: {
      findTrace: async (tenant, id) => {
        const t = live.get(id);
        return t && same(t.tenant, tenant) ? t : null;
      },
      deleteTrace: async (_tenant, id) => (live.delete(id) ? { outcome: 'deleted', counted: true } : { outcome: 'missing' }),
      pruneSource: async () => {},
      sources: async () => [],
    },
    evaluations: {
      deleteForTrace: async (_tenant, id) => {
        const n = evaluations.get(id) ?? 0;
        evaluations.delete(id);
        return n;
      },
    },
    payloads: { deletePayload: async (key) => void payloads.delete(key) },
    roots: {
      async *retiring(tenant, nowSeconds) {
        const due = [...liveRoots.values()]
          .filter((r) => same(r.tenant, tenant) && r.horizon <= nowSeconds)
          .sort((a, b) => a.horizon - b.horizon);
        for (const r of due) yield { rootTraceId: r.rootTraceId, traceId: r.rootTraceId, key: String(r.horizon) };
      },
      retireRoot: async (_tenant, root, nowSeconds) => {
        const r = liveRoots.get(root.rootTraceId);
        if (!r || r.horizon > nowSeconds) return 'skipped';
        liveRoots.delete(root.rootTraceId);
        return 'retired';
      },
    },
  };
  return { deps, live, payloads, evaluations, queries, liveRoots };
}

const tenantA: Tenant = { organizationId: 'o1', projectId: 'a' };
const tenantB: Tenant = { organizationId: 'o2', projectId: 'b' };
const trace = (id: string, tenant: Tenant, createdAt: string, payloadKey: string | null = null): FakeTrace => ({
  id,
  tenant,
  createdAt,
  source: 'sdk',
  payloadKey,
  evalStatus: null,
  judgeIds: [],
});

describe('sweepExpired', () => {
  it('deletes only the traces created before now - retentionDays, in every project, with their evaluations and payloads', async () => {
    const { deps, live, payloads, evaluations, queries } = fakes({ o1: ['a'], o2: ['b'], o3: [] }, [
      trace('a-old', tenantA, ago(40), 'payloads/a-old.json'),
      trace('a-edge', tenantA, ago(30)), // exactly at the cutoff: kept
      trace('a-new', tenantA, ago(1), 'payloads/a-new.json'),
      trace('b-old', tenantB, ago(31)),
      trace('b-older', tenantB, ago(365)),
    ]);
    expect(await sweepExpired(deps, { retentionDays: 30, now: NOW })).toEqual({ projects: 2, deleted: 3, roots: 0, complete: true });
    expect([...live.keys()].sort()).toEqual(['a-edge', 'a-new']);
    expect([...payloads]).toEqual(['payloads/a-new.json']);
    expect([...evaluations.keys()].sort()).toEqual(['a-edge', 'a-new']);
    expect(queries.map((q) => q.cutoff)).toEqual([ago(30), ago(30)]);
    expect(retentionCutoff(NOW, 30)).toBe('2025-05-31T12:00:00.000Z');
    // A second run finds nothing more.
    expect(await sweepExpired(deps, { retentionDays: 30, now: NOW })).toEqual({ projects: 2, deleted: 0, roots: 0, complete: true });
  });

  it('stops after maxDeletes, oldest first; the next run continues', async () => {
    const traces = Array.from({ length: 5 }, (_, i) => trace(`t${i}`, tenantA, ago(50 - i)));
    const { deps, live } = fakes({ o1: ['a'] }, traces);
    expect(await sweepExpired(deps, { retentionDays: 30, now: NOW, maxDeletes: 3 })).toEqual({
      projects: 1,
      deleted: 3,
      roots: 0,
      complete: false,
    });
    expect([...live.keys()]).toEqual(['t3', 't4']);
    expect(await sweepExpired(deps, { retentionDays: 30, now: NOW, maxDeletes: 3 })).toEqual({
      projects: 1,
      deleted: 2,
      roots: 0,
      complete: true,
    });
    expect(live.size).toBe(0);
  });

  it('stops when asked to (the function running out of time)', async () => {
    const { deps, live } = fakes({ o1: ['a'] }, [trace('x', tenantA, ago(40)), trace('y', tenantA, ago(39))]);
    let calls = 0;
    expect(await sweepExpired(deps, { retentionDays: 30, now: NOW, shouldStop: () => ++calls > 2 })).toEqual({
      projects: 1,
      deleted: 1,
      roots: 0,
      complete: false,
    });
    expect([...live.keys()]).toEqual(['y']);
  });

  it('retires the trace-log roots whose horizon has passed, in every project, within the same maxDeletes', async () => {
    const nowS = NOW.getTime() / 1000;
    const { deps, live, liveRoots } = fakes(
      { o1: ['a'], o2: ['b'] },
      [trace('a-old', tenantA, ago(40))],
      [
        { tenant: tenantA, rootTraceId: 'ra-due', horizon: nowS - 86_400 },
        { tenant: tenantA, rootTraceId: 'ra-edge', horizon: nowS }, // at its horizon: retired
        { tenant: tenantA, rootTraceId: 'ra-kept', horizon: nowS + 1 },
        { tenant: tenantB, rootTraceId: 'rb-due', horizon: nowS - 10 },
      ],
    );
    expect(await sweepExpired(deps, { retentionDays: 30, now: NOW, maxDeletes: 3 })).toEqual({
      projects: 1,
      deleted: 1,
      roots: 2,
      complete: false,
    });
    expect(live.size).toBe(0);
    expect([...liveRoots.keys()].sort()).toEqual(['ra-kept', 'rb-due']);
    expect(await sweepExpired(deps, { retentionDays: 30, now: NOW })).toEqual({ projects: 2, deleted: 0, roots: 1, complete: true });
    expect([...liveRoots.keys()]).toEqual(['ra-kept']);
  });

  it('deletes no trace without a retention (keep forever), and refuses a retention below one day', async () => {
    const nowS = NOW.getTime() / 1000;
    // Roots stored under a retention keep their horizon: they are retired by it, retention or not now.
    const { deps, live, queries, liveRoots } = fakes(
      { o1: ['a'] },
      [trace('x', tenantA, ago(4000))],
      [{ tenant: tenantA, rootTraceId: 'r', horizon: nowS - 1 }],
    );
    expect(await sweepExpired(deps, { retentionDays: undefined, now: NOW })).toEqual({ projects: 1, deleted: 0, roots: 1, complete: true });
    expect(liveRoots.size).toBe(0);
    expect(live.size).toBe(1);
    expect(queries).toEqual([]);
    await expect(sweepExpired(deps, { retentionDays: 0, now: NOW })).rejects.toThrow(/retentionDays/);
    expect(live.size).toBe(1);
  });
});
