// Phase Prepare: get a prepared anchor with a new key from cert-manager (use one already waiting,
// or request a renewal and wait for it), then move to TrustBoth (docs/rotation.md, "Prepare").
import type { Decision } from '../decision.js';
import { shortFp } from '../snapshot.js';
import { iso, ms } from '../state.js';
import { formatAnchors } from '../trust.js';
import { issuerChainedTo } from '../gates/issuer-signer.js';
import { act, activeChanged, anchorRef, gate, stop, transition, updateRotation, usableNewAnchor, type RecordContext, type RotationContext } from './context.js';

export function decidePrepare(context: RotationContext): Decision {
  const { rotation, active } = context;
  if (active.fingerprint !== rotation.from.fingerprint) return activeChanged(context, rotation.from.fingerprint);
  return issuerChainedTo(context, active.fingerprint, 'before promotion (phase Prepare)') ?? useNewAnchor(context) ?? awaitRenewal(context) ?? requestRenewal(context);
}

/** Step 1: the prepared Secret holds an anchor with a new key: record it as the target, go to TrustBoth. */
function useNewAnchor(context: RotationContext): Decision | undefined {
  const { rotation } = context;
  const prepared = context.snapshot.prepared.anchor;
  if (!prepared || !usableNewAnchor(prepared, rotation.from.publicKeyFingerprint, context.now)) return undefined;
  return transition(context, {
    to: 'TrustBoth',
    rotation: { ...rotation, to: anchorRef(prepared) },
    why: `prepared anchor ${shortFp(prepared.fingerprint)} has a new key; trusting both ${formatAnchors([rotation.from.fingerprint, prepared.fingerprint])}`,
  });
}

/** Step 2 (and Recover's): a renewal is under way, or it ended without a new key: wait, or stop saying why. */
export function awaitRenewal(context: RecordContext): Decision | undefined {
  const { rotation, snapshot, objects } = context;
  const prepared = snapshot.prepared;
  const renewedSinceStart = prepared.revision > rotation.preparedRevisionAtStart;
  if (renewedSinceStart && prepared.issuing !== 'true' && prepared.anchor && prepared.anchor.publicKeyFingerprint === rotation.from.publicKeyFingerprint) {
    return stop(
      context,
      'prepared-key-unchanged',
      `expected cert-manager to renew ${objects.preparedCertificate} with a new private key, found revision ${prepared.revision} with the old key ${shortFp(prepared.anchor.publicKeyFingerprint)}; set spec.privateKey.rotationPolicy: Always on the Certificate and run again`,
    );
  }
  if (prepared.issuing === 'true') {
    return gate(context, {
      name: 'prepared-anchor-renewed',
      summary: `waiting for cert-manager to issue a new prepared anchor (revision now ${prepared.revision}, Issuing=True)`,
      missing: [`${objects.preparedCertificate}: Issuing=True`],
      watch: ['prepared-anchor'],
    });
  }
  const requestedAt = rotation.prepareRequestedAt === undefined ? undefined : ms(rotation.prepareRequestedAt);
  if (requestedAt !== undefined && prepared.lastFailureAt !== undefined && prepared.lastFailureAt >= Math.floor(requestedAt / 1000) * 1000) {
    return stop(
      context,
      'prepared-renewal-failed',
      `expected cert-manager to issue ${objects.preparedCertificate}, found a failed issuance (${prepared.lastFailureMessage ?? 'no message'}); fix ${objects.trustRootIssuer} and run again`,
    );
  }
  if (rotation.prepareRequests >= context.options.maxPrepareRequests) {
    return stop(
      context,
      'prepared-renewal-failed',
      `expected a new prepared anchor after ${rotation.prepareRequests} renewal requests, found revision ${prepared.revision} still holding ${shortFp(prepared.anchor?.fingerprint)}; check the cert-manager controller logs and run again`,
    );
  }
  return undefined;
}

/** Step 3 (and Recover's): request a renewal of the prepared anchor (Issuing=True, as `cmctl renew` does). */
export function requestRenewal(context: RecordContext): Decision {
  const { rotation } = context;
  const revision = context.snapshot.prepared.revision;
  const next = updateRotation(context, { prepareRequests: rotation.prepareRequests + 1, prepareRequestedAt: iso(context.now) });
  return act({
    action: { kind: 'renew-prepared-anchor', revision },
    state: next.state,
    summary: `renew prepared anchor (revision ${revision})`,
    event: { type: 'Normal', reason: 'PreparedAnchorRenewalRequested', message: `requested renewal of ${context.objects.preparedCertificate} at revision ${revision}` },
  });
}
