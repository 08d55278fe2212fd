// Linked fake clusters for the fleet driver's tests: one clock for all (a waiter in any cluster ticks
// every cluster), a primary whose cert-manager prepares anchors and members that have none, and the
// cross-cluster ground truth: after every tick, every proxy of each cluster verifies every leaf of
// every other (a cross-cluster handshake), recorded as a violation when it cannot.
import type { FleetHandles } from '../src/index.js';
import { FakeCluster, Killed, type FakeConfig } from './fake-cluster.js';

export class FakeFleet {
  readonly clusters: readonly FakeCluster[];
  /** First sightings of cross-cluster rejections, with the fake time. */
  readonly crossViolations: { at: number; detail: string }[] = [];
  private readonly seen = new Set<string>();

  /** `config` for every cluster, `only` per cluster name on top of it (e.g. a slower cluster). */
  constructor(names: readonly string[], config: Partial<FakeConfig> = {}, only: Readonly<Record<string, Partial<FakeConfig>>> = {}) {
    this.clusters = names.map((name, i) => new FakeCluster({ ...config, ...only[name], seed: (config.seed ?? 1) + i, name, role: i === 0 ? 'primary' : 'member' }));
    for (const c of this.clusters) c.waitTick = () => this.tick();
  }

  get primary(): FakeCluster {
    return this.clusters[0] as FakeCluster;
  }

  cluster(name: string): FakeCluster {
    const found = this.clusters.find((c) => c.config.name === name);
    if (!found) throw new Error(`no fake cluster ${name}`);
    return found;
  }

  tick(): void {
    for (const c of this.clusters) c.tick();
    this.checkCross();
  }

  advance(ms: number): void {
    const until = this.primary.clock + ms;
    while (this.primary.clock < until) this.tick();
  }

  fastForward(ms: number, stepMs: number): void {
    for (const c of this.clusters) c.fastForward(ms, stepMs);
    this.checkCross();
  }

  checkCross(): void {
    for (const a of this.clusters) {
      for (const b of this.clusters) {
        if (a === b) continue;
        for (const detail of a.rejectsLeavesOf(b)) {
          if (this.seen.has(detail) || this.seen.size >= 5000) continue;
          this.seen.add(detail);
          this.crossViolations.push({ at: this.primary.clock, detail });
        }
      }
    }
  }

  handles(): FleetHandles {
    const [primary, ...members] = this.clusters.map((c) => ({ name: c.config.name, ports: c.fleetPorts() }));
    return { primary: primary as FleetHandles['primary'], members };
  }

  /** Every cluster's own ground-truth violations (I1/I2 within a cluster), named. */
  violations(): string[] {
    return this.clusters.flatMap((c) => c.violations.map((v) => `${c.config.name}: ${v.invariant} ${v.detail}`));
  }

  get dead(): boolean {
    return this.clusters.some((c) => c.dead);
  }

  /** A kill -9 of the driver: every connection ends at once. */
  killAll(): void {
    for (const c of this.clusters) c.dead = true;
  }

  reviveAll(): void {
    for (const c of this.clusters) c.revive();
  }
}

export { Killed };
