// `fleet run` without a cluster (issue 17): its flags and usage errors (exit 2), a context the
// kubeconfig lacks refused before any cluster is read, a cluster whose API does not answer named with
// exit 4 before anything is written, and the final report. The driver itself is tested on fake
// clusters (libs/rotation/test/fleet-driver.spec.ts); no two-cluster run of this command yet.
import type { FleetRunResult } from '@linkerd-rotator/rotation';
import { cli, refusingKubeconfigForSpec } from './refusing-kubeconfig.js';
import { exitCodeOfFleet, formatFleetRun, parseFleetRunFlags } from '../src/commands/fleet.js';

// Two contexts on a port nothing listens on: their API servers refuse every connection.
const refusing = refusingKubeconfigForSpec('fleet-run-');

describe('fleet run flags', () => {
  it.each([
    [['--member', 'west'], /fleet run needs --primary <context>: the kubeconfig context of the cluster whose cert-manager generates/],
    [['--primary', 'east'], /fleet run needs at least one --member <context>: a single cluster rotates with `rotate`/],
    [['--primary', 'east', '--member', 'west', '--member', 'east'], /expected every context once in --primary and --member, found east more than once/],
    [['--primary', 'east', '--member', 'south'], /expected context south in the kubeconfig .*, found only east, west/],
  ])('%j is a usage error (exit 2)', async (args, message) => {
    const result = await cli(['fleet', 'run', '--kubeconfig', refusing.path(), ...args]);
    expect(result.code).toBe(2);
    expect(result.err).toMatch(message);
    expect(result.out).toBe('');
  });

  it('takes --member repeated, in order', () => {
    expect(parseFleetRunFlags({ primary: 'east', member: ['west', 'north'] })).toEqual({ primary: 'east', members: ['west', 'north'] });
  });

  it('names the cluster whose API does not answer and exits 4, writing nothing', async () => {
    const result = await cli(['fleet', 'run', '--kubeconfig', refusing.path(), '--api-timeout', '1s', '--log-format', 'json', '--primary', 'east', '--member', 'west']);
    expect(result.code).toBe(4);
    const records = result.err.trim().split('\n').map((l) => JSON.parse(l) as { level: number; context?: string; msg: string });
    const error = records.find((r) => r.level >= 50);
    expect(error).toMatchObject({ context: 'east', msg: expect.stringMatching(/ECONNREFUSED/) });
  });
});

describe('fleet run report', () => {
  const result: FleetRunResult = {
    outcome: 'stopped',
    reason: 'cluster-unreachable',
    cluster: 'west',
    message: 'west: expected to read the cluster, found it unreachable (connect ECONNREFUSED)',
    rotation: {
      id: 'rotation-2026-12-06T00:00:00.000Z',
      strategy: 'cross-signed',
      from: 'a'.repeat(64),
      to: 'b'.repeat(64),
      crossSignature: 'c'.repeat(64),
      phase: 'Promote',
      startedAt: '2026-12-06T00:00:00.000Z',
      clusters: { east: { phase: 'Retire', identityFreshAt: '2026-12-06T01:00:00.000Z' }, west: { phase: 'Promote' } },
      stopped: { reason: 'cluster-unreachable', cluster: 'west', message: 'unreachable', at: '2026-12-06T02:00:00.000Z' },
    },
    phases: { east: 'Retire', west: 'Promote' },
    steps: 10,
    actions: 4,
    rolls: 2,
    waitedMs: 0,
  };

  it('gives the fleet rotation, the stop naming its cluster, and each cluster phase; exit 1', () => {
    const text = formatFleetRun(result, { primary: 'east', members: ['west'] });
    expect(text).toMatch(/^stopped: west: expected to read the cluster, found it unreachable/);
    expect(text).toMatch(/fleet: +rotation rotation-2026-12-06T00:00:00.000Z, aaaaaaaaaaaaaaaa -> bbbbbbbbbbbbbbbb \(strategy cross-signed, X cccccccccccccccc\), phase Promote/);
    expect(text).toMatch(/stopped: +west: cluster-unreachable at 2026-12-06T02:00:00.000Z/);
    expect(text).toMatch(/^ {2}east \(primary\) +Retire {2}\(identity on the new anchor since 2026-12-06T01:00:00.000Z\)$/m);
    expect(text).toMatch(/^ {2}west +Promote$/m);
    expect(exitCodeOfFleet(result)).toBe(1);
    expect(exitCodeOfFleet({ ...result, outcome: 'refused' })).toBe(3);
    expect(exitCodeOfFleet({ ...result, outcome: 'done' })).toBe(0);
  });
});
