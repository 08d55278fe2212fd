// The chart release both test tiers install, as the chart README installs it, and the objects the
// chart names after the release. Object names and namespaces are the chart's defaults (libs/names).
import path from 'node:path';
import { DEFAULT_OBJECT_NAMES, type ObjectNames } from '@linkerd-rotator/names';
import { repoRoot } from '../cluster/src/paths.js';

export const chartDir = path.join(repoRoot, 'charts/linkerd-rotator');

export interface ChartRelease {
  readonly name: string;
  /** The release namespace: it also holds the state ConfigMap and the Lease. */
  readonly namespace: string;
}

export const release: ChartRelease = { name: 'linkerd-rotator', namespace: DEFAULT_OBJECT_NAMES.releaseNamespace };

/** The e2e installs keep the chart's default object names (values.yaml `names`, `namespaces`). */
export const objectNames: ObjectNames = DEFAULT_OBJECT_NAMES;

/** Objects the chart names after its release (templates/_helpers.tpl and the templates using it). */
export const releaseObjects = {
  runnerServiceAccount: `${release.name}-runner`,
  webhookServiceAccount: `${release.name}-webhook`,
  webhookDeployment: `${release.name}-webhook`,
  exporterServiceAccount: `${release.name}-exporter`,
  exporterDeployment: `${release.name}-exporter`,
  /** Label selector of the webhook Deployment's pods. */
  webhookPods: `app.kubernetes.io/instance=${release.name},app.kubernetes.io/component=webhook`,
  rotateCronJob: `${release.name}-rotate`,
  bootstrapJob: `${release.name}-bootstrap`,
  checkPod: `${release.name}-check`,
  configMap: `${release.name}-config`,
} as const;
