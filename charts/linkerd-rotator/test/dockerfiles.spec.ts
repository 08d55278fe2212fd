// The app images, checked without a Docker engine: hadolint over each Dockerfile, the image contract
// (multi-stage, Node 24, uid 65532, `node dist/main.js`, production deps only), the Dockerfile's own
// esbuild step run here, so the bundle it would build is known to build, and the exporter's command.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { only, render } from './support/render.js';
import { hadolintBinary, repoRoot } from './support/tools.js';

const apps = ['webhook', 'rotation-runner'] as const;
const dockerfile = (app: string) => path.join(repoRoot, 'apps', app, 'Dockerfile');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions with line continuations joined and comments dropped. */
function instructions(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op, ...rest] = l.split(/\s+/);
      return { op: op!.toUpperCase(), args: rest.join(' ') };
    });
}

interface EsbuildRun {
  /** The `node -e` script that prints one --external flag per production dependency. */
  externalsScript: string;
  /** Each esbuild invocation of the step: its arguments (without the externals) and its output file. */
  builds: { args: string[]; outfile: string }[];
}

/**
 * The RUN step that bundles the app(s): `node -e "<list externals>"` piped or written to a file, then
 * one `xargs ... esbuild <entry> ... --outfile=dist/<name>.js` per bundle.
 */
function esbuildRun(steps: Instruction[]): EsbuildRun {
  const run = steps.find((s) => s.op === 'RUN' && s.args.includes('esbuild'))!.args;
  const externalsScript = /node -e "([^"]*)"/.exec(run)![1]!;
  const builds = [...run.matchAll(/node_modules\/\.bin\/esbuild ((?:(?!&&)\S+\s*)+)/g)].map((m) => {
    const args = m[1]!.trim().split(/\s+/);
    return { args, outfile: args.find((a) => a.startsWith('--outfile='))!.slice('--outfile='.length) };
  });
  return { externalsScript, builds };
}

function hadolint(file: string): { status: number | null; out: string } {
  const result = spawnSync(hadolintBinary(), ['--no-color', '--config', path.join(repoRoot, '.hadolint.yaml'), file], { encoding: 'utf8' });
  return { status: result.status, out: result.stdout + result.stderr };
}

describe.each(apps)('apps/%s/Dockerfile', (app) => {
  const steps = instructions(readFileSync(dockerfile(app), 'utf8'));
  const stages = steps.filter((s) => s.op === 'FROM');
  const runtime = steps.slice(steps.lastIndexOf(stages[stages.length - 1]!));

  it('passes hadolint (warnings fail)', () => {
    const result = hadolint(dockerfile(app));
    expect(result.out).toBe('');
    expect(result.status).toBe(0);
  });

  it('builds on node:24-slim in separate stages and runs on distroless Node.js 24', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(stages[0]!.args).toMatch(/node:24-slim AS build$/);
    expect(stages[stages.length - 1]!.args).toMatch(/^gcr\.io\/distroless\/nodejs24-debian12:nonroot$/);
    expect(steps.some((s) => s.op === 'ADD')).toBe(false);
  });

  it('runs `node dist/main.js` as uid 65532 with production dependencies only', () => {
    const users = runtime.filter((s) => s.op === 'USER');
    expect(users.at(-1)?.args).toBe('65532:65532');
    const entrypoint = JSON.parse(runtime.find((s) => s.op === 'ENTRYPOINT')!.args) as string[];
    expect(entrypoint[0]).toBe('/nodejs/bin/node');
    expect(entrypoint.at(-1)).toBe('dist/main.js');
    expect(steps.some((s) => s.op === 'RUN' && s.args.includes('npm ci --omit=dev'))).toBe(true);
    const copies = runtime.filter((s) => s.op === 'COPY').map((s) => s.args);
    expect(copies).toEqual(['--from=deps /src/package.json ./package.json', '--from=deps /src/node_modules ./node_modules', '--from=build /src/dist/ ./dist/']);
  });

  it("has an esbuild step that bundles each app and the libs, leaving only production dependencies external", () => {
    const run = esbuildRun(steps);
    const externals = execFileSync(process.execPath, ['-e', run.externalsScript], { cwd: repoRoot, encoding: 'utf8' }).trim().split('\n');
    const dependencies = Object.keys((JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies);
    expect(run.builds.map((b) => b.outfile)).toContain('dist/main.js');
    const out = mkdtempSync(path.join(os.tmpdir(), `image-${app}-`));
    try {
      writeFileSync(path.join(out, 'package.json'), JSON.stringify({ type: 'module' }));
      symlinkSync(path.join(repoRoot, 'node_modules'), path.join(out, 'node_modules'));
      for (const build of run.builds) {
        const args = build.args.map((a) => a.replace(`--outfile=${build.outfile}`, `--outfile=${out}/${build.outfile}`));
        execFileSync(path.join(repoRoot, 'node_modules/.bin/esbuild'), [...args, ...externals, '--log-level=error'], { cwd: repoRoot, stdio: 'pipe' });
        const bundle = readFileSync(path.join(out, build.outfile), 'utf8');
        const bare = [...bundle.matchAll(/(?:from|import)\s*\(?\s*"([^".][^"]*)"/g)].map((m) => m[1]!).filter((s) => !s.startsWith('node:'));
        expect(bare.length).toBeGreaterThan(0);
        const notDependencies = bare.filter((specifier) => !dependencies.some((d) => specifier === d || specifier.startsWith(`${d}/`)));
        expect({ bundle: build.outfile, notDependencies }).toEqual({ bundle: build.outfile, notDependencies: [] });
        expect(bundle).not.toContain('@linkerd-rotator/');
        const check = spawnSync(process.execPath, ['--check', path.join(out, build.outfile)], { encoding: 'utf8' });
        expect(check.stderr).toBe('');
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("the exporter Deployment and the webhook image", () => {
  it("runs the webhook image's node with the runner's memory flags (a cache of every meshed pod, like the runner) and the exporter's bundle dist/exporter.js", () => {
    const steps = instructions(readFileSync(dockerfile('webhook'), 'utf8'));
    const entrypoint = JSON.parse(steps.findLast((s) => s.op === 'ENTRYPOINT')!.args) as string[];
    const runnerEntrypoint = JSON.parse(instructions(readFileSync(dockerfile('rotation-runner'), 'utf8')).findLast((s) => s.op === 'ENTRYPOINT')!.args) as string[];
    const exporter = only(render(), 'Deployment', 'rot-linkerd-rotator-exporter');
    const container = (exporter['spec'] as { template: { spec: { containers: { command: string[] }[] } } }).template.spec.containers[0]!;
    expect(container.command).toEqual([entrypoint[0], ...runnerEntrypoint.slice(1, -1), 'dist/exporter.js']);
    // ... and the image builds that bundle, from the exporter app.
    const exporterBuild = esbuildRun(steps).builds.find((b) => b.outfile === 'dist/exporter.js');
    expect(exporterBuild?.args[0]).toBe('apps/exporter/src/main.ts');
  });
});

describe('hadolint', () => {
  it('fails a Dockerfile that breaks the rules, so a pass means something', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hadolint-'));
    try {
      const bad = path.join(dir, 'Dockerfile');
      writeFileSync(bad, 'FROM node:latest\nRUN apt-get update && apt-get install -y curl\nCMD node main.js\n');
      const result = hadolint(bad);
      expect(result.status).not.toBe(0);
      expect(result.out).toContain('DL3007');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
