// `bootstrap` in the adoption flow's first step (issue 14, item 1): the engine now stops on an
// identity issuer Certificate that is not signed through the ClusterIssuer on the active Secret; the
// chart's post-install hook must still succeed once both runner Secrets are written.
import { fleetBootstrapSkip, signerNotYetOnActive } from '../src/commands/bootstrap.js';

describe('bootstrap and a signer not yet on the active Secret', () => {
  it('succeeds when both Secrets were written and only the signer stops the run', () => {
    expect(signerNotYetOnActive({ outcome: 'stopped', reason: 'issuer-signer-not-active' }, true)).toBe(true);
  });

  it('fails as before on any other stop, or when the Secrets were not written', () => {
    expect(signerNotYetOnActive({ outcome: 'stopped', reason: 'issuer-signer-not-active' }, false)).toBe(false);
    expect(signerNotYetOnActive({ outcome: 'stopped', reason: 'cannot-adopt' }, true)).toBe(false);
    expect(signerNotYetOnActive({ outcome: 'stopped', reason: 'issuer-chained-elsewhere' }, true)).toBe(false);
    expect(signerNotYetOnActive({ outcome: 'done' }, true)).toBe(false);
  });
});

// A fleet's primary keeps the chart's bootstrap hook (fleet.role primary, issue 17); once the fleet
// driver has run, its state carries the fleet record, which the engine refuses: without this every
// `helm upgrade` of the primary would fail its hook.
describe('bootstrap in a cluster of a fleet', () => {
  it('has nothing to do once the state carries the fleet record, and says who keeps the anchors', () => {
    expect(fleetBootstrapSkip({ fleet: { role: 'primary', primary: 'east' } })).toBe(
      'this cluster is the primary east of a fleet: the fleet driver (`rotator fleet run --primary east --member ...`) keeps its anchor Secrets; bootstrap has nothing to do',
    );
    expect(fleetBootstrapSkip({ fleet: { role: 'member', primary: 'east' } })).toContain('a member of the fleet of primary east');
  });

  it('bootstraps as before without the fleet record (a single cluster, or a primary before its first fleet run)', () => {
    expect(fleetBootstrapSkip({})).toBeUndefined();
  });
});
