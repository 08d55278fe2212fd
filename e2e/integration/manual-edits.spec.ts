// Scenario 5 of issue 6 on the local cluster: manual edits of Linkerd's trust roots and identity
// issuer, judged by the chart's webhook (apps/webhook run as the chart's ServiceAccount), through
// the real API server. The scenario itself is e2e/scenarios/manual-edits.ts, shared with the kind tier.
import { manualEditsScenario } from '../scenarios/manual-edits.js';
import { useLocalTestCluster } from '../support/local-test-cluster.js';

manualEditsScenario(useLocalTestCluster({ nodes: 1 }));
