// `validate-bundle`: the webhook's trust-bundle rules, offline, over files -- for checking a bundle
// before it is committed to git. Exit 0 allowed (warnings printed), 1 denied, 2 usage error. Given
// the same anchors (active, prepared, previous, `--keep` for the rotation's), it gives the webhook's
// verdict: a certificate that is none of them is denied.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { checkTrustBundle, parseBundle, type RequiredAnchor, type Verdict } from '@linkerd-rotator/x509';
import { UsageError, type CommandIO } from '../cli.js';

export interface ValidateBundleOptions {
  bundle: string;
  activeAnchor: string;
  preparedAnchor?: string;
  previousAnchor?: string;
  issuer?: string;
  keep: string[];
  output: 'text' | 'json';
}

function readInput(flag: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

export async function validateBundle(options: ValidateBundleOptions, io: CommandIO): Promise<number> {
  const bundle = readInput('--bundle', options.bundle);
  const active = readInput('--active-anchor', options.activeAnchor);
  const issuer = options.issuer === undefined ? undefined : readInput('--issuer', options.issuer);
  const anchorFile = (flag: string, file: string | undefined) => (file === undefined ? undefined : { pem: readInput(flag, file), source: `${flag} ${file}` });
  const required: RequiredAnchor[] = [];
  for (const file of options.keep) {
    const certs = parseBundle(readInput('--keep', file)).certificates;
    if (certs.length === 0) throw new UsageError(`--keep ${file} holds no PEM certificate; pass a file with the anchor(s) to keep`);
    for (const cert of certs) required.push({ fingerprint: cert.fingerprint, source: `--keep ${file}` });
  }
  const verdict = await checkTrustBundle({
    bundle,
    bundleName: options.bundle,
    activeAnchor: { pem: active, source: `--active-anchor ${options.activeAnchor}` },
    issuer: issuer === undefined ? undefined : { pem: issuer, source: `--issuer ${options.issuer}` },
    required,
    preparedAnchor: anchorFile('--prepared-anchor', options.preparedAnchor),
    previousAnchor: anchorFile('--previous-anchor', options.previousAnchor),
    now: new Date(),
  });
  io.out(options.output === 'json' ? JSON.stringify(verdict) + '\n' : formatText(options.bundle, verdict));
  return verdict.allowed ? 0 : 1;
}

function formatText(file: string, verdict: Verdict): string {
  const lines = [verdict.allowed ? `allowed: ${file}` : `denied: ${file}`];
  for (const reason of verdict.reasons) lines.push(`  error: ${reason}`);
  for (const warning of verdict.warnings) lines.push(`  warning: ${warning}`);
  return lines.join('\n') + '\n';
}

export function registerValidateBundle(program: Command, io: CommandIO, setExitCode: (code: number) => void): void {
  program
    .command('validate-bundle')
    .description("check a Linkerd trust bundle file with the admission webhook's rules, before committing it")
    .requiredOption('--bundle <file>', 'the PEM bundle (ca-bundle.crt) to check')
    .requiredOption('--active-anchor <file>', 'the active trust anchor (PEM); the bundle must contain it')
    .option('--prepared-anchor <file>', 'the prepared anchor (PEM, tls.crt of the prepared Secret); the bundle may contain it')
    .option('--previous-anchor <file>', 'the previous anchor (PEM); the bundle may contain it')
    .option('--issuer <file>', 'the identity issuer certificate (PEM); an anchor in the bundle must verify it')
    .option('--keep <file>', 'anchor(s) that must stay in the bundle, as a rotation keeps them (repeatable)', (value: string, previous: string[]) => [...previous, value], [] as string[])
    .option('--output <format>', 'text or json', 'text')
    .action(async (opts: ValidateBundleOptions) => {
      if (opts.output !== 'text' && opts.output !== 'json') throw new UsageError(`--output must be text or json, got ${opts.output}`);
      setExitCode(await validateBundle(opts, io));
    });
}
