// Stops `issuer-signer-not-active` and `issuer-chained-elsewhere`: cert-manager must sign the
// identity issuer with the active anchor (ClusterIssuer on the active Secret), and before promotion
// the issuer Secret must chain to it. An issuer under another anchor (a renewed prepared one) is
// loaded by identity replicas that start later, and proxies trusting only the active anchor reject
// their leaves (issue 14, item 1).
import type { Decision } from '../decision.js';
import { stop, type DecideContext } from '../phases/context.js';
import type { ObjectNames } from '@linkerd-rotator/names';
import { objectRefs } from '../object-refs.js';
import { shortFp, type Fingerprint, type IssuerSigningFacts } from '../snapshot.js';
import { formatAnchors } from '../trust.js';

/**
 * The issuer Certificate names the configured ClusterIssuer, which exists and is a CA issuer on the
 * active-anchor Secret; undefined when so, or when the adapter does not report it.
 */
export function issuerSignerOnActive(context: DecideContext): Decision | undefined {
  const problem = context.snapshot.issuerSigning && issuerSignerProblem(context.snapshot.issuerSigning, context.options.names);
  return problem === undefined ? undefined : stop(context, 'issuer-signer-not-active', `${problem}, then run again (the identity issuer is renewed only once its signer is right)`);
}

/**
 * The rule itself, for `decide` and the runner's `check`: what is wrong with the identity issuer's
 * signer (expected, found, what to set), or undefined when it is the ClusterIssuer on the active Secret.
 */
export function issuerSignerProblem(signing: IssuerSigningFacts, names: ObjectNames): string | undefined {
  const objects = objectRefs(names);
  const ref = signing.certificateIssuerRef;
  if (ref && (ref.kind !== 'ClusterIssuer' || ref.name !== names.identityClusterIssuer)) {
    return `expected ${objects.issuerCertificate} to be issued by ${objects.identityClusterIssuer} (a CA issuer on ${objects.activeSecret}), found spec.issuerRef ${ref.kind} ${ref.name}; cert-manager signs the next identity issuer with that issuer's key, which need not be the active anchor: set spec.issuerRef to kind ClusterIssuer, name ${names.identityClusterIssuer}`;
  }
  if (!signing.clusterIssuer.found) {
    return `expected ${objects.identityClusterIssuer} (a CA issuer on ${objects.activeSecret}), found none; create it (chart value pki.identityIssuer.enabled) or name the ClusterIssuer that signs the identity issuer with --identity-cluster-issuer`;
  }
  const secretName = signing.clusterIssuer.caSecretName;
  if (secretName !== names.activeAnchorSecret) {
    return `expected ${objects.identityClusterIssuer} to sign with ${objects.activeSecret} (spec.ca.secretName: ${names.activeAnchorSecret}), found ${secretName === undefined ? 'no spec.ca (not a CA issuer)' : `spec.ca.secretName: ${secretName}`}; cert-manager would sign the next identity issuer with a key other than the active anchor's: set spec.ca.secretName to ${names.activeAnchorSecret}`;
  }
  return undefined;
}

/**
 * Before promotion: the identity issuer in its Secret chains to `expected` (the active anchor, the
 * rotation's `from`). Its `chainsTo` is the issuer's own anchor even in the cross-signed layout
 * ([I_B, X]: anchors are tried first), so after a cross-signed rotation it is the active anchor too.
 * Undefined when it does, or when there is no issuer Secret yet.
 */
export function issuerChainedTo(context: DecideContext, expected: Fingerprint, when: string): Decision | undefined {
  const issuer = context.snapshot.issuer;
  if (!issuer || issuer.chainsTo === expected) return undefined;
  const { objects } = context;
  const found = issuer.chainsTo === undefined ? 'it chained to no anchor the rotator knows (no anchor Secret or trust bundle holds its signer)' : `it chained to ${shortFp(issuer.chainsTo)}`;
  const via = issuer.chainVia?.length ? `, carrying cross-signatures by ${formatAnchors(issuer.chainVia.map((v) => v.anchor))}` : '';
  return stop(
    context,
    'issuer-chained-elsewhere',
    `expected ${objects.issuerSecret} (issuer ${shortFp(issuer.fingerprint)}) to chain to the active anchor ${shortFp(expected)} ${when}, found ${found}${via}; identity replicas that load it issue leaves that proxies trusting only ${shortFp(expected)} reject: make ${objects.issuerCertificate} issued by ${objects.identityClusterIssuer} on ${objects.activeSecret}, renew it (cmctl renew -n ${context.options.names.linkerdNamespace} ${context.options.names.issuerCertificate}), then run again`,
  );
}
