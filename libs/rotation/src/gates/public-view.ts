// Gate `public-view-synced`: the public PKI view (what the webhook judges bundle and issuer writes
// by) holds the anchors the Secrets hold, before trust-manager's bundle is waited for.
import type { Decision } from '../decision.js';
import { gate, type DecideContext } from '../phases/context.js';
import { shortFp, type Fingerprint } from '../snapshot.js';

/**
 * Undefined when the view holds the prepared, active and previous anchors the Secrets hold, or when
 * there is no view. Otherwise a gate: after the runner writes an anchor Secret, trust-manager's next
 * bundle is judged by the view, and a stale one would deny it (or let through what the Secrets no
 * longer allow). A view that never catches up ends in the phase deadline's stop, naming this gate.
 */
export function publicViewSynced(context: DecideContext): Decision | undefined {
  const { snapshot } = context;
  const view = snapshot.publicView;
  if (view === undefined) return undefined;
  const behind: string[] = [];
  const compare = (role: string, secret: Fingerprint | undefined, held: Fingerprint | undefined) => {
    if (secret !== held) behind.push(`${role} anchor ${shortFp(secret)} (the view holds ${shortFp(held)})`);
  };
  compare('prepared', snapshot.prepared.anchor?.fingerprint, view.prepared);
  compare('active', snapshot.active?.fingerprint, view.active);
  compare('previous', snapshot.previous?.fingerprint, view.previous);
  if (behind.length === 0) return undefined;
  return gate(context, {
    name: 'public-view-synced',
    summary: `waiting for the exporter to publish the anchor Secrets in the public PKI view ${context.objects.publicPki}, which the webhook judges the trust bundle by: ${behind.length} anchor(s) differ`,
    missing: behind,
    watch: ['public-view', 'anchor-secrets', 'prepared-anchor'],
  });
}
