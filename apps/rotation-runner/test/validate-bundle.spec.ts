import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { fixtures, type Credentials } from '@linkerd-rotator/x509/testing';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const tsx = path.join(root, 'node_modules/.bin/tsx');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI entry in a child process, as `npm run rotator -- ...` does. */
function rotator(...args: string[]): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(tsx, ['--tsconfig', path.join(root, 'tsconfig.base.json'), path.join(root, 'apps/rotation-runner/src/main.ts'), ...args], {
      cwd: root,
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('rotator validate-bundle (spawned CLI, real files)', () => {
  let dir: string;
  let a: Credentials;
  let b: Credentials;
  let issuerA: Credentials;
  const file = (name: string, content: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, content);
    return p;
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'validate-bundle-'));
    a = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
    b = await fixtures.makeAnchor({ cn: 'root.linkerd.cluster.local' });
    issuerA = await fixtures.makeIssuer(a);
  });

  it('exits 0 on an allowed bundle and prints warnings', async () => {
    const expired = await fixtures.makeExpiredAnchor();
    const res = await rotator(
      'validate-bundle',
      '--bundle', file('ok.pem', fixtures.bundleOf(b, a, expired)),
      '--active-anchor', file('active.pem', a.certPem),
      '--prepared-anchor', file('prepared.pem', b.certPem),
      '--previous-anchor', file('previous.pem', expired.certPem),
      '--issuer', file('issuer.pem', issuerA.certPem),
    );
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/^allowed: .*ok.pem/);
    expect(res.stdout).toMatch(/warning: certificate 3 .* expired at/);
  }, 30_000);

  it('exits 1 and prints each reason when the bundle drops the active anchor and the issuer anchor', async () => {
    const res = await rotator('validate-bundle', '--bundle', file('bad.pem', b.certPem), '--active-anchor', file('active.pem', a.certPem), '--prepared-anchor', file('prepared.pem', b.certPem), '--issuer', file('issuer.pem', issuerA.certPem));
    expect(res.code).toBe(1);
    const errors = res.stdout.split('\n').filter((l) => l.startsWith('  error: '));
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatch(/must contain the active trust anchor .* from --active-anchor .*active.pem/);
    expect(errors[1]).toMatch(/verifies the current identity issuer/);
  }, 30_000);

  it('prints {allowed, reasons, warnings} with --output json, honours --keep, and never echoes a key', async () => {
    const keep = file('keep.pem', b.certPem);
    const res = await rotator('validate-bundle', '--bundle', file('withkey.pem', a.certPem + a.keyPem), '--active-anchor', file('active.pem', a.certPem), '--keep', keep, '--output', 'json');
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout);
    expect(Object.keys(out).sort()).toEqual(['allowed', 'reasons', 'warnings']);
    expect(out.allowed).toBe(false);
    expect(out.reasons).toEqual([expect.stringMatching(/contains a private key/), expect.stringMatching(/must keep the anchor .* required by --keep .*keep.pem/)]);
    expect(res.stdout).not.toContain(a.keyPem.split('\n')[1]);
  }, 30_000);

  it('gives the webhook verdict offline: a certificate that is not the prepared, active, previous or kept anchor is denied', async () => {
    const attacker = await fixtures.makeAnchor({ cn: 'attacker.example' });
    const bundle = file('extra.pem', fixtures.bundleOf(a, b, attacker));
    const args = ['validate-bundle', '--bundle', bundle, '--active-anchor', file('active.pem', a.certPem), '--output', 'json'];
    const without = JSON.parse((await rotator(...args)).stdout);
    expect(without.reasons).toEqual([expect.stringMatching(/^certificates 2 .* and 3 "CN=attacker.example" .* are not anchors of this install: .* whatever they sign; remove them/)]);
    const res = await rotator(...args, '--prepared-anchor', file('prepared.pem', b.certPem));
    expect(res.code).toBe(1);
    expect(JSON.parse(res.stdout).reasons).toEqual([expect.stringMatching(/certificate 3 "CN=attacker.example" \(sha256:[0-9a-f]{16}\) is not an anchor of this install: .*the prepared anchor .*\(--prepared-anchor .*prepared.pem\)/)]);
    const kept = await rotator('validate-bundle', '--bundle', file('two.pem', fixtures.bundleOf(a, b)), '--active-anchor', file('active.pem', a.certPem), '--previous-anchor', file('previous.pem', b.certPem));
    expect(kept.code).toBe(0);
  }, 30_000);

  it("fails a bundle Linkerd's identity controller would refuse: a blank line after the last END line, naming the line", async () => {
    const text = `${fixtures.bundleOf(a)}\n`;
    const res = await rotator('validate-bundle', '--bundle', file('blank.pem', text), '--active-anchor', file('active.pem', a.certPem));
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(new RegExp(`error: .*blank.pem: line ${text.split('\n').length - 1} starts an extra blank or whitespace-only line .* refuses to start`));
  }, 30_000);

  it.each([
    ['a missing required option', ['validate-bundle', '--bundle', 'x.pem'], /required option '--active-anchor <file>' not specified/],
    ['an unknown option', ['validate-bundle', '--bundle', 'x', '--active-anchor', 'y', '--frobnicate'], /unknown option '--frobnicate'/],
    ['an unreadable file', ['validate-bundle', '--bundle', '/nonexistent/b.pem', '--active-anchor', '/nonexistent/a.pem'], /cannot read --bundle \/nonexistent\/b.pem \(ENOENT\)/],
    ['a bad --output', ['validate-bundle', '--bundle', 'x', '--active-anchor', 'y', '--output', 'yaml'], /--output must be text or json/],
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
  ])('exits 2 on %s', async (_what, args, message) => {
    const res = await rotator(...args);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(message);
  }, 30_000);
});
