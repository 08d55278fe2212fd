// The app images, checked without a Docker engine: hadolint over each Dockerfile, the image contract
// (multi-stage, Node 24, uid 65532, `node dist/main.js`, production deps only), the Dockerfile's own
// esbuild step run here, so the bundle it would build is known to build, and the exporter's command.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
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

/** One bundle a Dockerfile's build step makes: the app it bundles, its output file, and how to make it elsewhere. */
interface BundleStep {
  app: string;
  outfile: string;
  /** Runs the step with its output under `dir`. */
  run(dir: string): void;
}

/** The RUN step that bundles the app(s): `node scripts/bundle-app.mjs <app> dist/<name>.js`, one per bundle. */
function bundleSteps(steps: Instruction[]): BundleStep[] {
  const run = steps.find((s) => s.op === 'RUN' && s.args.includes('scripts/bundle-app.mjs'))!.args;
  return [...run.matchAll(/node scripts\/bundle-app\.mjs (\S+) (\S+)/g)].map(([, app, outfile]) => ({
    app: app!,
    outfile: outfile!,
    run: (dir: string) => execFileSync(process.execPath, ['scripts/bundle-app.mjs', app!, path.join(dir, outfile!)], { cwd: repoRoot, stdio: 'pipe' }),
  }));
}

const dependenciesOf = (dir: string) => Object.keys((JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> }).dependencies ?? {});

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

  it("has an esbuild step that bundles each app and the libs, leaving only production dependencies (and theirs) external", () => {
    const builds = bundleSteps(steps);
    expect(builds.map((b) => b.outfile)).toContain('dist/main.js');
    const out = mkdtempSync(path.join(os.tmpdir(), `image-${app}-`));
    try {
      writeFileSync(path.join(out, 'package.json'), JSON.stringify({ type: 'module' }));
      symlinkSync(path.join(repoRoot, 'node_modules'), path.join(out, 'node_modules'));
      for (const build of builds) {
        build.run(out);
        // What the image's `npm ci --omit=dev` installs: a package inlined into a bundle keeps its own dependencies external.
        const production = dependenciesOf(repoRoot);
        const dependencies = [...production, ...production.flatMap((p) => dependenciesOf(path.join(repoRoot, 'node_modules', p)))];
        const bundle = readFileSync(path.join(out, build.outfile), 'utf8');
        const bare = [...bundle.matchAll(/(?:^|[\s;}])(?:from|import)\s*\(?\s*"([^".\s,][^"\s]*)"/gm)].map((m) => m[1]!).filter((s) => !s.startsWith('node:') && !builtinModules.includes(s));
        expect(bare.length).toBeGreaterThan(0);
        const notDependencies = bare.filter((specifier) => !dependencies.some((d) => specifier === d || specifier.startsWith(`${d}/`)));
        expect({ bundle: build.outfile, notDependencies }).toEqual({ bundle: build.outfile, notDependencies: [] });
        // Every app bundles (and tree-shakes) @kubernetes/client-node: loaded from node_modules, its index
        // loads every generated API and model, about 20-35 MiB of each process's RSS (docs/scale.md).
        expect({ bundle: build.outfile, clientNode: bare.filter((s) => s.startsWith('@kubernetes/client-node')) }).toEqual({ bundle: build.outfile, clientNode: [] });
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
    const exporterBuild = bundleSteps(steps).find((b) => b.outfile === 'dist/exporter.js');
    expect(exporterBuild?.app).toBe('exporter');
  });
});

describe('scripts/bundle-app.mjs', () => {
  /** A repository with a webhook that imports an inlined @kubernetes/client-node, which imports `dep`. */
  function fixture(nestedCopy: boolean): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'bundle-app-'));
    const file = (rel: string, text: string) => {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), text);
    };
    file('package.json', JSON.stringify({ type: 'module', dependencies: { '@kubernetes/client-node': '1.0.0' } }));
    file('apps/webhook/tsconfig.json', '{}');
    file('apps/webhook/src/main.ts', "import { answer } from '@kubernetes/client-node';\nconsole.log(answer);\n");
    file('node_modules/@kubernetes/client-node/package.json', JSON.stringify({ name: '@kubernetes/client-node', type: 'module', main: 'index.js' }));
    file('node_modules/@kubernetes/client-node/index.js', "import { value } from 'dep';\nimport 'unused-dep';\nexport const answer = `inlined ${value}`;\nexport const unused = 1;\n");
    file('node_modules/dep/package.json', JSON.stringify({ name: 'dep', type: 'module', main: 'index.js' }));
    file('node_modules/dep/index.js', "export const value = 'hoisted';\n");
    if (nestedCopy) {
      file('node_modules/@kubernetes/client-node/node_modules/dep/package.json', JSON.stringify({ name: 'dep', type: 'module', main: 'index.js' }));
      file('node_modules/@kubernetes/client-node/node_modules/dep/index.js', "export const value = 'nested';\n");
    }
    return dir;
  }
  const bundle = (root: string) =>
    spawnSync(process.execPath, [path.join(repoRoot, 'scripts/bundle-app.mjs'), 'webhook', path.join(root, 'dist/main.js')], { env: { ...process.env, BUNDLE_APP_ROOT: root }, encoding: 'utf8' });

  it("bundles the webhook's inlined package and keeps its dependencies external", () => {
    const root = fixture(false);
    try {
      const result = bundle(root);
      expect(result.stderr).toBe('');
      const out = readFileSync(path.join(root, 'dist/main.js'), 'utf8');
      expect(out).toContain('inlined ${value}');
      expect(out).toMatch(/from "dep"/);
      expect(out).not.toContain('@kubernetes/client-node"');
      expect(out).not.toContain('unused-dep');
      expect(spawnSync(process.execPath, [path.join(root, 'dist/main.js')], { encoding: 'utf8' }).stdout).toBe('inlined hoisted\n');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses to build when the inlined package has its own copy of a dependency the bundle would load from the top', () => {
    const root = fixture(true);
    try {
      const result = bundle(root);
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('@kubernetes/client-node has its own copy of dep');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
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
