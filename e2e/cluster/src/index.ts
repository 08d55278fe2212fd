// Test-facing API of the local cluster: start one (or attach to a running one), talk to it, stop it.
export { Cluster, attachCluster, loadClusterState, startCluster, stopCluster, type ClusterState, type ComponentName } from './cluster.js';
export { buildClusterBinaries, buildLinkerdStandins } from './build.js';
export { waitFor, isAlive, freePorts, logTail } from './process.js';
export { readManifest, cacheRoot, repoRoot } from './paths.js';
