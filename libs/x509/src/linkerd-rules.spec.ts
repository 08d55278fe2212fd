import { anchorAlgorithmProblems, issuerAlgorithmProblems } from './linkerd-rules.js';
import { makeAnchor, makeIssuer, type Credentials } from './testing/fixtures.js';

describe('Linkerd algorithm rules', () => {
  let ecAnchor: Credentials;
  let rsaAnchor: Credentials;

  beforeAll(async () => {
    ecAnchor = await makeAnchor();
    rsaAnchor = await makeAnchor({ key: 'rsa-2048' });
  });

  it('accepts ECDSA P-256 and RSA 2048 anchors signed with SHA-256', () => {
    expect(anchorAlgorithmProblems(ecAnchor.cert)).toEqual([]);
    expect(anchorAlgorithmProblems(rsaAnchor.cert)).toEqual([]);
  });

  it('rejects a P-384 anchor and an RSA 1024 anchor', async () => {
    expect(anchorAlgorithmProblems((await makeAnchor({ key: 'ecdsa-p384' })).cert)).toEqual([
      expect.stringMatching(/ECDSA P-256 or RSA 2048\/4096, found ECDSA P-384/),
    ]);
    expect(anchorAlgorithmProblems((await makeAnchor({ key: 'rsa-1024' })).cert)).toEqual([
      expect.stringMatching(/found RSA 1024/),
    ]);
  });

  it('rejects an anchor signed with SHA-384', async () => {
    expect(anchorAlgorithmProblems((await makeAnchor({ hash: 'SHA-384' })).cert)).toEqual([
      expect.stringMatching(/SHA-256.*found ECDSA with SHA-384/),
    ]);
  });

  it('requires an ECDSA P-256 issuer, whatever signed it', async () => {
    expect(issuerAlgorithmProblems((await makeIssuer(ecAnchor)).cert)).toEqual([]);
    expect(issuerAlgorithmProblems((await makeIssuer(rsaAnchor)).cert)).toEqual([]);
    expect(issuerAlgorithmProblems((await makeIssuer(ecAnchor, { key: 'rsa-2048' })).cert)).toEqual([
      expect.stringMatching(/must be ECDSA P-256, found RSA 2048/),
    ]);
  });
});
