// fleet.role (issue 17, docs/multicluster.md): empty renders a single cluster exactly as before the
// value existed; primary and member render no rotation CronJob; a member renders no prepared
// Certificate and no bootstrap hook. The member's guards and RBAC are in admission-guards.spec.ts and
// render.spec.ts; what the API server does with them is e2e/integration/fleet-check.spec.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { find, render, renderError, renderText } from './support/render.js';
import { chartDir } from './support/tools.js';

/**
 * The objects fleet.role changes, as `helm template` printed them with the default values before
 * fleet.role existed (commit 2eb055d's parent). Rewrite it (UPDATE_GOLDEN=1) only for a change meant
 * for single clusters too.
 */
const goldenFile = path.join(chartDir, 'test/golden/single-cluster-fleet-objects.yaml');
const fleetObjects = [
  ['Role', 'rot-linkerd-rotator-runner-trust'],
  ['CronJob', 'rot-linkerd-rotator-rotate'],
  ['Certificate', 'linkerd-trust-anchor'],
  ['ValidatingAdmissionPolicy', 'rot-linkerd-rotator-anchor-guard'],
  ['ValidatingAdmissionPolicy', 'rot-linkerd-rotator-runner-guard'],
  ['Job', 'rot-linkerd-rotator-bootstrap'],
];

/** The rendered text of the documents of `fleetObjects`, byte for byte, in render order. */
function fleetObjectsText(manifest: string): string {
  return manifest
    .split(/^---\n/m)
    .filter((doc) => fleetObjects.some(([kind, name]) => doc.includes(`\nkind: ${kind}\n`) && new RegExp(`^  name: ${name}$`, 'm').test(doc)))
    .join('---\n');
}

const kinds = (values: Record<string, unknown>) => render(values).map((o) => `${o.kind}/${o.metadata.name}`);
const member = { fleet: { role: 'member' }, pki: { trustAnchor: { enabled: false } } };

describe('fleet.role empty: a single cluster', () => {
  it('renders the objects the role changes byte for byte as before the value existed', () => {
    const text = fleetObjectsText(renderText());
    if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(goldenFile, text);
    const golden = readFileSync(goldenFile, 'utf8');
    expect(golden.match(/^kind: /gm)).toHaveLength(fleetObjects.length);
    expect(text).toBe(golden);
  });

  it('renders an explicit empty role as no role', () => {
    expect(renderText({ fleet: { role: '' } })).toBe(renderText());
  });
});

describe('fleet.role member', () => {
  it('renders no prepared Certificate, no bootstrap hook and no rotation CronJob, and keeps the rest (bundle, issuer, webhook, exporter)', () => {
    const single = kinds({ pki: { trustAnchor: { enabled: false } } });
    const rendered = kinds(member);
    expect(single.filter((k) => !rendered.includes(k))).toEqual(['CronJob/rot-linkerd-rotator-rotate', 'Job/rot-linkerd-rotator-bootstrap']);
    expect(rendered.filter((k) => !single.includes(k))).toEqual([]);
    expect(rendered.some((k) => k.startsWith('Certificate/linkerd-trust-anchor'))).toBe(false);
  });

  it('is refused with pki.trustAnchor.enabled true, naming both values', () => {
    const error = renderError({ fleet: { role: 'member' } });
    expect(error).toContain('fleet.role is member but pki.trustAnchor.enabled is true');
    expect(error).toContain('set pki.trustAnchor.enabled false');
  });

  it('renders no rotation CronJob even with runner.rotation.enabled, and skips the checks of values only the CronJob uses', () => {
    expect(find(render({ ...member, runner: { rotation: { enabled: true } } }), 'CronJob')).toEqual([]);
    // The rotation checks of _validate.tpl follow the CronJob: values only the CronJob uses are not refused.
    expect(find(render({ ...member, runner: { rotation: { activeDeadlineSeconds: 60 } } }), 'CronJob')).toEqual([]);
    expect(renderError({ runner: { rotation: { activeDeadlineSeconds: 60 } } })).toContain('runner.rotation.activeDeadlineSeconds (60) must exceed');
  });
});

describe('fleet.role primary', () => {
  it('renders a single cluster without the rotation CronJob: the prepared Certificate and the bootstrap hook stay', () => {
    const rendered = kinds({ fleet: { role: 'primary' } });
    expect(kinds({}).filter((k) => !rendered.includes(k))).toEqual(['CronJob/rot-linkerd-rotator-rotate']);
    expect(rendered).toEqual(expect.arrayContaining(['Certificate/linkerd-trust-anchor', 'Job/rot-linkerd-rotator-bootstrap']));
  });
});

describe('fleet.role values', () => {
  it('accepts only primary, member or empty', () => {
    expect(renderError({ fleet: { role: 'Member' } })).toContain("at '/fleet/role': value must be one of '', 'primary', 'member'");
  });
});
