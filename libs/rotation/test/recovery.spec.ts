// Issue 15, "Recover when it happened anyway": which expiry incident the mesh is in, judged from
// real certificates made in the test (expired ones end in the past), and what `recover` would do.
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';
import { diagnoseExpiry, recoverRefusal, recoveryPlan, resolveOptions, workloadKey, type AnchorFacts, type ClusterSnapshot, type IdentityIssuerFacts } from '../src/index.js';
import { hashOf, pod, snapshot, workload } from './builders.js';

const options = resolveOptions({});

function anchorFacts(credentials: Credentials): AnchorFacts {
  const { cert } = credentials;
  return { fingerprint: cert.fingerprint, publicKeyFingerprint: cert.spkiFingerprint, notBefore: cert.notBefore.getTime(), notAfter: cert.notAfter.getTime() };
}

function issuerFacts(issuer: Credentials, anchor: Credentials): IdentityIssuerFacts {
  return { fingerprint: issuer.fingerprint, chainsTo: anchor.fingerprint, notBefore: issuer.cert.notBefore.getTime(), notAfter: issuer.cert.notAfter.getTime(), issuing: 'absent', revision: 1 };
}

/** A mesh on `anchor` with `issuer`, observed now; the bundle holds `bundle` (the anchor by default). */
function mesh(parts: { anchor?: Credentials; issuer: Credentials; issuerAnchor: Credentials; prepared?: Credentials; bundle?: Credentials[] }): ClusterSnapshot {
  const active = parts.anchor ? anchorFacts(parts.anchor) : undefined;
  const inBundle = (parts.bundle ?? (parts.anchor ? [parts.anchor] : [])).map((c) => c.fingerprint);
  const prepared = parts.prepared ? anchorFacts(parts.prepared) : active;
  return snapshot({
    observedAt: Date.now(),
    prepared: { revision: 1, issuing: 'absent', ...(prepared ? { anchor: prepared } : {}) },
    ...(active ? { active, previous: active } : { active: undefined, previous: undefined }),
    issuer: issuerFacts(parts.issuer, parts.issuerAnchor),
    bundles: [{ namespace: 'linkerd', sha256: 'bundle', anchors: inBundle }],
    pods: [
      pod('identity-1', { namespace: 'linkerd', owner: ['Deployment', 'linkerd-identity'], tier: 'control-plane', identity: true, configMap: true }),
      pod('destination-1', { namespace: 'linkerd', owner: ['Deployment', 'linkerd-destination'], tier: 'control-plane', configMap: true }),
      pod('web-1', { owner: ['Deployment', 'web'] }),
      pod('db-0', { owner: ['StatefulSet', 'db'], ready: false }),
    ],
    workloads: [
      workload('Deployment', 'linkerd-identity', { namespace: 'linkerd', tier: 'control-plane' }),
      workload('Deployment', 'linkerd-destination', { namespace: 'linkerd', tier: 'control-plane' }),
      workload('Deployment', 'web'),
      workload('StatefulSet', 'db'),
    ],
    injector: { trustRootSha256: hashOf(['A']) },
  });
}

let valid: Credentials;
let expired: Credentials;
let validIssuer: Credentials;
let expiredIssuer: Credentials;
let underExpired: Credentials;
let other: Credentials;

beforeAll(async () => {
  valid = await fixtures.makeAnchor();
  expired = await fixtures.makeExpiredAnchor();
  other = await fixtures.makeAnchor({ cn: 'other.linkerd.cluster.local' });
  validIssuer = await fixtures.makeIssuer(valid);
  expiredIssuer = await fixtures.makeIssuer(valid, { notBefore: fixtures.hoursFromNow(-48), notAfter: fixtures.hoursFromNow(-1) });
  underExpired = await fixtures.makeIssuer(expired, { notBefore: fixtures.daysFromNow(-3), notAfter: fixtures.daysFromNow(-2) });
});

describe('diagnoseExpiry', () => {
  it('finds a healthy mesh healthy (control: the cases below are not found everywhere)', () => {
    expect(diagnoseExpiry(mesh({ anchor: valid, issuer: validIssuer, issuerAnchor: valid }), options)).toMatchObject({ case: 'healthy', active: valid.fingerprint });
  });

  it('tells an expired issuer under a valid anchor', () => {
    const d = diagnoseExpiry(mesh({ anchor: valid, issuer: expiredIssuer, issuerAnchor: valid }), options);
    expect(d.case).toBe('issuer-expired');
    expect(d.why).toMatch(new RegExp(`identity issuer ${expiredIssuer.fingerprint.slice(0, 16)} expired ${expiredIssuer.cert.notAfter.toISOString()}`));
  });

  it('tells an expired anchor whose issuer is still valid, and both expired', async () => {
    const stillValid = await fixtures.makeIssuer(expired, { notBefore: fixtures.daysFromNow(-2), notAfter: fixtures.daysFromNow(1) });
    expect(diagnoseExpiry(mesh({ anchor: expired, issuer: stillValid, issuerAnchor: expired }), options).case).toBe('anchor-expired');
    const both = diagnoseExpiry(mesh({ anchor: expired, issuer: underExpired, issuerAnchor: expired }), options);
    expect(both.case).toBe('both-expired');
    expect(both.why).toMatch(/active anchor [0-9a-f]{16} expired .*; the identity issuer [0-9a-f]{16} expired/);
  });

  it('tells an active anchor that no trust-roots ConfigMap holds', () => {
    const d = diagnoseExpiry(mesh({ anchor: valid, issuer: validIssuer, issuerAnchor: valid, bundle: [other] }), options);
    expect(d).toMatchObject({ case: 'active-anchor-missing', why: expect.stringMatching(/is in none of the 1 trust-roots ConfigMap/) });
  });

  it('tells a missing active-anchor Secret from a first install that bootstrap adopts', () => {
    expect(diagnoseExpiry(mesh({ issuer: validIssuer, issuerAnchor: valid, prepared: valid, bundle: [valid] }), options).case).toBe('healthy');
    expect(diagnoseExpiry(mesh({ issuer: validIssuer, issuerAnchor: valid, prepared: other, bundle: [valid] }), options)).toMatchObject({
      case: 'active-anchor-missing',
      why: expect.stringMatching(/linkerd-active-anchor is gone/),
    });
  });
});

describe('recoverRefusal', () => {
  const idle = { phase: 'Idle' as const };
  it('refuses a healthy mesh, saying what it found and what to run instead', () => {
    expect(recoverRefusal(mesh({ anchor: valid, issuer: validIssuer, issuerAnchor: valid }), idle, options)).toMatch(
      /^expected an expiry incident to recover from .*found a healthy mesh: the active anchor [0-9a-f]{16} ends .*; nothing was changed\. Use `rotator rotate`/,
    );
  });

  it('runs on an incident, and to finish a recovery under way even once the mesh looks healthy', () => {
    expect(recoverRefusal(mesh({ anchor: valid, issuer: expiredIssuer, issuerAnchor: valid }), idle, options)).toBeUndefined();
    expect(recoverRefusal(mesh({ anchor: valid, issuer: validIssuer, issuerAnchor: valid }), { phase: 'Recover' }, options)).toBeUndefined();
    expect(recoverRefusal(mesh({ anchor: valid, issuer: validIssuer, issuerAnchor: valid }), { phase: 'Stopped', stopped: { reason: 'deadline', phase: 'Recover', message: 'm', at: new Date().toISOString() } }, options)).toBeUndefined();
  });
});

describe('recoveryPlan', () => {
  it('is nothing on a healthy mesh', () => {
    expect(recoveryPlan(mesh({ anchor: valid, issuer: validIssuer, issuerAnchor: valid }), options)).toBeUndefined();
  });

  it('expired issuer: restarts identity, then only the workloads whose pods are not Ready', () => {
    const p = recoveryPlan(mesh({ anchor: valid, issuer: expiredIssuer, issuerAnchor: valid }), options);
    expect(p?.restarts.map((r) => [r.what, r.workloads.map(workloadKey)])).toEqual([
      ['identity', ['Deployment/linkerd/linkerd-identity']],
      ['not-ready', ['StatefulSet/app/db']],
    ]);
    expect(p?.steps[0]).toMatch(/renew Certificate linkerd\/linkerd-identity-issuer/);
    expect(p?.erroring.pods).toEqual(['linkerd/destination-1', 'app/web-1', 'app/db-0']);
  });

  it('expired anchor: identity first, then the control plane, then the data plane; every pod errs until restarted', () => {
    const fresh = mesh({ anchor: expired, issuer: underExpired, issuerAnchor: expired, prepared: valid });
    const p = recoveryPlan(fresh, options);
    expect(p?.diagnosis.case).toBe('both-expired');
    expect(p?.restarts.map((r) => [r.what, r.workloads.map(workloadKey)])).toEqual([
      ['identity', ['Deployment/linkerd/linkerd-identity']],
      ['control-plane', ['Deployment/linkerd/linkerd-destination']],
      ['data-plane', ['Deployment/app/web', 'StatefulSet/app/db']],
    ]);
    expect(p?.steps[0]).toMatch(/use the prepared anchor [0-9a-f]{16} \(valid, new key\)/);
    expect(p?.steps).toContain('restart the identity controller first, then the control plane, extensions and the data plane, 50 workload(s) at a time (--recover-concurrency)');
    expect(p?.erroring.pods).toHaveLength(4);
  });

  it('expired anchor with no usable prepared anchor: asks cert-manager for one', () => {
    const p = recoveryPlan(mesh({ anchor: expired, issuer: underExpired, issuerAnchor: expired }), options);
    expect(p?.steps[0]).toMatch(/renew Certificate .*linkerd-trust-anchor and wait for a valid anchor with a new key/);
  });
});
