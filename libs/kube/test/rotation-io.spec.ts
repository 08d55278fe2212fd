// The I/O helpers of the rotation adapter without a cluster: error classification and messages,
// retry with backoff, request counting, label selectors and budgets, the Lease's expiry, the
// cmctl-style Issuing condition, Events, resourceVersion order and the watch-driven wake-up.
import { compareResourceVersions } from '../src/collection.js';
import { classify, KubeApiError, redact, withRetry } from '../src/errors.js';
import { eventFor } from '../src/rotation/events.js';
import { leaseFactsOf } from '../src/rotation/lease.js';
import { manuallyTriggered } from '../src/rotation/renewals.js';
import { requestKey } from '../src/rotation/request-stats.js';
import { budgetBelowMinimum, selectorMatches } from '../src/rotation/restarts.js';
import { wakeOn } from '../src/rotation/wake.js';

const apiError = (code: number, message = 'nope') => Object.assign(new Error(`HTTP-Code: ${code}`), { code, body: JSON.stringify({ kind: 'Status', message }) });
const refused = () => Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }) });

describe('API errors', () => {
  const op = { verb: 'update', resource: 'certificates/status', namespace: 'cert-manager', name: 'linkerd-trust-anchor' };

  it('says which verb, resource and name a 403 denied, and that the chart RBAC should grant it', () => {
    const e = classify(apiError(403, 'certificates.cert-manager.io "linkerd-trust-anchor" is forbidden'), op);
    expect(e.kind).toBe('forbidden');
    expect(e.message).toMatch(/^expected permission to update certificates\/status cert-manager\/linkerd-trust-anchor, found 403 Forbidden \(certificates.*forbidden\); the linkerd-rotator chart's RBAC should grant this component's ServiceAccount \(runner, webhook or exporter\) "update" on certificates\/status "linkerd-trust-anchor"/);
  });

  it('maps statuses and network failures to kinds; an unknown programming error is not "unreachable"', () => {
    expect(classify(apiError(404), op).kind).toBe('not-found');
    expect(classify(apiError(409), op).kind).toBe('conflict');
    expect(classify(apiError(422), op).kind).toBe('invalid');
    expect(classify(apiError(401), op).kind).toBe('unauthorized');
    expect(classify(apiError(503), op).kind).toBe('unreachable');
    expect(classify(apiError(429), op).kind).toBe('unreachable');
    const down = classify(refused(), op);
    expect(down.kind).toBe('unreachable');
    expect(down.message).toMatch(/found no answer \(.*ECONNREFUSED/);
    expect(classify(new TypeError("Cannot read properties of undefined (reading 'x')"), op).kind).toBe('other');
  });

  it('never passes PEM blocks from a server message on', () => {
    const pem = '-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----';
    expect(redact(`data[tls.key]: ${pem} is invalid`)).toBe('data[tls.key]: [PEM redacted] is invalid');
    expect(classify(apiError(422, `bad ${pem}`), op).message).not.toContain('MHcCAQ');
  });

  it('retries an unreachable API server with backoff, then succeeds', async () => {
    let calls = 0;
    const retries: number[] = [];
    const value = await withRetry(
      op,
      async () => {
        calls++;
        if (calls < 3) throw refused();
        return 'ok';
      },
      { deadline: Date.now() + 10_000, onRetry: (_e, _attempt, delay) => retries.push(delay) },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(retries[1]).toBeGreaterThan(retries[0] as number);
  });

  it('gives up at the deadline with a message that says the run stopped safely, and never retries a 404', async () => {
    await expect(withRetry(op, () => Promise.reject(refused()), { deadline: Date.now() + 300 })).rejects.toThrow(/retried for \d+s without an answer, so the run stopped in a safe state/);
    let calls = 0;
    await expect(
      withRetry(
        op,
        () => {
          calls++;
          return Promise.reject(apiError(404));
        },
        { deadline: Date.now() + 10_000 },
      ),
    ).rejects.toBeInstanceOf(KubeApiError);
    expect(calls).toBe(1);
  });

  it('retries a 403 only while the caller says the API server just came back', async () => {
    let calls = 0;
    const value = await withRetry(
      op,
      async () => {
        calls++;
        if (calls === 1) throw refused();
        if (calls === 2) throw apiError(403);
        return 'ok';
      },
      { deadline: Date.now() + 10_000, alsoTransient: (e) => e.kind === 'forbidden' && calls < 3 },
    );
    expect(value).toBe('ok');
  });
});

describe('request counting', () => {
  it.each([
    ['GET', '/api/v1/pods?watch=true&resourceVersion=5', 'watch pods'],
    ['GET', '/api/v1/pods', 'list pods'],
    ['GET', '/api/v1/namespaces/cert-manager/secrets?fieldSelector=metadata.name%3Dx', 'list secrets'],
    ['GET', '/api/v1/namespaces/cert-manager/secrets/linkerd-active-anchor', 'get secrets'],
    ['PATCH', '/apis/apps/v1/namespaces/shop/deployments/web', 'patch deployments'],
    ['PUT', '/apis/cert-manager.io/v1/namespaces/cert-manager/certificates/linkerd-trust-anchor/status', 'update certificates/status'],
    ['POST', '/api/v1/namespaces/shop/pods?dryRun=All', 'create(dry-run) pods'],
    ['GET', '/api/v1/namespaces', 'list namespaces'],
  ])('%s %s -> %s', (method, path, key) => {
    expect(requestKey(method, `https://127.0.0.1:6443${path}`)).toBe(key);
  });
});

describe('budgets', () => {
  it('matches label selectors like Kubernetes (empty selects all, none selects nothing)', () => {
    const labels = { app: 'web', tier: 'front' };
    expect(selectorMatches({}, labels)).toBe(true);
    expect(selectorMatches(undefined, labels)).toBe(false);
    expect(selectorMatches({ matchLabels: { app: 'web' } }, labels)).toBe(true);
    expect(selectorMatches({ matchLabels: { app: 'api' } }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['front', 'back'] }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['front'] }] }, labels)).toBe(false);
    expect(selectorMatches({ matchExpressions: [{ key: 'canary', operator: 'DoesNotExist' }] }, labels)).toBe(true);
    expect(selectorMatches({ matchExpressions: [{ key: 'canary', operator: 'Exists' }] }, labels)).toBe(false);
  });

  it('holds a restart while a budget is below its healthy minimum or its status is stale', () => {
    const pdb = (currentHealthy: number, desiredHealthy: number, generation = 1, observedGeneration = 1) => ({
      metadata: { name: 'web', namespace: 'shop', generation },
      status: { currentHealthy, desiredHealthy, disruptionsAllowed: Math.max(0, currentHealthy - desiredHealthy), expectedPods: 2, observedGeneration },
    });
    expect(budgetBelowMinimum(pdb(2, 1))).toBeUndefined();
    // At its minimum (minAvailable = replicas) a surge rollout still keeps it: not held.
    expect(budgetBelowMinimum(pdb(1, 1))).toBeUndefined();
    expect(budgetBelowMinimum(pdb(0, 1))).toBe('only 0 of the 1 pods it requires are healthy');
    expect(budgetBelowMinimum(pdb(2, 1, 2, 1))).toBe('its status is not current yet');
  });
});

describe('Lease, renewal condition, Events', () => {
  it('computes the Lease expiry from renewTime and duration; no holder is a free Lease', () => {
    expect(leaseFactsOf({ spec: { holderIdentity: 'runner-0', renewTime: '2026-01-01T00:00:00.000000Z' as unknown as Date, leaseDurationSeconds: 60 } })).toEqual({
      holder: 'runner-0',
      expiresAt: Date.parse('2026-01-01T00:01:00Z'),
    });
    expect(leaseFactsOf({ spec: { leaseDurationSeconds: 60 } })).toBeUndefined();
  });

  it('sets Issuing=True with reason ManuallyTriggered as cmctl renew does, keeping other conditions', () => {
    const cert = { metadata: { generation: 3 }, status: { revision: 2, conditions: [{ type: 'Ready', status: 'True' }, { type: 'Issuing', status: 'False', reason: 'Failed' }] } };
    const out = manuallyTriggered(cert, Date.parse('2026-05-06T07:08:09.500Z'));
    expect(out.status?.revision).toBe(2);
    expect(out.status?.conditions).toEqual([
      { type: 'Ready', status: 'True' },
      { type: 'Issuing', status: 'True', reason: 'ManuallyTriggered', message: 'Certificate re-issuance manually triggered', lastTransitionTime: '2026-05-06T07:08:09Z', observedGeneration: 3 },
    ]);
  });

  it('writes Events on the named object, truncating long messages to the API limit', () => {
    const e = eventFor({ kind: 'ConfigMap', namespace: 'linkerd-rotator', name: 'linkerd-rotator-state' }, { type: 'Warning', reason: 'RotationStopped', message: 'x'.repeat(2000) }, Date.parse('2026-01-01T00:00:00.700Z'), 'runner-0');
    expect(e.metadata?.generateName).toBe('linkerd-rotator-state.');
    expect(e.involvedObject.name).toBe('linkerd-rotator-state');
    expect(e.message).toHaveLength(1024);
    expect(e.reportingInstance).toBe('runner-0');
  });
});

describe('resourceVersions and waking on changes', () => {
  it('orders resourceVersions numerically and refuses to guess for others', () => {
    expect(compareResourceVersions('9', '10')).toBe(-1);
    expect(compareResourceVersions('10', '10')).toBe(0);
    expect(compareResourceVersions('abc', '10')).toBeUndefined();
  });

  class FakeCollection {
    private listeners = new Set<() => void>();
    onChange(l: () => void) {
      this.listeners.add(l);
      return () => this.listeners.delete(l);
    }
    fire() {
      for (const l of this.listeners) l();
    }
    get size() {
      return this.listeners.size;
    }
  }

  it('re-checks on each change (coalesced), resolves when the condition holds, and unsubscribes', async () => {
    const c = new FakeCollection();
    let value = 0;
    let checks = 0;
    const waiting = wakeOn(
      async () => {
        checks++;
        return value >= 3;
      },
      { collections: [c], deadline: Date.now() + 5_000, now: Date.now, minIntervalMs: 10 },
    );
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 30));
      value++;
      c.fire();
      c.fire();
    }
    await expect(waiting).resolves.toBe(true);
    expect(checks).toBeLessThanOrEqual(5);
    expect(c.size).toBe(0);
  });

  it('times out at the deadline with no change, and wakes at an alarm (clock gates)', async () => {
    const t0 = Date.now();
    await expect(wakeOn(async () => false, { collections: [], deadline: t0 + 150, now: Date.now })).resolves.toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    const opensAt = Date.now() + 100;
    await expect(wakeOn(async () => Date.now() >= opensAt, { collections: [], deadline: Date.now() + 2_000, now: Date.now, alarms: [opensAt] })).resolves.toBe(true);
  });

  it('keeps re-checking on its schedule when a re-check falls due while a change is being checked (the injector gate once hung until its deadline)', async () => {
    const c = new FakeCollection();
    const reasons: string[] = [];
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const waiting = wakeOn(
      async (reason) => {
        reasons.push(reason);
        if (reason === 'recheck') return true;
        if (reason === 'change') await sleep(600);
        return false;
      },
      { collections: [c], deadline: Date.now() + 3_000, now: Date.now, minIntervalMs: 0, costFactor: 0, recheck: () => 200 },
    );
    // A change is being checked (600 ms) and another is queued when the re-check falls due at 200 ms.
    setTimeout(() => c.fire(), 5);
    setTimeout(() => c.fire(), 10);
    await expect(waiting).resolves.toBe(true);
    expect(reasons).toContain('recheck');
  });

  it('re-checks on its own schedule when no watch can tell (the injector), and rejects on a failing check', async () => {
    let n = 0;
    await expect(wakeOn(async () => ++n >= 3, { collections: [], deadline: Date.now() + 2_000, now: Date.now, recheck: () => 20 })).resolves.toBe(true);
    await expect(wakeOn(() => Promise.reject(new Error('403')), { collections: [], deadline: Date.now() + 1_000, now: Date.now })).rejects.toThrow('403');
  });
});
