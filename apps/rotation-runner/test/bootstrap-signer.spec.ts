// `bootstrap` in the adoption flow's first step (issue 14, item 1): the engine now stops on an
// identity issuer Certificate that is not signed through the ClusterIssuer on the active Secret; the
// chart's post-install hook must still succeed once both runner Secrets are written.
import { signerNotYetOnActive } from '../src/commands/bootstrap.js';

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
