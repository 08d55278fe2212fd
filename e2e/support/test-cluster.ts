// The one small interface both test tiers' clusters implement -- the local cluster (e2e/cluster with
// e2e/support) and kind (e2e/kind/support) -- so a scenario under e2e/scenarios is written once.
import type { ObjectNames } from '@linkerd-rotator/names';
import type { RunOptions, RunResult } from '../cluster/src/kubectl.js';
import type { ChartRelease } from './release.js';

export type { RunOptions, RunResult };

/** kubectl against one cluster: rejects on a non-zero exit unless `allowFailure`. Both tiers' cluster classes have it. */
export interface Kubectl {
  kubectl(args: string[], opts?: RunOptions): Promise<RunResult>;
}

/** The chart's admission webhook, however the tier runs it (a local process, or a Deployment behind its Service). */
export interface TestWebhook {
  /** Sets how many replicas serve (0 is an outage) and resolves once that holds; returns how many served before. */
  scale(replicas: number): Promise<number>;
  /** What every replica has logged so far. */
  logs(): Promise<string>;
}

export interface TestCluster extends Kubectl {
  readonly tier: 'local' | 'kind';
  /** A kubeconfig with cluster-admin rights. */
  readonly kubeconfig: string;
  /** The release of this repository's chart, and the object names it was installed with. */
  readonly release: ChartRelease;
  readonly names: ObjectNames;
  readonly webhook: TestWebhook;
}
